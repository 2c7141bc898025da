"""Camunda's error shape: ``{"type": ExceptionClass, "message": ...}`` with Camunda's status codes.

Engine errors are mapped in one place (``engine_error``) so every resource answers the same way:
NotFound → 404, Forbidden → 403 (AuthorizationException), ValidationFailed → 400 naming the fields,
Conflict → 500 as Camunda documents for claim/complete ("task already claimed", "could not be resumed"),
NoMatch/AmbiguousMatch → 400 MismatchingMessageCorrelationException.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response, g

from engine import errors as e


class RestError(Exception):
    def __init__(self, status: int, type_: str, message: str, **extra: Any):
        super().__init__(message)
        self.status, self.type, self.message, self.extra = status, type_, message, extra

    def response(self) -> Response:
        return error_response(self.status, self.type, self.message, **self.extra)


def error_response(status: int, type_: str, message: str, **extra: Any) -> Response:
    body = {"type": type_, "message": message, **extra}
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


def problems_text(err: e.ValidationFailed) -> str:
    return "; ".join(str(p) for p in err.problems) or str(err)


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
        return RestError(404, "NotFoundException", f"{action}: {err}")
    if isinstance(err, e.Forbidden):
        user = getattr(g.get("rest_user"), "name", None)
        return forbidden(user, f"{action}: {err}", permission, resource, resource_id)
    if isinstance(err, e.ValidationFailed):
        return RestError(
            400,
            "InvalidRequestException",
            f"{action}: {problems_text(err)}",
            problems=[{"field": p.where, "message": p.message} for p in err.problems],
        )
    if isinstance(err, (e.NoMatch, e.AmbiguousMatch)):
        return RestError(400, "MismatchingMessageCorrelationException", f"{action}: {err}")
    if isinstance(err, e.Conflict):
        return RestError(500, conflict_type, f"{action}: {err}")
    return RestError(500, "ProcessEngineException", f"{action}: {err}")
