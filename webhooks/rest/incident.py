"""Camunda 7's incidents (``/incident``): in Delaktig, an external task whose retries ran out
(``failedExternalTask``). Nobody fetches it until someone sets new retries
(``PUT /external-task/{id}/retries``); the incident's id and configuration are the external task's id.
Delaktig runs no jobs, so there are no ``failedJob`` incidents. Read by the integration roles and process
owners, as external tasks are."""

from __future__ import annotations

from typing import Any

from flask import request

from engine.errors import DelaktigError
from engine.external_tasks import ExternalTaskInfo, ExternalTaskQuery
from webhooks.engine_ext import get_engine
from webhooks.rest.blueprint import bp, ok
from webhooks.rest.errors import not_found
from webhooks.rest.external_task import require_overseer
from webhooks.rest.params import Params, strict
from webhooks.rest.variables import fmt_date

INCIDENT_TYPE = "failedExternalTask"
# Camunda's incident sort keys → the external task's (engine.external_tasks.SORT_KEYS)
SORT = {
    "incidentId": "id",
    "incidentTimestamp": "failedAt",
    "incidentMessage": "errorMessage",
    "executionId": "processInstanceId",
    "activityId": "activityId",
    "processInstanceId": "processInstanceId",
    "processDefinitionId": "processDefinitionId",
    "configuration": "id",
    "incidentType": "id",  # one type only
}


def incident_dto(t: ExternalTaskInfo) -> dict[str, Any]:
    return {
        "id": t.id,
        "processDefinitionId": t.definition_id,
        "processInstanceId": t.case_id,
        "executionId": t.case_id,
        "incidentTimestamp": fmt_date(t.failed_at or t.created_at),
        "incidentType": INCIDENT_TYPE,
        "activityId": t.element_id,
        "failedActivityId": t.element_id,
        "causeIncidentId": t.id,
        "rootCauseIncidentId": t.id,
        "configuration": t.id,
        "tenantId": None,
        "incidentMessage": t.error_message,
        "jobDefinitionId": None,
        "annotation": None,
    }


@strict
def _query(p: Params) -> ExternalTaskQuery:
    ids = [v for v in (p.str("incidentId"), p.str("configuration"), p.str("causeIncidentId"),
                       p.str("rootCauseIncidentId")) if v is not None]  # fmt: skip
    kind = p.str("incidentType")
    cases = [v for v in (p.str("processInstanceId"), p.str("executionId")) if v is not None]
    activities = [v for v in (p.str("activityId"), p.str("failedActivityId")) if v is not None]
    definition = p.str("processDefinitionId")
    return ExternalTaskQuery(
        no_retries_left=True,
        ids=ids or None,
        case_ids=cases or None,
        activity_ids=activities or None,
        definition_ids=[definition] if definition is not None else None,
        definition_keys=p.list("processDefinitionKeyIn"),
        failed_after=p.date("incidentTimestampAfter"),
        failed_before=p.date("incidentTimestampBefore"),
        error_message=p.str("incidentMessage"),
        # Each id filter must hold on its own: two different ids match nothing.
        matches_nothing=(kind is not None and kind != INCIDENT_TYPE)
        or len(set(ids)) > 1
        or len(set(cases)) > 1
        or len(set(activities)) > 1
        or bool(p.list("tenantIdIn"))
        or bool(p.list("jobDefinitionIdIn")),
    )


@bp.get("/incident")
def incident_list():
    require_overseer("READ")
    p = Params(request.args)
    sorting = [(SORT[key], way) for key, way in p.sorting(set(SORT))]
    first, limit = p.paging()
    query = _query(p)
    return ok([incident_dto(t) for t in get_engine().external_tasks(query, sorting, first, limit)])


@bp.get("/incident/count")
def incident_count():
    require_overseer("READ")
    return ok({"count": get_engine().count_external_tasks(_query(Params(request.args)))})


@bp.get("/incident/<incident_id>")
def incident_get(incident_id: str):
    require_overseer("READ")
    try:
        task = get_engine().external_task(incident_id)
    except DelaktigError:
        task = None
    if task is None or task.retries != 0:
        raise not_found(f"Incident with id {incident_id} does not exist")
    return ok(incident_dto(task))
