"""Tables of the external-initiative intake (engine/initiatives.py).

The initiator's contact data lives in ``initiative_contact``, apart from the case-like data in
``initiative``, so it can be purged on its own after the retention period without touching the register.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from engine.models import Base


class Initiative(Base):
    """One registered initiative: the diary entry, its public state and what is published."""

    __tablename__ = "initiative"
    __table_args__ = (sa.UniqueConstraint("series", "year", "seq", name="uq_initiative_series_year_seq"),)
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    diarienummer: Mapped[str] = mapped_column(sa.String(60), unique=True)
    series: Mapped[str] = mapped_column(sa.String(20))
    year: Mapped[int]
    seq: Mapped[int]
    kind: Mapped[str] = mapped_column(sa.String(40), index=True)
    subject: Mapped[str] = mapped_column(sa.String(200))
    text: Mapped[str] = mapped_column(sa.Text)
    area: Mapped[str | None] = mapped_column(sa.String(120))
    topic: Mapped[str | None] = mapped_column(sa.String(120))
    description: Mapped[str] = mapped_column(sa.String(300))  # short description for the register
    channel: Mapped[str] = mapped_column(sa.String(60))  # "formular" or a webhook channel name
    external_id: Mapped[str | None] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(20), index=True)  # received|screened|decided|answered
    next_step: Mapped[str | None] = mapped_column(sa.Text)
    # sha256 of the status link's token: a leaked database does not reveal working links.
    status_token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    registered_at: Mapped[datetime]
    deadline_at: Mapped[datetime | None] = mapped_column(index=True)  # statutory (medborgarförslag)
    expected_decision_at: Mapped[datetime | None]
    decision: Mapped[str | None] = mapped_column(sa.Text)
    decided_at: Mapped[datetime | None]
    answer: Mapped[str | None] = mapped_column(sa.Text)
    answered_at: Mapped[datetime | None]
    internal_note: Mapped[str | None] = mapped_column(sa.Text)  # staff only, never on the status page
    process_key: Mapped[str | None] = mapped_column(sa.String(150))
    case_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    routing: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the rule that matched, or why none did
    closed_at: Mapped[datetime | None] = mapped_column(index=True)
    contact_purged_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class InitiativeContact(Base):
    """Personal data of the initiator, purged after the retention period (engine.initiatives.purge_*)."""

    __tablename__ = "initiative_contact"
    initiative_id: Mapped[str] = mapped_column(
        sa.ForeignKey("initiative.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str | None] = mapped_column(sa.String(200))
    email: Mapped[str | None] = mapped_column(sa.String(300))
    # Kept so later status e-mails can carry the link; goes with the rest of the personal data.
    status_token: Mapped[str | None] = mapped_column(sa.String(100))
    created_at: Mapped[datetime]


class DiaryCounter(Base):
    """The last diary sequence number handed out per series and year; locked while registering."""

    __tablename__ = "diary_counter"
    series: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    year: Mapped[int] = mapped_column(primary_key=True)
    last: Mapped[int] = mapped_column(default=0)


class WebhookChannel(Base):
    """An integrating system (e-förslag platform, e-service) and its HMAC secret."""

    __tablename__ = "webhook_channel"
    name: Mapped[str] = mapped_column(sa.String(60), primary_key=True)
    secret: Mapped[str] = mapped_column(sa.String(200))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]


class IdempotencyKey(Base):
    """The first successful response to a webhook request, replayed for the same key."""

    __tablename__ = "idempotency_key"
    channel: Mapped[str] = mapped_column(sa.String(60), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    status_code: Mapped[int]
    response: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(index=True)
