"""HTTP Basic with Delaktig's own users, as Camunda 7's engine-rest with authentication enabled.

Nothing is anonymous: a missing or wrong ``Authorization`` header is a 401 with ``WWW-Authenticate``.
Verifying an argon2 hash costs tens of milliseconds by design, far more than a task completion, so a
verified header is remembered for ``CACHE_SECONDS`` (keyed by an HMAC of the header under a per-process
secret, so no password is kept in memory; failures are never cached). A user deactivated or given new
roles is seen within that time.

Roles: a task action is checked by the engine itself (candidate groups, assignee), exactly as the staff
pages do. Deploying diagrams and deleting process instances need a process-owner role
(``REST_MANAGER_ROLES`` in the app config, default ``processagare`` and ``admin``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
import time
from dataclasses import dataclass

from flask import current_app, g, request

from engine import inbox
from webhooks import signin_throttle
from webhooks.case_readers import case_reader_roles
from webhooks.engine_ext import get_engine
from webhooks.rest.errors import RestError, error_response, forbidden, not_found

CACHE_SECONDS = 60.0
CACHE_MAX = 10_000
DEFAULT_MANAGER_ROLES = ("processagare", "admin")
CHALLENGE = 'Basic realm="default"'


@dataclass(frozen=True)
class Principal:
    name: str
    roles: frozenset[str]


_secret = os.urandom(32)
_lock = threading.Lock()


def _cache() -> dict[bytes, tuple[float, Principal]]:
    """One cache per app (per engine and database), so two apps in one process never share logins."""
    return current_app.extensions.setdefault("rest_auth_cache", {})


def _unauthorized(message: str):
    response = error_response(401, "AuthenticationException", message)
    response.headers["WWW-Authenticate"] = CHALLENGE
    return response


def _decode(header: str) -> tuple[str, str] | None:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        raw = base64.b64decode(token.strip(), validate=True)
    except ValueError:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # python-requests and older clients send Latin-1
    name, sep, password = text.partition(":")
    return (name, password) if sep and name else None


def authenticate():
    """``before_request`` hook: sets ``g.rest_user`` or answers 401."""
    header = request.headers.get("Authorization", "")
    if not header:
        return _unauthorized("Authentication required (HTTP Basic)")
    key = hmac.new(_secret, header.encode(), hashlib.sha256).digest()
    now = time.monotonic()
    cache = _cache()
    hit = cache.get(key)
    if hit is not None and hit[0] > now:
        g.rest_user = hit[1]
        return None
    credentials = _decode(header)
    if credentials is None:
        return _unauthorized("Malformed Authorization header; expected HTTP Basic")
    name, address = credentials[0].strip().lower(), request.remote_addr or ""
    if not signin_throttle.attempt(name, address):
        current_app.logger.warning(
            "REST sign-in as %r from %s refused: too many failed attempts", name, address
        )
        response = error_response(
            429, "AuthenticationException", "Too many failed sign-ins; wait a while and try again"
        )
        response.headers["Retry-After"] = "60"
        return response
    engine = get_engine()
    user = engine.authenticate(*credentials)
    if user is None:
        current_app.logger.info("Failed REST sign-in as %r from %s", name, address)
        return _unauthorized("Wrong user name or password")
    signin_throttle.succeeded(name, address)
    principal = Principal(user.name, frozenset(r.name for r in user.roles))
    with _lock:
        if len(cache) >= CACHE_MAX:
            cache.clear()
        cache[key] = (now + CACHE_SECONDS, principal)
    g.rest_user = principal
    return None


def forget_all() -> None:
    """Drop remembered credentials (tests that change passwords or roles)."""
    with _lock:
        _cache().clear()


def current() -> Principal:
    return g.rest_user


def roles() -> set[str]:
    return set(g.rest_user.roles)


def manager_roles() -> set[str]:
    """The process-owner roles (``REST_MANAGER_ROLES``, default processagare and admin)."""
    return set(current_app.config.get("REST_MANAGER_ROLES") or DEFAULT_MANAGER_ROLES)


def require_roles(
    allowed: set[str], permission: str, resource: str, resource_id: str | None = None
) -> Principal:
    """The user holds one of ``allowed``; else 403 in Camunda's AuthorizationException shape."""
    user = current()
    if not user.roles & allowed:
        raise forbidden(
            user.name,
            f"The user with id '{user.name}' does not have '{permission}' permission on resource "
            f"'{resource_id or '*'}' of type '{resource}' (one of the roles {', '.join(sorted(allowed))} is needed).",
            permission,
            resource,
            resource_id,
        )
    return user


def require_manager(permission: str, resource: str, resource_id: str | None = None) -> Principal:
    """Deploy, delete instances: process owners only."""
    return require_roles(manager_roles(), permission, resource, resource_id)


def readable_by() -> tuple[str, set[str]] | None:
    """For list queries: None when the user reads every case (a case-reader role), else (user, roles) —
    the lists then hold only the cases the user may read, as the staff pages' case rule says."""
    user = current()
    if set(user.roles) & case_reader_roles():
        return None
    return user.name, set(user.roles)


def require_case_reader(
    s, case_id: str, resource: str = "ProcessInstance", what: str = "Process instance"
) -> None:
    """404 for an unknown case; 403 (Camunda's AuthorizationException, READ) for one the user may not
    read — the staff pages' rule (``engine.inbox.case_access``), so the API shows no more than they do."""
    user = current()
    access = inbox.case_access(s, case_id, user.name, set(user.roles), case_reader_roles())
    if access == "missing":
        raise not_found(f"{what} with id {case_id} does not exist")
    if access is None:
        raise forbidden(
            user.name, f"'{user.name}' may not read process instance {case_id}", "READ", resource, case_id
        )


__all__ = [
    "Principal",
    "RestError",
    "authenticate",
    "current",
    "forget_all",
    "readable_by",
    "require_case_reader",
    "manager_roles",
    "require_manager",
    "require_roles",
    "roles",
]
