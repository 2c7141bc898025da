"""The database schema (SQLAlchemy 2). Alembic migrations in ``engine/migrations`` create the same tables.

Cases keep their SpiffWorkflow state *without* the spec: the parsed spec comes from the definition's XML,
parsed once per process and cached (``engine.definitions``). Everything a list page or a worker needs
to find (open tasks, due timers, message subscriptions, outbox rows) is projected into indexed columns,
so nobody has to load case blobs to search.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in and out, also on SQLite (which forgets the offset)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; Delaktig stores aware UTC only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType, list[Any]: JSONType}


class Deployment(Base):
    __tablename__ = "deployment"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    source: Mapped[str | None] = mapped_column(sa.String(200))
    tenant_id: Mapped[str | None] = mapped_column(sa.String(64))
    deployed_by: Mapped[str] = mapped_column(sa.String(100))
    deployed_at: Mapped[datetime]
    resources: Mapped[list[Resource]] = relationship(back_populates="deployment")


class Resource(Base):
    """A deployed file, stored as uploaded (the viewer and /xml show it byte for byte)."""

    __tablename__ = "resource"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    deployment_id: Mapped[str] = mapped_column(sa.ForeignKey("deployment.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(300))
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    content: Mapped[bytes] = mapped_column(sa.LargeBinary)
    deployment: Mapped[Deployment] = relationship(back_populates="resources")


class ProcessDefinition(Base):
    __tablename__ = "process_definition"
    __table_args__ = (sa.UniqueConstraint("key", "version", name="uq_process_definition_key_version"),)
    # "key:version:short-uuid", the shape Camunda 7 clients expect.
    id: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(150), index=True)
    version: Mapped[int]
    name: Mapped[str | None] = mapped_column(sa.String(300))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    resource_id: Mapped[str] = mapped_column(sa.ForeignKey("resource.id"))
    deployment_id: Mapped[str] = mapped_column(sa.ForeignKey("deployment.id"), index=True)
    deployed_by: Mapped[str] = mapped_column(sa.String(100))
    deployed_at: Mapped[datetime]
    # Message names that start this process (indexed via message_start rows).
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    resource: Mapped[Resource] = relationship()


class MessageStart(Base):
    __tablename__ = "message_start"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    definition_id: Mapped[str] = mapped_column(sa.ForeignKey("process_definition.id"), index=True)
    message_name: Mapped[str] = mapped_column(sa.String(200), index=True)


class Case(Base):
    __tablename__ = "case"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    definition_id: Mapped[str] = mapped_column(sa.ForeignKey("process_definition.id"), index=True)
    process_key: Mapped[str] = mapped_column(sa.String(150), index=True)
    business_key: Mapped[str | None] = mapped_column(sa.String(200), index=True)
    status: Mapped[str] = mapped_column(sa.String(20), index=True)  # active | completed | terminated
    # Optimistic lock: every write is "UPDATE … WHERE version = :read_version".
    version: Mapped[int] = mapped_column(default=1)
    state: Mapped[bytes] = mapped_column(sa.LargeBinary)
    state_format: Mapped[str] = mapped_column(sa.String(20))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)  # current variables, for queries and pages
    next_timer_at: Mapped[datetime | None] = mapped_column(index=True)
    started_by: Mapped[str] = mapped_column(sa.String(100), index=True)
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(sa.Text)
    # Head of the case's audit chain, kept on the locked row: appending needs no extra query, and
    # removing the newest audit rows is detectable (the head no longer matches).
    audit_seq: Mapped[int] = mapped_column(default=0)
    audit_hash: Mapped[str] = mapped_column(sa.String(64), default="")
    definition: Mapped[ProcessDefinition] = relationship()


# ``state = 'open'`` written inline in queries, not as a bound parameter: the partial indexes on open tasks
# (migrations 0003, web_0002, web_0003) are only usable when the planner can see that the query implies
# their predicate — SQLite's always, PostgreSQL's in a prepared statement's generic plan.
OPEN = sa.literal_column("'open'")


class UserTask(Base):
    """Projection of READY manual tasks (and the history of completed ones)."""

    __tablename__ = "user_task"
    # Open tasks by due date (reminders). Partial, like the inbox indexes of the "web" migrations: an
    # index led by ``state`` kept every completed task and misled the planner (migration 0003).
    __table_args__ = (
        sa.Index(
            "ix_user_task_open_due",
            "due_at",
            postgresql_where=sa.text("state = 'open'"),
            sqlite_where=sa.text("state = 'open'"),
        ),
    )
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)  # SpiffWorkflow task id
    case_id: Mapped[str] = mapped_column(sa.ForeignKey("case.id"), index=True)
    definition_id: Mapped[str] = mapped_column(sa.String(200), index=True)
    process_key: Mapped[str] = mapped_column(sa.String(150), index=True)
    element_id: Mapped[str] = mapped_column(sa.String(200))
    name: Mapped[str | None] = mapped_column(sa.String(300))
    documentation: Mapped[str | None] = mapped_column(sa.Text)
    lane: Mapped[str | None] = mapped_column(sa.String(200))
    candidate_groups: Mapped[list[Any]] = mapped_column(default=list)
    candidate_users: Mapped[list[Any]] = mapped_column(default=list)
    assignee: Mapped[str | None] = mapped_column(sa.String(100), index=True)
    state: Mapped[str] = mapped_column(sa.String(20))  # open | completed | cancelled
    created_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    follow_up_at: Mapped[datetime | None]
    priority: Mapped[int] = mapped_column(default=50)
    form: Mapped[dict[str, Any]] = mapped_column(default=dict)
    completed_at: Mapped[datetime | None]
    completed_by: Mapped[str | None] = mapped_column(sa.String(100), index=True)
    # Delegation (Camunda's delegate/resolve; migration task_0001): who delegated the task and gets it
    # back, and PENDING while the delegate has it / RESOLVED once given back (None: never delegated).
    owner: Mapped[str | None] = mapped_column(sa.String(100))
    delegation_state: Mapped[str | None] = mapped_column(sa.String(10))


class TaskCandidate(Base):
    """One row per candidate group/user of an open task, so "my group's tasks" is an index lookup."""

    __tablename__ = "task_candidate"
    task_id: Mapped[str] = mapped_column(sa.ForeignKey("user_task.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(5), primary_key=True)  # group | user
    value: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    __table_args__ = (sa.Index("ix_task_candidate_value", "kind", "value"),)


class ExternalTask(Base):
    """Projection of the case's waiting external tasks (``camunda:type="external"``, SpiffWorkflow's STARTED
    state), and the worker's lock on each. The lock, retries and error live only here: fetching and
    failing change no case (``engine.external_tasks``); completing one goes through the case."""

    __tablename__ = "external_task"
    __table_args__ = (
        sa.Index(
            "ix_external_task_open_topic",
            "topic",
            "priority",
            postgresql_where=sa.text("state = 'open'"),
            sqlite_where=sa.text("state = 'open'"),
        ),
    )
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)  # SpiffWorkflow task id
    case_id: Mapped[str] = mapped_column(sa.ForeignKey("case.id"), index=True)
    definition_id: Mapped[str] = mapped_column(sa.String(200))
    process_key: Mapped[str] = mapped_column(sa.String(150))
    business_key: Mapped[str | None] = mapped_column(sa.String(200))
    element_id: Mapped[str] = mapped_column(sa.String(200))
    name: Mapped[str | None] = mapped_column(sa.String(300))
    topic: Mapped[str] = mapped_column(sa.String(200))
    priority: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)  # camunda:properties
    # The task's own variables, where they differ from the case's: a multi-instance element and counter,
    # a subprocess's. A worker gets the case's current variables with these over them (as Camunda
    # collects variables from the task's execution up).
    local_data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(sa.String(20))  # open | completed | cancelled
    worker_id: Mapped[str | None] = mapped_column(sa.String(255))
    lock_expires_at: Mapped[datetime | None]
    retries: Mapped[int | None]
    error_message: Mapped[str | None] = mapped_column(sa.String(666))
    error_details: Mapped[str | None] = mapped_column(sa.Text)
    failed_at: Mapped[datetime | None]  # the last failure: with no retries left, when the incident began
    created_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    ended_by: Mapped[str | None] = mapped_column(sa.String(100))


class MessageSubscription(Base):
    __tablename__ = "message_subscription"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(sa.ForeignKey("case.id"), index=True)
    message_name: Mapped[str] = mapped_column(sa.String(200), index=True)
    element_id: Mapped[str] = mapped_column(sa.String(200))


class AuditEvent(Base):
    """Append-only. ``prev_hash``/``hash`` chain the rows of one case (or of the deploy log)."""

    __tablename__ = "audit_event"
    __table_args__ = (sa.UniqueConstraint("chain", "seq", name="uq_audit_event_chain_seq"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    chain: Mapped[str] = mapped_column(sa.String(64))  # case id, or "deploy"
    seq: Mapped[int]
    case_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(sa.String(100), index=True)
    kind: Mapped[str] = mapped_column(sa.String(50))
    element_id: Mapped[str | None] = mapped_column(sa.String(200))
    task_id: Mapped[str | None] = mapped_column(sa.String(36))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))


class AuditHead(Base):
    """The newest row of each audit chain that is not a case's (a case keeps its head on its own row:
    ``Case.audit_seq``/``audit_hash``): the deploy log and each initiative's chain. Without a head, a
    chain whose newest rows were removed would still verify."""

    __tablename__ = "audit_head"
    chain: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    seq: Mapped[int]
    hash: Mapped[str] = mapped_column(sa.String(64))


class Outbox(Base):
    __tablename__ = "outbox"
    __table_args__ = (sa.Index("ix_outbox_pending", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(sa.String(300), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(30))  # email
    case_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(sa.String(20), default="pending")  # see engine.outbox (states)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class User(Base):
    __tablename__ = "app_user"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    password_hash: Mapped[str | None] = mapped_column(sa.String(200))
    email: Mapped[str | None] = mapped_column(sa.String(300))
    display_name: Mapped[str | None] = mapped_column(sa.String(200))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    # Raised when the user signs out: a session cookie of an older generation (a copy kept elsewhere) is
    # no longer accepted. The cookie is signed but kept by the browser; only the database can revoke it.
    session_generation: Mapped[int] = mapped_column(default=0, server_default="0")
    roles: Mapped[list[Role]] = relationship(secondary="user_role", lazy="selectin")


class Role(Base):
    __tablename__ = "role"
    name: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    label: Mapped[str | None] = mapped_column(sa.String(200))


class UserRole(Base):
    __tablename__ = "user_role"
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True)
    role_name: Mapped[str] = mapped_column(sa.ForeignKey("role.name", ondelete="CASCADE"), primary_key=True)
