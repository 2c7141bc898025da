"""Camunda 7's external task API: ``/external-task`` (fetchAndLock, complete, failure, bpmnError,
extendLock, unlock, retries, queries). The work is ``engine.external_tasks``; this module reads Camunda's
JSON and writes it back.

``POST /external-task/{id}/lock`` (Camunda 7.17) locks one task for a worker without fetching it.

Limits: lockDuration, newDuration and retryTimeout are any positive number of milliseconds up to 100 years
(a later date no database keeps); maxTasks is at most ``REST_FETCH_MAX_TASKS`` (default 10 000).

Who: external tasks are done by integration accounts (roles ``REST_EXTERNAL_TASK_ROLES``, default
``integration`` and ``admin``); process owners (``REST_MANAGER_ROLES``) may also read them, unlock them
and set their retries. Long polling (``asyncResponseTimeout``) is honoured up to
``REST_LONG_POLL_MAX_MS`` (default 20 s) so that a poll never holds a web worker for long; a client asking
for more gets an empty answer then and asks again, as it does after any empty poll.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Response, current_app, request

from engine.errors import DelaktigError, InvalidValue, NotFound, ValidationFailed
from engine.external_tasks import ExternalTaskInfo, ExternalTaskQuery, TopicRequest
from webhooks.engine_ext import get_engine
from webhooks.rest import auth
from webhooks.rest.blueprint import body, bp, flag, known_fields, no_content, ok
from webhooks.rest.errors import RestError, engine_error, invalid, not_offered, problems, problems_text
from webhooks.rest.params import Params, strict
from webhooks.rest.variables import declared_types, fmt_date, parse_variables, typed_map

DEFAULT_WORKER_ROLES = ("integration", "admin")
LONG_POLL_MAX_MS = 20_000
FETCH_MAX_TASKS = 10_000
POLL_INTERVAL_S = 0.25
RESOURCE = "ExternalTask"
TASK_SORT_KEYS = {
    "id", "lockExpirationTime", "processInstanceId", "processDefinitionId", "processDefinitionKey",
    "taskPriority", "createTime", "tenantId",
}  # fmt: skip


# --- rights -----------------------------------------------------------------------------------------------
def _worker_roles() -> set[str]:
    return set(current_app.config.get("REST_EXTERNAL_TASK_ROLES") or DEFAULT_WORKER_ROLES)


def require_worker(task_id: str | None = None) -> auth.Principal:
    """Fetch, complete, fail, extend: the integration roles."""
    return auth.require_roles(_worker_roles(), "UPDATE", RESOURCE, task_id)


def require_overseer(permission: str, task_id: str | None = None) -> auth.Principal:
    """Read, unlock, set retries: the integration roles and process owners."""
    return auth.require_roles(_worker_roles() | auth.manager_roles(), permission, RESOURCE, task_id)


def _error(err: DelaktigError, action: str, task_id: str | None = None) -> RestError:
    """Camunda's external task resource answers its own errors as RestException: 404 for a task that does
    not exist (any more), 400 for a worker that does not hold the lock or a bad value."""
    if isinstance(err, NotFound):
        return RestError(404, "RestException", f"External task with id {task_id} does not exist")
    if isinstance(err, ValidationFailed):
        text = problems_text(err) if isinstance(err, InvalidValue) else str(err)
        return RestError(400, "RestException", text if action == "" else f"{action}: {text}", **problems(err))
    return engine_error(err, action, resource=RESOURCE, resource_id=task_id)


# --- JSON out ------------------------------------------------------------------------------------------
def task_dto(t: ExternalTaskInfo) -> dict[str, Any]:
    return {
        "activityId": t.element_id,
        "activityInstanceId": f"{t.element_id}:{t.id}",
        "errorMessage": t.error_message,
        "executionId": t.case_id,
        "id": t.id,
        "lockExpirationTime": fmt_date(t.lock_expires_at),
        "createTime": fmt_date(t.created_at),
        "processDefinitionId": t.definition_id,
        "processDefinitionKey": t.process_key,
        "processDefinitionVersionTag": None,
        "processInstanceId": t.case_id,
        "retries": t.retries,
        "suspended": False,
        "workerId": t.worker_id,
        "topicName": t.topic,
        "tenantId": None,
        "priority": t.priority,
        "businessKey": t.business_key,
    }


def locked_dto(t: ExternalTaskInfo) -> dict[str, Any]:
    dto = task_dto(t)
    dto["errorDetails"] = t.error_details
    dto["variables"] = typed_map(t.variables, types=t.variable_types)
    dto["extensionProperties"] = dict(t.properties)
    return dto


# --- fetch and lock --------------------------------------------------------------------------------------
_FETCH_FIELDS = {"workerId", "maxTasks", "usePriority", "asyncResponseTimeout", "topics", "sorting"}
_TOPIC_FIELDS = {
    "topicName", "lockDuration", "variables", "localVariables", "businessKey", "processDefinitionId",
    "processDefinitionIdIn", "processDefinitionKey", "processDefinitionKeyIn", "processDefinitionVersionTag",
    "processVariables", "withoutTenantId", "tenantIdIn", "deserializeValues", "includeExtensionProperties",
}  # fmt: skip


def _names(value: Any, what: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid(f"'{what}' must be a list of names")
    return value


def _topic(item: Any) -> TopicRequest:
    if not isinstance(item, dict):
        raise invalid("Each of 'topics' must be a JSON object")
    known_fields(item, _TOPIC_FIELDS)
    name, lock = item.get("topicName"), item.get("lockDuration")
    if not isinstance(name, str) or not name:
        raise invalid("topicName is null or empty")
    if isinstance(lock, bool) or not isinstance(lock, int):
        raise invalid(f"lockDuration of topic '{name}' must be a positive number of milliseconds")
    keys = _names(item.get("processDefinitionKeyIn"), "processDefinitionKeyIn")
    if item.get("processDefinitionKey") is not None:
        keys = [*(keys or []), _text(item, "processDefinitionKey")]
    ids = _names(item.get("processDefinitionIdIn"), "processDefinitionIdIn")
    if item.get("processDefinitionId") is not None:
        ids = [*(ids or []), _text(item, "processDefinitionId")]
    tenants = _names(item.get("tenantIdIn"), "tenantIdIn")
    version_tag = (
        None
        if item.get("processDefinitionVersionTag") is None
        else _text(item, "processDefinitionVersionTag")
    )
    flag(item, "deserializeValues")  # Delaktig keeps no serialized Java objects: true and false alike
    flag(item, "withoutTenantId")
    wanted = item.get("processVariables") or {}
    if not isinstance(wanted, dict):
        raise invalid("processVariables must be a JSON object of names and values")
    if any(isinstance(v, (dict, list)) for v in wanted.values()):
        raise invalid("processVariables: only strings, numbers, booleans and null can be matched")
    business_key = None if item.get("businessKey") is None else _text(item, "businessKey")
    return TopicRequest(
        topic=name,
        lock_ms=lock,
        variables=_names(item.get("variables"), "variables"),
        business_key=business_key,
        definition_ids=ids,
        definition_keys=keys,
        process_variables=dict(wanted),
        # Delaktig has no tenants and no version tags: asking for one matches no task.
        matches_nothing=bool(tenants) or version_tag is not None,
        include_extension_properties=flag(item, "includeExtensionProperties"),
        local_only=flag(item, "localVariables"),
    )


def _text(item: dict[str, Any], name: str) -> str:
    value = item.get(name)
    if not isinstance(value, str):
        raise invalid(f"'{name}' must be a string")
    return value


def _newest_first(data: dict[str, Any]) -> bool:
    """Camunda 7.20's fetch sorting: ``[{sortBy: "createTime", sortOrder: "asc"|"desc"}]`` (createTime is
    its only key; after the priority with ``usePriority``). Without it, oldest first."""
    sorting = data.get("sorting")
    if sorting in (None, []):
        return False
    if not isinstance(sorting, list) or not all(isinstance(x, dict) for x in sorting):
        raise invalid("sorting must be a list of {sortBy, sortOrder}")
    newest = None
    for item in sorting:
        key, order = item.get("sortBy"), item.get("sortOrder", "asc")
        if key != "createTime":
            raise invalid(f"Cannot set query parameter 'sortBy' to value '{key}': only createTime is offered")
        if order not in ("asc", "desc"):
            raise invalid(f"Cannot set query parameter 'sortOrder' to value '{order}'")
        if newest is None:  # the first one decides; another createTime after it changes no order
            newest = order == "desc"
    return bool(newest)


@bp.post("/external-task/fetchAndLock")
def external_fetch_and_lock():
    data = body()
    known_fields(data, _FETCH_FIELDS)
    require_worker()  # a worker names itself by workerId, as in Camunda
    topics_in = data.get("topics") or []
    if not isinstance(topics_in, list):
        raise invalid("topics must be a list")
    topics = [_topic(t) for t in topics_in]
    newest_first = _newest_first(data)
    max_tasks = data.get("maxTasks", 0)  # Camunda's int field: omitted is 0, an empty answer
    if isinstance(max_tasks, bool) or not isinstance(max_tasks, int):
        raise invalid("maxTasks must be a number")
    cap = int(current_app.config.get("REST_FETCH_MAX_TASKS", FETCH_MAX_TASKS))
    if max_tasks > cap:
        raise invalid(f"maxTasks must be at most {cap} (REST_FETCH_MAX_TASKS)")
    timeout = data.get("asyncResponseTimeout") or 0
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not 0 <= timeout <= 1_800_000:
        raise invalid("asyncResponseTimeout must be 0–1800000 milliseconds")
    wait_ms = min(timeout, int(current_app.config.get("REST_LONG_POLL_MAX_MS", LONG_POLL_MAX_MS)))
    deadline = time.monotonic() + wait_ms / 1000
    engine = get_engine()
    while True:
        try:
            found = engine.fetch_and_lock(
                data.get("workerId"),
                max_tasks,
                topics,
                use_priority=flag(data, "usePriority"),
                newest_first=newest_first,
            )
        except DelaktigError as err:
            raise _error(err, "Cannot fetch and lock external tasks") from None
        if found or time.monotonic() >= deadline:
            return ok([locked_dto(t) for t in found])
        time.sleep(min(POLL_INTERVAL_S, max(0.0, deadline - time.monotonic())))


# --- one task: the worker's answers ------------------------------------------------------------------------
def _variables(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str | None]]:
    local = data.get("localVariables")
    if local not in (None, {}):
        # Delaktig keeps no variables local to a task: they would vanish with it in Camunda too, so
        # refusing is kinder than dropping them silently.
        raise invalid("Delaktig has no task-local variables; send them as 'variables'")
    return parse_variables(data.get("variables")), declared_types(data.get("variables"))


@bp.post("/external-task/<task_id>/complete")
def external_complete(task_id: str):
    data = body()
    known_fields(data, {"workerId", "variables", "localVariables"})
    user = require_worker(task_id)
    variables, types = _variables(data)
    try:
        get_engine().complete_external_task(task_id, data.get("workerId"), user.name, variables, types)
    except DelaktigError as err:
        raise _error(err, "", task_id) from None
    return no_content()


@bp.post("/external-task/<task_id>/bpmnError")
def external_bpmn_error(task_id: str):
    data = body()
    known_fields(data, {"workerId", "errorCode", "errorMessage", "variables"})
    user = require_worker(task_id)
    variables, types = _variables(data)
    try:
        get_engine().external_task_bpmn_error(
            task_id,
            data.get("workerId"),
            user.name,
            data.get("errorCode"),
            data.get("errorMessage"),
            variables,
            types,
        )
    except DelaktigError as err:
        raise _error(err, "", task_id) from None
    return no_content()


def _int(data: dict[str, Any], name: str, default: int | None = None) -> int | None:
    value = data.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(f"'{name}' must be an integer")
    return value


@bp.post("/external-task/<task_id>/failure")
def external_failure(task_id: str):
    data = body()
    known_fields(data, {"workerId", "errorMessage", "errorDetails", "retries", "retryTimeout", "variables",
                        "localVariables"})  # fmt: skip
    if data.get("variables") not in (None, {}) or data.get("localVariables") not in (None, {}):
        raise invalid("Delaktig keeps no variables from a failure; a failed task changes no case data")
    user = require_worker(task_id)
    try:
        get_engine().fail_external_task(
            task_id,
            data.get("workerId"),
            user.name,
            data.get("errorMessage"),
            data.get("errorDetails"),
            _int(data, "retries"),
            _int(data, "retryTimeout", 0),
        )
    except DelaktigError as err:
        raise _error(err, "", task_id) from None
    return no_content()


@bp.post("/external-task/<task_id>/extendLock")
def external_extend_lock(task_id: str):
    data = body()
    known_fields(data, {"workerId", "newDuration"})
    require_worker(task_id)
    try:
        get_engine().extend_external_lock(task_id, data.get("workerId"), _int(data, "newDuration"))
    except DelaktigError as err:
        raise _error(err, "", task_id) from None
    return no_content()


@bp.post("/external-task/<task_id>/lock")
def external_lock(task_id: str):
    """Camunda 7.17's lock of one task for a worker, without fetching it (the JS and Java clients'
    ``lock``): 204; another worker's unexpired lock is a 400."""
    data = body()
    known_fields(data, {"workerId", "lockDuration"})
    user = require_worker(task_id)
    try:
        get_engine().lock_external_task(task_id, data.get("workerId"), _int(data, "lockDuration"), user.name)
    except DelaktigError as err:
        raise _error(err, "", task_id) from None
    return no_content()


@bp.post("/external-task/<task_id>/unlock")
def external_unlock(task_id: str):
    user = require_overseer("UPDATE", task_id)
    try:
        get_engine().unlock_external_task(task_id, user.name)
    except DelaktigError as err:
        raise _error(err, "", task_id) from None
    return no_content()


@bp.put("/external-task/<task_id>/retries")
def external_set_retries(task_id: str):
    data = body()
    known_fields(data, {"retries"})
    user = require_overseer("UPDATE", task_id)
    try:
        get_engine().set_external_retries([task_id], _int(data, "retries"), user.name)
    except DelaktigError as err:
        raise _error(err, "", task_id) from None
    return no_content()


@bp.put("/external-task/<task_id>/priority")
def external_set_priority(task_id: str):
    data = body()
    known_fields(data, {"priority"})
    user = require_overseer("UPDATE", task_id)
    priority = data.get("priority")
    if isinstance(priority, bool) or not isinstance(priority, int) or not -(2**63) <= priority < 2**63:
        raise invalid("'priority' must be an integer (64 bits)")
    try:
        get_engine().set_external_priority(task_id, priority, user.name)
    except DelaktigError as err:
        raise _error(err, "", task_id) from None
    return no_content()


@bp.put("/external-task/retries")
def external_set_retries_many():
    data = body()
    known_fields(
        data,
        {"retries", "externalTaskIds", "processInstanceIds", "externalTaskQuery", "processInstanceQuery",
         "historicProcessInstanceQuery"},
        unsupported=("processInstanceIds", "externalTaskQuery", "processInstanceQuery",
                     "historicProcessInstanceQuery"),
    )  # fmt: skip
    user = require_overseer("UPDATE")
    ids = _names(data.get("externalTaskIds"), "externalTaskIds") or []
    if not ids:
        raise invalid("externalTaskIds is empty")
    try:
        get_engine().set_external_retries(ids, _int(data, "retries"), user.name)
    except NotFound as err:
        raise RestError(404, "RestException", str(err)) from None
    except DelaktigError as err:
        raise _error(err, "Cannot set retries", None) from None
    return no_content()


# --- reading ----------------------------------------------------------------------------------------------
@bp.post("/external-task/retries-async")
def external_task_retries_async():
    """Camunda's batch of retries: not offered, and said so (it was a 405 of ``/external-task/{id}``);
    ``PUT /external-task/retries`` sets them at once."""
    raise RestError(404, "InvalidRequestException", not_offered(request.method, request.path))


@bp.get("/external-task/<task_id>")
def external_get(task_id: str):
    require_overseer("READ", task_id)
    try:
        return ok(task_dto(get_engine().external_task(task_id)))
    except DelaktigError as err:
        raise _error(err, "", task_id) from None


@bp.get("/external-task/<task_id>/errorDetails")
def external_error_details(task_id: str):
    require_overseer("READ", task_id)
    try:
        details = get_engine().external_task_error_details(task_id)
    except DelaktigError as err:
        raise _error(err, "", task_id) from None
    if details is None:
        return Response(status=204)  # as Camunda: no details, no content
    return Response(details, status=200, mimetype="text/plain")


@strict
def _query(p: Params) -> ExternalTaskQuery:
    ids = p.list("externalTaskIdIn")
    if p.has("externalTaskId"):
        ids = [*(ids or []), p.str("externalTaskId")]
    activities = p.list("activityIdIn")
    if p.has("activityId"):
        activities = [*(activities or []), p.str("activityId")]
    cases = p.list("processInstanceIdIn")
    if p.has("processInstanceId"):
        cases = [*(cases or []), p.str("processInstanceId")]
    if p.has("executionId"):  # a case's only execution is the case itself here
        cases = [*(cases or []), p.str("executionId")]
    query = ExternalTaskQuery(
        ids=ids,
        topic=p.str("topicName"),
        worker_id=p.str("workerId"),
        locked=p.bool("locked") or None,
        not_locked=p.bool("notLocked") or None,
        with_retries_left=p.bool("withRetriesLeft") or None,
        no_retries_left=p.bool("noRetriesLeft") or None,
        lock_expiration_after=p.date("lockExpirationAfter"),
        lock_expiration_before=p.date("lockExpirationBefore"),
        activity_ids=activities,
        case_ids=cases,
        definition_ids=[p.str("processDefinitionId")] if p.has("processDefinitionId") else None,
        priority_at_least=p.int("priorityHigherThanOrEquals", -(2**63), 2**63 - 1),
        priority_at_most=p.int("priorityLowerThanOrEquals", -(2**63), 2**63 - 1),
        # Nothing is ever suspended, and there are no tenants.
        matches_nothing=p.bool("suspended") or bool(p.list("tenantIdIn")),
    )
    p.bool("active")
    return query


def _params(from_json: bool) -> Params:
    return Params(body(), from_json=True) if from_json else Params(request.args)


def _list(from_json: bool):
    require_overseer("READ")
    p = _params(from_json)
    # No tenants: sorting by tenant leaves the order as it is.
    sorting = [(key, way) for key, way in p.sorting(TASK_SORT_KEYS) if key != "tenantId"]
    # Paging is in the query string, also for a POST query (Camunda's way), else in the body.
    first, limit = p.paging()
    query = _query(p)
    tasks = get_engine().external_tasks(query, sorting, first, limit)
    return ok([task_dto(t) for t in tasks])


def _count(from_json: bool):
    require_overseer("READ")
    p = _params(from_json)
    p.sorting(TASK_SORT_KEYS)  # checked as for the list (clients send both the same body), no order to count
    query = _query(p)
    return ok({"count": get_engine().count_external_tasks(query)})


@bp.get("/external-task")
def external_list():
    return _list(False)


@bp.post("/external-task")
def external_list_post():
    return _list(True)


@bp.get("/external-task/count")
def external_count():
    return _count(False)


@bp.post("/external-task/count")
def external_count_post():
    return _count(True)


@bp.get("/external-task/topic-names")
def external_topic_names():
    require_overseer("READ")
    p = Params(request.args)
    names = get_engine().external_topic_names(
        p.bool("withLockedTasks"), p.bool("withUnlockedTasks"), p.bool("withRetriesLeft")
    )
    p.refuse_unused()
    return ok(names)
