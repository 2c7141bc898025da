"""Delaktig's Camunda 7 compatible REST API at ``/engine-rest`` (the JSON API for tasks and cases).

Resources are split by module (deployment, definition, instance, task, message, history); each view
parses the request, calls one engine function or one read query (``engine.camunda_queries``) and writes
Camunda's JSON. See README "Camunda Modeler" for pointing Modeler at it.
"""

from __future__ import annotations

from flask import Flask

from webhooks import signin_throttle
from webhooks.rest import (  # noqa: F401 (routes)
    definition,
    deployment,
    external_task,
    history,
    identity,
    incident,
    instance,
    message,
    task,
)
from webhooks.rest.blueprint import bp, ok

CAMUNDA_VERSION = "7.22.0"


@bp.get("/version")
def version():
    return ok({"version": CAMUNDA_VERSION})


@bp.get("/engine")
def engines():
    return ok([{"name": "default"}])


def register(app: Flask) -> None:
    app.register_blueprint(bp)
    signin_throttle.init_app(app)  # HTTP Basic counts failures with the staff sign-in (same limiters)
    # The API authenticates every request with HTTP Basic, never with the session cookie, so CSRF tokens
    # (which the staff pages' CSRFProtect demands on POST) do not apply to it.
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)
