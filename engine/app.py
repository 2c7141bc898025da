"""The engine's service API: every state change is one method, one transaction (docs/engine-api.md)."""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.exceptions import WorkflowException
from SpiffWorkflow.task import TaskState
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, StatementError
from sqlalchemy.orm import Session

from engine import (
    activity_types,
    case_sql,
    clock,
    definitions,
    inbox,
    scope,
    signals,
    start_forms,
    task_changes,
    timers,
    users,
)
from engine import audit as audit_log
from engine.audit import AuditWriter
from engine.camunda_queries import may_work_on
from engine.case_values import CaseInfo
from engine.case_values import check_variables as _check_variables
from engine.case_values import info as _info
from engine.config import Settings
from engine.db import make_engine, make_sessionmaker, read_session, upgrade, write_transaction
from engine.errors import (
    AmbiguousMatch,
    ConcurrentChange,
    Conflict,
    Forbidden,
    InvalidValue,
    NoMatch,
    NotFound,
    Problem,
    ProcessError,
    StaleCase,
    ValidationFailed,
)
from engine.external_tasks import ExternalTasks
from engine.forms import unsubmitted, validate_form, without_required
from engine.models import Case, MessageStart, MessageSubscription, ProcessDefinition, User, UserTask
from engine.personal import redact
from engine.rowio import RowIO, finish_rows
from engine.runtime import (
    THROWN_SIGNALS,
    TYPES_KEY,
    case_variables,
    new_case,
    open_case,
    start_new_case,
    with_initiator,
)
from engine.workflow import differs, json_safe, message_definitions, only_start_at

T = TypeVar("T")
log = logging.getLogger(__name__)


def _check_business_key(key: Any) -> None:
    if key is not None and (not isinstance(key, str) or len(key) > 200 or "\x00" in key):
        raise ValidationFailed(
            [Problem("businessKey", "ärendenumret (business key) ska vara en text på högst 200 tecken")]
        )


def _keeps_someone(task) -> None:
    """A task given back must stay someone's to take: with no candidate group or user (a diagram's
    ``camunda:assignee`` only, or candidates removed since) it would be in no inbox and nobody could
    claim it (probe 9)."""
    if not (task.candidate_groups or task.candidate_users):
        raise Conflict(
            "Uppgiften har ingen kandidat (grupp eller användare) och kan inte lämnas tillbaka; "
            "tilldela den någon annan i stället."
        )


def _check_task_access(task, task_id: str, actor: str, roles: Callable[[], set[str]]) -> None:
    """Raise unless ``task`` exists, is open and ``actor`` may work on it (assignee, candidate user, or
    one of ``roles()`` — asked only when needed — among its candidate groups)."""
    if task is None:
        raise NotFound(f"Uppgiften {task_id} finns inte.")
    if task.state != "open":
        raise Conflict(
            "Uppgiften är redan slutförd." if task.state == "completed" else "Uppgiften är inte längre aktiv."
        )
    if actor == task.assignee or actor in (task.candidate_users or []):
        return
    if not roles() & set(task.candidate_groups or []):
        raise Forbidden("Uppgiften hör till en annan roll än dina.")


@contextlib.contextmanager
def _values_refused() -> Iterator[None]:
    """A value the database cannot take (SQLSTATE class 22 on PostgreSQL: too long, NUL, out of range; an
    integer beyond 64 bits on SQLite) is the caller's bad input, not a server fault: InvalidValue."""
    import psycopg

    try:
        yield
    except (DataError, psycopg.DataError, OverflowError) as err:
        raise _invalid(getattr(err, "orig", None) or err) from err
    except StatementError as err:
        if isinstance(err.orig, OverflowError | ValueError):
            raise _invalid(err.orig) from err
        raise
    except TypeError as err:
        # orjson (the case blob, JSON columns) keeps integers within 64 bits, as both databases do, and
        # JSON nested at most 255 deep; such a value reached the engine from Python (the web layers
        # refuse both on the way in).
        if "64-bit" not in str(err) and "Recursion limit" not in str(err):
            raise
        raise _invalid(OverflowError(str(err))) from err


def _invalid(err: BaseException) -> InvalidValue:
    """Say what kind of value it was (SQLSTATE, else the error's kind), not the database's words."""
    detail = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
    state = getattr(err, "sqlstate", None) or ""
    if state == "22001":
        reason = "en text är längre än vad som får plats"
    elif state in ("22003", "22008") or isinstance(err, OverflowError):
        reason = "ett tal eller datum ligger utanför tillåtet intervall"
    elif "NUL" in detail or state in ("22021", "22P05"):
        reason = "en text innehåller ett otillåtet tecken"
    else:
        reason = "ett värde har fel form"
    return InvalidValue(reason, detail)


def _is_unique_violation(err: IntegrityError) -> bool:
    """A lost race on a unique key (two writers) is a conflict; any other integrity error is a bug."""
    code = getattr(err.orig, "sqlstate", None)
    return code == "23505" or "UNIQUE constraint failed" in str(err.orig)


class Delaktig(ExternalTasks):
    def __init__(self, database_url: str | None = None, settings: Settings | None = None, **engine_kwargs):
        self.settings = settings or Settings.from_env(database_url=database_url)
        self.db = make_engine(self.settings.database_url, **engine_kwargs)
        self.Session = make_sessionmaker(self.db)
        self.specs = definitions.SpecCache()
        # Signals a step throws reach the other cases right after its commit (engine.signals); off, only
        # deliver_pending_signals (the periodic worker) delivers them.
        self.deliver_signals_after_commit = True

    @classmethod
    def from_env(cls) -> Delaktig:
        return cls()

    @property
    def dialect(self) -> str:
        return self.db.dialect.name

    def upgrade(self) -> None:
        had_signals = signals.migration_applied(self.settings.database_url)
        upgrade(self.settings.database_url)
        if not had_signals:  # cases waiting at a signal catch event since before migration 0007
            signals.index_waiting_cases(self)

    def dispose(self) -> None:
        self.db.dispose()

    # --- transactions ---------------------------------------------------------------------------------
    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session for reads (on PostgreSQL without BEGIN/COMMIT round trips: ``db.read_session``).
        Closing it ends it; loaded objects stay readable (detached). Writes belong in ``transaction``."""
        with _values_refused(), read_session(), self.Session() as s:
            yield s

    def transaction(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn`` in one write transaction; map database races to Conflict."""
        try:
            with _values_refused(), write_transaction(), self.Session() as s, s.begin():
                result = fn(s)
                # Rows a case run left queued (``save(last=True)``) go with the COMMIT.
                finish_rows(s)
                thrown = s.info.pop(THROWN_SIGNALS, None)
        except IntegrityError as err:
            if not _is_unique_violation(err):
                raise
            raise ConcurrentChange(
                f"samtidig ändring upptäcktes ({err.orig.__class__.__name__}); försök igen"
            ) from err
        except OperationalError as err:
            if "locked" in str(err).lower() or "deadlock" in str(err).lower():
                raise ConcurrentChange("databasen är upptagen av en samtidig ändring; försök igen") from err
            raise
        if thrown:
            # Signals the committed steps threw: the other cases and signal start events get them now
            # (best effort; the sweep, deliver_pending_signals, delivers what is left).
            signals.after_commit(self, thrown)
        return result

    # --- definitions ----------------------------------------------------------------------------------
    def lint(self, xml: bytes, filename: str = "diagram.bpmn") -> list[Problem]:
        return definitions.lint(xml, filename)

    def deploy(self, xml: bytes, filename: str = "diagram.bpmn", deployed_by: str = "system", **options):
        return self.transaction(
            lambda s: definitions.deploy(s, xml, filename, deployed_by, clock.now(), **options)
        )

    def deploy_files(self, files: list[tuple[str, bytes]], deployed_by: str = "system", **options):
        """Several diagrams as one deployment (all or nothing); see ``definitions.deploy_files``."""
        return self.transaction(
            lambda s: definitions.deploy_files(s, files, deployed_by, clock.now(), **options)
        )

    # --- cases ----------------------------------------------------------------------------------------
    def start_case(
        self,
        key: str | None = None,
        business_key: str | None = None,
        variables: dict[str, Any] | None = None,
        actor: str = "system",
        version: int | None = None,
        definition_id: str | None = None,
        roles: set[str] | None = None,
        variable_types: dict[str, str | None] | None = None,
        start_form: bool = False,
    ) -> CaseInfo:
        """``start_form``: the variables are a submitted start form (Camunda's submit-form): checked
        against the none start event's form fields (required, types, limits; errors name the field), a
        field left out takes its default; other variables are kept, as Camunda keeps them."""
        variables = _check_variables(dict(variables or {}))
        _check_business_key(business_key)

        def work(s: Session) -> CaseInfo:
            found = case_sql.load_definition_roles(RowIO.of(s), actor, key, version, definition_id)
            if found is None:
                if definition_id:
                    raise NotFound(f"process definition {definition_id} not found")
                raise NotFound(
                    f"no process definition with key {key!r}" + (f" and version {version}" if version else "")
                )
            definition, their_roles = found
            self._check_starter(s, definition, actor, roles if roles is not None else their_roles)
            if actor not in users.SYSTEM_ACTORS and not inbox.outline(s, definition.id).manual_start:
                # As Camunda 7: only a process with a none start event is started by hand; the others
                # wait for their message (POST /message, the intake) or their schedule.
                raise ValidationFailed(
                    [
                        Problem(
                            "startEvent",
                            f"{definition.name or definition.key} startas av en händelse (meddelande eller "
                            "tidpunkt), inte för hand; skicka meddelandet i stället",
                        )
                    ]
                )
            values = variables
            if start_form:
                # (the definition row of the hot path carries no XML: the form is read from the resource)
                form = {"fields": start_forms.start_form(s.get(ProcessDefinition, definition.id))["fields"]}
                clean, problems = validate_form(form, variables, allow_extra=True)
                if problems:
                    raise ValidationFailed(problems, "Startformuläret innehåller fel.")
                values = {**unsubmitted(form, clean, {}), **clean}
            run = start_new_case(
                s,
                self.specs,
                definition,
                business_key,
                values,
                actor,
                last=True,
                variable_types=variable_types,
            )
            return _info(run)

        return self.transaction(work)

    def _check_starter(
        self, s: Session, definition: ProcessDefinition, actor: str, roles: set[str] | None
    ) -> None:
        """The staff pages' rule (``inbox.Outline.allowed_starters``): the process's
        ``camunda:candidateStarterGroups``, else the roles that work on its user tasks. Only the engine's
        own actors (the scheduler, the intake) start without a role."""
        if actor in users.SYSTEM_ACTORS:
            return
        starters = inbox.outline(s, definition.id).allowed_starters(definition.meta)
        mine = roles if roles is not None else users.roles_of(s, actor)
        if not mine & starters:
            raise Forbidden(f"Du saknar behörighet att starta {definition.name or definition.key}.")

    def cancel_case(self, case_id: str, actor: str, reason: str | None = None) -> CaseInfo:
        def work(s: Session) -> CaseInfo:
            run = open_case(s, case_id, self.specs, actor, AuditWriter())
            if run.case.status != "active":
                raise Conflict("Ärendet är redan avslutat.")
            run.terminate(reason)
            run.save(last=True)
            return _info(run)

        return self.transaction(work)

    def set_variables(
        self,
        case_id: str,
        actor: str,
        modifications: dict[str, Any] | None = None,
        deletions: list[str] | None = None,
        variable_types: dict[str, str | None] | None = None,
    ) -> CaseInfo:
        """Set and remove case variables outside a task (Camunda's process-instance variables), audited
        with the before → after of each changed one. Who may do it is the caller's rule (the REST API: a
        process manager). Every step still waiting (user tasks, timers, messages) and the case's data see
        the new values; nothing else moves: no gateway is re-evaluated and no timer fires."""
        return self._change_variables(
            lambda s: (open_case(s, case_id, self.specs, actor, AuditWriter()), None),
            actor,
            modifications,
            deletions,
            variable_types,
        )

    def _change_variables(
        self,
        target: Callable[[Session], tuple[Any, UserTask | None]],
        actor: str,
        modifications: dict[str, Any] | None,
        deletions: list[str] | None,
        variable_types: dict[str, str | None] | None,
    ) -> CaseInfo:
        """``set_variables``' work, shared with ``set_task_variables``: ``target(s)`` opens the case (a
        ``CaseRun``) and names the task the change goes through (None: none), inside the transaction — and
        again on a retry — so a task completed meanwhile is no way in; the audit row carries its id."""
        modifications = _check_variables(dict(modifications or {}))
        deletions = list(deletions or [])
        bad = [n for n in deletions if not isinstance(n, str) or n in modifications]
        if bad:
            raise ValidationFailed(
                [Problem(str(n), "a variable both set and removed, or not a name") for n in bad]
            )

        def work(s: Session) -> CaseInfo:
            run, via = target(s)  # (not `task`: the loop below walks the workflow's tasks)
            if run.case.status != "active":
                raise Conflict("Ärendet är avslutat; dess uppgifter ändras inte längre.")
            before = case_variables(run.wf)
            gone = [n for n in deletions if n in before]
            changed = {k: v for k, v in modifications.items() if k not in before or differs(before[k], v)}
            declared = run.wf.data.get(TYPES_KEY) or {}
            retyped = {
                k: [declared.get(k), v]
                for k, v in (variable_types or {}).items()
                if k in modifications and declared.get(k) != v
            }
            if not (changed or gone or retyped):
                return _info(run)  # nothing to change (a value set again, a variable already gone): no row
            # A name no variable can have ("_types" …) is nothing to remove: never Delaktig's own entries.
            removable = [n for n in deletions if n.isidentifier() and not n.startswith("_")]
            scope.assign(run.wf, modifications)  # finished tasks too (scope.all_tasks says why)
            scope.remove(run.wf, removable)
            after = {**changed, **dict.fromkeys(gone)}
            old, new = redact({k: before.get(k) for k in after}), redact(after)
            changes = {k: [json_safe(old[k]), json_safe(new[k])] for k in after}
            run.record(
                "variables_modified",
                task_id=via.id if via is not None else None,
                # ``retyped``: a declared type changed with the value left as it was (Integer 3 → Long 3).
                detail={"changes": changes, "removed": gone, **({"retyped": retyped} if retyped else {})},
            )
            run.declare_types({**(variable_types or {}), **dict.fromkeys(deletions)})
            run.save(last=True)
            return _info(run)

        return self._retrying(work)

    def set_task_variables(
        self,
        task_id: str,
        actor: str,
        modifications: dict[str, Any] | None = None,
        deletions: list[str] | None = None,
        roles: set[str] | None = None,
        variable_types: dict[str, str | None] | None = None,
    ) -> CaseInfo:
        """Set and remove case variables through an open task (Camunda's task variables: its non-local ones
        are the process instance's, and Delaktig keeps no task-local ones), as ``set_variables`` does and
        audited the same way, with the task's id. The right is the task's, not a process manager's: its
        assignee, or — while no one holds it — a candidate user or one of ``roles`` among its candidate
        groups (the rule of claiming and completing it)."""

        def target(s: Session) -> tuple[Any, UserTask]:
            # Checked before the case is loaded (a refusal costs no workflow), and again once the case is
            # locked (FOR UPDATE on PostgreSQL): a completion committed in between is seen; one committed
            # later fails its version check and runs again after this change.
            case_id = self._task_for(s, task_id, actor, roles).case_id
            run = open_case(s, case_id, self.specs, actor, AuditWriter())
            task = self._task_for(s, task_id, actor, roles)
            if task.assignee is not None and task.assignee != actor:
                raise Forbidden(
                    f"Uppgiften är tagen av {task.assignee}; bara den personen kan ändra dess uppgifter."
                )
            return run, task

        return self._change_variables(target, actor, modifications, deletions, variable_types)

    # --- user tasks -----------------------------------------------------------------------------------
    def _task_for(
        self, s: Session, task_id: str, actor: str, roles: set[str] | None, lock: bool = False
    ) -> UserTask:
        """The open task the actor may work on (``lock``: its row locked, FOR UPDATE on PostgreSQL)."""
        q = sa.select(UserTask).where(UserTask.id == str(task_id))
        q = q.with_for_update() if lock else q
        task = s.execute(q.execution_options(populate_existing=True)).scalar()
        _check_task_access(
            task, task_id, actor, lambda: roles if roles is not None else users.roles_of(s, actor)
        )
        return task

    def claim_task(self, task_id: str, actor: str, roles: set[str] | None = None) -> None:
        def work(s: Session) -> None:
            task = self._task_for(s, task_id, actor, roles)
            if task.assignee == actor:
                return
            if task.assignee:
                raise Conflict(f"Uppgiften är redan tagen av {task.assignee}.")
            done = s.execute(
                sa.update(UserTask)
                .where(UserTask.id == task.id, UserTask.assignee.is_(None), sa.text(case_sql.STILL_OPEN))
                .values(assignee=actor)
            )
            if done.rowcount != 1:
                raise Conflict("Uppgiften togs samtidigt av någon annan.")
            self._case_event(s, task.case_id, actor, "task_claimed", task, {"assignee": [None, actor]})

        self.transaction(work)

    def unclaim_task(self, task_id: str, actor: str, roles: set[str] | None = None) -> None:
        def work(s: Session) -> None:
            task = self._task_for(s, task_id, actor, roles)
            if task.assignee is None:
                return
            if task.assignee != actor:
                raise Conflict(
                    f"Uppgiften är tagen av {task.assignee}; bara den personen kan lämna tillbaka den."
                )
            _keeps_someone(task)
            s.execute(sa.update(UserTask).where(UserTask.id == task.id).values(assignee=None))
            self._case_event(s, task.case_id, actor, "task_unclaimed", task, {"assignee": [actor, None]})

        self.transaction(work)

    def set_assignee(
        self, task_id: str, actor: str, assignee: str | None, roles: set[str] | None = None
    ) -> None:
        """Reassign (Camunda's POST /task/{id}/assignee), by the rules of claiming: the actor must be
        allowed to do the task, a task someone else holds is theirs to hand on (as for unclaim), and the
        new assignee must be an active user who may do it too (a candidate user or in one of its groups)
        — else assigning would hand a task, and its case, to someone its roles keep out."""

        def work(s: Session) -> None:
            task = self._task_for(s, task_id, actor, roles)
            before = self._reassign(s, task, actor, assignee)
            self._case_event(
                s, task.case_id, actor, "task_reassigned", task, {"assignee": [before, assignee]}
            )

        self.transaction(work)

    def _reassign(
        self, s: Session, task: UserTask, actor: str, assignee: str | None, field: str = "userId"
    ) -> str | None:
        """``set_assignee``'s rules and write (also ``update_task``'s); returns the assignee before."""
        before = task.assignee
        if before is not None and before != actor:
            raise Conflict(f"Uppgiften är tagen av {before}; bara den personen kan lämna den vidare.")
        if assignee is None:
            _keeps_someone(task)
        if assignee is not None and assignee != actor:
            if not users.is_active(s, assignee):
                raise ValidationFailed([Problem(field, f"okänd användare {assignee}")])
            if not may_work_on(task, assignee, users.roles_of(s, assignee)):
                raise ValidationFailed(
                    [Problem(field, f"{assignee} har inte rollen för uppgiften och kan inte tilldelas den")]
                )
        done = s.execute(
            sa.update(UserTask)
            .where(UserTask.id == task.id, sa.text(case_sql.STILL_OPEN))
            .where(UserTask.assignee.is_(None) if before is None else UserTask.assignee == before)
            .values(assignee=assignee)
        )
        if done.rowcount != 1:
            raise Conflict("Uppgiften ändrades samtidigt av någon annan; ladda om och försök igen.")
        return before

    # Task details, candidates and comments: engine.task_changes does the work, these check who may.
    def update_task(
        self, task_id: str, actor: str, changes: dict[str, Any], roles: set[str] | None = None
    ) -> None:
        """Change an open task's ``name``, ``description``, ``priority``, ``due_at``, ``follow_up_at``
        and (by ``set_assignee``'s rules) ``assignee``: the keys given; the rest stay. Who may: as for
        changing its variables — its assignee, or while no one holds it a candidate. Audited with the
        before -> after of what changed ("task_updated"; a new assignee as "task_reassigned")."""
        task_changes.check_update(changes)

        def work(s: Session) -> None:
            task = self._task_for(s, task_id, actor, roles, lock=True)
            if task.assignee is not None and task.assignee != actor:
                raise Conflict(f"Uppgiften är tagen av {task.assignee}; bara den personen kan ändra den.")
            fields = {k: v for k, v in changes.items() if k != "assignee"}
            diff = task_changes.update_fields(s, task, actor, fields)
            events = [("task_updated", {"name": task.name, "changes": diff})] if diff else []
            if "assignee" in changes and changes["assignee"] != task.assignee:
                before = self._reassign(s, task, actor, changes["assignee"], "assignee")
                events.append(("task_reassigned", {"assignee": [before, changes["assignee"]]}))
            task_changes.record(s, task, actor, events)

        self.transaction(work)

    def change_candidates(self, task_id: str, actor: str, kind: str, value: str, add: bool) -> None:
        """Add or remove a candidate ``kind`` ("user" or "group") of an open task, audited. Who may is
        the caller's rule (the REST API: a process manager), as for ``set_variables``."""

        def work(s: Session) -> None:
            task = task_changes.open_task(s, task_id)
            task_changes.change_candidates(s, task, actor, kind, value, add)

        self.transaction(work)

    def add_comment(
        self, task_id: str, actor: str, message: str, roles: set[str] | None = None
    ) -> dict[str, Any]:
        """A comment on an open task by whoever may work on it (also while a colleague holds it: a comment
        changes nothing), kept as an audit row of the case ("comment")."""

        def work(s: Session) -> dict[str, Any]:
            task = self._task_for(s, task_id, actor, roles)
            return task_changes.add_comment(s, task, actor, message)

        return self.transaction(work)

    # --- delegation (Camunda's delegate / resolve) -------------------------------------------------------
    def delegate_task(
        self,
        task_id: str,
        actor: str,
        to_user: str,
        roles: set[str] | None = None,
        unassigned_too: bool = False,
    ) -> None:
        """Hand the task one holds to a colleague to work on and give back (Camunda's "Delegate Task"): the
        delegate becomes its assignee, the delegator its owner (who stays owner when a delegate delegates
        it on) and its delegation state PENDING. By the rules of reassigning (``_reassign``): only its
        assignee may, and the delegate must be an active user — but, unlike an assignee, need not have the
        task's role: delegating is how a colleague outside it is asked to help, and while the task is
        theirs they may work on it and read its case (as its assignee). Audited as "task_delegated" with
        the before → after of assignee, owner and delegation state.

        ``unassigned_too`` (the REST API, as Camunda's TaskEntity.delegate): a task no one holds may be
        delegated too, by whoever may work on it; its owner stays what it was (none, unless it was
        delegated before) and the delegate becomes its assignee."""
        if not isinstance(to_user, str) or not to_user.strip() or len(to_user) > 100:
            raise ValidationFailed([Problem("userId", "ange vem uppgiften ska delegeras till")])

        def work(s: Session) -> None:
            task = self._task_for(s, task_id, actor, roles, lock=True)
            holder = task.assignee
            if holder != actor and not (holder is None and unassigned_too):
                if holder:
                    raise Conflict(f"Uppgiften är tagen av {holder}; bara den personen kan delegera den.")
                raise Conflict("Ta uppgiften innan du delegerar den.")
            pending = task.delegation_state == "PENDING"
            owner = task.owner if holder is None or (pending and task.owner) else actor
            if to_user == holder:
                raise ValidationFailed([Problem("userId", "du har redan uppgiften; välj en kollega")])
            if owner is not None and to_user == owner:
                raise ValidationFailed(
                    [Problem("userId", f"{to_user} delegerade uppgiften; lämna tillbaka den i stället")]
                )
            if not users.is_active(s, to_user):
                raise ValidationFailed([Problem("userId", f"okänd användare {to_user}")])
            detail = {"name": task.name, "assignee": [holder, to_user]}
            if task.owner != owner:
                detail["owner"] = [task.owner, owner]
            if not pending:
                detail["delegation_state"] = [task.delegation_state, "PENDING"]
            held = UserTask.assignee.is_(None) if holder is None else UserTask.assignee == holder
            done = s.execute(
                sa.update(UserTask)
                .where(UserTask.id == task.id, held, sa.text(case_sql.STILL_OPEN))
                .values(assignee=to_user, owner=owner, delegation_state="PENDING")
            )
            if done.rowcount != 1:
                raise Conflict("Uppgiften ändrades samtidigt av någon annan; ladda om och försök igen.")
            self._case_event(s, task.case_id, actor, "task_delegated", task, detail)

        self.transaction(work)

    @staticmethod
    def _check_resolvable(task: UserTask, actor: str) -> None:
        if task.delegation_state != "PENDING":
            raise Conflict("Uppgiften är inte delegerad och kan inte lämnas tillbaka.")
        if task.assignee != actor:
            raise Conflict(
                f"Uppgiften är delegerad till {task.assignee}; bara den personen kan lämna tillbaka den."
                if task.assignee
                else "Ta uppgiften innan du lämnar tillbaka den."
            )

    def resolve_task(
        self,
        task_id: str,
        actor: str,
        variables: dict[str, Any] | None = None,
        roles: set[str] | None = None,
        allow_extra: bool = True,
        variable_types: dict[str, str | None] | None = None,
    ) -> CaseInfo:
        """Give a delegated task back to its owner (Camunda's "Resolve Task"): by its delegate (the
        assignee of a PENDING task) only. The variables are checked against the task's form as a
        completion checks them — but no field is required (``forms.without_required``: the owner
        completes it) — (``allow_extra``: names outside the form too, as REST /complete takes them)
        and set on the case — the task is not completed and nothing else moves (no gateway, no timer) —
        the assignee becomes the owner again and the delegation state RESOLVED, all in one step audited
        as "task_resolved" with the before → after of each value and of the assignee."""
        data = dict(variables or {})

        def work(s: Session) -> CaseInfo:
            # Checked before the case is loaded (a refusal costs no workflow), and again once the case and
            # the task row are locked: a concurrent resolve, completion or reassignment is seen.
            task = self._task_for(s, task_id, actor, roles)
            self._check_resolvable(task, actor)
            form = without_required(task.form or {})  # the owner completes it: then all are asked for
            clean, problems = validate_form(form, data, allow_extra=allow_extra)
            if problems:
                raise ValidationFailed(problems, "Formuläret innehåller fel.")
            run = open_case(s, task.case_id, self.specs, actor, AuditWriter())
            task = self._task_for(s, task_id, actor, roles, lock=True)
            self._check_resolvable(task, actor)
            if run.case.status != "active":
                raise Conflict("Ärendet är avslutat; dess uppgifter ändras inte längre.")
            before = case_variables(run.wf)
            changed = {k: v for k, v in clean.items() if k not in before or differs(before[k], v)}
            scope.assign(run.wf, changed)  # the whole case sees them (as set_variables does)
            old, new = redact({k: before.get(k) for k in changed}), redact(changed)
            owner = task.owner  # (read before the UPDATE below refreshes the loaded row)
            done = s.execute(
                sa.update(UserTask)
                .where(
                    UserTask.id == task.id,
                    UserTask.assignee == actor,
                    UserTask.delegation_state == "PENDING",
                    sa.text(case_sql.STILL_OPEN),
                )
                .values(assignee=owner, delegation_state="RESOLVED")
            )
            if done.rowcount != 1:
                raise Conflict("Uppgiften ändrades samtidigt av någon annan; ladda om och försök igen.")
            run.record(
                "task_resolved",
                element_id=task.element_id,
                task_id=task.id,
                detail={
                    "name": task.name,
                    "assignee": [actor, owner],
                    "delegation_state": ["PENDING", "RESOLVED"],
                    "changes": {k: [json_safe(old[k]), json_safe(new[k])] for k in changed},
                },
            )
            run.declare_types(variable_types)
            run.save(last=True)
            return _info(run)

        return self._retrying(work)

    def _case_event(
        self, s: Session, case_id: str, actor: str, kind: str, task: UserTask, detail: dict
    ) -> None:
        """An audit row on a case without loading its workflow (claims, reassignments)."""
        audit_log.append_case_event(s, case_id, actor, kind, detail, task.element_id, task.id)

    def complete_task(
        self,
        task_id: str,
        actor: str,
        data: dict[str, Any] | None = None,
        roles: set[str] | None = None,
        allow_extra: bool = False,
        variable_types: dict[str, str | None] | None = None,
    ) -> CaseInfo:
        data = dict(data or {})

        def work(s: Session) -> CaseInfo:
            io = RowIO.of(s)
            # The hot path: task, case and roles in one query; the writes and the COMMIT in one more round
            # trip (save(last=True)). A concurrent change to the case shows at write time (StaleCase).
            found = case_sql.load_task_case_roles(io, str(task_id), actor, with_roles=roles is None)
            row, case, their_roles = found if found else (None, None, set())
            _check_task_access(row, task_id, actor, lambda: roles if roles is not None else their_roles)
            if row.assignee and row.assignee != actor:
                raise Conflict(f"Uppgiften är tagen av {row.assignee}.")
            if row.delegation_state == "PENDING":
                # As Camunda: a delegated task goes back to its owner (resolve), who completes it.
                raise Conflict("En delegerad uppgift kan inte slutföras; lämna tillbaka den i stället.")
            run = open_case(s, row.case_id, self.specs, actor, AuditWriter(), case=case)
            task = run.wf.get_task_from_id(uuid.UUID(row.id))
            # SpiffWorkflow's task.run() has no state guard: a double submit would re-run a completed task.
            if task is None or task.state != TaskState.READY or not task.task_spec.manual:
                raise Conflict("Uppgiften är inte längre redo att slutföras (någon hann före).")
            clean, problems = validate_form(row.form or {}, data, allow_extra=allow_extra)
            if problems:
                raise ValidationFailed(problems, "Formuläret innehåller fel.")
            # As Camunda's form submit: a declared field left out becomes its default value, else None
            # (unless the case already has it), so conditions can test it. A plain completion with extra
            # variables (REST /complete) runs no form handler in Camunda: it keeps what the case holds.
            blanks = unsubmitted(row.form or {}, clean, task.data, keep_held=allow_extra)
            before = dict(task.data)

            def act() -> None:
                task.set_data(**blanks, **clean)
                # The whole case sees them, also later in this step (an instance's element: only it).
                scope.spread(run.wf, {**blanks, **clean}, source=task)
                task.run()

            run.completed_task_ids.add(row.id)
            run.step(act)
            # The before -> after of every value the completion set: submitted ones and the defaults.
            written = {**blanks, **clean}
            old, new = redact({k: before.get(k) for k in written}), redact(written)
            changes = {
                k: [json_safe(old[k]), json_safe(new[k])] for k, v in written.items() if before.get(k) != v
            }
            new = {k: new[k] for k in clean}
            run.record(
                "task_completed",
                element_id=row.element_id,
                task_id=row.id,
                detail={"name": row.name, "submitted": json_safe(new), "changes": changes},
            )
            io.queue(
                case_sql.COMPLETE_USER_TASK,
                {
                    "id": row.id,
                    "now": io.when(clock.now()),
                    "actor": actor,
                    "assignee": row.assignee or actor,
                },
            )
            io.queue(case_sql.DELETE_TASK_CANDIDATES, {"task_id": row.id})
            run.declare_types(variable_types)
            run.save(last=True)
            return _info(run)

        return self._retrying(work)

    def transaction_retrying(self, fn: Callable[[Session], T], waits=(0.05, 0.2, 0.5)) -> T:
        """``transaction``, run again after a ``ConcurrentChange`` (a concurrent transaction took a unique
        key first; SQLite was busy), once the other has had time to commit: for work that first looks for
        what such a transaction writes (an idempotency key), so the retry finds it and answers with it."""
        for wait in waits:
            try:
                return self.transaction(fn)
            except ConcurrentChange:
                time.sleep(wait)
        return self.transaction(fn)

    def _retrying(self, work: Callable[[Session], T], attempts: int = 5) -> T:
        """Run ``work`` in a transaction; when the case moved on between its read and its write
        (``StaleCase``: nothing was written), run it again on fresh data. Another task of the same case
        completed a moment earlier is no reason to bother the user; a task someone else completed is
        caught on the re-read ("already completed")."""
        for _ in range(attempts - 1):
            try:
                return self.transaction(work)
            except StaleCase:
                continue
        return self.transaction(work)

    # --- messages ---------------------------------------------------------------------------------------
    def deliver_message(
        self,
        name: str,
        variables: dict[str, Any] | None = None,
        business_key: str | None = None,
        correlation: dict[str, Any] | None = None,
        actor: str = "system",
        all_matches: bool = False,
        start_business_key: str | None = None,
        roles: set[str] | None = None,
        variable_types: dict[str, str | None] | None = None,
    ) -> list[CaseInfo]:
        """Deliver message ``name`` to the case waiting for it (by business key and/or ``correlation``
        variable values), or start a case by a message start event.

        A person (any ``actor`` but the engine's own) may send a message only into a case they take part
        in (``inbox.case_access`` without the reader roles: reading a case is no right to change it), and
        start only a process they may start (``_check_starter``); ``roles`` are theirs (looked up when
        None)."""
        variables = _check_variables(dict(variables or {}))
        correlation = dict(correlation or {})
        _check_business_key(start_business_key or business_key)
        person = actor not in users.SYSTEM_ACTORS

        def work(s: Session) -> list[CaseInfo]:
            q = (
                sa.select(Case.id, Case.business_key, Case.data)
                .join(MessageSubscription, MessageSubscription.case_id == Case.id)
                .where(MessageSubscription.message_name == name, Case.status == "active")
                .distinct()
            )
            if business_key is not None:
                q = q.where(Case.business_key == business_key)
            matches = [
                r.id for r in s.execute(q) if all((r.data or {}).get(k) == v for k, v in correlation.items())
            ]
            if len(matches) > 1 and not all_matches:
                raise AmbiguousMatch(
                    f"meddelandet {name!r} matchar {len(matches)} väntande ärenden; ange korrelation"
                )
            mine = (roles if roles is not None else users.roles_of(s, actor)) if person else set()
            for case_id in sorted(matches) if person else ():
                if inbox.case_access(s, case_id, actor, mine, set()) is None:
                    # No case id in the refusal: it is no one else's business which case waits.
                    raise Forbidden(
                        "Du deltar inte i det väntande ärendet och kan inte skicka meddelanden till det."
                    )
            if matches:
                return [
                    self.deliver_to_case_in(s, case_id, name, variables, actor, variable_types)
                    for case_id in sorted(matches)
                ]
            return [
                self.start_by_message_in(
                    s,
                    name,
                    variables,
                    start_business_key or business_key,
                    actor,
                    mine if person else None,
                    variable_types,
                )
            ]

        return self.transaction(work)

    # The two below run inside a caller's transaction (engine.initiatives registers and starts in one).
    def deliver_to_case_in(
        self,
        s: Session,
        case_id: str,
        name: str,
        variables: dict,
        actor: str,
        variable_types: dict[str, str | None] | None = None,
    ) -> CaseInfo:
        run = open_case(s, case_id, self.specs, actor, AuditWriter())
        definition, waiting = next(
            (
                (d, t)
                for t in run.wf.event_manager.tasks.values()
                for d in message_definitions(t)
                if d.name == name
            ),
            (None, None),
        )
        if definition is None:
            raise NoMatch(f"ärendet väntar inte längre på meddelandet {name!r}")
        element, element_detail = activity_types.message_event(waiting.task_spec, name)
        run.record(
            "message_received",
            element_id=element,
            detail={
                "message": name,
                **element_detail,
                "variables": json_safe(redact(variables)),
            },
        )
        try:
            run.step(
                lambda: run.wf.send_event(BpmnEvent(definition, {"payload": variables, "result_var": None}))
            )
        except WorkflowException as err:
            raise NoMatch(str(err)) from err
        run.declare_types(variable_types)
        run.save()
        return _info(run)

    def start_by_message_in(
        self,
        s: Session,
        name: str,
        variables: dict,
        business_key: str | None,
        actor: str,
        roles: set[str] | None = None,
        variable_types: dict[str, str | None] | None = None,
    ) -> CaseInfo:
        rows = definitions.latest_started_by(s, MessageStart.message_name, name)
        if not rows:
            raise NoMatch(f"inget ärende eller startmeddelande väntar på meddelandet {name!r}")
        if len(rows) > 1:
            raise AmbiguousMatch(
                f"meddelandet {name!r} startar flera processer: {', '.join(r.key for r in rows)}"
            )
        definition = rows[0]
        self._check_starter(s, definition, actor, roles)
        spec, subs = self.specs.get(s, definition.id)
        start_spec = activity_types.message_start_event(spec, name)
        if start_spec is None:
            raise NoMatch(f"startmeddelandet {name!r} hittades inte i {definition.key}")
        initial = with_initiator(start_spec, {}, actor)
        run = new_case(s, definition, spec, subs, business_key, initial, actor, AuditWriter())
        only_start_at(run.wf, start_spec)
        run.wf.do_engine_steps()  # (records nothing: the start below is the case's first audit row)
        start = next(
            (t for t in run.wf.event_manager.tasks.values() if t.task_spec is start_spec),
            None,
        )
        if start is None:
            raise NoMatch(f"startmeddelandet {name!r} hittades inte i {definition.key}")
        element, element_detail = activity_types.event(start.task_spec)
        run.record(
            "case_started",
            element_id=element,
            detail={
                **element_detail,
                "definition_id": definition.id,
                "business_key": business_key,
                "message": name,
                "variables": json_safe(redact(variables)),
            },
        )
        definition_ = start.task_spec.event_definition
        run.step(
            lambda: run.wf.send_event(BpmnEvent(definition_, {"payload": variables, "result_var": None}))
        )
        run.declare_types(variable_types)
        run.save()
        return _info(run)

    # --- signals ----------------------------------------------------------------------------------------
    def broadcast_signal(
        self,
        name: str,
        variables: dict[str, Any] | None = None,
        actor: str = "system",
        roles: set[str] | None = None,
        variable_types: dict[str, str | None] | None = None,
    ) -> signals.SignalResult:
        """Throw signal ``name`` to every case waiting for it and start every process (latest version)
        whose start event is a signal start event of that name, as Camunda's ``POST /signal`` — each in
        its own transaction (``engine.signals``); ``variables`` are set on each case it reaches, and are
        the start variables of the cases it starts. A person (any ``actor`` but the engine's own) needs
        the rights of ``deliver_message`` for every receiver: to take part in each waiting case and to
        start each process; one refusal refuses all, and nothing is written. Nobody waiting is no error.
        A receiver whose step fails is recorded (a "signal_failed" audit row) and reported in the result;
        the others still get the signal."""
        variables = _check_variables(dict(variables or {}))
        return signals.broadcast(self, name, variables, actor, roles, variable_types)

    def deliver_pending_signals(self, limit: int = 100) -> list[signals.SignalResult]:
        """Deliver the signals still pending (thrown by a step whose in-process delivery did not happen or
        did not finish: a crash, a busy receiver), oldest first. Idempotent: a receiver never gets one
        pending signal twice. The periodic worker calls it."""
        return signals.deliver_pending(self, limit)

    # --- timers -----------------------------------------------------------------------------------------
    def due_case_ids(self, now: datetime | None = None, limit: int = 100) -> list[str]:
        now = now or clock.now()
        with self.session() as s:
            return list(
                s.execute(
                    sa.select(Case.id)
                    .where(Case.status == "active", Case.next_timer_at <= now)
                    .order_by(Case.next_timer_at)
                    .limit(limit)
                ).scalars()
            )

    def wake_case(self, case_id: str, now: datetime | None = None) -> bool:
        """Fire the due timers of one case in due-time order (SpiffWorkflow's own order is registration
        order: a reminder due after an interrupting escalation would still fire)."""
        now = now or clock.now()

        def work(s: Session) -> bool:
            case = case_sql.load_due_case(RowIO.of(s), case_id, now)
            if case is None:
                return False  # another worker has it, or it is no longer due
            # Already loaded and locked: open_case does not query again. Every step fires the timers
            # due by then in due order (engine.workflow.fire_due_timers).
            run = open_case(s, case_id, self.specs, "system", AuditWriter(), case=case)
            run.step(now=now)
            run.save(last=True)
            return True

        return self.transaction(work)

    def wake_due_cases(self, now: datetime | None = None, limit: int = 100) -> int:
        """Wake each due case in its own transaction. A case whose step fails (a diagram error, a bad
        timer value, a defect) is rolled back, recorded and tried again later (``timers.record_failure``):
        one broken case must not stop every other case's timers, reminders and deadlines."""
        now = now or clock.now()
        woken = 0
        for case_id in self.due_case_ids(now, limit):
            try:
                woken += self.wake_case(case_id, now)
            except Conflict:
                continue  # someone else is working on it; its next_timer_at tells the next tick
            except Exception as err:  # noqa: BLE001 — any failure of one case is that case's
                self._timer_failed(case_id, now, err)
        return woken

    def _timer_failed(self, case_id: str, now: datetime, err: Exception) -> None:
        log.exception("timers of case %s could not fire", case_id, exc_info=err)
        if isinstance(err, ProcessError):
            where, message = err.where, err.problems[0].message
        else:
            where, message = None, f"{type(err).__name__}: {err}"
        try:
            self.transaction(lambda s: timers.record_failure(s, case_id, now, message, where))
        except Exception:  # noqa: BLE001 — the database itself may be what failed
            log.exception("the failure of case %s could not be recorded", case_id)

    # --- users ------------------------------------------------------------------------------------------
    def add_user(
        self,
        name: str,
        password: str | None,
        roles: list[str] | None = None,
        email: str | None = None,
        display_name: str | None = None,
    ) -> None:
        self.transaction(
            lambda s: users.add_user(s, name, password, list(roles or []), email, display_name) and None
        )

    def authenticate(self, name: str, password: str):
        return self.transaction(lambda s: users.authenticate(s, name, password))

    def roles_of(self, name: str) -> set[str]:
        with self.session() as s:
            return users.roles_of(s, name)

    def set_roles(self, name: str, roles: list[str]) -> None:
        """Give a user exactly these roles (a move to another unit, a stand-in for a while)."""

        def work(s: Session) -> None:
            user = s.execute(sa.select(User).where(User.name == name)).scalar()
            if user is None:
                raise NotFound(f"Användaren {name} finns inte.")
            users.set_roles(s, user, list(roles))

        self.transaction(work)

    # --- audit ------------------------------------------------------------------------------------------
    def verify_audit(self, case_id: str | None = None) -> list[str]:
        with self.session() as s:
            return audit_log.verify(s, case_id)
