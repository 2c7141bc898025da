"""Walk the Camunda-Modeler-made fixture through every branch, saving and reloading after every step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import sqlalchemy as sa

from engine import clock
from engine.models import AuditEvent, Case, Outbox
from tests.engine.helpers import add_staff, assert_reload_stable, case_row, deploy_fixture, open_tasks

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
CITIZEN = {"initiator_email": "medborgare@example.se"}


def start(d, key="KS 2026/0001"):
    clock.set(T0)
    add_staff(d)
    deploy_fixture(d)
    case = d.start_case("test_initiativ", business_key=key, variables=CITIZEN, actor="hanna")
    assert_reload_stable(d, case.id)
    return case


def kinds(d, case_id):
    with d.session() as s:
        return [
            k
            for (k,) in s.execute(
                sa.select(AuditEvent.kind).where(AuditEvent.case_id == case_id).order_by(AuditEvent.seq)
            )
        ]


def outbox(d):
    with d.session() as s:
        return [r.payload for r in s.execute(sa.select(Outbox).order_by(Outbox.id)).scalars()]


def test_yes_branch_through_message_and_script_to_the_end(d):
    case = start(d)
    [granska] = open_tasks(d, case.id)
    assert granska.documentation.startswith("Läs initiativet")
    assert [f["id"] for f in granska.form["fields"]] == [
        "fragan_paverkbar",
        "skal",
        "kommentar",
        "antal",
        "mote",
    ]
    d.claim_task(granska.id, "hanna")
    assert_reload_stable(d, case.id)
    info = d.complete_task(
        granska.id,
        "hanna",
        {"fragan_paverkbar": True, "kommentar": "Påverkbar", "antal": "12", "mote": "2026-04-01"},
    )
    assert_reload_stable(d, case.id)
    assert info.variables["antal"] == 12 and info.variables["mote"] == "2026-04-01"
    [beslut] = open_tasks(d, case.id)
    assert beslut.element_id == "Beslut" and beslut.candidate_groups == ["namnd"]
    assert case_row(d, case.id).next_timer_at is None  # the boundary timers went with Granska
    d.complete_task(beslut.id, "nils", {"beslut": "bifall"})
    assert_reload_stable(d, case.id)
    [done] = d.deliver_message("svar_mottaget", {"svar": "tack"}, business_key="KS 2026/0001")
    assert done.status == "completed"
    assert done.variables["summa"] == 15  # the script task ran in the sandbox: 12 + len(range(3))
    assert done.variables["svar"] == "tack"
    assert kinds(d, case.id) == [
        "case_started",
        "task_created",
        "task_claimed",
        "task_completed",
        "task_created",
        "task_completed",
        "message_received",
        "case_completed",
    ]
    assert outbox(d) == []
    assert d.verify_audit(case.id) == []


def test_no_branch_mails_the_initiator_and_ends(d):
    case = start(d)
    [granska] = open_tasks(d, case.id)
    info = d.complete_task(
        granska.id, "hanna", {"fragan_paverkbar": False, "skal": "lagstyrd", "kommentar": "Lagstyrt"}
    )
    assert info.status == "completed"
    [mail] = outbox(d)
    assert mail["to"] == "medborgare@example.se"
    assert mail["subject"] == "Besked om ditt initiativ KS 2026/0001"
    assert "Skäl: lagstyrd" in mail["body"]
    assert "mail_queued" in kinds(d, case.id)
    assert_reload_stable(d, case.id)


def test_reminder_timer_mails_the_role_and_escalation_cancels_the_task(d):
    case = start(d)
    assert case_row(d, case.id).next_timer_at == T0 + timedelta(days=7)
    clock.set(T0 + timedelta(days=7, seconds=1))
    assert d.wake_due_cases() == 1
    assert_reload_stable(d, case.id)
    assert sorted(m["to"] for m in outbox(d)) == ["hanna@example.se", "henrik@example.se"]
    # P30D: thirty calendar days in Swedish time, across the change to summer time (29 March): 09:00 then too.
    assert case_row(d, case.id).next_timer_at == datetime(2026, 4, 1, 9, 0, tzinfo=clock.STOCKHOLM)
    assert [t.element_id for t in open_tasks(d, case.id)] == ["Granska"]  # non-interrupting
    clock.set(T0 + timedelta(days=31))
    assert d.wake_due_cases() == 1
    assert_reload_stable(d, case.id)
    [eskalera] = open_tasks(d, case.id)
    assert eskalera.element_id == "Eskalera" and eskalera.candidate_groups == ["avdelningschef"]
    info = d.complete_task(eskalera.id, "anders", {})
    assert info.status == "completed"
    assert kinds(d, case.id).count("timer_fired") == 2
    assert "task_cancelled" in kinds(d, case.id)
    assert d.wake_due_cases() == 0


def test_initial_variables_reach_tasks_and_state_holds_no_spec(d):
    case = start(d)
    row = case_row(d, case.id)
    assert len(row.state) < 10_000
    state = orjson.loads(row.state)
    assert "spec" not in state and "subprocess_specs" not in state
    assert b"task_specs" not in row.state
    with d.session() as s:
        spec, subs = d.specs.get(s, row.definition_id)
        from engine.workflow import load_state

        wf = load_state(row.state, spec, subs)
    [ready] = [t for t in wf.get_tasks() if t.task_spec.name == "Granska"]
    assert ready.data["initiator_email"] == CITIZEN["initiator_email"]  # set on the root task, visible here


def test_case_data_column_tracks_variables(d):
    case = start(d)
    with d.session() as s:
        assert s.execute(sa.select(Case.data).where(Case.id == case.id)).scalar_one() == CITIZEN


def test_audit_log_holds_no_citizen_contact_data(d):
    case = start(d)
    [granska] = open_tasks(d, case.id)
    d.complete_task(granska.id, "hanna", {"fragan_paverkbar": False, "skal": "annat", "kommentar": "Nej"})
    with d.session() as s:
        details = [
            e.detail for e in s.execute(sa.select(AuditEvent).where(AuditEvent.case_id == case.id)).scalars()
        ]
    dumped = orjson.dumps(details).decode()
    assert "medborgare@example.se" not in dumped
    assert "[personuppgift]" in dumped  # recorded as present, value withheld
    assert outbox(d)[0]["to"] == "medborgare@example.se"  # the outbox (purgeable) has it
