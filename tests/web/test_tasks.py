"""The task page: instructions, case data, the form; claim, unclaim, complete; every error path."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from engine import clock
from engine.models import AuditEvent, Case, UserTask
from tests.conftest import count
from tests.web.conftest import Staff, html

GOOD = {
    "kommentar": "Frågan rör parken.",
    "antal": "12",
    "fragan_paverkbar": "true",
    "skal": "annat",
    "mote": "2026-12-01",
}


def start(engine, key="KS-2026/17", **variables):
    info = engine.start_case("test_initiativ", business_key=key, variables=variables, actor="system")
    return info, info.open_tasks[0]


def test_task_page_shows_instructions_case_data_and_every_field_type(engine, staff):
    info, task = start(engine, initiator_email="a@example.se", antal=3)
    page = html(staff("anna").get(f"/uppgifter/{task}"))
    assert "Granska initiativet" in page
    assert "Läs initiativet och bedöm om frågan är påverkbar." in page  # documentation
    assert "KS-2026/17" in page and "a@example.se" in page  # case key data
    assert 'type="checkbox" id="f-fragan_paverkbar"' in page  # boolean
    assert '<select id="f-skal"' in page and '<option value="lagstyrd"' in page  # enum
    assert '<textarea id="f-kommentar"' in page and 'maxlength="500"' in page  # multiline string
    # a whole number: a text box with the numeric keyboard (test_session10_probe: a number box changes typos)
    antal = re.search(r'<input id="f-antal"[^>]*>', page).group(0)
    assert 'type="text"' in antal and 'inputmode="numeric"' in antal and 'type="number"' not in page
    assert 'id="f-mote"' in page and 'type="date"' in page
    assert 'value="3"' in page  # prefilled from the case's variables
    assert "Ta uppgiften för att kunna slutföra den." in page and "<fieldset disabled>" in page
    for fid in ("fragan_paverkbar", "skal", "kommentar", "antal", "mote"):
        assert f'<label for="f-{fid}">' in page  # every field has a label


def test_claim_complete_and_the_case_moves_on(engine, staff):
    info, task = start(engine)
    s = staff("anna")
    r = s.post(f"/uppgifter/{task}/ta")
    assert r.status_code == 302 and r.location == f"/uppgifter/{task}"
    page = html(s.get(r.location))
    assert "Du har tagit uppgiften ”Granska initiativet”." in page and "<fieldset >" in page
    r = s.post(f"/uppgifter/{task}", GOOD)
    assert r.status_code == 302 and r.location == f"/arenden/{info.id}"
    assert "Uppgiften ”Granska initiativet” är slutförd." in html(s.get(r.location))
    with engine.session() as db:
        row = db.get(UserTask, task)
        assert (row.state, row.completed_by) == ("completed", "anna")
        case = db.get(Case, info.id)
        assert case.data["kommentar"] == "Frågan rör parken." and case.data["antal"] == 12
        assert case.data["fragan_paverkbar"] is True and case.data["mote"] == "2026-12-01"
    assert count(engine, UserTask, UserTask.case_id == info.id, UserTask.state == "open") == 1  # Beslut


def test_invalid_form_comes_back_with_swedish_errors_next_to_fields_and_values_kept(engine, staff):
    info, task = start(engine)
    s = staff("anna")
    s.post(f"/uppgifter/{task}/ta")
    s.get(f"/uppgifter/{task}")
    before = count(engine, AuditEvent)
    r = s.post(f"/uppgifter/{task}", {"kommentar": "", "antal": "500", "mote": "igår", "skal": "annat"})
    assert r.status_code == 422
    page = html(r)
    assert "Formuläret innehåller fel" in page
    assert 'id="e-kommentar"' in page and "Fältet är obligatoriskt." in page
    assert 'id="e-antal"' in page and "Får vara högst 100." in page
    assert 'id="e-mote"' in page and "Ogiltigt datum; skriv det som ÅÅÅÅ-MM-DD." in page
    assert 'aria-describedby="e-antal"' in page and 'aria-invalid="true"' in page
    assert 'value="500"' in page and 'value="igår"' in page  # entered values kept
    assert '<option value="annat" selected>' in page
    assert count(engine, AuditEvent) == before  # nothing changed
    with engine.session() as db:
        assert db.get(UserTask, task).state == "open"
    r = s.post(f"/uppgifter/{task}", {"kommentar": "ok", "antal": "x"})
    assert "Måste vara ett heltal." in html(r)
    r = s.post(f"/uppgifter/{task}", {"kommentar": "ok", "antal": "5", "skal": "påhittat"})
    assert "Ogiltigt val; välj ett av alternativen." in html(r)
    r = s.post(f"/uppgifter/{task}", {"kommentar": "x" * 501})
    assert "Får vara högst 500 tecken." in html(r)


def test_required_enum_and_unticked_checkbox(engine, staff):
    info, task = start(engine)
    s = staff("anna")
    s.post(f"/uppgifter/{task}/ta")
    assert s.post(f"/uppgifter/{task}", GOOD).status_code == 302
    with engine.session() as db:
        beslut = db.execute(
            sa.select(UserTask.id).where(UserTask.case_id == info.id, UserTask.state == "open")
        ).scalar()
    b = staff("bertil")
    b.post(f"/uppgifter/{beslut}/ta")
    r = b.post(f"/uppgifter/{beslut}", {"beslut": ""})
    assert r.status_code == 422 and "Fältet är obligatoriskt." in html(r)
    assert b.post(f"/uppgifter/{beslut}", {"beslut": "bifall"}).status_code == 302


def test_unticked_checkbox_is_false(engine, staff):
    info, task = start(engine)
    s = staff("anna")
    s.post(f"/uppgifter/{task}/ta")
    data = {k: v for k, v in GOOD.items() if k != "fragan_paverkbar"}
    assert s.post(f"/uppgifter/{task}", data).status_code == 302
    with engine.session() as db:
        assert db.get(Case, info.id).data["fragan_paverkbar"] is False


def test_unknown_task_is_a_404_page(staff):
    s = staff("anna")
    for r in (
        s.get("/uppgifter/no-such-task"),
        s.post("/uppgifter/no-such-task", GOOD),
        s.post("/uppgifter/no-such-task/ta"),
        s.post("/uppgifter/no-such-task/lamna"),
    ):
        assert r.status_code == 404 and "Uppgiften finns inte." in html(r)


def test_a_task_of_another_role_is_a_403_page_and_nothing_changes(engine, staff):
    info, task = start(engine)
    s = staff("bertil")
    before = count(engine, AuditEvent)
    for r in (
        s.get(f"/uppgifter/{task}"),
        s.post(f"/uppgifter/{task}/ta"),
        s.post(f"/uppgifter/{task}", GOOD),
    ):
        assert r.status_code == 403 and "Uppgiften hör till en annan roll än dina." in html(r)
    assert count(engine, AuditEvent) == before


def test_completed_task_says_so_and_changes_nothing(engine, staff):
    info, task = start(engine)
    s = staff("anna")
    s.post(f"/uppgifter/{task}/ta")
    s.post(f"/uppgifter/{task}", GOOD)
    before = count(engine, AuditEvent)
    r = s.get(f"/uppgifter/{task}")
    assert r.status_code == 409 and "Uppgiften är redan slutförd (av anna). Inget har ändrats." in html(r)
    assert f'href="/arenden/{info.id}"' in html(r)
    for r in (
        s.post(f"/uppgifter/{task}", GOOD),
        s.post(f"/uppgifter/{task}/ta"),
        s.post(f"/uppgifter/{task}/lamna"),
    ):
        assert r.status_code == 409 and "Uppgiften är redan slutförd" in html(r)
    assert count(engine, AuditEvent) == before


def test_stale_task_cancelled_by_a_timer_says_so(engine, staff):
    clock.set(datetime(2026, 3, 2, 9, tzinfo=UTC))
    info, task = start(engine)
    s = staff("anna")
    s.post(f"/uppgifter/{task}/ta")
    s.get(f"/uppgifter/{task}")  # the form is open in the browser ...
    clock.advance(timedelta(days=31))  # ... while the 30-day escalation cancels the task
    engine.wake_due_cases()
    before = count(engine, AuditEvent)
    r = s.post(f"/uppgifter/{task}", GOOD)
    assert r.status_code == 409 and "Uppgiften är inte längre aktiv" in html(r)
    assert count(engine, AuditEvent) == before


def test_someone_elses_claimed_task_cannot_be_completed_or_unclaimed(engine, staff):
    info, task = start(engine)
    staff("anna").post(f"/uppgifter/{task}/ta")
    s = staff("annika")
    page = html(s.get(f"/uppgifter/{task}"))
    assert "Uppgiften är tagen av anna." in page
    r = s.post(f"/uppgifter/{task}", GOOD)
    assert r.status_code == 409 and "Uppgiften är tagen av anna. Inget har ändrats." in html(r)
    r = s.post(f"/uppgifter/{task}/ta")
    assert r.status_code == 409 and "redan tagen av anna" in html(r)
    r = s.post(f"/uppgifter/{task}/lamna")
    assert r.status_code == 409 and "bara den personen kan lämna tillbaka den" in html(r)


def test_completing_an_unclaimed_task_asks_to_claim_first(engine, staff):
    info, task = start(engine)
    s = staff("anna")
    s.get(f"/uppgifter/{task}")
    r = s.post(f"/uppgifter/{task}", GOOD)
    assert r.status_code == 409 and "Ta uppgiften innan du slutför den." in html(r)


def test_unclaim_returns_the_task_to_the_group(engine, staff):
    info, task = start(engine)
    s = staff("anna")
    s.post(f"/uppgifter/{task}/ta")
    r = s.post(f"/uppgifter/{task}/lamna", {"next": "/uppgifter"})
    assert r.status_code == 302 and r.location == "/uppgifter"
    with engine.session() as db:
        assert db.get(UserTask, task).assignee is None
    assert "Du har lämnat tillbaka uppgiften" in html(s.get("/uppgifter"))


def test_forms_without_csrf_token_are_refused(engine, app, staff):
    info, task = start(engine)
    s = staff("anna")
    for url in (f"/uppgifter/{task}/ta", f"/uppgifter/{task}", "/logga-ut", "/starta/test_initiativ"):
        r = s.post(url, GOOD, token=False)
        assert r.status_code == 400 and "säkerhetstoken" in html(r)
    r = s.post(f"/uppgifter/{task}/ta", {"csrf_token": "forged"})
    assert r.status_code == 400
    with engine.session() as db:
        assert db.get(UserTask, task).assignee is None
    assert Staff(app).post("/logga-in", {"username": "anna", "password": "x"}, token=False).status_code == 400


def test_a_task_whose_form_another_system_shows_says_so_and_a_step_the_diagram_fails_is_refused(
    engine, staff
):
    """The form key's task has no generated fields; completing it without the variable the gateway after it
    reads fails in the diagram: the page says where and why, and nothing changed (was a 500)."""
    from tests.rest.test_form_keys import FORM_KEY

    engine.deploy(FORM_KEY, "formular.bpmn", "test")
    info = engine.start_case("med_formular", business_key="F-1", actor="system")
    [task] = info.open_tasks
    s = staff("anna")
    s.post(f"/uppgifter/{task}/ta")
    page = html(s.get(f"/uppgifter/{task}"))
    assert (
        "Uppgiften har ett eget formulär (embedded:app:forms/granska.html) som visas i ett annat system."
        in page
    )
    assert "Uppgiften har inga fält." in page
    r = s.post(f"/uppgifter/{task}", {})
    assert r.status_code == 422
    assert "Ärendet kunde inte gå vidare från steget G i diagrammet" in html(
        r
    ) and "Inget har ändrats." in html(r)
    with engine.session() as db:
        assert db.get(UserTask, task).state == "open"
    engine.set_variables(info.id, "olle", {"avslag": True})
    assert s.post(f"/uppgifter/{task}", {}).status_code == 302
    with engine.session() as db:
        assert db.get(UserTask, task).state == "completed" and db.get(Case, info.id).status == "completed"


def test_a_text_field_without_its_own_maxlength_takes_at_most_ten_thousand_characters(engine, staff):
    """A 2 MB value made the case page unusable for everyone who reads it: a string field has a default
    limit, with the Swedish error next to the field; one that declares its own maxlength keeps it."""
    from tests.engine.test_modeler_constructs import diagram, flow, task

    fields = (
        "<bpmn:extensionElements><camunda:formData>"
        '<camunda:formField id="sammanfattning" label="Sammanfattning" type="string" />'
        '<camunda:formField id="protokoll" label="Protokoll" type="string"><camunda:validation>'
        '<camunda:constraint name="maxlength" config="20000" /></camunda:validation></camunda:formField>'
        "</camunda:formData></bpmn:extensionElements>"
    )
    engine.deploy(
        diagram(
            '<bpmn:startEvent id="S" />'
            + task("Sammanfatta", inner=fields)
            + '<bpmn:endEvent id="E" />'
            + flow("F1", "S", "Sammanfatta")
            + flow("F2", "Sammanfatta", "E"),
            pid="langa_texter",
        ),
        "langa_texter.bpmn",
        "test",
    )
    info = engine.start_case("langa_texter", business_key="L-1", actor="system")
    [task_id] = info.open_tasks
    s = staff("anna")
    s.post(f"/uppgifter/{task_id}/ta")
    s.get(f"/uppgifter/{task_id}")
    r = s.post(f"/uppgifter/{task_id}", {"sammanfattning": "å" * 10_001, "protokoll": "p"})
    assert r.status_code == 422
    assert '<p class="field-error" id="e-sammanfattning">' in html(r)
    assert "Får vara högst 10000 tecken." in html(r)
    with engine.session() as db:
        assert db.get(UserTask, task_id).state == "open"
    r = s.post(f"/uppgifter/{task_id}", {"sammanfattning": "å" * 10_000, "protokoll": "p" * 15_000})
    assert r.status_code == 302
    with engine.session() as db:
        assert len(db.get(Case, info.id).data["protokoll"]) == 15_000
