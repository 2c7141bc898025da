"""Changing a task's details and who it is offered to: ``PUT /task/{id}`` (Camunda's "Update Task") and
``POST /task/{id}/identity-links`` / ``…/identity-links/delete``. The engine does the change and checks
who may (``Delaktig.update_task``, ``set_assignee``, ``change_candidates``); this parses and answers.

``PUT /task/{id}`` changes the fields the body *gives* — ``name``, ``description``, ``priority``, ``due``,
``followUp`` and ``assignee`` (null clears, except ``priority``) — and keeps those it leaves out, where
Camunda would set them to null (and priority to 0): a partial body would otherwise unassign the task and
drop its due date without the client meaning to. A task as ``GET /task/{id}`` answers it, changed and
PUT back (what Camunda's SDK and Tasklist do), changes exactly what was changed. Its read-only fields
(``id``, ``created``, ``processInstanceId`` …) are accepted when null or as the task has them, and a 400
naming them otherwise — ``owner`` and ``delegationState`` among them: they change by delegating and
resolving the task (``POST /task/{id}/delegate``, ``…/resolve``: ``webhooks.rest.delegation``). Delaktig has
no subtasks, CMMN cases or tenants, so ``parentTaskId``, ``caseInstanceId`` and ``tenantId`` are a 400
unless null.
"""

from __future__ import annotations

from typing import Any

from engine import camunda_queries as q
from engine.errors import Conflict, DelaktigError
from webhooks.engine_ext import get_engine
from webhooks.rest import auth
from webhooks.rest.blueprint import body, bp, known_fields, no_content
from webhooks.rest.errors import engine_error, invalid, not_found
from webhooks.rest.task import _act, _readable, _still_open, task_dto
from webhooks.rest.variables import parse_date

WRITABLE = {"name": "name", "description": "description", "priority": "priority", "assignee": "assignee"}
DATES = {"due": "due_at", "followUp": "follow_up_at"}
NOT_IN_DELAKTIG = ("parentTaskId", "caseInstanceId", "tenantId")
# TaskDto's fields a client cannot change (and HAL's, when it PUTs back a hal+json task).
READ_ONLY = {
    "id", "created", "lastUpdated", "executionId", "processDefinitionId", "processInstanceId",
    "caseExecutionId", "caseDefinitionId", "taskDefinitionKey", "suspended", "formKey", "camundaFormRef",
    "taskState", "attachment", "comment", "_links", "_embedded", "owner", "delegationState",
}  # fmt: skip
HAL_FIELDS = {"_links", "_embedded"}


def _changes(data: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for field, key in WRITABLE.items():
        if field not in data:
            continue
        value = data[field]
        if field == "priority":
            if isinstance(value, bool) or not isinstance(value, int):
                raise invalid(f"Cannot update task: 'priority' must be an integer, not '{str(value)[:100]}'")
        elif value is not None and not isinstance(value, str):
            raise invalid(f"Cannot update task: '{field}' must be a string or null")
        changes[key] = value
    for field, key in DATES.items():
        if field not in data:
            continue
        value = data[field]
        if value is not None and not isinstance(value, str):
            raise invalid(f"Cannot update task: '{field}' must be a date string or null")
        changes[key] = parse_date(value, f"'{field}'") if value is not None else None
    if changes.get("assignee", current["assignee"]) == current["assignee"]:
        changes.pop("assignee", None)  # the assignee as it is: no reassignment (and no rights asked)
    changed = sorted(
        k for k in READ_ONLY - HAL_FIELDS if data.get(k) is not None and not _same(k, data[k], current.get(k))
    )
    if changed:
        raise invalid(f"Cannot update task: {', '.join(changed)} cannot be changed")
    return changes


def _same(field: str, given: Any, held: Any) -> bool:
    if field in ("created", "lastUpdated") and isinstance(given, str) and isinstance(held, str):
        try:
            return parse_date(given, field) == parse_date(held, field)
        except Exception:
            return False
    return given == held


def _update_open(task_id: str, user: auth.Principal, changes: dict[str, Any]) -> None:
    try:
        get_engine().update_task(task_id, user.name, changes, roles=set(user.roles))
    except Conflict:
        if _still_open(task_id):
            raise
        # Completed (or cancelled) by a concurrent request since it was read: as Camunda's PUT of a task
        # that no longer exists, a 404 (never a server error), and the update wrote nothing.
        raise not_found(f"No matching task with id {task_id}") from None


@bp.put("/task/<task_id>")
def task_update(task_id: str):
    data = body()
    known_fields(data, {*WRITABLE, *DATES, *NOT_IN_DELAKTIG, *READ_ONLY}, NOT_IN_DELAKTIG)
    with get_engine().session() as s:
        current = task_dto(_readable(s, task_id))
    changes = _changes(data, current)
    user = auth.current()
    if changes:
        _act(task_id, "update", lambda: _update_open(task_id, user, changes))
    return no_content()


# --- identity links -------------------------------------------------------------------------------------
# Candidates decide who may claim a task (and so read its case): adding or removing one is a process
# manager's decision (REST_MANAGER_ROLES), as changing a case's variables outside a task is. The assignee
# link is the assignee, by set_assignee's rules (its holder hands it on, to someone who may do it).
def _link(data: dict[str, Any]) -> tuple[str, str, str]:
    known_fields(data, {"userId", "groupId", "type"})
    user_id, group_id, kind = data.get("userId"), data.get("groupId"), data.get("type")
    if kind is None:
        raise invalid("Identity link requires a 'type'")
    if not isinstance(kind, str):
        raise invalid("'type' must be a string")
    if (user_id is None) == (group_id is None):
        raise invalid("Identity link requires either 'userId' or 'groupId', not both")
    for name, value in (("userId", user_id), ("groupId", group_id)):
        if value is not None and (not isinstance(value, str) or not value):
            raise invalid(f"'{name}' must be a non-empty string")
    if kind == "owner":
        raise invalid(
            "A task's owner is who delegated it: it changes by POST /task/{id}/delegate, not as an identity link"
        )
    if kind not in ("candidate", "assignee"):
        raise invalid(f"Delaktig keeps only candidate and assignee links, not 'type' {kind[:100]!r}")
    if kind == "assignee" and group_id is not None:
        raise invalid("An assignee link takes a 'userId', not a 'groupId'")
    return kind, ("user" if user_id is not None else "group"), user_id or group_id


def _identity_link(task_id: str, add: bool):
    kind, who, value = _link(body())
    user = auth.current()
    engine = get_engine()
    with get_engine().session() as s:
        if kind == "assignee":
            task = _readable(s, task_id)
        else:  # a process manager need not be one of the task's own: it only has to exist, open
            task = q.get_task(s, task_id)
            if task is None or task.state != "open":
                raise not_found(f"No matching task with id {task_id}")
    if kind == "assignee":
        if not add and value != task.assignee:
            return no_content()  # not its assignee: no such link, nothing to remove
        target = value if add else None
        _act(
            task_id,
            "set assignee of",
            lambda: engine.set_assignee(task_id, user.name, target, roles=set(user.roles)),
        )
        return no_content()
    auth.require_manager("TASK_ASSIGN", "Task", task_id)
    verb = "add" if add else "delete"
    try:
        engine.change_candidates(task_id, user.name, who, value, add)
    except DelaktigError as err:
        raise engine_error(
            err,
            f"Cannot {verb} identity link of task {task_id}",
            permission="TASK_ASSIGN",
            resource="Task",
            resource_id=task_id,
        ) from None
    return no_content()


@bp.post("/task/<task_id>/identity-links")
def task_add_identity_link(task_id: str):
    return _identity_link(task_id, add=True)


@bp.post("/task/<task_id>/identity-links/delete")
def task_delete_identity_link(task_id: str):
    return _identity_link(task_id, add=False)
