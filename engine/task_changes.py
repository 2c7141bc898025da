"""Changes to an open user task that leave its case's workflow alone: its name, description, priority,
due and follow-up dates (Camunda's "Update Task"), its candidate users and groups (identity links), and
comments. Each runs inside one of ``Delaktig``'s transactions (``update_task``, ``change_candidates``,
``add_comment``), which checks who may; the task row is locked (PostgreSQL: FOR UPDATE) before it is read,
so concurrent changers go one after the other and each sees the other's result, and every change is an
audit row on the case (``audit.append_case_events``, which bumps the case's version: a case run that read
the case before fails its version check and runs again).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine import audit, case_sql, users
from engine.errors import Conflict, NotFound, Problem, ValidationFailed
from engine.forms import MAX_TEXT
from engine.models import AuditEvent, Role, TaskCandidate, UserTask

NAME_MAX = 300  # user_task.name
COMMENT_MAX = MAX_TEXT  # as a form's text field: 10 000 characters
INT_RANGE = (-(2**31), 2**31 - 1)  # Camunda's priority is a Java int
UPDATABLE = ("name", "description", "priority", "due_at", "follow_up_at")


def lock_task(s: Session, task_id: str) -> UserTask | None:
    """The task row, locked for this transaction (PostgreSQL; SQLite's writers run one at a time)."""
    q = sa.select(UserTask).where(UserTask.id == str(task_id)).with_for_update()
    return s.execute(q.execution_options(populate_existing=True)).scalar()


def open_task(s: Session, task_id: str) -> UserTask:
    """The open task, locked (``lock_task``); NotFound / Conflict as ``Delaktig._task_for`` says them."""
    task = lock_task(s, task_id)
    if task is None:
        raise NotFound(f"Uppgiften {task_id} finns inte.")
    if task.state != "open":
        raise Conflict(
            "Uppgiften är redan slutförd." if task.state == "completed" else "Uppgiften är inte längre aktiv."
        )
    return task


def _same(old: Any, new: Any) -> bool:
    """Equal; dates to the millisecond (the REST API's precision: a GET's due date PUT back is no change)."""
    if isinstance(old, datetime) and isinstance(new, datetime):
        return abs((old - new).total_seconds()) < 0.001
    return old == new


def _when(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def check_update(changes: dict[str, Any]) -> None:
    """Refuse a value the task cannot take, naming the field (nothing is written)."""
    problems = []
    unknown = sorted(set(changes) - {*UPDATABLE, "assignee"})
    problems += [Problem(k, "kan inte ändras på en uppgift") for k in unknown]
    name = changes.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > NAME_MAX):
        problems.append(Problem("name", f"ska vara en text på högst {NAME_MAX} tecken"))
    description = changes.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > MAX_TEXT):
        problems.append(Problem("description", f"ska vara en text på högst {MAX_TEXT} tecken"))
    if "priority" in changes:
        priority = changes["priority"]
        if isinstance(priority, bool) or not isinstance(priority, int):
            problems.append(Problem("priority", "ska vara ett heltal"))
        elif not INT_RANGE[0] <= priority <= INT_RANGE[1]:
            problems.append(Problem("priority", "ligger utanför tillåtet intervall"))
    for key in ("due_at", "follow_up_at"):
        value = changes.get(key)
        if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
            problems.append(Problem(key, "ska vara en tidpunkt med tidszon"))
    assignee = changes.get("assignee")
    if assignee is not None and not isinstance(assignee, str):
        problems.append(Problem("assignee", "ska vara ett användarnamn"))
    if problems:
        raise ValidationFailed(problems)


def update_fields(s: Session, task: UserTask, actor: str, changes: dict[str, Any]) -> dict[str, list]:
    """Write the fields of ``changes`` (``UPDATABLE``) that differ; return their before → after."""
    before = {k: getattr(task, k if k != "description" else "documentation") for k in changes}
    diff = {k: [before[k], v] for k, v in changes.items() if not _same(before[k], v)}
    if not diff:
        return {}
    values = {("documentation" if k == "description" else k): v for k, (_old, v) in diff.items()}
    done = s.execute(
        sa.update(UserTask).where(UserTask.id == task.id, sa.text(case_sql.STILL_OPEN)).values(**values)
    )
    if done.rowcount != 1:
        raise Conflict("Uppgiften ändrades samtidigt av någon annan; ladda om och försök igen.")
    return {
        k: [_when(old), _when(new)] if k in ("due_at", "follow_up_at") else [old, new]
        for k, (old, new) in diff.items()
    }


def record(s: Session, task: UserTask, actor: str, events: list[tuple[str, dict]]) -> None:
    """The audit rows of a change to ``task``, on its case's chain."""
    if events and not audit.append_case_events(
        s, task.case_id, actor, [(kind, detail, task.element_id, task.id) for kind, detail in events]
    ):
        raise NotFound(f"Uppgiften {task.id} finns inte.")


def change_candidates(s: Session, task: UserTask, actor: str, kind: str, value: str, add: bool) -> None:
    """Offer the task to one more candidate user or group (``kind`` "user" / "group"), or no longer.
    Adding one already there, or removing one that is not, changes nothing and writes nothing."""
    field = "userId" if kind == "user" else "groupId"
    if not isinstance(value, str) or not value or len(value) > 100:
        raise ValidationFailed([Problem(field, "ska vara en text på 1–100 tecken")])
    column = "candidate_users" if kind == "user" else "candidate_groups"
    before = list(getattr(task, column) or [])
    if add == (value in before):
        return
    if add and kind == "user" and not users.is_active(s, value):
        raise ValidationFailed([Problem(field, f"okänd användare {value}")])
    if add and kind == "group" and s.get(Role, value) is None:
        raise ValidationFailed([Problem(field, f"okänd roll {value}")])
    after = [*before, value] if add else [v for v in before if v != value]
    others = list(task.candidate_groups if kind == "user" else task.candidate_users) or []
    if not add and not after and not others:
        # As a diagram's task without anyone (refused when the task is created): nobody could take it,
        # also once its assignee gives it back.
        raise ValidationFailed(
            [Problem(field, "uppgiften måste ha kvar minst en kandidat (grupp eller användare)")]
        )
    done = s.execute(
        sa.update(UserTask)
        .where(UserTask.id == task.id, sa.text(case_sql.STILL_OPEN))
        .values({column: after})
    )
    if done.rowcount != 1:
        raise Conflict("Uppgiften ändrades samtidigt av någon annan; ladda om och försök igen.")
    if add:
        s.add(TaskCandidate(task_id=task.id, kind=kind, value=value))
    else:
        s.execute(
            sa.delete(TaskCandidate).where(
                TaskCandidate.task_id == task.id, TaskCandidate.kind == kind, TaskCandidate.value == value
            )
        )
    record(s, task, actor, [("task_candidates_changed", {column: [before, after]})])


def add_comment(s: Session, task: UserTask, actor: str, message: Any) -> dict[str, Any]:
    """A comment on the task: an append-only audit row of its case (kind "comment"), shown on the case's
    timeline. Returns the comment (id, time, message, task and case)."""
    if not isinstance(message, str) or not message.strip():
        raise ValidationFailed([Problem("message", "en kommentar behöver en text")])
    if len(message) > COMMENT_MAX:
        raise ValidationFailed([Problem("message", f"får vara högst {COMMENT_MAX} tecken")])
    comment_id = str(uuid.uuid4())
    record(s, task, actor, [("comment", {"id": comment_id, "message": message, "name": task.name})])
    row = s.execute(
        sa.select(AuditEvent)
        .where(AuditEvent.chain == task.case_id, AuditEvent.kind == "comment")
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).scalar_one()
    return comment_dict(row)


def comment_dict(row: AuditEvent) -> dict[str, Any]:
    detail = row.detail or {}
    return {
        "id": detail.get("id"),
        "user": row.actor,
        "task_id": row.task_id,
        "case_id": row.case_id,
        "at": row.at,
        "message": detail.get("message"),
    }


def comments(s: Session, task_id: str) -> list[dict[str, Any]]:
    """A task's comments, newest first (as Camunda lists them)."""
    task = s.get(UserTask, str(task_id))
    if task is None:
        return []
    rows = s.execute(
        sa.select(AuditEvent)
        .where(AuditEvent.chain == task.case_id, AuditEvent.kind == "comment", AuditEvent.task_id == task.id)
        .order_by(AuditEvent.seq.desc())
    ).scalars()
    return [comment_dict(r) for r in rows]
