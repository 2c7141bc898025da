"""User tasks: query (GET and POST), count, one task, its variables (read and changed) and form variables;
claim, unclaim, set assignee, complete and submit-form. Every action goes through the engine, which checks
the user's roles against the task's candidate groups exactly as the staff pages do."""

from __future__ import annotations

from typing import Any

from flask import request

from engine import camunda_queries as q
from engine.errors import Conflict, DelaktigError, NotFound
from engine.forms import field_default
from engine.models import UserTask
from webhooks.engine_ext import get_engine
from webhooks.rest import auth, hal, task_filters
from webhooks.rest.blueprint import body, bp, flag, known_fields, no_content, ok, variable_changes
from webhooks.rest.definition import definition_dto
from webhooks.rest.errors import engine_error, forbidden, invalid, not_found
from webhooks.rest.params import Params, strict
from webhooks.rest.variables import declared_types, fmt_date, form_typed, parse_variables, typed_map


def task_dto(t: UserTask) -> dict[str, Any]:
    return {
        "id": t.id,
        "name": t.name,
        "assignee": t.assignee,
        "owner": t.owner,
        "created": fmt_date(t.created_at),
        "lastUpdated": None,
        "due": fmt_date(t.due_at),
        "followUp": fmt_date(t.follow_up_at),
        "delegationState": t.delegation_state,
        "description": t.documentation,
        "executionId": t.case_id,
        "parentTaskId": None,
        "priority": t.priority,
        "processDefinitionId": t.definition_id,
        "processInstanceId": t.case_id,
        "caseExecutionId": None,
        "caseDefinitionId": None,
        "caseInstanceId": None,
        "taskDefinitionKey": t.element_id,
        "suspended": False,
        "formKey": (t.form or {}).get("key"),
        "camundaFormRef": None,
        "tenantId": None,
        "taskState": "Created" if t.state == "open" else t.state.capitalize(),
    }


SORT_KEYS = {
    "dueDate",
    "followUpDate",
    "created",
    "priority",
    "name",
    "nameCaseInsensitive",
    "assignee",
    "id",
    "instanceId",
    "processInstanceId",
    "executionId",
    "description",
}
# Camunda's sort keys of what Delaktig answers as null on every task (lastUpdated): accepted, no order.
NULL_SORT_KEYS = frozenset({"lastUpdated"})


@strict
def _filter(p: Params) -> q.TaskFilter:
    first, maximum = p.paging()
    user = auth.current()
    f = q.TaskFilter(
        task_id=p.str("taskId"),
        process_instance_id=p.str("processInstanceId"),
        process_definition_id=p.str("processDefinitionId"),
        process_definition_key=p.str("processDefinitionKey"),
        process_definition_keys=p.list("processDefinitionKeyIn"),
        business_key=p.str("processInstanceBusinessKey") or p.str("businessKey"),
        task_definition_key=p.str("taskDefinitionKey"),
        name=p.str("name"),
        name_like=p.str("nameLike"),
        assignee=p.str("assignee"),
        assigned=p.bool("assigned"),
        unassigned=p.bool("unassigned"),
        candidate_group=p.str("candidateGroup"),
        candidate_groups=p.list("candidateGroups"),
        candidate_user=p.str("candidateUser"),
        include_assigned=p.bool("includeAssignedTasks"),
        with_candidate_groups=p.bool("withCandidateGroups"),
        without_candidate_groups=p.bool("withoutCandidateGroups"),
        due_before=p.date("dueBefore"),
        due_after=p.date("dueAfter"),
        follow_up_before=p.date("followUpBefore"),
        follow_up_after=p.date("followUpAfter"),
        created_before=p.date("createdBefore"),
        created_after=p.date("createdAfter"),
        min_priority=p.int("minPriority", minimum=-(2**31)),
        max_priority=p.int("maxPriority", minimum=-(2**31)),
        priority=p.int("priority", minimum=-(2**31)),
        process_instance_ids=p.list("processInstanceIdIn"),
        task_definition_keys=p.list("taskDefinitionKeyIn"),
        assignees=p.list("assigneeIn"),
        process_variables=p.variables("processVariables"),
        # As Camunda with authorization: a user sees only the tasks they may work on.
        visible_to=(user.name, set(user.roles)),
        sorting=p.sorting(SORT_KEYS, NULL_SORT_KEYS),
        first_result=first,
        max_results=maximum,
    )
    return task_filters.extend(p, user, f)  # Tasklist's filters: candidate users, expressions


def _list(p: Params):
    f = _filter(p)
    as_hal = hal.wants_hal()
    with get_engine().session() as s:
        tasks = q.task_list(s, f)
        if as_hal:
            return hal.task_list(s, tasks, q.task_count(s, f), task_dto, definition_dto)
        return ok([task_dto(t) for t in tasks])


def _count(p: Params):
    f = _filter(p)
    with get_engine().session() as s:
        return ok({"count": q.task_count(s, f)})


@bp.get("/task")
def task_list():
    return _list(Params(request.args))


@bp.post("/task")
def task_query():
    return _list(Params(body(), from_json=True))


@bp.get("/task/count")
def task_count():
    return _count(Params(request.args))


@bp.post("/task/count")
def task_count_post():
    return _count(Params(body(), from_json=True))


def _readable(s, task_id: str) -> UserTask:
    """An open task the user may work on: 404 when there is none, 403 when it is another role's."""
    task = q.get_task(s, task_id)
    if task is None or task.state != "open":
        raise not_found(f"No matching task with id {task_id}")
    user = auth.current()
    if not q.may_work_on(task, user.name, set(user.roles)):
        raise forbidden(
            user.name,
            f"The user with id '{user.name}' does not have 'READ' permission on resource '{task_id}' of type "
            "'Task': the task belongs to another role.",
            "READ",
            "Task",
            task_id,
        )
    return task


@bp.get("/task/<task_id>")
def task_get(task_id: str):
    as_hal = hal.wants_hal()
    with get_engine().session() as s:
        task = _readable(s, task_id)
        return hal.task(s, task, task_dto, definition_dto) if as_hal else ok(task_dto(task))


def _task_variables(s, task: UserTask) -> dict[str, Any]:
    """The variables the task sees: the case's, and its activity's input parameters (camunda:inputOutput)
    over them."""
    case = q.get_case(s, task.case_id)
    local = (task.form or {}).get("variables") or {}
    return {**(case.data or {}), **local} if case is not None else {}


@bp.get("/task/<task_id>/variables")
def task_variables(task_id: str):
    names = Params(request.args).list("variableNames")
    with get_engine().session() as s:
        task = _readable(s, task_id)
        return ok(typed_map(_task_variables(s, task), names))


@bp.get("/task/<task_id>/variables/<name>")
def task_variable(task_id: str, name: str):
    with get_engine().session() as s:
        data = _task_variables(s, _readable(s, task_id))
    if name not in data or name.startswith("_"):
        raise not_found(f"task variable with name {name} does not exist")
    return ok(typed_map(data, [name])[name])


# --- changing variables ----------------------------------------------------------------------------------
# Camunda's non-local task variables are the process instance's, and Delaktig keeps no task-local ones:
# these change the case's variables, by whoever may work on the task (the engine's rule, as for completing
# it), where /process-instance/{id}/variables needs a process manager.
def _still_open(task_id: str) -> bool:
    with get_engine().session() as s:
        task = q.get_task(s, task_id)
    return task is not None and task.state == "open"


def _modify(task_id: str, modifications: Any, deletions: Any, types: dict[str, str | None]):
    if deletions is not None and (
        not isinstance(deletions, list) or not all(isinstance(n, str) for n in deletions)
    ):
        raise invalid("'deletions' must be a list of variable names")
    user = auth.current()
    try:
        get_engine().set_task_variables(
            task_id, user.name, modifications, deletions, roles=set(user.roles), variable_types=types
        )
    except DelaktigError as err:
        if isinstance(err, NotFound) or (isinstance(err, Conflict) and not _still_open(task_id)):
            # As Camunda's runtime: a completed (or cancelled) task no longer exists; /history/task has it.
            raise not_found(f"No matching task with id {task_id}") from None
        raise engine_error(
            err,
            f"Cannot modify variables for task {task_id}",
            permission="UPDATE_VARIABLE",
            resource="Task",
            resource_id=task_id,
        ) from None
    return no_content()


variable_changes("task", _modify)


# Task-local variables: Delaktig has none (a task's variables are its case's), so a task shows none and
# setting one is refused rather than turned into a case variable the client did not ask for.
NO_LOCAL_VARIABLES = (
    "Delaktig has no task-local variables: a task's variables are its process instance's. "
    "Set them with POST /task/{id}/variables or PUT /task/{id}/variables/{name}."
)


@bp.get("/task/<task_id>/localVariables")
def task_local_variables(task_id: str):
    with get_engine().session() as s:
        _readable(s, task_id)
    return ok({})


@bp.get("/task/<task_id>/localVariables/<name>")
def task_local_variable(task_id: str, name: str):
    with get_engine().session() as s:
        _readable(s, task_id)
    raise not_found(f"task variable with name {name} does not exist")


@bp.post("/task/<task_id>/localVariables")
def task_modify_local_variables(task_id: str):
    with get_engine().session() as s:
        _readable(s, task_id)
    raise invalid(f"Cannot modify variables for task {task_id}: {NO_LOCAL_VARIABLES}")


@bp.put("/task/<task_id>/localVariables/<name>")
def task_put_local_variable(task_id: str, name: str):
    with get_engine().session() as s:
        _readable(s, task_id)
    raise invalid(f"Cannot put task variable {name}: {NO_LOCAL_VARIABLES}")


@bp.delete("/task/<task_id>/localVariables/<name>")
def task_delete_local_variable(task_id: str, name: str):
    """Removing a local variable the task does not have changes nothing: 204, as Camunda answers for a
    name it does not hold."""
    with get_engine().session() as s:
        _readable(s, task_id)
    return no_content()


@bp.get("/task/<task_id>/form")
def task_form(task_id: str):
    """Camunda's FormDto: the task's ``camunda:formKey`` (a form another system shows), else none and
    tasklists render the generated form (form-variables), as Camunda's do for formData."""
    with get_engine().session() as s:
        task = _readable(s, task_id)
    return ok({"key": (task.form or {}).get("key"), "contextPath": None, "camundaFormRef": None})


@bp.get("/task/<task_id>/form-variables")
def task_form_variables(task_id: str):
    """Generated forms: one variable per form field, typed by the field, with the case's current value
    (or the field's default). Without form fields: all the case's variables, as Camunda does."""
    names = Params(request.args).list("variableNames")
    with get_engine().session() as s:
        task = _readable(s, task_id)
        data = _task_variables(s, task)
    fields = (task.form or {}).get("fields") or []
    if not fields:
        return ok(typed_map(data, names))
    out = {}
    for field in fields:
        if names is not None and field["id"] not in names:
            continue
        value = data[field["id"]] if field["id"] in data else field_default(field, data)
        out[field["id"]] = form_typed(field, value)
    return ok(out)


# The permission a refusal names (Camunda's Permissions.TASK_WORK / TASK_ASSIGN on the Task resource).
PERMISSIONS = {
    "claim": "TASK_WORK",
    "complete": "TASK_WORK",
    "submit form of": "TASK_WORK",
    "resolve": "TASK_WORK",
}


def _act(task_id: str, action: str, fn):
    try:
        return fn()
    except DelaktigError as err:
        user = auth.current()
        permission = PERMISSIONS.get(action, "TASK_ASSIGN")
        conflict_type = "ProcessEngineException"
        if isinstance(err, Conflict):
            with get_engine().session() as s:
                task = q.get_task(s, task_id)
            held = task is not None and task.state == "open" and task.assignee
            if held and action == "claim":
                conflict_type = "TaskAlreadyClaimedException"  # as Camunda documents for claim: a 500
            elif held and task.assignee != user.name:
                # Held by a colleague: only they may complete it, give it back or hand it on. Not a
                # server fault but a refusal of this user, as Camunda answers one (nothing was changed).
                raise forbidden(
                    user.name,
                    f"Cannot {action} task {task_id}: the task is assigned to {task.assignee}, and only "
                    f"they may do that. The user with id '{user.name}' does not have '{permission}' "
                    f"permission on resource '{task_id}' of type 'Task'.",
                    permission,
                    "Task",
                    task_id,
                ) from None
        raise engine_error(
            err, f"Cannot {action} task {task_id}", conflict_type, permission, "Task", task_id
        ) from None


@bp.post("/task/<task_id>/claim")
def task_claim(task_id: str):
    data = body()
    known_fields(data, {"userId"})
    user = auth.current()
    user_id = data.get("userId")
    if user_id is not None and not isinstance(user_id, str):
        raise invalid("userId must be a string")
    if user_id is not None and user_id != user.name:
        # Camunda lets an admin claim for someone else; Delaktig's rule is one's own claim only.
        raise forbidden(
            user.name, f"'{user.name}' cannot claim task {task_id} for '{user_id}'", "UPDATE", "Task", task_id
        )
    engine = get_engine()
    _act(task_id, "claim", lambda: engine.claim_task(task_id, user.name, roles=set(user.roles)))
    return no_content()


@bp.post("/task/<task_id>/unclaim")
def task_unclaim(task_id: str):
    body()
    user = auth.current()
    engine = get_engine()
    _act(task_id, "unclaim", lambda: engine.unclaim_task(task_id, user.name, roles=set(user.roles)))
    return no_content()


@bp.post("/task/<task_id>/assignee")
def task_assignee(task_id: str):
    data = body()
    known_fields(data, {"userId"})
    if "userId" not in data:
        raise invalid("Cannot set assignee: 'userId' is required (null to remove the assignee)")
    user_id = data.get("userId")
    if user_id is not None and not isinstance(user_id, str):
        raise invalid("userId must be a string or null")
    user = auth.current()
    engine = get_engine()
    _act(
        task_id,
        "set assignee of",
        lambda: engine.set_assignee(task_id, user.name, user_id, roles=set(user.roles)),
    )
    return no_content()


def _complete(task_id: str, strict_form: bool):
    data = body()
    known_fields(data, {"variables", "withVariablesInReturn"})
    with_variables = flag(data, "withVariablesInReturn")
    variables = parse_variables(data.get("variables"))
    if strict_form and _pending(task_id):
        # As Camunda's submit-form: a delegated task is resolved (given back to its owner), not completed.
        info = resolve(task_id, data, strict_form=True)
        return ok(typed_map(info.variables, types=info.variable_types)) if with_variables else no_content()
    user = auth.current()
    engine = get_engine()
    verb = "submit form of" if strict_form else "complete"
    info = _act(
        task_id,
        verb,
        lambda: engine.complete_task(
            task_id,
            user.name,
            variables,
            roles=set(user.roles),
            allow_extra=not strict_form,
            variable_types=declared_types(data.get("variables")),
        ),
    )
    if with_variables:
        return ok(typed_map(info.variables, types=info.variable_types))
    return no_content()


def _pending(task_id: str) -> bool:
    with get_engine().session() as s:
        task = q.get_task(s, task_id)
    return task is not None and task.state == "open" and task.delegation_state == "PENDING"


def resolve(task_id: str, data: dict[str, Any], strict_form: bool = False):
    """Resolve a delegated task (``Delaktig.resolve_task``) with the body's variables (``strict_form``:
    only the form's fields, as submit-form); ``POST /task/{id}/resolve`` is ``webhooks.rest.delegation``."""
    variables = parse_variables(data.get("variables"))
    user = auth.current()
    engine = get_engine()
    return _act(
        task_id,
        "resolve",
        lambda: engine.resolve_task(
            task_id,
            user.name,
            variables,
            roles=set(user.roles),
            allow_extra=not strict_form,
            variable_types=declared_types(data.get("variables")),
        ),
    )


@bp.post("/task/<task_id>/complete")
def task_complete(task_id: str):
    return _complete(task_id, strict_form=False)


@bp.post("/task/<task_id>/submit-form")
def task_submit_form(task_id: str):
    return _complete(task_id, strict_form=True)
