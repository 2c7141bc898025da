"""The ``rest`` blueprint (url prefix ``/engine-rest``) and the JSON helpers its views share."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Blueprint, Response, request
from werkzeug.exceptions import HTTPException

from engine.errors import DelaktigError
from webhooks.guard import MAX_DEPTH, MESSAGE_EN, too_deep, unusable_in
from webhooks.rest import auth
from webhooks.rest.errors import RestError, engine_error, error_response, invalid
from webhooks.rest.variables import declared_types, parse_variables

ENGINE_NAME = "default"  # the one engine (GET /engine), also addressed as /engine-rest/engine/default/…

bp = Blueprint("rest", __name__, url_prefix="/engine-rest")


@bp.url_value_preprocessor
def _named_engine(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """``/engine-rest/engine/{name}/…`` (the blueprint's second registration): ``default`` is the engine
    every path means; another name is Camunda's 404, answered before authentication as Camunda's
    filter does. The views never see the name."""
    if values is None or "engine_name" not in values:
        return
    name = values.pop("engine_name")
    if name != ENGINE_NAME:
        raise RestError(404, "InvalidRequestException", f"Process engine {name} not available")


bp.before_request(auth.authenticate)


@bp.errorhandler(RestError)
def _rest_error(err: RestError):
    return err.response()


@bp.errorhandler(DelaktigError)
def _engine_error(err: DelaktigError):
    # Views map errors with their own context; this is the safety net for anything they let through.
    return engine_error(err, "Request failed").response()


@bp.errorhandler(HTTPException)
def _http_error(err: HTTPException):
    kind = "InvalidRequestException" if (err.code or 500) < 500 else "RestException"
    return error_response(err.code or 500, kind, err.description or err.name)


@bp.after_request
def _no_content_without_type(response: Response) -> Response:
    """A 204 has no entity, so no Content-Type either (Flask gives every response text/html), as
    Camunda's answers; also for a 204 a view built itself. An OPTIONS answer (Allow, no body) neither."""
    if response.status_code == 204:
        response.set_data(b"")
        response.headers.pop("Content-Type", None)
        response.headers.pop("Content-Length", None)
    elif request.method == "OPTIONS" and not response.get_data():
        response.headers.pop("Content-Type", None)
    return response


def ok(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status=status, mimetype="application/json")


def no_content() -> Response:
    return Response(status=204)


def body() -> dict[str, Any]:
    """The JSON request body; an empty body is ``{}``; anything that is not a JSON object is a 400."""
    mimetype = request.mimetype
    if mimetype in ("application/x-www-form-urlencoded", "multipart/form-data") and request.content_length:
        raw = b"form"  # parsed (and so emptied) as a form already: refused below
    else:
        raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    if mimetype and mimetype != "application/json" and not mimetype.endswith("+json"):
        # As Camunda's JSON-only resources: a form post would otherwise start a case without its data.
        raise RestError(
            415,
            "NotSupportedException",
            f"HTTP 415 Unsupported Media Type ({mimetype}); send application/json",
        )
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise invalid(f"Malformed JSON in request body: {err}") from None
    if not isinstance(data, dict):
        raise invalid("The request body must be a JSON object")
    if too_deep(data):
        raise invalid(f"The request body nests JSON deeper than {MAX_DEPTH} levels")
    bad = unusable_in(data)
    if bad:
        raise invalid(f"{MESSAGE_EN} ({bad})")
    return data


def flag(data: dict[str, Any], name: str) -> bool:
    """A boolean body field. Camunda's Jackson also reads the strings "true" and "false" as booleans, so
    clients that send them get what they asked for; anything else is a 400, never a silent false."""
    value = data.get(name)
    if value is None or isinstance(value, bool):
        return value is True
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise invalid(f"'{name}' must be true or false, not '{str(value)[:100]}'")


def known_fields(data: dict[str, Any], allowed: set[str], unsupported: tuple[str, ...] = ()) -> None:
    """Refuse a body field that is not one of the Camunda DTO's (``allowed``, which includes
    ``unsupported``): a typo such as ``variablesInReturn`` would otherwise be dropped silently and the
    client would never learn. A field of Camunda's that Delaktig cannot honour (``unsupported``:
    ``startInstructions`` …) is refused when it is set; sent empty (as generated clients send every
    field) it changes nothing."""
    unknown = sorted(k for k in data if k not in allowed)
    if unknown:
        raise invalid(f"Unknown field(s) in the request body: {', '.join(unknown)}")
    used = [k for k in unsupported if data.get(k) not in (None, False, "", [], {})]
    if used:
        raise invalid(f"Delaktig does not support {', '.join(used)} in this request")


def link(path: str, rel: str = "self", method: str = "GET") -> dict[str, str]:
    return {"method": method, "href": f"{request.host_url.rstrip('/')}{bp.url_prefix}{path}", "rel": rel}


def variable_changes(resource: str, modify) -> None:
    """Camunda's three ways to change the variables of a ``resource`` ("task", "process-instance"): POST
    ``…/{id}/variables`` (modifications and deletions), PUT and DELETE ``…/{id}/variables/{name}``. Each
    calls ``modify(id, modifications, deletions, declared types)``; who may is ``modify``'s rule."""

    def post(rid: str):
        data = body()
        known_fields(data, {"modifications", "deletions"})
        changes = data.get("modifications")
        return modify(
            rid, parse_variables(changes, "modifications"), data.get("deletions"), declared_types(changes)
        )

    def put(rid: str, name: str):
        data = body()
        known_fields(data, {"value", "type", "valueInfo"})
        spec = {name: data}
        return modify(rid, parse_variables(spec), None, declared_types(spec))

    def delete(rid: str, name: str):
        return modify(rid, {}, [name], {})

    endpoint = resource.replace("-", "_")
    bp.add_url_rule(f"/{resource}/<rid>/variables", f"{endpoint}_modify_variables", post, methods=["POST"])
    bp.add_url_rule(f"/{resource}/<rid>/variables/<name>", f"{endpoint}_put_variable", put, methods=["PUT"])
    bp.add_url_rule(
        f"/{resource}/<rid>/variables/<name>", f"{endpoint}_delete_variable", delete, methods=["DELETE"]
    )
