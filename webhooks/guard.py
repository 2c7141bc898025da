"""Text no database can keep, refused at the door of every request, and the engine's InvalidValue as a 4xx.

A NUL character (and a lone UTF-16 surrogate, which JSON can carry) cannot be stored in PostgreSQL and is
silently kept by SQLite: refused here — in the path, the query string, the headers and form fields, and by
``unusable_in`` for JSON bodies — so both databases answer alike and nothing is half-stored. A value the
engine could not store anyway (too long for its column, a number or date out of range: ``InvalidValue``)
is answered as bad input in each area's own shape, never as a 500.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request

from engine.errors import InvalidValue

MESSAGE = "Texten innehåller ett tecken som inte kan lagras (NUL eller ett ensamt surrogattecken)."
# The same for the REST API, whose messages are English as Camunda's.
MESSAGE_EN = "The text contains a character that cannot be stored (NUL or a lone surrogate)."


def unusable(text: str) -> bool:
    if "\x00" in text:
        return True
    if text.isascii():
        return False
    try:
        text.encode("utf-8")  # a lone surrogate has no UTF-8 form
    except UnicodeEncodeError:
        return True
    return False


# Endpoints that check their own form fields with ``unusable``, to answer on their own page with what was
# typed kept — the citizen's form (``webhooks.intake.public.submit``) shows it again, the character removed;
# their path, query and headers are still checked here.
CHECKS_OWN_FORM = frozenset({"intake.submit"})

MAX_DEPTH = 100  # JSON nested deeper cannot be stored (the JSON writer stops at 255) nor walked safely


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether a parsed JSON value nests deeper than ``limit`` (walked without recursion: a body nested
    a thousand deep must be refused, not crash the check with a RecursionError)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return False


def unusable_in(value: Any, where: str = "") -> str | None:
    """The path (``a.b[2]``) of the first key or string in a parsed JSON value that cannot be stored."""
    if isinstance(value, str):
        return (where or "(body)") if unusable(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            if isinstance(key, str) and unusable(key):
                return path
            found = unusable_in(item, path)
            if found:
                return found
    if isinstance(value, list):
        for n, item in enumerate(value):
            found = unusable_in(item, f"{where}[{n}]")
            if found:
                return found
    return None


def register(app: Flask) -> None:
    app.before_request(_check_request)
    app.register_error_handler(InvalidValue, _invalid_value)


def _check_request():
    where = None
    if unusable(request.path):
        where = "(path)"
    candidates = [("query", request.args.items(multi=True)), ("header", request.headers.items())]
    own = request.endpoint in CHECKS_OWN_FORM
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data") and not own:
        try:
            candidates.append(("form", request.form.items(multi=True)))
        except ValueError:
            pass  # a broken body: the view says so
    for kind, items in candidates:
        if where:
            break
        for key, value in items:
            if unusable(key) or unusable(value):
                where = f"{kind} {key!r}" if not unusable(key) else f"({kind})"
                break
    if not where:
        return None
    return refusal(MESSAGE_EN if request.path.startswith("/engine-rest") else MESSAGE, where)


def _invalid_value(err: InvalidValue):
    if request.path.startswith("/engine-rest"):
        from webhooks.rest.errors import invalid_value_text

        return refusal(invalid_value_text(err), "")
    return refusal(str(err), "")


def refusal(message: str, field: str):
    """A 4xx in the shape of the area asked: Camunda's for the REST API, the intake API's for webhooks,
    the staff error page elsewhere."""
    path = request.path
    if path.startswith("/engine-rest"):
        from webhooks.rest.errors import error_response

        return error_response(400, "InvalidRequestException", f"{message} {field}".strip())
    if path.startswith("/webhooks/"):
        body = {
            "error": "validation_failed",
            "message": message,
            "fields": [{"field": field, "message": message}],
        }
        return jsonify(body), 422
    from webhooks.staff.common import error_page

    return error_page(400, message)
