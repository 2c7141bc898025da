"""Reminders, escalations, assignment notices and daily digests for open user tasks.

Every notice is a ``reminder`` row with a unique dedupe key (task, event, recipient) written in the same
transaction as its ``outbox`` row, so a scan that runs twice — two workers, a retry, a crash — mails once.
The policy comes from ``processes/<folder>/reminders.yaml`` (``engine.routine_config``): N working days
before the due date, on the due date, every M days overdue, escalation to the manager's role (or a set
role) K days after the due date. After downtime only the newest event of a task is sent, never a burst.

Times: reminders go out at 08:00 Stockholm time on their day (a task due earlier that day gets its
due-day reminder at creation); overdue and escalation steps count calendar days after the due moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine import clock
from engine.mailer import render
from engine.models import OPEN, AuditEvent, Case, Outbox, ProcessDefinition, Role, User, UserRole, UserTask
from engine.reminder_models import Reminder, UserPreference, WorkerCursor
from engine.routine_config import Policy, RoutineConfig
from engine.workdays import STOCKHOLM, compute_due, is_working_day

SEND_AT = time(8, 0)
DIGEST_AT = time(7, 0)
ASSIGNMENT_LOOKBACK = 2000  # audit ids re-read each scan: rows committed out of id order are not missed
WEEKDAYS = ["måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag"]
MONTHS = [
    "januari", "februari", "mars", "april", "maj", "juni",
    "juli", "augusti", "september", "oktober", "november", "december",
]  # fmt: skip


def swedish_date(moment: datetime) -> str:
    local = moment.astimezone(STOCKHOLM)
    return f"{WEEKDAYS[local.weekday()]} {local.day} {MONTHS[local.month - 1]} {local.year}"


def subtract_working_days(day: date, n: int) -> date:
    """The n-th Swedish working day before ``day``."""
    while n > 0:
        day -= timedelta(days=1)
        if is_working_day(day):
            n -= 1
    return day


def _at(day: date, t: time = SEND_AT) -> datetime:
    return datetime.combine(day, t, STOCKHOLM).astimezone(UTC)


def _insert_ignore(s: Session, model, values: dict[str, Any]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when the row is new."""
    if s.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    # RETURNING, not rowcount: psycopg reports -1 for a DO NOTHING insert.
    pk = sa.inspect(model).primary_key[0]
    return (
        s.execute(insert(model).values(**values).on_conflict_do_nothing().returning(pk)).first() is not None
    )


# --- preferences ---------------------------------------------------------------------------------------
def set_mail_mode(d, user_name: str, mode: str) -> None:
    """``immediate`` (one mail per reminder) or ``digest`` (one mail a day listing them)."""
    if mode not in ("immediate", "digest"):
        raise ValueError(f"okänt val {mode!r}: immediate eller digest")

    def work(s: Session) -> None:
        row = s.get(UserPreference, user_name)
        if row is None:
            s.add(UserPreference(user_name=user_name, mail_mode=mode, updated_at=clock.now()))
        else:
            row.mail_mode, row.updated_at = mode, clock.now()

    d.transaction(work)


def mail_mode(s: Session, user_name: str) -> str:
    row = s.get(UserPreference, user_name)
    return row.mail_mode if row else "immediate"


# --- recipients ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Person:
    name: str
    email: str | None
    display: str


def _people(s: Session, names: list[str] = (), roles: list[str] = ()) -> list[Person]:
    conditions = []
    if names:
        conditions.append(User.name.in_(list(names)))
    if roles:
        conditions.append(
            User.id.in_(
                sa.select(UserRole.user_id)
                .join(Role, Role.name == UserRole.role_name)
                .where(Role.name.in_(list(roles)))
            )
        )
    if not conditions:
        return []
    rows = s.execute(sa.select(User).where(sa.or_(*conditions), User.active.is_(True)).order_by(User.name))
    return [Person(u.name, u.email, u.display_name or u.name) for u in rows.scalars()]


def task_recipients(s: Session, task: UserTask) -> list[Person]:
    """The assignee; without one, the candidate users and every member of the candidate groups."""
    if task.assignee:
        return _people(s, names=[task.assignee])
    return _people(s, names=list(task.candidate_users or []), roles=list(task.candidate_groups or []))


def escalation_recipients(s: Session, task: UserTask, policy: Policy, config: RoutineConfig) -> list[Person]:
    if policy.escalate_to.startswith("role:"):
        roles = [policy.escalate_to[5:].strip()]
    else:
        roles = sorted({config.managers[g] for g in task.candidate_groups or [] if g in config.managers})
    return _people(s, roles=roles) if roles else []


# --- what is due -----------------------------------------------------------------------------------------
def effective_due(task: UserTask, policy: Policy) -> datetime | None:
    if task.due_at is not None:
        return task.due_at
    if policy.default_due:
        return compute_due(policy.default_due, task.created_at, {}, working_days=policy.working_days)
    return None


def due_events(
    task: UserTask, due: datetime, policy: Policy, now: datetime
) -> list[tuple[str, str, datetime]]:
    """(dedupe event, kind, moment) of the newest reminder event that has come, plus escalation."""
    local_due = due.astimezone(STOCKHOLM).date()
    candidates: list[tuple[str, str, datetime]] = []
    if policy.before_due_working_days > 0:
        day = subtract_working_days(local_due, policy.before_due_working_days)
        candidates.append(("before_due", "before_due", _at(day)))
    if policy.on_due:
        candidates.append(("on_due", "on_due", min(_at(local_due), due)))
    if policy.overdue_every_days > 0 and now > due:
        k = int((now - due) / timedelta(days=policy.overdue_every_days))
        if k >= 1:
            candidates.append(
                (f"overdue:{k}", "overdue", due + k * timedelta(days=policy.overdue_every_days))
            )
    came = [c for c in candidates if task.created_at <= c[2] <= now]
    events = [max(came, key=lambda c: c[2])] if came else []
    if policy.escalate_after_days > 0:
        moment = due + timedelta(days=policy.escalate_after_days)
        if moment <= now:
            events.append(("escalation", "escalation", moment))
    return events


TEMPLATES = {"assigned": "assigned", "escalation": "escalation"}
SUBJECTS = {
    "assigned": "Ny uppgift: {task}",
    "before_due": "Påminnelse: {task} ska vara klar {due}",
    "on_due": "Påminnelse: {task} ska vara klar i dag",
    "overdue": "Försenad uppgift: {task}",
    "escalation": "Eskalering: {task} är försenad",
}


def _context(s: Session, d, task: UserTask, person: Person, due: datetime | None, now: datetime, **extra):
    process = s.execute(
        sa.select(ProcessDefinition.name).where(ProcessDefinition.id == task.definition_id)
    ).scalar()
    business_key = s.execute(sa.select(Case.business_key).where(Case.id == task.case_id)).scalar()
    return {
        "mottagare": person.display,
        "uppgift": task.name or task.element_id,
        "rutin": process or task.process_key,
        "arende": business_key or task.case_id[:8],
        "forfaller": swedish_date(due) if due else None,
        "dagar_sen": max((now - due).days, 0) if due else 0,
        "lank": f"{d.settings.base_url.rstrip('/')}/uppgifter/{task.id}",
        **extra,
    }


def _notify(
    s: Session,
    d,
    task: UserTask,
    person: Person,
    event: str,
    kind: str,
    due: datetime | None,
    now: datetime,
    **extra,
) -> bool:
    """One reminder row (and, for immediate users, its outbox row); False when it already existed."""
    key = f"rem:{task.id}:{event}:{person.name}"
    immediate = kind == "escalation" or mail_mode(s, person.name) == "immediate"
    status = "no_email" if not person.email else ("mailed" if immediate else "digest")
    context = _context(s, d, task, person, due, now, **extra)
    fresh = _insert_ignore(
        s,
        Reminder,
        {
            "dedupe_key": key,
            "case_id": task.case_id,
            "task_id": task.id,
            "kind": kind,
            "recipient": person.name,
            "email": person.email,
            "status": status,
            "detail": {"event": event, "due_at": due.isoformat() if due else None, "context": context},
            "created_at": now,
        },
    )
    if fresh and status == "mailed":
        text, html = render(TEMPLATES.get(kind, "reminder"), kind=kind, **context)
        subject = SUBJECTS[kind].format(task=context["uppgift"], due=context["forfaller"])
        _insert_ignore(
            s,
            Outbox,
            {
                "dedupe_key": key,
                "kind": "email",
                "case_id": task.case_id,
                "payload": {
                    "to": person.email,
                    "subject": subject,
                    "body": text,
                    "html": html,
                    "audit_kind": "reminder_sent",
                    "reminder": kind,
                    "task_id": task.id,
                    "element_id": task.element_id,
                },
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            },
        )
    return fresh


def scan(d, config: RoutineConfig, now: datetime | None = None, limit: int = 5000) -> int:
    """Write the reminders and escalations that have come due. Cost: the open tasks near or past due."""
    now = now or clock.now()
    max_before = max([config.policy(k).before_due_working_days for k in [*config.policies, "*"]] + [2])
    horizon = now + timedelta(days=max_before * 2 + 14)
    with_default = [k for k, v in config.policies.items() if k != "*" and v.get("default_due")]
    star_default = bool(config.policies.get("*", {}).get("default_due"))
    due_filter = UserTask.due_at <= horizon
    if star_default:
        due_filter = sa.or_(due_filter, UserTask.due_at.is_(None))
    elif with_default:
        due_filter = sa.or_(
            due_filter, sa.and_(UserTask.due_at.is_(None), UserTask.process_key.in_(with_default))
        )

    def work(s: Session) -> int:
        created = 0
        tasks = s.execute(
            sa.select(UserTask)
            .where(UserTask.state == OPEN, due_filter)
            .order_by(UserTask.due_at)
            .limit(limit)
        ).scalars()
        for task in list(tasks):
            policy = config.policy(task.process_key, task.element_id)
            due = effective_due(task, policy)
            if due is None:
                continue
            for event, kind, _moment in due_events(task, due, policy, now):
                people = (
                    escalation_recipients(s, task, policy, config)
                    if kind == "escalation"
                    else task_recipients(s, task)
                )
                for person in people:
                    created += _notify(s, d, task, person, event, kind, due, now)
        return created

    return d.transaction(work)


def notify_assignments(d, config: RoutineConfig, now: datetime | None = None) -> int:
    """Tell people about tasks that became theirs: new tasks (assignee or candidate groups) and
    reassignments, read from the audit log after the cursor (re-reading a window; keys dedupe)."""
    now = now or clock.now()

    def work(s: Session) -> int:
        cursor = s.get(WorkerCursor, "assignments")
        # Events older than a day are no news any more (a fresh install, a long outage).
        q = sa.select(AuditEvent).where(
            AuditEvent.kind.in_(("task_created", "task_reassigned")), AuditEvent.at >= now - timedelta(days=1)
        )
        if cursor is not None:
            q = q.where(AuditEvent.id > cursor.position - ASSIGNMENT_LOOKBACK)
        events = s.execute(q.order_by(AuditEvent.id)).scalars().all()
        created = 0
        for ev in events:
            task = s.get(UserTask, ev.task_id) if ev.task_id else None
            if task is None or task.state != "open":
                continue
            policy = config.policy(task.process_key, task.element_id)
            if not policy.notify_on_assignment:
                continue
            if ev.kind == "task_reassigned":
                new = (ev.detail.get("assignee") or [None, None])[1]
                if not new or new == ev.actor or new != task.assignee:
                    continue  # taking a task yourself needs no mail; a later change supersedes this one
                people, event = _people(s, names=[new]), f"assigned:{ev.id}"
            else:
                people, event = task_recipients(s, task), "assigned"
            due = effective_due(task, policy)
            for person in people:
                created += _notify(s, d, task, person, event, "assigned", due, now)
        # First run: start from the log's current end (events older than a day are not news any more).
        start = cursor.position if cursor else s.execute(sa.select(sa.func.max(AuditEvent.id))).scalar() or 0
        top = max([ev.id for ev in events], default=start)
        if cursor is None:
            s.add(WorkerCursor(name="assignments", position=top))
        elif top > cursor.position:
            cursor.position = top
        return created

    return d.transaction(work)


def send_digests(d, now: datetime | None = None) -> int:
    """After 07:00 local, one mail per user listing the day's reminders waiting for the digest."""
    now = now or clock.now()
    local = now.astimezone(STOCKHOLM)
    if local.time() < DIGEST_AT:
        return 0

    def work(s: Session) -> int:
        rows = (
            s.execute(
                sa.select(Reminder)
                .where(Reminder.status == "digest")
                .order_by(Reminder.recipient, Reminder.id)
            )
            .scalars()
            .all()
        )
        by_user: dict[str, list[Reminder]] = {}
        for r in rows:
            by_user.setdefault(r.recipient, []).append(r)
        sent = 0
        for user, items in by_user.items():
            key = f"digest:{user}:{local.date().isoformat()}"
            context = {
                "mottagare": items[0].detail.get("context", {}).get("mottagare", user),
                "datum": swedish_date(now),
                "poster": [dict(r.detail.get("context", {}), kind=r.kind) for r in items],
            }
            text, html = render("digest", **context)
            fresh = _insert_ignore(
                s,
                Outbox,
                {
                    "dedupe_key": key,
                    "kind": "email",
                    "case_id": None,
                    "payload": {
                        "to": items[-1].email,
                        "subject": f"Dina uppgifter i Delaktig {local.date().isoformat()} ({len(items)})",
                        "body": text,
                        "html": html,
                        "reminders": [r.dedupe_key for r in items],
                    },
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                },
            )
            if not fresh:
                continue  # today's digest already went; these wait for tomorrow's
            s.execute(
                sa.update(Reminder)
                .where(Reminder.id.in_([r.id for r in items]), Reminder.status == "digest")
                .values(status="digested", digest_key=key)
            )
            sent += 1
        return sent

    return d.transaction(work)
