"""``POST /message``: correlate a message to waiting cases, or start one by a message start event."""

from __future__ import annotations

from typing import Any

from engine.app import CaseInfo
from engine.errors import DelaktigError, NoMatch
from webhooks.engine_ext import get_engine
from webhooks.rest import auth
from webhooks.rest.blueprint import body, bp, flag, known_fields, no_content, ok
from webhooks.rest.errors import engine_error, invalid
from webhooks.rest.instance import instance_dto
from webhooks.rest.variables import declared_types, parse_variables, typed_map

# Camunda 7.22's CorrelationMessageDto; those Delaktig cannot honour are refused when set (a single
# scope per case: no local variables; no tenants; startMessagesOnly would skip the waiting cases).
UNSUPPORTED = (
    "processInstanceId",
    "tenantId",
    "localCorrelationKeys",
    "processVariablesLocal",
    "processVariablesToTriggeredScope",
    "startMessagesOnly",
)
FIELDS = {
    "messageName",
    "businessKey",
    "correlationKeys",
    "processVariables",
    "withoutTenantId",
    "all",
    "resultEnabled",
    "variablesInResultEnabled",
    *UNSUPPORTED,
}


def _result(info: CaseInfo, with_variables: bool) -> dict[str, Any]:
    # A case the message started was written once (version 1); a waiting case had been saved before.
    started = info.version == 1
    ended = info.status != "active"
    out: dict[str, Any] = {
        "resultType": "ProcessDefinition" if started else "Execution",
        "processInstance": instance_dto(info.id, info.definition_id, info.business_key, ended)
        if started
        else None,
        "execution": None
        if started
        else {"id": info.id, "processInstanceId": info.id, "ended": ended, "tenantId": None},
    }
    if with_variables:
        out["variables"] = typed_map(info.variables, types=info.variable_types)
    return out


@bp.post("/message")
def message_correlate():
    data = body()
    name = data.get("messageName")
    if not isinstance(name, str) or not name:
        raise invalid("No message name supplied")
    known_fields(data, FIELDS, UNSUPPORTED)
    all_matches, result, with_variables = (
        flag(data, "all"),
        flag(data, "resultEnabled"),
        flag(data, "variablesInResultEnabled"),
    )
    flag(data, "withoutTenantId")  # every case is tenant-less: true or false, nothing to filter
    business_key = data.get("businessKey")
    if business_key is not None and not isinstance(business_key, str):
        raise invalid("businessKey must be a string")
    correlation = parse_variables(data.get("correlationKeys"), "correlationKeys")
    variables = parse_variables(data.get("processVariables"), "processVariables")
    user = auth.current()
    try:
        infos = get_engine().deliver_message(
            name,
            variables,
            business_key,
            correlation=correlation,
            actor=user.name,
            all_matches=all_matches,
            roles=set(user.roles),
            variable_types=declared_types(data.get("processVariables")),
        )
    except NoMatch as err:
        if not all_matches:
            raise engine_error(err, f"Cannot correlate message '{name}'") from None
        infos = []  # as Camunda's correlateAll: nothing waiting is no error, just no result
    except DelaktigError as err:
        raise engine_error(
            err,
            f"Cannot correlate message '{name}'",
            permission="UPDATE_INSTANCE",
            resource="ProcessDefinition",
        ) from None
    if result:
        return ok([_result(i, with_variables) for i in infos])
    return no_content()
