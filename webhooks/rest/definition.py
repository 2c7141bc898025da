"""Process definitions: list, count, by id or key, XML, and starting a case (process instance)."""

from __future__ import annotations

from typing import Any

from flask import request

from engine import camunda_queries as q
from engine.errors import DelaktigError
from engine.models import ProcessDefinition
from webhooks.engine_ext import get_engine
from webhooks.rest import auth
from webhooks.rest.blueprint import body, bp, flag, known_fields, ok
from webhooks.rest.errors import RestError, engine_error, invalid, not_found, not_offered
from webhooks.rest.params import Params, strict
from webhooks.rest.variables import declared_types, parse_variables, typed_map


def definition_dto(d: ProcessDefinition) -> dict[str, Any]:
    return {
        "id": d.id,
        "key": d.key,
        "category": "http://bpmn.io/schema/bpmn",
        "description": None,
        "name": d.name,
        "version": d.version,
        "resource": d.resource.name if d.resource is not None else None,
        "deploymentId": d.deployment_id,
        "diagram": None,
        "suspended": False,
        "tenantId": None,
        "versionTag": None,
        "historyTimeToLive": None,
        "startableInTasklist": True,
    }


@strict
def _filter(p: Params) -> q.DefinitionFilter:
    first, maximum = p.paging()
    version = p.int("version", minimum=1)
    return q.DefinitionFilter(
        id=p.str("processDefinitionId"),
        ids=p.list("processDefinitionIdIn"),
        key=p.str("key"),
        keys=p.list("keysIn") or p.list("keyIn"),
        key_like=p.str("keyLike"),
        name=p.str("name"),
        name_like=p.str("nameLike"),
        deployment_id=p.str("deploymentId"),
        version=version,
        latest_version=p.bool("latestVersion"),
        resource_name=p.str("resourceName"),
        sorting=p.sorting(set(q.DEFINITION_SORT)),
        first_result=first,
        max_results=maximum,
    )


@bp.get("/process-definition")
def definition_list():
    f = _filter(Params(request.args))
    with get_engine().session() as s:
        return ok([definition_dto(d) for d in q.definition_list(s, f)])


@bp.get("/process-definition/count")
def definition_count():
    f = _filter(Params(request.args))
    with get_engine().session() as s:
        return ok({"count": q.definition_count(s, f)})


def _by_key(s, key: str) -> ProcessDefinition:
    d = q.latest_definition(s, key)
    if d is None:
        # Camunda 7.22's ProcessDefinitionRestServiceImpl.getProcessDefinitionByKey: a RestException (404),
        # its type "RestException" — unlike by id (InvalidRequestException). Every …/key/{key}/… resource
        # (get, xml, start, submit-form) goes through it before anything else is looked at.
        raise RestError(
            404, "RestException", f"No matching process definition with key: {key} and no tenant-id"
        )
    return d


def _by_id(s, definition_id: str) -> ProcessDefinition:
    d = q.get_definition(s, definition_id)
    if d is None:
        raise not_found(f"No matching definition with id {definition_id}")
    return d


@bp.get("/process-definition/key/<key>")
def definition_by_key(key: str):
    with get_engine().session() as s:
        return ok(definition_dto(_by_key(s, key)))


@bp.get("/process-definition/statistics")
def definitions_statistics():
    """Cockpit's statistics: not offered, and said so (not looked up as a definition "statistics")."""
    raise RestError(404, "InvalidRequestException", not_offered(request.method, request.path))


@bp.get("/process-definition/<definition_id>")
def definition_by_id(definition_id: str):
    with get_engine().session() as s:
        return ok(definition_dto(_by_id(s, definition_id)))


def _xml(d: ProcessDefinition):
    return ok({"id": d.id, "bpmn20Xml": d.resource.content.decode("utf-8", errors="replace")})


@bp.get("/process-definition/key/<key>/xml")
def definition_xml_by_key(key: str):
    with get_engine().session() as s:
        return _xml(_by_key(s, key))


@bp.get("/process-definition/<definition_id>/xml")
def definition_xml(definition_id: str):
    with get_engine().session() as s:
        return _xml(_by_id(s, definition_id))


# Camunda 7.22's StartProcessInstanceDto. Delaktig runs no listeners or IO mappings, so the skip flags
# change nothing; a case always begins at its start event, so start instructions and a case instance
# are refused rather than ignored (the case would not be the one asked for).
START_UNSUPPORTED = ("caseInstanceId", "startInstructions")
START_FIELDS = {
    "businessKey",
    "variables",
    "withVariablesInReturn",
    "skipCustomListeners",
    "skipIoMappings",
    *START_UNSUPPORTED,
}
# StartProcessInstanceFormDto (submit-form): only these two.
SUBMIT_FIELDS = {"businessKey", "variables"}


def _start(definition_id: str | None, key: str | None, fields: set[str] = START_FIELDS):
    data = body()
    known_fields(data, fields, START_UNSUPPORTED)
    for name in ("skipCustomListeners", "skipIoMappings"):
        flag(data, name)
    variables = parse_variables(data.get("variables"))
    business_key = data.get("businessKey")
    if business_key is not None and not isinstance(business_key, str):
        raise invalid("businessKey must be a string")
    with_variables = flag(data, "withVariablesInReturn")
    user = auth.current()
    what = definition_id or key
    try:
        info = get_engine().start_case(
            key=key,
            definition_id=definition_id,
            business_key=business_key,
            variables=variables,
            actor=user.name,
            roles=set(user.roles),
            variable_types=declared_types(data.get("variables")),
            start_form=fields is SUBMIT_FIELDS,  # submit-form: checked against the start form's fields
        )
    except DelaktigError as err:
        raise engine_error(
            err,
            f"Cannot instantiate process definition {what}",
            permission="CREATE_INSTANCE",
            resource="ProcessDefinition",
            resource_id=key or definition_id,
        ) from None
    from webhooks.rest.instance import instance_dto

    dto = instance_dto(info.id, info.definition_id, info.business_key, info.status != "active")
    if with_variables:
        dto["variables"] = typed_map(info.variables, types=info.variable_types)
    return ok(dto)


@bp.post("/process-definition/key/<key>/start")
def start_by_key(key: str):
    with get_engine().session() as s:
        _by_key(s, key)
    return _start(None, key)


@bp.post("/process-definition/<definition_id>/start")
def start_by_id(definition_id: str):
    with get_engine().session() as s:
        _by_id(s, definition_id)  # Camunda: an unknown id is a 404 before anything else is looked at
    return _start(definition_id, None)


# Submitting a start form: Delaktig has no start forms of its own, so it is a start with the form's
# variables (Camunda answers the same ProcessInstanceDto, without variables).
@bp.post("/process-definition/key/<key>/submit-form")
def submit_form_by_key(key: str):
    with get_engine().session() as s:
        _by_key(s, key)
    return _start(None, key, SUBMIT_FIELDS)


@bp.post("/process-definition/<definition_id>/submit-form")
def submit_form_by_id(definition_id: str):
    with get_engine().session() as s:
        _by_id(s, definition_id)
    return _start(definition_id, None, SUBMIT_FIELDS)
