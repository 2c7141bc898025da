"""History from the audit log and the case/task rows: process instances, activity instances, tasks, and
the user-operation log (who claimed, completed, reassigned, deleted, deployed, started, correlated)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import request

from engine import camunda_queries as q
from engine import history_variables as hv
from engine.models import AuditEvent, Case, ProcessDefinition, UserTask
from webhooks.engine_ext import get_engine
from webhooks.rest import auth
from webhooks.rest.blueprint import body, bp, ok
from webhooks.rest.errors import RestError, not_found, not_offered
from webhooks.rest.params import Params, strict
from webhooks.rest.variables import fmt_date, typed

STATES = {"active": "ACTIVE", "completed": "COMPLETED", "terminated": "EXTERNALLY_TERMINATED"}


def _millis(start: datetime | None, end: datetime | None) -> int | None:
    return int((end - start).total_seconds() * 1000) if start and end else None


def _finished(p: Params) -> tuple[bool | None, bool]:
    """Camunda's ``finished`` and ``unfinished``: the filter (None: either), and whether both were asked
    (then nothing matches, as in Camunda). Both are read whatever their values, so a client that sends
    ``unfinished=false`` along with ``finished=true`` (generated clients send every flag) is answered."""
    finished, unfinished = p.bool("finished"), p.bool("unfinished")
    return (True if finished else False if unfinished else None), finished and unfinished


def process_instance_dto(c: Case, d: ProcessDefinition, start_activity: str | None = None) -> dict[str, Any]:
    return {
        "id": c.id,
        "rootProcessInstanceId": c.id,
        "superProcessInstanceId": None,
        "superCaseInstanceId": None,
        "caseInstanceId": None,
        "processDefinitionName": d.name,
        "processDefinitionKey": c.process_key,
        "processDefinitionVersion": d.version,
        "processDefinitionId": c.definition_id,
        "businessKey": c.business_key,
        "startTime": fmt_date(c.started_at),
        "endTime": fmt_date(c.ended_at),
        "removalTime": None,
        "durationInMillis": _millis(c.started_at, c.ended_at),
        "startUserId": c.started_by,
        "startActivityId": start_activity,
        "deleteReason": c.end_reason,
        "tenantId": None,
        "state": STATES.get(c.status, c.status.upper()),
        "restartedProcessInstanceId": None,  # 7.21+; Delaktig restarts no cases
    }


@strict
def _instance_filter(p: Params) -> q.InstanceFilter:
    first, maximum = p.paging()
    finished, neither = _finished(p)
    ids = p.list("processInstanceIds")
    if p.str("processInstanceId"):
        ids = [p.str("processInstanceId")]
    if neither:
        ids = []  # no instance is both finished and unfinished
    return q.InstanceFilter(
        history=True,
        ids=ids,
        finished=finished,
        business_key=p.str("processInstanceBusinessKey"),
        business_key_like=p.str("processInstanceBusinessKeyLike"),
        process_definition_id=p.str("processDefinitionId"),
        process_definition_key=p.str("processDefinitionKey"),
        process_definition_keys=p.list("processDefinitionKeyIn"),
        started_by=p.str("startedBy"),
        started_before=p.date("startedBefore"),
        started_after=p.date("startedAfter"),
        finished_before=p.date("finishedBefore"),
        finished_after=p.date("finishedAfter"),
        variables=p.variables("variables"),
        sorting=p.sorting(set(q.INSTANCE_SORT)),
        readable_by=auth.readable_by(),
        first_result=first,
        max_results=maximum,
    )


@bp.get("/history/process-instance")
def history_instances():
    return _history_instances(Params(request.args))


@bp.post("/history/process-instance")
def history_instances_post():
    return _history_instances(Params(body(), from_json=True))


def _history_instances(p: Params):
    f = _instance_filter(p)
    with get_engine().session() as s:
        rows = q.instance_list(s, f)
        starts = q.start_activities(s, [c.id for c, _ in rows])
        return ok([process_instance_dto(c, d, starts.get(c.id)) for c, d in rows])


@bp.get("/history/process-instance/count")
def history_instances_count():
    return _history_instances_count(Params(request.args))


@bp.post("/history/process-instance/count")
def history_instances_count_post():
    return _history_instances_count(Params(body(), from_json=True))


def _history_instances_count(p: Params):
    f = _instance_filter(p)
    with get_engine().session() as s:
        return ok({"count": q.instance_count(s, f)})


@bp.get("/history/process-instance/report")
def history_instance_report():
    """Camunda's duration report: not offered, and said so (not read as an instance id "report")."""
    raise RestError(404, "InvalidRequestException", not_offered(request.method, request.path))


@bp.get("/history/process-instance/<case_id>")
def history_instance(case_id: str):
    f = q.InstanceFilter(history=True, ids=[case_id])
    with get_engine().session() as s:
        auth.require_case_reader(s, case_id, "HistoricProcessInstance", "Historic process instance")
        rows = q.instance_list(s, f)
        if not rows:
            raise not_found(f"Historic process instance with id {case_id} does not exist")
        return ok(process_instance_dto(*rows[0], q.start_activities(s, [case_id]).get(case_id)))


# --- activity instances --------------------------------------------------------------------------------
def activity_dto(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": r["id"],
        "parentActivityInstanceId": r["process_instance_id"],
        "activityId": r["activity_id"],
        "activityName": r["activity_name"],
        "activityType": r["activity_type"],
        "processDefinitionKey": r["definition_key"],
        "processDefinitionId": r["definition_id"],
        "processInstanceId": r["process_instance_id"],
        "executionId": r["process_instance_id"],
        "taskId": r["task_id"],
        "assignee": r["assignee"],
        "calledProcessInstanceId": None,
        "calledCaseInstanceId": None,
        "startTime": fmt_date(r["start"]),
        "endTime": fmt_date(r["end"]),
        "durationInMillis": _millis(r["start"], r["end"]),
        "canceled": r["canceled"],
        "completeScope": (r["activity_type"] or "").endswith("EndEvent"),
        "tenantId": None,
        "removalTime": None,
        "rootProcessInstanceId": r["process_instance_id"],
    }


@strict
def _activity_filter(p: Params) -> q.ActivityFilter:
    first, maximum = p.paging()
    finished, neither = _finished(p)
    activity_instance_id = p.str("activityInstanceId")
    case_id, execution_id = p.str("processInstanceId"), p.str("executionId")
    if case_id is not None and execution_id is not None and case_id != execution_id:
        case_id = ""  # a case is its one execution: two different ids match nothing
    return q.ActivityFilter(
        activity_instance_id="" if neither else activity_instance_id,
        process_instance_id=case_id if case_id is not None else execution_id,
        process_definition_id=p.str("processDefinitionId"),
        activity_id=p.str("activityId"),
        activity_name=p.str("activityName"),
        activity_type=p.str("activityType"),
        assignee=p.str("taskAssignee"),
        finished=finished,
        canceled=p.bool("canceled"),
        complete_scope=p.bool("completeScope"),
        started_before=p.date("startedBefore"),
        started_after=p.date("startedAfter"),
        finished_before=p.date("finishedBefore"),
        finished_after=p.date("finishedAfter"),
        sorting=p.sorting(set(q.ACTIVITY_SORT)),
        readable_by=auth.readable_by(),
        first_result=first,
        max_results=maximum,
    )


def _activities(p: Params):
    f = _activity_filter(p)
    with get_engine().session() as s:
        return ok([activity_dto(r) for r in q.activity_instances(s, f)])


def _activities_count(p: Params):
    f = _activity_filter(p)
    with get_engine().session() as s:
        return ok({"count": q.activity_count(s, f)})


@bp.get("/history/activity-instance")
def history_activities():
    return _activities(Params(request.args))


@bp.post("/history/activity-instance")
def history_activities_post():
    return _activities(Params(body(), from_json=True))


@bp.get("/history/activity-instance/count")
def history_activities_count():
    return _activities_count(Params(request.args))


@bp.post("/history/activity-instance/count")
def history_activities_count_post():
    return _activities_count(Params(body(), from_json=True))


@bp.get("/history/activity-instance/<activity_instance_id>")
def history_activity(activity_instance_id: str):
    # Read through the user's case rule like the list: an instance of a case they may not read is
    # as absent as one that does not exist (its id names no case to answer 403 for).
    f = q.ActivityFilter(activity_instance_id=activity_instance_id, readable_by=auth.readable_by())
    with get_engine().session() as s:
        rows = q.activity_instances(s, f)
    if not rows:
        raise not_found(f"Historic activity instance with id {activity_instance_id} does not exist")
    return ok(activity_dto(rows[0]))


# --- tasks -----------------------------------------------------------------------------------------------
def history_task_dto(t: UserTask) -> dict[str, Any]:
    reason = {"completed": "completed", "cancelled": "deleted"}.get(t.state)
    return {
        "id": t.id,
        "processDefinitionKey": t.process_key,
        "processDefinitionId": t.definition_id,
        "processInstanceId": t.case_id,
        "executionId": t.case_id,
        "caseDefinitionKey": None,
        "caseDefinitionId": None,
        "caseInstanceId": None,
        "caseExecutionId": None,
        "activityInstanceId": f"{t.element_id}:{t.id}",
        "name": t.name,
        "description": t.documentation,
        "deleteReason": reason,
        "owner": t.owner,
        "assignee": t.assignee,
        "completedBy": t.completed_by,
        "startTime": fmt_date(t.created_at),
        "endTime": fmt_date(t.completed_at),
        "duration": _millis(t.created_at, t.completed_at),
        "taskDefinitionKey": t.element_id,
        "priority": t.priority,
        "due": fmt_date(t.due_at),
        "parentTaskId": None,
        "followUp": fmt_date(t.follow_up_at),
        "tenantId": None,
        "removalTime": None,
        "rootProcessInstanceId": t.case_id,
        "taskState": {"open": "Created", "completed": "Completed", "cancelled": "Deleted"}.get(
            t.state, t.state
        ),
    }


@strict
def _task_filter(p: Params) -> q.HistoryTaskFilter:
    first, maximum = p.paging()
    finished, neither = _finished(p)
    task_id = p.str("taskId")
    return q.HistoryTaskFilter(
        task_id="" if neither else task_id,
        process_instance_id=p.str("processInstanceId"),
        process_definition_key=p.str("processDefinitionKey"),
        process_definition_id=p.str("processDefinitionId"),
        business_key=p.str("processInstanceBusinessKey"),
        task_definition_key=p.str("taskDefinitionKey"),
        assignee=p.str("taskAssignee"),
        owner=p.str("taskOwner"),
        finished=finished,
        sorting=p.sorting(set(q.HISTORY_TASK_SORT)),
        readable_by=auth.readable_by(),
        first_result=first,
        max_results=maximum,
    )


def _tasks(p: Params):
    f = _task_filter(p)
    with get_engine().session() as s:
        return ok([history_task_dto(t) for t in q.history_task_list(s, f)])


def _tasks_count(p: Params):
    f = _task_filter(p)
    with get_engine().session() as s:
        return ok({"count": q.history_task_count(s, f)})


@bp.get("/history/task")
def history_tasks():
    return _tasks(Params(request.args))


@bp.post("/history/task")
def history_tasks_post():
    return _tasks(Params(body(), from_json=True))


@bp.get("/history/task/count")
def history_tasks_count():
    return _tasks_count(Params(request.args))


@bp.post("/history/task/count")
def history_tasks_count_post():
    return _tasks_count(Params(body(), from_json=True))


# --- user operations ---------------------------------------------------------------------------------------
def _property(e: AuditEvent) -> tuple[str | None, Any, Any]:
    """(property, orgValue, newValue) of one audit row, as Camunda names them."""
    d = e.detail or {}
    if e.kind in ("task_claimed", "task_unclaimed", "task_reassigned"):
        before, after = (d.get("assignee") or [None, None])[:2]
        return "assignee", before, after
    if e.kind == "task_completed":
        return "delete", "false", "true"
    if e.kind == "case_cancelled":
        return "deleteReason", None, d.get("reason")
    if e.kind == "process_deployed":
        return "processDefinitionId", None, d.get("definition_id")
    if e.kind == "case_started":
        return "businessKey", None, d.get("business_key")
    if e.kind == "message_received":
        return "messageName", None, d.get("message")
    if e.kind == "external_task_retries_set":
        return "retries", d.get("before"), d.get("retries")
    if e.kind == "external_task_priority_set":
        return "priority", d.get("before"), d.get("priority")
    if e.kind == "external_task_unlocked":
        return "workerId", d.get("worker"), None
    if e.kind == "variables_modified":  # Camunda logs no values here either, only that they changed
        return "modifiedVariables", None, ",".join(sorted(d.get("changes") or {}))
    return None, None, None


def operation_dto(e: AuditEvent, c: Case | None) -> dict[str, Any]:
    op, entity, category = q.OPERATION_KINDS[e.kind]
    prop, org, new = _property(e)
    d = e.detail or {}
    deploy = e.kind == "process_deployed"
    external = entity == "ExternalTask"
    return {
        "id": str(e.id),
        "deploymentId": d.get("deployment_id") if deploy else None,
        "processDefinitionId": d.get("definition_id") if deploy else (c.definition_id if c else None),
        "processDefinitionKey": e.element_id if deploy else (c.process_key if c else None),
        "processInstanceId": e.case_id,
        "executionId": e.case_id,
        "caseDefinitionId": None,
        "caseInstanceId": None,
        "caseExecutionId": None,
        "taskId": None if external else e.task_id,
        "externalTaskId": e.task_id if external else None,
        "batchId": None,
        "jobId": None,
        "jobDefinitionId": None,
        "userId": e.actor,
        "timestamp": fmt_date(e.at),
        "operationId": str(e.id),
        "operationType": op,
        "entityType": entity,
        "category": category,
        "annotation": None,
        "property": prop,
        "orgValue": None if org is None else str(org),
        "newValue": None if new is None else str(new),
        "removalTime": None,
        "rootProcessInstanceId": e.case_id,
    }


@strict
def _operation_filter(p: Params) -> q.OperationFilter:
    first, maximum = p.paging()
    sorting = p.sorting({"timestamp"})
    return q.OperationFilter(
        process_instance_id=p.str("processInstanceId"),
        process_definition_key=p.str("processDefinitionKey"),
        task_id=p.str("taskId"),
        user_id=p.str("userId"),
        operation_type=p.str("operationType"),
        entity_type=p.str("entityType"),
        category=p.str("category"),
        after=p.date("afterTimestamp"),
        before=p.date("beforeTimestamp"),
        descending=bool(sorting) and sorting[0][1] == "desc",
        readable_by=auth.readable_by(),
        first_result=first,
        max_results=maximum,
    )


@bp.get("/history/user-operation")
def history_operations():
    f = _operation_filter(Params(request.args))
    with get_engine().session() as s:
        return ok([operation_dto(e, c) for e, c in q.operation_list(s, f)])


@bp.get("/history/user-operation/count")
def history_operations_count():
    f = _operation_filter(Params(request.args))
    with get_engine().session() as s:
        return ok({"count": q.operation_count(s, f)})


# --- variable instances -----------------------------------------------------------------------------------
def variable_instance_dto(v: hv.VariableInstance) -> dict[str, Any]:
    c = v.case
    return {
        **typed(v.value, v.declared_type),
        "id": v.id,
        "name": v.name,
        "processDefinitionKey": c.process_key,
        "processDefinitionId": c.definition_id,
        "processInstanceId": c.id,
        "executionId": c.id,
        "activityInstanceId": c.id,
        "caseDefinitionKey": None,
        "caseDefinitionId": None,
        "caseInstanceId": None,
        "caseExecutionId": None,
        "taskId": None,
        "tenantId": None,
        "errorMessage": None,
        "state": "CREATED",
        "createTime": fmt_date(c.started_at),
        "removalTime": None,
        "rootProcessInstanceId": c.id,
    }


@strict
def _variable_filter(p: Params) -> hv.VariableInstanceFilter:
    first, maximum = p.paging()
    ids = p.list("processInstanceIdIn")
    if p.str("processInstanceId") is not None:
        ids = [*(ids or []), p.str("processInstanceId")]
    executions = p.list("executionIdIn")  # a case is its one execution
    if executions is not None:
        ids = [*(ids or []), *executions]
    return hv.VariableInstanceFilter(
        process_instance_ids=ids,
        process_definition_id=p.str("processDefinitionId"),
        process_definition_key=p.str("processDefinitionKey"),
        name=p.str("variableName"),
        name_like=p.str("variableNameLike"),
        names=p.list("variableNameIn"),
        sorting=p.sorting({"instanceId", "variableName"}),
        readable_by=auth.readable_by(),
        first_result=first,
        max_results=maximum,
    )


def _variables(p: Params):
    f = _variable_filter(p)
    with get_engine().session() as s:
        return ok([variable_instance_dto(v) for v in hv.variable_instances(s, f)])


def _variables_count(p: Params):
    f = _variable_filter(p)
    with get_engine().session() as s:
        return ok({"count": hv.variable_instance_count(s, f)})


@bp.get("/history/variable-instance")
def history_variables():
    return _variables(Params(request.args))


@bp.post("/history/variable-instance")
def history_variables_post():
    return _variables(Params(body(), from_json=True))


@bp.get("/history/variable-instance/count")
def history_variables_count():
    return _variables_count(Params(request.args))


@bp.post("/history/variable-instance/count")
def history_variables_count_post():
    return _variables_count(Params(body(), from_json=True))


@bp.get("/history/variable-instance/<variable_id>")
def history_variable(variable_id: str):
    f = hv.VariableInstanceFilter(ids=[variable_id], readable_by=auth.readable_by())
    with get_engine().session() as s:
        found = hv.variable_instances(s, f)
    if not found:
        # Also for a case the user may not read: which variables it has is no one else's business.
        raise not_found(f"Historic variable instance with Id '{variable_id}' does not exist")
    return ok(variable_instance_dto(found[0]))
