"""The case page: status, data, deadlines, diagram marks, timeline with before → after; errors."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from engine import clock
from tests.web.conftest import html
from tests.web.test_tasks import GOOD


def test_case_page_after_a_completed_task(engine, staff):
    clock.set(datetime(2026, 3, 2, 9, tzinfo=UTC))
    info = engine.start_case(
        "test_initiativ", business_key="KS-2026/5", variables={"antal": 1}, actor="system"
    )
    task = info.open_tasks[0]
    s = staff("anna")
    s.post(f"/uppgifter/{task}/ta")
    s.post(f"/uppgifter/{task}", GOOD)
    r = s.get(f"/arenden/{info.id}")
    assert r.status_code == 200
    page = html(r)
    assert "Ärende KS-2026/5" in page and 'id="case-status">Pågår<' in page
    assert "Testinitiativ v1" in page
    # data
    assert "Frågan rör parken." in page
    # diagram: bundle, XML url, marks as JSON data attributes
    assert "vendor/bpmn-viewer.js" in page and f"/arenden/{info.id}/diagram.bpmn" in page
    completed = json.loads(re.search(r"data-completed='([^']*)'", page).group(1))
    active = json.loads(re.search(r"data-active='([^']*)'", page).group(1))
    assert completed == ["Granska"] and active == ["Beslut"]
    assert "✓ Klar</span>\n          Granska initiativet" in page  # the marks in words too
    # upcoming deadlines (Beslut has no due date, so none) and open tasks
    assert "Fatta beslut" in page
    # timeline: who, what, when, before → after
    timeline = page[page.index('id="timeline"') :]
    for text in ("Ärendet startades", "Uppgift skapad", "Uppgift tagen", "Uppgift slutförd"):
        assert text in timeline
    assert "– <bdi>anna</bdi>" in timeline and "2026-03-02 10:00" in timeline  # Stockholm time
    assert (
        '<bdi class="field-name">antal</bdi>: <bdi class="before">1</bdi> → <bdi class="after">12</bdi>'
        in timeline
    )
    assert (
        '<bdi class="field-name">assignee</bdi>: <bdi class="before">–</bdi> → <bdi class="after">anna</bdi>'
        in timeline
    )


def test_deadlines_list_task_due_and_next_timer(engine, staff):
    clock.set(datetime(2026, 3, 2, 9, tzinfo=UTC))
    info = engine.start_case("test_initiativ", business_key="KS-1", actor="system")
    page = html(staff("anna").get(f"/arenden/{info.id}"))
    deadlines = page[page.index('id="deadlines"') :]
    assert "Förfaller</strong>: <bdi>Granska initiativet</bdi>" in deadlines and "2026-03-16" in deadlines
    assert "Uppföljning</strong>: <bdi>Granska initiativet</bdi>" in deadlines
    assert "Nästa tidsstyrda händelse" in deadlines and "2026-03-09" in deadlines


def test_diagram_xml_is_served_as_deployed(engine, staff):
    from tests.conftest import fixture_bytes

    info = engine.start_case("test_initiativ", actor="system")
    r = staff("anna").get(f"/arenden/{info.id}/diagram.bpmn")
    assert r.status_code == 200 and r.mimetype == "application/xml"
    assert r.data == fixture_bytes("initiativ.bpmn")


def test_unknown_case_is_404(staff):
    s = staff("anna")
    for url in ("/arenden/nope", "/arenden/nope/diagram.bpmn"):
        r = s.get(url)
        assert r.status_code == 404 and "Ärendet finns inte." in html(r)


def test_unknown_url_is_a_staff_404_page_and_wrong_method_405(staff):
    s = staff("anna")
    r = s.get("/finns-inte")
    assert r.status_code == 404 and "Sidan finns inte" in html(r)
    r = s.c.delete("/uppgifter")
    assert r.status_code == 405 and "Metoden är inte tillåten" in html(r)


def test_a_timer_that_could_not_fire_is_on_the_case_page_with_its_error(engine, staff):
    """The timer workers record a case whose timers fail (engine.timers.record_failure) and go on; the
    auditor and staff see it on the case, with the error, instead of a case that silently waits."""
    from datetime import timedelta

    from tests.engine.test_failing_steps import AFTER_TIMER_SCRIPT

    clock.set(datetime(2026, 3, 2, 9, tzinfo=UTC))
    engine.deploy(AFTER_TIMER_SCRIPT, "trasig.bpmn", "test")
    info = engine.start_case("trasig", business_key="KS-9", variables={"antal": 0}, actor="system")
    assert engine.wake_due_cases(clock.now() + timedelta(days=2)) == 0
    page = html(staff("rut").get(f"/arenden/{info.id}"))
    timeline = page[page.index('id="timeline"') :]
    assert "Tidsfristen kunde inte köras (försöker igen)" in timeline
    assert "ZeroDivisionError" in timeline and "division by zero" in timeline
