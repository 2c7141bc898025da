"""``POST /webhooks/initiatives``: signed initiatives from e-förslag platforms and e-services.

Order of checks: size (413) → channel, signature and time window (401) → idempotency (the first response
again, for the same signature or the same Idempotency-Key) → JSON and schema (422) → register or deliver.
Nothing is stored unless the request passes all.
See docs/initiatives-webhook.md.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Blueprint, current_app, jsonify, request

from engine import initiatives
from engine.app import Delaktig
from engine.errors import Conflict, NoMatch, ValidationFailed
from webhooks.guard import MAX_DEPTH, MESSAGE, too_deep, unusable_in
from webhooks.intake.common import engine, intake_config

bp = Blueprint("webhooks_api", __name__)
DEFAULT_MAX_BODY = 64 * 1024


@bp.after_request
def _headers(response):
    """JSON only, never sniffed as a page (an error echoes the sender's text); not cached, since an answer
    carries the citizen's status link."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _error(status: int, code: str, message: str, fields: list[dict] | None = None):
    body = {"error": code, "message": message}
    if fields is not None:
        body["fields"] = fields
    return jsonify(body), status


def _read_body(limit: int) -> bytes | None:
    """The raw body, or None when it exceeds ``limit`` (also for chunked bodies without a length)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    raw = request.stream.read(limit + 1)
    return None if len(raw) > limit else raw


@bp.post("/webhooks/initiatives")
def receive():
    d = engine()
    limit = int(current_app.config.get("INTAKE_MAX_BODY", DEFAULT_MAX_BODY))
    raw = _read_body(limit)
    if raw is None:
        return _error(413, "payload_too_large", f"Kroppen får vara högst {limit} byte.")
    channel = (request.headers.get("X-Delaktig-Channel") or "").strip()
    reason = initiatives.check_signature(
        initiatives.channel_secret(d, channel),
        request.headers.get("X-Delaktig-Timestamp"),
        request.headers.get("X-Delaktig-Signature"),
        raw,
    )
    if reason:
        return _error(401, "unauthorized", reason)
    # The signature is unique to one request within the time window, whatever Idempotency-Key (unsigned)
    # comes with it: a captured request sent again under another key or none gets the first response.
    by_signature = "sig:" + request.headers["X-Delaktig-Signature"].strip().removeprefix("sha256=")
    key = (request.headers.get("Idempotency-Key") or "").strip() or by_signature
    if len(key) > 200:
        return _error(
            422,
            "validation_failed",
            "Idempotency-Key får vara högst 200 tecken.",
            [{"field": "Idempotency-Key", "message": "får vara högst 200 tecken"}],
        )
    request_hash = hashlib.sha256(raw).hexdigest()
    try:
        first = initiatives.replayed(d, channel, by_signature, request_hash)
        if first is None and key != by_signature:
            first = initiatives.replayed(d, channel, key, request_hash)
            if first is not None:  # a retry under the key: a copy of it without the key gets the same
                initiatives.remember(d, channel, by_signature, request_hash, *first)
    except Conflict as err:
        return _error(409, "idempotency_conflict", str(err))
    if first is not None:
        return _replay(first)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        return _error(
            422,
            "malformed_json",
            "Kroppen är inte giltig JSON (UTF-8).",
            [{"field": "(body)", "message": _json_problem(err)}],
        )
    if too_deep(data):
        message = f"JSON-kroppen är nästlad djupare än {MAX_DEPTH} nivåer."
        return _error(422, "validation_failed", message, [{"field": "(body)", "message": message}])
    bad = unusable_in(data)
    if bad:
        return _error(422, "validation_failed", MESSAGE, [{"field": bad, "message": MESSAGE}])
    # The engine keeps the answer under the client's key and under the signature, in one transaction.
    also = by_signature if key != by_signature else None
    return _register_or_deliver(d, data, channel, key, request_hash, also)


def _json_problem(err: Exception) -> str:
    """Where the body stops being JSON, in the API's Swedish (Python's own text is English)."""
    if isinstance(err, UnicodeDecodeError):
        return f"inte UTF-8 (byte {err.start})"
    if isinstance(err, json.JSONDecodeError):
        return f"ogiltig JSON på rad {err.lineno}, kolumn {err.colno}"
    if isinstance(err, RecursionError):
        return f"nästlad djupare än {MAX_DEPTH} nivåer"
    return "ogiltig JSON"


def _register_or_deliver(d: Delaktig, data: Any, channel: str, key: str, request_hash: str, also: str | None):
    try:
        sub = initiatives.parse_submission(data)
        if sub.event == "submitted":
            done = initiatives.register(
                d, sub, intake_config(), channel, key, request_hash, actor=channel, also_key=also
            )
            if done.replayed:  # a copy that came in while the first was being registered
                return _replay((done.status_code, done.response))
            status, body = done.status_code, done.response
        else:
            status, body = initiatives.deliver_followup(
                d, sub, intake_config(), channel, key, request_hash, also_key=also
            )
    except ValidationFailed as err:
        fields = [{"field": p.where, "message": p.message} for p in err.problems]
        return _error(422, "validation_failed", str(err), fields)
    except Conflict as err:
        # (the engine has already tried again after a concurrent copy: ``Delaktig.transaction_retrying``)
        # A concurrent request with the same key or signature won the race: answer with its response.
        try:
            first = initiatives.replayed(d, channel, also or key, request_hash) or initiatives.replayed(
                d, channel, key, request_hash
            )
        except Conflict as again:
            return _error(409, "idempotency_conflict", str(again))
        if first is not None:
            return _replay(first)
        return _error(409, "conflict", str(err))
    except NoMatch as err:
        return _error(409, "no_waiting_case", str(err))
    response = jsonify(body)
    response.status_code = status
    return response


def _replay(first: tuple[int, dict]):
    status, body = first
    response = jsonify(body)
    response.status_code = status
    response.headers["Idempotent-Replayed"] = "true"
    return response


@bp.get("/webhooks/initiatives/schema")
def schema():
    """The JSON Schema of the body, for integrators."""
    return jsonify(initiatives.SUBMISSION_SCHEMA)
