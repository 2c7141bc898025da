"""``POST /signal``: throw a signal to every waiting case and every signal start event (Camunda 7's
"Throw a Signal"; ``Delaktig.broadcast_signal``)."""

from __future__ import annotations

from engine.errors import DelaktigError
from webhooks.engine_ext import get_engine
from webhooks.rest import auth
from webhooks.rest.blueprint import body, bp, flag, known_fields, no_content
from webhooks.rest.errors import RestError, engine_error, invalid
from webhooks.rest.variables import declared_types, parse_variables

# Camunda 7.22's SignalDto. ``executionId`` (deliver to one execution only) and ``tenantId`` are refused
# when set: Delaktig has no executions to name (a case would be the process instance, not the execution
# that waits) and no tenants; ``withoutTenantId`` asks for what every case already is.
UNSUPPORTED = ("executionId", "tenantId")
FIELDS = {"name", "variables", "withoutTenantId", *UNSUPPORTED}
REFUSED = {
    "executionId": "Delaktig has no executions: a signal is delivered to every case waiting for it "
    "(leave executionId out, or send a message to one case with POST /message)",
    "tenantId": "Delaktig has no tenants: leave tenantId out",
}


def _refused(field: str) -> RestError:
    message = f"Cannot throw signal: {field}: {REFUSED[field]}"
    return RestError(
        400, "InvalidRequestException", message, problems=[{"field": field, "message": REFUSED[field]}]
    )


@bp.post("/signal")
def signal_throw():
    data = body()
    name = data.get("name")
    if name is None or name == "":
        raise invalid("No signal name given")
    if not isinstance(name, str):
        raise invalid("'name' must be a string")
    known_fields(data, FIELDS)
    for field in UNSUPPORTED:
        if data.get(field) not in (None, ""):
            raise _refused(field)
    flag(data, "withoutTenantId")  # every case is tenant-less: true or false, nothing to filter
    variables = parse_variables(data.get("variables"), "variables")
    user = auth.current()
    try:
        get_engine().broadcast_signal(
            name,
            variables,
            actor=user.name,
            roles=set(user.roles),
            variable_types=declared_types(data.get("variables")),
        )
    except DelaktigError as err:
        raise engine_error(
            err, f"Cannot throw signal '{name}'", permission="UPDATE_INSTANCE", resource="ProcessDefinition"
        ) from None
    return no_content()
