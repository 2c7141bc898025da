"""Messages: deliver to the one waiting case (business key or variables), start through a message start event."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from engine.errors import AmbiguousMatch, NoMatch
from engine.models import Case, MessageSubscription
from tests.conftest import count
from tests.engine.helpers import add_staff, assert_reload_stable, deploy_fixture, open_tasks


@pytest.fixture
def two_waiting(d):
    add_staff(d)
    deploy_fixture(d, "message_start.bpmn")
    cases = []
    for key, area in (("SYN-1", "Vällingby"), ("SYN-2", "Hässelby")):
        [case] = d.deliver_message(
            "synpunkt_inkommen", {"area": area, "text": "Belysning"}, start_business_key=key
        )
        [task] = open_tasks(d, case.id)
        d.complete_task(task.id, "hanna", {})
        cases.append(case)
    return cases


def test_message_start_event_starts_a_case_with_the_payload(d):
    add_staff(d)
    deploy_fixture(d, "message_start.bpmn")
    [case] = d.deliver_message("synpunkt_inkommen", {"text": "Fler bänkar"}, start_business_key="SYN-9")
    assert case.business_key == "SYN-9" and case.variables["text"] == "Fler bänkar"
    assert [t.element_id for t in open_tasks(d, case.id)] == ["Besvara"]
    assert_reload_stable(d, case.id)


def test_subscriptions_are_indexed_rows(d, two_waiting):
    with d.session() as s:
        rows = s.execute(sa.select(MessageSubscription.message_name, MessageSubscription.element_id)).all()
    assert sorted(rows) == [("komplettering", "VantaKomplettering")] * 2


def test_deliver_by_business_key(d, two_waiting):
    [done] = d.deliver_message("komplettering", {"bilaga": "foto.jpg"}, business_key="SYN-2")
    assert (
        done.id == two_waiting[1].id and done.status == "completed" and done.variables["bilaga"] == "foto.jpg"
    )
    assert count(d, MessageSubscription) == 1
    assert_reload_stable(d, done.id)


def test_deliver_by_correlation_variables(d, two_waiting):
    [done] = d.deliver_message("komplettering", {}, correlation={"area": "Vällingby"})
    assert done.id == two_waiting[0].id


def test_ambiguous_and_unmatched_messages_are_errors(d, two_waiting):
    with pytest.raises(AmbiguousMatch):
        d.deliver_message("komplettering", {})
    with pytest.raises(NoMatch):
        d.deliver_message("komplettering", {}, business_key="SYN-404")
    with pytest.raises(NoMatch):
        d.deliver_message("okant_meddelande", {})
    with d.session() as s:
        assert (
            s.execute(sa.select(sa.func.count()).select_from(Case).where(Case.status == "completed")).scalar()
            == 0
        )


def test_all_matches_delivers_to_every_waiting_case(d, two_waiting):
    done = d.deliver_message("komplettering", {}, all_matches=True)
    assert sorted(c.id for c in done) == sorted(c.id for c in two_waiting)
    assert all(c.status == "completed" for c in done)


def test_cancelled_case_ends_terminated_and_stops_waiting(d, two_waiting):
    from engine.errors import Conflict

    info = d.cancel_case(two_waiting[0].id, "hanna", "dubblett")
    assert info.status == "terminated"
    with d.session() as s:
        case = s.get(Case, two_waiting[0].id)
        assert (case.status, case.end_reason, case.next_timer_at) == ("terminated", "dubblett", None)
        assert case.ended_at is not None
    assert count(d, MessageSubscription) == 1  # only the other case still waits
    with pytest.raises(NoMatch):
        d.deliver_message("komplettering", {}, business_key="SYN-1")
    with pytest.raises(Conflict):
        d.cancel_case(two_waiting[0].id, "hanna", "igen")
    assert d.verify_audit(two_waiting[0].id) == []


def test_a_process_with_a_none_and_a_message_start_event_starts_either_way(d):
    """The message found nothing to start: SpiffWorkflow's first start event wins, and the none start
    event is always first. A case started by hand does not wait for the start message either."""
    from tests.engine.test_modeler_constructs import diagram, flow, task

    xml = diagram(
        '<bpmn:startEvent id="Hand" /><bpmn:startEvent id="Med"><bpmn:messageEventDefinition messageRef="M" />'
        "</bpmn:startEvent>"
        + task("Granska")
        + '<bpmn:endEvent id="E" />'
        + flow("F1", "Hand", "Granska")
        + flow("F0", "Med", "Granska")
        + flow("F2", "Granska", "E"),
        pid="tva_starter",
        extra='<bpmn:message id="M" name="inkommen" />',
    )
    d.deploy(xml, "t.bpmn", "anna")
    by_hand = d.start_case("tva_starter", business_key="H-1")
    assert [t.element_id for t in open_tasks(d, by_hand.id)] == ["Granska"]
    assert count(d, MessageSubscription) == 0
    [by_message] = d.deliver_message("inkommen", {"x": 1}, business_key="M-1")
    assert by_message.id != by_hand.id and by_message.variables == {"x": 1}
    assert [t.element_id for t in open_tasks(d, by_message.id)] == ["Granska"]
    assert_reload_stable(d, by_message.id)
