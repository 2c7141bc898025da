"""Due dates, reminders, escalation, assignment notices and digests (in-process; SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from conftest import CONFIG_DIR, deploy

from engine import clock, reminders, routine_config
from engine.models import Outbox, UserTask
from engine.reminder_models import Reminder
from engine.workdays import is_working_day

STHLM = ZoneInfo("Europe/Stockholm")


def at(*args) -> datetime:
    return datetime(*args, tzinfo=STHLM)


def setup_users(d):
    d.add_user("hanna", "pw-hanna-1", ["handlaggare"], email="hanna@kommun.se", display_name="Hanna H")
    d.add_user("hugo", "pw-hugo-1", ["handlaggare"], email="hugo@kommun.se")
    d.add_user("chefen", "pw-chef-1", ["avdelningschef"], email="chef@kommun.se")


def task_of(d, case_id) -> UserTask:
    with d.session() as s:
        return s.execute(sa.select(UserTask).where(UserTask.case_id == case_id)).scalar_one()


def outbox(d):
    with d.session() as s:
        return s.execute(sa.select(Outbox).order_by(Outbox.id)).scalars().all()


def test_working_day_due_dates_skip_midsommarafton_and_christmas(d):
    deploy(d, "arlig")
    clock.set(at(2026, 6, 18, 10))  # Thursday before midsommarafton (Friday 19 June)
    due = task_of(d, d.start_case("test_arlig").id).due_at.astimezone(STHLM)
    assert due == at(2026, 6, 23, 10)  # Fri 19 off, weekend, Mon 22 = day 1, Tue 23 = day 2
    clock.set(at(2026, 12, 23, 9))  # julafton, juldagen, annandag jul (Saturday), Sunday
    due = task_of(d, d.start_case("test_arlig").id).due_at.astimezone(STHLM)
    assert due == at(2026, 12, 29, 9)
    assert not is_working_day(date(2026, 12, 25)) and not is_working_day(date(2026, 6, 19))
    # "1 working day before" a due date right after Christmas is the 23rd, not juldagen.
    assert reminders.subtract_working_days(date(2026, 12, 28), 1) == date(2026, 12, 23)


def test_reminder_policy_before_on_due_overdue_escalation_exactly_once(d):
    deploy(d, "arlig")
    setup_users(d)
    config = routine_config.load(CONFIG_DIR)
    clock.set(at(2026, 3, 2, 9))  # Monday; due Wednesday 4 March 09:00 (2 working days)
    case = d.start_case("test_arlig")
    task = task_of(d, case.id)
    assert task.due_at == at(2026, 3, 4, 9)

    def scan_at(*moment):
        clock.set(at(*moment))
        return reminders.scan(d, config)

    assert scan_at(2026, 3, 2, 12) == 0
    assert scan_at(2026, 3, 3, 8, 1) == 2  # 1 working day before: both handläggare
    assert scan_at(2026, 3, 3, 9) == 0  # again: nothing twice
    assert scan_at(2026, 3, 4, 8, 0) == 2  # on the due date, 08:00
    assert scan_at(2026, 3, 6, 9, 1) == 2  # 2 days overdue
    assert scan_at(2026, 3, 6, 10) == 0
    assert scan_at(2026, 3, 9, 10) == 3  # 5 days overdue: escalation to the manager + overdue:2
    kinds = [(r.kind, r.recipient) for r in _reminders(d)]
    assert kinds.count(("escalation", "chefen")) == 1
    mails = outbox(d)
    assert len(mails) == len(kinds) == 9
    assert len({m.dedupe_key for m in mails}) == 9
    escalation = next(m for m in mails if m.payload["to"] == "chef@kommun.se")
    assert escalation.payload["subject"] == "Eskalering: Se över rutinen är försenad"
    assert "5 dagar försenad" in escalation.payload["body"]
    assert f"/uppgifter/{task.id}" in escalation.payload["html"]
    before = next(m for m in mails if m.payload["reminder"] == "before_due")
    assert "onsdag 4 mars 2026" in before.payload["body"] and "Hej Hanna H!" in before.payload["body"]


def test_after_downtime_only_the_newest_reminder_goes_out(d):
    deploy(d, "arlig")
    setup_users(d)
    config = routine_config.load(CONFIG_DIR)
    clock.set(at(2026, 3, 2, 9))
    d.start_case("test_arlig")
    clock.set(at(2026, 3, 8, 12))  # nothing ran since Monday: 4 days overdue
    assert reminders.scan(d, config) == 2
    assert {r.detail["event"] for r in _reminders(d)} == {"overdue:2"}


def test_assigned_task_reminds_only_the_assignee(d):
    deploy(d, "arlig")
    setup_users(d)
    config = routine_config.load(CONFIG_DIR)
    clock.set(at(2026, 3, 2, 9))
    task = task_of(d, d.start_case("test_arlig").id)
    d.claim_task(task.id, "hugo")
    clock.set(at(2026, 3, 4, 8, 30))
    assert reminders.scan(d, config) == 1
    assert [m.payload["to"] for m in outbox(d)] == ["hugo@kommun.se"]


def test_assignment_notices_to_group_members_and_new_assignee(d):
    deploy(d, "arlig", "skicka")
    setup_users(d)
    config = routine_config.load(CONFIG_DIR)
    clock.set(at(2026, 3, 2, 9))
    task = task_of(d, d.start_case("test_arlig").id)
    d.start_case("test_skicka", variables={"email": "x@example.se"})  # notify_on_assignment: false
    assert reminders.notify_assignments(d, config) == 2
    assert reminders.notify_assignments(d, config) == 0
    d.set_assignee(task.id, "hanna", "hugo")
    assert reminders.notify_assignments(d, config) == 1
    d.claim_task(task.id, "hugo")  # already his; claiming yourself sends nothing
    assert reminders.notify_assignments(d, config) == 0
    rows = [(r.kind, r.recipient) for r in _reminders(d)]
    assert sorted(rows) == [("assigned", "hanna"), ("assigned", "hugo"), ("assigned", "hugo")]
    subjects = {m.payload["subject"] for m in outbox(d) if m.payload.get("reminder")}
    assert subjects == {"Ny uppgift: Se över rutinen"}


def test_default_due_from_routine_policy_in_working_days(d):
    deploy(d, "skicka")
    setup_users(d)
    config = routine_config.load(CONFIG_DIR)
    clock.set(at(2026, 4, 2, 10))  # Thursday before Easter: långfredag and annandag påsk are off
    d.start_case("test_skicka", variables={"email": "x@example.se"})
    clock.set(at(2026, 4, 9, 8, 5))  # P3D working days: Tue 7, Wed 8, Thu 9 April → due today
    assert reminders.scan(d, config) == 2
    assert {r.kind for r in _reminders(d)} == {"on_due"}


def test_digest_users_get_one_mail_a_day(d):
    deploy(d, "arlig")
    setup_users(d)
    reminders.set_mail_mode(d, "hanna", "digest")
    config = routine_config.load(CONFIG_DIR)
    clock.set(at(2026, 3, 2, 9))
    d.start_case("test_arlig")
    d.start_case("test_arlig")
    clock.set(at(2026, 3, 4, 8, 30))
    assert reminders.scan(d, config) == 4
    assert sorted(m.payload["to"] for m in outbox(d)) == ["hugo@kommun.se", "hugo@kommun.se"]
    clock.set(at(2026, 3, 5, 6, 59))
    assert reminders.send_digests(d) == 0  # before 07:00
    clock.set(at(2026, 3, 5, 7, 0))
    assert reminders.send_digests(d) == 1
    assert reminders.send_digests(d) == 0
    digest = [m for m in outbox(d) if m.dedupe_key.startswith("digest:")]
    assert len(digest) == 1 and digest[0].payload["to"] == "hanna@kommun.se"
    assert digest[0].payload["body"].count("Se över rutinen") == 2
    assert {r.status for r in _reminders(d) if r.recipient == "hanna"} == {"digested"}
    clock.set(at(2026, 3, 5, 7, 0) + timedelta(days=1))
    assert reminders.send_digests(d) == 0  # nothing new


def _reminders(d):
    with d.session() as s:
        return s.execute(sa.select(Reminder).order_by(Reminder.id)).scalars().all()
