"""Tables of BPMN signals between cases (migration 0007; ``engine.signals`` does the work).

- ``signal_subscription``: the signals each case waits for (intermediate catch, boundary, event-based
  gateway), projected after every step by ``engine.runtime`` exactly as ``message_subscription`` is.
- ``signal_start``: the signal start events of each definition (written at deploy, as ``message_start``).
- ``pending_signal``: a signal thrown (by a case's throw or end event, or ``POST /signal``) and not yet
  delivered to every receiver: an outbox written in the thrower's transaction. Removed once delivered.
- ``signal_delivery``: which receivers (a case, or a definition to start) a pending signal has reached,
  so neither a retry nor a second deliverer (the sweep racing the in-process delivery) gives it twice.
  A failed one is tried again with the timers' backoff (migration 0008: ``attempts``, ``retry_at``) and
  keeps the pending signal until it took the signal or no longer waits; all are removed with it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from engine.models import Base


class SignalSubscription(Base):
    __tablename__ = "signal_subscription"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(sa.ForeignKey("case.id"), index=True)
    signal_name: Mapped[str] = mapped_column(sa.String(200), index=True)
    element_id: Mapped[str] = mapped_column(sa.String(200))


class SignalStart(Base):
    __tablename__ = "signal_start"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    definition_id: Mapped[str] = mapped_column(sa.ForeignKey("process_definition.id"), index=True)
    signal_name: Mapped[str] = mapped_column(sa.String(200), index=True)


class PendingSignal(Base):
    __tablename__ = "pending_signal"
    __table_args__ = (sa.Index("ix_pending_signal_created", "created_at", "id"),)
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)  # a uuid, known before the insert
    name: Mapped[str] = mapped_column(sa.String(200))
    variables: Mapped[dict[str, Any]] = mapped_column(default=dict)
    variable_types: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The throwing case and element (None for POST /signal): its own catch events got it in its step.
    source_case_id: Mapped[str | None] = mapped_column(sa.String(36))
    element_id: Mapped[str | None] = mapped_column(sa.String(200))
    actor: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    # Set once every receiver took it but those whose step failed (migration 0008): from then on only they
    # are tried again (no case that began waiting since), and the sweep skips it until the first is due.
    retry_at: Mapped[datetime | None]


class SignalDelivery(Base):
    __tablename__ = "signal_delivery"
    pending_signal_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    # a case id (a waiting case) or a definition id (a signal start event)
    target: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    # delivered | started | failed | gone (no longer waiting) | forbidden (the sender may not)
    outcome: Mapped[str] = mapped_column(sa.String(20))
    case_id: Mapped[str | None] = mapped_column(sa.String(36))
    at: Mapped[datetime]
    error: Mapped[str | None] = mapped_column(sa.Text)  # why it failed; failed rows are kept as the record
    # A failed receiver (migration 0008): how often it failed, and when it is tried again (the timers'
    # backoff: engine.timers.next_try).
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    retry_at: Mapped[datetime | None]
