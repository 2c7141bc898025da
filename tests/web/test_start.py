"""Starting a routine by hand: who may, what they see, errors."""

from __future__ import annotations

import sqlalchemy as sa

from engine.models import AuditEvent, Case
from tests.conftest import count
from tests.web.conftest import html


def test_a_role_of_the_routine_sees_it_and_starts_a_case(engine, staff):
    s = staff("anna")
    page = html(s.get("/starta"))
    assert "Testinitiativ" in page and 'action="/starta/test_initiativ"' in page
    r = s.post("/starta/test_initiativ", {"business_key": "KS-2026/99"})
    assert r.status_code == 302 and r.location.startswith("/arenden/")
    with engine.session() as db:
        case = db.execute(sa.select(Case).where(Case.business_key == "KS-2026/99")).scalar_one()
        assert case.started_by == "anna"
    assert "Ärendet är startat." in html(s.get(r.location))


def test_a_user_without_any_role_of_the_routine_cannot_start_it(engine, staff):
    s = staff("david")
    page = html(s.get("/starta"))
    assert "Det finns ingen rutin som dina roller får starta." in page
    r = s.post("/starta/test_initiativ", {"business_key": "X"})
    assert r.status_code == 403 and "Du saknar behörighet att starta den här rutinen." in html(r)
    assert count(engine, Case) == 0


def test_unknown_routine_is_404_and_too_long_key_is_422(engine, staff):
    s = staff("anna")
    r = s.post("/starta/nope", {})
    assert r.status_code == 404 and "Rutinen finns inte." in html(r)
    s.get("/starta")
    r = s.post("/starta/test_initiativ", {"business_key": "x" * 201})
    assert r.status_code == 422 and "Får vara högst 200 tecken." in html(r)
    assert count(engine, Case) == 0 and count(engine, AuditEvent, AuditEvent.chain != "deploy") == 0


def test_escalation_role_may_start_too_and_empty_business_key_is_fine(engine, staff):
    s = staff("cecilia")  # avdelningschef: a candidate group of the escalation task
    r = s.post("/starta/test_initiativ", {"business_key": "  "})
    assert r.status_code == 302
    with engine.session() as db:
        assert db.execute(sa.select(Case.business_key)).scalar_one() is None


def test_a_routine_with_a_start_form_asks_for_its_fields_and_checks_them(engine, staff):
    """The none start event's camunda:formData is shown on the start card (defaults filled in) and checked
    as a submitted start form: an error beside its field and no case; then the case starts with them."""
    from tests.engine.test_modeler_constructs import diagram, flow, task

    xml = diagram(
        '<bpmn:startEvent id="S"><bpmn:extensionElements><camunda:formData>'
        '<camunda:formField id="rubrik" label="Rubrik" type="string"><camunda:validation>'
        '<camunda:constraint name="required" /></camunda:validation></camunda:formField>'
        '<camunda:formField id="antal" label="Antal deltagare" type="long" defaultValue="12" />'
        '<camunda:formField id="digitalt" label="Digitalt möte" type="boolean" />'
        "</camunda:formData></bpmn:extensionElements></bpmn:startEvent>"
        + task("Planera")
        + '<bpmn:endEvent id="E" />'
        + flow("F1", "S", "Planera")
        + flow("F2", "Planera", "E"),
        pid="dialogmote",
    )
    engine.deploy(xml, "dialogmote.bpmn", "test")
    s = staff("anna")
    page = html(s.get("/starta"))
    card = page[page.index('action="/starta/dialogmote"') :]
    assert 'id="f-dialogmote-rubrik"' in card and "Rubrik" in card and "(obligatoriskt)" in card
    assert 'id="f-dialogmote-antal"' in card and 'value="12"' in card
    r = s.post("/starta/dialogmote", {"rubrik": "", "antal": "12"})
    assert r.status_code == 422
    card = html(r)[html(r).index('action="/starta/dialogmote"') :]
    assert 'id="e-dialogmote-rubrik"' in card and 'aria-invalid="true"' in card
    assert count(engine, Case) == 0
    r = s.post("/starta/dialogmote", {"rubrik": "Parkens framtid", "antal": "40", "digitalt": "true"})
    assert r.status_code == 302
    with engine.session() as db:
        case = db.execute(sa.select(Case)).scalar_one()
        assert (case.data["rubrik"], case.data["antal"], case.data["digitalt"]) == (
            "Parkens framtid",
            40,
            True,
        )
