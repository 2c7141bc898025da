"""Process instances (Delaktig's cases while they run): list, count, one, variables, delete."""

from __future__ import annotations

from typing import Any

from flask import request

from engine import camunda_queries as q
from engine.errors import DelaktigError
from webhooks.engine_ext import get_engine
from webhooks.rest import auth
from webhooks.rest.blueprint import body, bp, link, no_content, ok, variable_changes
from webhooks.rest.errors import engine_error, invalid, not_found
from webhooks.rest.params import Params, strict
from webhooks.rest.variables import typed_map


def instance_dto(case_id: str, definition_id: str, business_key: str | None, ended: bool) -> dict[str, Any]:
    return {
        "links": [link(f"/process-instance/{case_id}")],
        "id": case_id,
        "definitionId": definition_id,
        "businessKey": business_key,
        "caseInstanceId": None,
        "ended": ended,
        "suspended": False,
        "tenantId": None,
    }


# Camunda's runtime sort keys (its tenantId aside); the history ones also sort by times and definition.
RUNTIME_SORT = {"instanceId", "definitionId", "definitionKey", "businessKey"}


@strict
def _filter(p: Params) -> q.InstanceFilter:
    first, maximum = p.paging()
    return q.InstanceFilter(
        ids=p.list("processInstanceIds"),
        business_key=p.str("businessKey"),
        business_key_like=p.str("businessKeyLike"),
        process_definition_id=p.str("processDefinitionId"),
        process_definition_key=p.str("processDefinitionKey"),
        process_definition_keys=p.list("processDefinitionKeyIn"),
        variables=p.variables("variables"),
        sorting=p.sorting(RUNTIME_SORT),
        readable_by=auth.readable_by(),
        first_result=first,
        max_results=maximum,
    )


def _list(p: Params):
    f = _filter(p)
    with get_engine().session() as s:
        rows = q.instance_list(s, f)
        return ok([instance_dto(c.id, c.definition_id, c.business_key, False) for c, _ in rows])


def _count(p: Params):
    f = _filter(p)
    with get_engine().session() as s:
        return ok({"count": q.instance_count(s, f)})


@bp.get("/process-instance")
def instance_list():
    return _list(Params(request.args))


@bp.post("/process-instance")
def instance_query():
    return _list(Params(body(), from_json=True))


@bp.get("/process-instance/count")
def instance_count():
    return _count(Params(request.args))


@bp.post("/process-instance/count")
def instance_count_post():
    return _count(Params(body(), from_json=True))


def _active_case(s, case_id: str):
    auth.require_case_reader(s, case_id)
    case = q.get_case(s, case_id)
    if case is None or case.status != "active":
        # Camunda's runtime forgets ended instances; their record is under /history/process-instance.
        raise not_found(f"Process instance with id {case_id} does not exist")
    return case


@bp.get("/process-instance/<case_id>")
def instance_get(case_id: str):
    with get_engine().session() as s:
        c = _active_case(s, case_id)
        return ok(instance_dto(c.id, c.definition_id, c.business_key, False))


@bp.get("/process-instance/<case_id>/variables")
def instance_variables(case_id: str):
    names = Params(request.args).list("variableNames")
    with get_engine().session() as s:
        return ok(typed_map(_active_case(s, case_id).data, names))


@bp.get("/process-instance/<case_id>/variables/<name>")
def instance_variable(case_id: str, name: str):
    with get_engine().session() as s:
        data = _active_case(s, case_id).data or {}
    if name not in data or name.startswith("_"):  # "_types" is Delaktig's, not a variable
        raise not_found(f"process instance variable with name {name} does not exist")
    return ok(typed_map(data, [name])[name])


@bp.delete("/process-instance/<case_id>")
def instance_delete(case_id: str):
    """Cancel a case. Camunda's single delete takes no reason; ``deleteReason`` (query) is Delaktig's
    addition so the audit log says why (default: who deleted it over the REST API)."""
    p = Params(request.args)
    user = auth.require_manager("DELETE", "ProcessInstance", case_id)
    reason = p.str("deleteReason") or f"Deleted over the REST API by {user.name}"
    with get_engine().session() as s:
        case = q.get_case(s, case_id)
    if case is None or case.status != "active":
        if p.has("failIfNotExists") and not p.bool("failIfNotExists"):
            return no_content()
        raise not_found(f"Process instance with id {case_id} does not exist")
    try:
        get_engine().cancel_case(case_id, user.name, reason)
    except DelaktigError as err:
        raise engine_error(
            err, f"Cannot delete process instance {case_id}", permission="DELETE", resource_id=case_id
        ) from None
    return no_content()


# --- changing variables ----------------------------------------------------------------------------------
def _modify(case_id: str, modifications: Any, deletions: Any, types: dict[str, str | None]):
    """Set and remove a case's variables (a process manager's right, as deleting the case is): the engine
    audits each change; a case that is not running is a 404, as in Camunda's runtime."""
    user = auth.require_manager("UPDATE_VARIABLE", "ProcessInstance", case_id)
    if deletions is not None and (
        not isinstance(deletions, list) or not all(isinstance(n, str) for n in deletions)
    ):
        raise invalid("'deletions' must be a list of variable names")
    with get_engine().session() as s:
        case = q.get_case(s, case_id)
    if case is None or case.status != "active":
        raise not_found(f"Process instance with id {case_id} does not exist")
    try:
        get_engine().set_variables(case_id, user.name, modifications, deletions, variable_types=types)
    except DelaktigError as err:
        raise engine_error(
            err,
            f"Cannot modify variables for process instance {case_id}",
            permission="UPDATE_VARIABLE",
            resource_id=case_id,
        ) from None
    return no_content()


variable_changes("process-instance", _modify)
