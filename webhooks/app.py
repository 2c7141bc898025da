"""The application factory. Each area is a blueprint registered here; the engine instance lives in
``app.extensions["delaktig"]`` (see ``webhooks.engine_ext.get_engine``)."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask

from engine.app import Delaktig
from engine.config import Settings
from webhooks import guard


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(
        SECRET_KEY=os.environ.get("DELAKTIG_SECRET_KEY") or os.urandom(32).hex(),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=os.environ.get("DELAKTIG_SECURE_COOKIES", "0") == "1",
        MAX_CONTENT_LENGTH=8 * 1024 * 1024,
        DATABASE_URL=None,
    )
    app.config.from_prefixed_env("DELAKTIG")
    if test_config:
        app.config.update(test_config)
    settings = Settings.from_env(database_url=app.config.get("DATABASE_URL"))
    app.extensions["delaktig"] = Delaktig(settings=settings)
    for register in _blueprints():
        register(app)
    guard.register(app)
    return app


def _blueprints():
    """Each area module exposes ``register(app)``; listed here so the wiring is readable in one place."""
    from webhooks import intake, mailbox, rest, staff

    return [staff.register, rest.register, intake.register, mailbox.register]
