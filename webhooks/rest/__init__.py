"""Delaktig's Camunda 7 compatible REST API at ``/engine-rest`` (the JSON API for tasks and cases).

Resources are split by module (deployment, definition, instance, task, message, history); each view
parses the request, calls one engine function or one read query (``engine.camunda_queries``) and writes
Camunda's JSON. See README "Camunda Modeler" for pointing Modeler at it.

Every resource is also served under ``/engine-rest/engine/{name}/…`` for the one engine, ``default``
(Camunda's named-engine paths, which its JavaScript SDK uses by default): the same blueprint registered a
second time, so authentication, throttling and error handling are the very same.
"""

from __future__ import annotations

from flask import Flask

from webhooks import signin_throttle
from webhooks.rest import (  # noqa: F401 (routes)
    comments,
    definition,
    delegation,
    deployment,
    external_task,
    history,
    identity,
    incident,
    instance,
    message,
    signal,
    start_form,
    task,
    task_update,
)
from webhooks.rest.blueprint import ENGINE_NAME, bp, ok

CAMUNDA_VERSION = "7.22.0"


@bp.get("/version")
def version():
    return ok({"version": CAMUNDA_VERSION})


@bp.get("/engine")
def engines():
    return ok([{"name": ENGINE_NAME}])


def register(app: Flask) -> None:
    app.register_blueprint(bp)
    # /engine-rest/engine/default/…: the engine's name is checked (and dropped) by the blueprint's
    # url_value_preprocessor before authentication, as Camunda's filter does.
    app.register_blueprint(bp, name="rest_engine", url_prefix=f"{bp.url_prefix}/engine/<engine_name>")
    signin_throttle.init_app(app)  # HTTP Basic counts failures with the staff sign-in (same limiters)
    # The API authenticates every request with HTTP Basic, never with the session cookie, so CSRF tokens
    # (which the staff pages' CSRFProtect demands on POST) do not apply to it.
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)
