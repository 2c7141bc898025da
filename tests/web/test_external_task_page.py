"""A case waiting for an integration (an external task) shows it on its page: what it waits for, who is
doing it, the last error, and when the retries ran out, so staff see why the case stands still."""

from __future__ import annotations

import sqlalchemy as sa

from engine.external_tasks import TopicRequest
from engine.models import AuditEvent
from tests.conftest import fixture_bytes
from tests.web.conftest import html


def test_case_page_shows_the_integration_step_and_its_trouble(app, engine, staff):
    engine.deploy(fixture_bytes("external_task.bpmn"), "external_task.bpmn", "test")
    info = engine.start_case("arkivering", "KS-9", {"prio": 1}, actor="system")
    page = staff("rut")

    body = html(page.get(f"/arenden/{info.id}"))
    assert "Väntar på integration" in body and "Arkivera beslutet i e-arkivet" in body
    assert "Väntar på att hämtas" in body

    (task,) = engine.fetch_and_lock("arkivbryggan", 1, [TopicRequest("arkivera", 600_000)])
    body = html(page.get(f"/arenden/{info.id}"))
    assert "Utförs av arkivbryggan" in body

    engine.fail_external_task(task.id, "arkivbryggan", "integ", "E-arkivet svarar inte <503>", retries=0)
    body = html(page.get(f"/arenden/{info.id}"))
    assert "Stoppad: inga försök kvar" in body
    assert "E-arkivet svarar inte &lt;503&gt;" in body  # escaped: an integration's text is not markup
    assert "Integrationen misslyckades" in body  # the timeline's label, not the raw kind

    assert "Försök igen" not in body  # an auditor reads; only administrators and process owners restart
    url = f"/arenden/{info.id}/integration/{task.id}/forsok-igen"
    assert page.post(url).status_code == 403
    admin = staff("adam")
    assert "Försök igen" in html(admin.get(f"/arenden/{info.id}"))
    assert admin.post(url, token=False).status_code == 400  # no CSRF token, no change
    r = admin.post(url)
    assert r.status_code == 302
    assert "försöks igen" in html(admin.get(r.headers["Location"]))
    assert admin.post(f"/arenden/{info.id}/integration/nope/forsok-igen").status_code == 404
    # A second click (the step has its try now) changes nothing.
    r = admin.post(url)
    assert r.status_code == 302 and "redan försök kvar" in html(admin.get(r.headers["Location"]))
    with engine.session() as s:
        kinds = s.execute(
            sa.select(AuditEvent.kind).where(
                AuditEvent.case_id == info.id, AuditEvent.kind == "external_task_retries_set"
            )
        ).all()
    assert len(kinds) == 1
    (again,) = engine.fetch_and_lock("arkivbryggan", 1, [TopicRequest("arkivera", 600_000)])
    engine.complete_external_task(again.id, "arkivbryggan", "integ", {"arkiv_id": "EA-1"})
    body = html(page.get(f"/arenden/{info.id}"))
    assert 'id="external-tasks"' not in body and "Integrationen klar" in body
