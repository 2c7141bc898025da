"""Tables of the workers area: reminders, mail preferences, schedule occurrences, captured mail, leases.

Each row that stands for "something happened once" has a unique key, so a retried or crashed worker, or a
second beat, can never do it twice: the insert of the second attempt is simply ignored.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from engine.models import Base


class Reminder(Base):
    """One reminder (or assignment notice, or escalation) to one user about one task."""

    __tablename__ = "reminder"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(sa.String(300), unique=True)
    case_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    task_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    kind: Mapped[str] = mapped_column(sa.String(30))  # assigned | before_due | on_due | overdue | escalation
    recipient: Mapped[str] = mapped_column(sa.String(100), index=True)
    email: Mapped[str | None] = mapped_column(sa.String(300))
    # mailed (an outbox row exists) | digest (waits for the daily digest) | digested | no_email
    status: Mapped[str] = mapped_column(sa.String(20), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    digest_key: Mapped[str | None] = mapped_column(sa.String(300))


class UserPreference(Base):
    """Per-user mail choice, kept apart from app_user (owned by the user module)."""

    __tablename__ = "user_preference"
    user_name: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    mail_mode: Mapped[str] = mapped_column(sa.String(20), default="immediate")  # immediate | digest
    updated_at: Mapped[datetime]


class ScheduleOccurrence(Base):
    """One row per (schedule, calendar date): the unique pair is what makes "one case per occurrence"."""

    __tablename__ = "schedule_occurrence"
    __table_args__ = (
        sa.UniqueConstraint("schedule_key", "occurrence", name="uq_schedule_occurrence_key_date"),
    )
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    schedule_key: Mapped[str] = mapped_column(sa.String(150))
    occurrence: Mapped[date] = mapped_column(sa.Date)
    case_id: Mapped[str | None] = mapped_column(sa.String(36))
    created_at: Mapped[datetime]


class CapturedMail(Base):
    """Mail "sent" by the capture mailer of the embedded mode, shown on the mailbox page."""

    __tablename__ = "captured_mail"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    outbox_id: Mapped[int | None] = mapped_column(index=True)
    mail_to: Mapped[str] = mapped_column(sa.String(300))
    subject: Mapped[str] = mapped_column(sa.Text)
    body: Mapped[str] = mapped_column(sa.Text)
    html: Mapped[str | None] = mapped_column(sa.Text)
    message_id: Mapped[str | None] = mapped_column(sa.String(300))
    captured_at: Mapped[datetime]


class WorkerLease(Base):
    """A named lease (beat leadership): held by one holder until it expires or is renewed."""

    __tablename__ = "worker_lease"
    name: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(sa.String(200))
    expires_at: Mapped[datetime]


class WorkerCursor(Base):
    """How far a scanner has read an append-only table (the audit log, for assignment notices)."""

    __tablename__ = "worker_cursor"
    name: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    position: Mapped[int] = mapped_column(sa.BigInteger, default=0)
