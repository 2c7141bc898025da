"""Camunda's error shape: ``{"type": ExceptionClass, "message": ..., "code": N}`` with Camunda's status
codes. ``code`` is Camunda 7.20's error code: 0 for every error, 1 for an optimistic-locking conflict (a
concurrent change got there first: ``OptimisticLockingException``, 500, the client may try again).
Messages are English, as Camunda's, whatever language the engine's own message (for staff) is in.

Engine errors are mapped in one place (``engine_error``) so every resource answers the same way:
NotFound → 404, Forbidden → 403 (AuthorizationException), ValidationFailed → 400 naming the fields,
Conflict → 500 as Camunda documents for claim/complete ("task already claimed", "could not be resumed"),
NoMatch/AmbiguousMatch → 400 MismatchingMessageCorrelationException.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response, g
from flask_babel import force_locale

from engine import errors as e
from webhooks.engine_messages import translate


class RestError(Exception):
    def __init__(self, status: int, type_: str, message: str, **extra: Any):
        super().__init__(message)
        self.status, self.type, self.message, self.extra = status, type_, message, extra

    def response(self) -> Response:
        return error_response(self.status, self.type, self.message, **self.extra)


def error_response(status: int, type_: str, message: str, **extra: Any) -> Response:
    body = {"type": type_, "message": message, "code": 0, **extra}
    return Response(orjson.dumps(body), status=status, mimetype="application/json")


def invalid(message: str) -> RestError:
    return RestError(400, "InvalidRequestException", message)


def not_found(message: str) -> RestError:
    return RestError(404, "InvalidRequestException", message)


def forbidden(user: str, message: str, permission: str, resource: str, resource_id: str | None) -> RestError:
    return RestError(
        403,
        "AuthorizationException",
        message,
        userId=user,
        missingAuthorizations=[
            {"permissionName": permission, "resourceName": resource, "resourceId": resource_id or "*"}
        ],
    )


def not_offered(method: str, path: str) -> str:
    """The 404 message for a part of Camunda's REST API that Delaktig does not have."""
    return (
        f"Delaktig does not offer {method} {path} of Camunda's REST API (it has no jobs, decisions, "
        "tenants or task-local variables); see the README"
    )


# InvalidValue's reasons (engine.app._invalid: the staff pages' Swedish) as the REST API says them.
INVALID_VALUE_REASONS = {
    "en text är längre än vad som får plats": "a text is longer than fits",
    "ett tal eller datum ligger utanför tillåtet intervall": "a number or date is out of range",
    "en text innehåller ett otillåtet tecken": "a text contains a character that cannot be stored",
    "ett värde har fel form": "a value has the wrong form",
}


def invalid_value_text(err: e.InvalidValue) -> str:
    reason = INVALID_VALUE_REASONS.get(getattr(err, "reason", ""), "a value that cannot be stored")
    return f"A value cannot be used: {reason}."


def english(message: object) -> str:
    """An engine message (Swedish, for the staff pages) in English, through the staff pages' catalog of
    engine messages (``webhooks.engine_messages``); one it does not list stays as the engine wrote it."""
    with force_locale("en"):
        return translate(str(message))


def _problem_text(p: e.Problem) -> str:
    return f"{p.where}: {english(p.message)}" if p.where else english(p.message)


def problems_text(err: e.ValidationFailed) -> str:
    if isinstance(err, e.InvalidValue):
        return invalid_value_text(err)
    return "; ".join(_problem_text(p) for p in err.problems) or english(err)


def problems(err: e.ValidationFailed) -> dict[str, Any]:
    """The ``problems`` array Delaktig adds to a 400 (clients ignore fields they do not know)."""
    if isinstance(err, e.InvalidValue):
        return {"problems": [{"field": "", "message": invalid_value_text(err)}]}
    return {"problems": [{"field": p.where, "message": english(p.message)} for p in err.problems]}


def engine_error(
    err: e.DelaktigError,
    action: str,
    conflict_type: str = "ProcessEngineException",
    permission: str = "UPDATE",
    resource: str = "ProcessInstance",
    resource_id: str | None = None,
) -> RestError:
    """Map an engine error raised while doing ``action`` ("Cannot complete task X") to Camunda's answer.
    A refusal carries Camunda's ``userId`` and ``missingAuthorizations`` (``permission`` on ``resource``),
    as every AuthorizationException does."""
    if isinstance(err, e.NotFound):
        return RestError(404, "NotFoundException", f"{action}: {english(err)}")
    if isinstance(err, e.Forbidden):
        user = getattr(g.get("rest_user"), "name", None)
        return forbidden(user, f"{action}: {english(err)}", permission, resource, resource_id)
    if isinstance(err, e.ValidationFailed):
        return RestError(400, "InvalidRequestException", f"{action}: {problems_text(err)}", **problems(err))
    if isinstance(err, (e.NoMatch, e.AmbiguousMatch)):
        return RestError(400, "MismatchingMessageCorrelationException", f"{action}: {english(err)}")
    if isinstance(err, (e.ConcurrentChange, e.StaleCase)):
        # Camunda's OptimisticLockingException (code 1): nothing was written, the client may try again.
        return RestError(
            500,
            "OptimisticLockingException",
            f"{action}: the data was changed by a concurrent request at the same time; try again",
            code=1,
        )
    if isinstance(err, e.Conflict):
        return RestError(500, conflict_type, f"{action}: {english(err)}")
    return RestError(500, "ProcessEngineException", f"{action}: {english(err)}")
