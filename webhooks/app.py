"""The application factory. Each area is a blueprint registered here; the engine instance lives in
``app.extensions["delaktig"]`` (see ``webhooks.engine_ext.get_engine``)."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from engine.app import Delaktig
from engine.config import Settings
from webhooks import guard


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(
        SECRET_KEY=os.environ.get("DELAKTIG_SECRET_KEY") or os.urandom(32).hex(),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=_switch("DELAKTIG_SECURE_COOKIES"),
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
    _trust_proxies(app)
    return app


def _switch(name: str) -> bool:
    """An on/off setting from the environment. Anything but a known word is refused at start: with only
    "1" meaning on, ``DELAKTIG_SECURE_COOKIES=true`` left the session cookie going out over plain HTTP."""
    value = os.environ.get(name, "").strip().lower()
    if value in ("1", "true", "yes", "on", "ja"):
        return True
    if value in ("", "0", "false", "no", "off", "nej"):
        return False
    raise ValueError(f"{name}: 1 (on) or 0 (off), not {value!r}")


def _trust_proxies(app: Flask) -> None:
    """``PROXY_FIX`` (``DELAKTIG_PROXY_FIX``): how many reverse proxies stand in front of the app (default
    0: none). Behind them the client's address and scheme come from X-Forwarded-For and -Proto, so the
    public form's rate limit counts each citizen and not the proxy. Only headers the proxies set are read:
    with no proxy, a client could name any address in them, hence off by default."""
    hops = int(app.config.get("PROXY_FIX") or 0)
    if hops < 0:
        raise ValueError("DELAKTIG_PROXY_FIX: the number of proxies in front of the app (0 or more)")
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)


def _blueprints():
    """Each area module exposes ``register(app)``; listed here so the wiring is readable in one place."""
    from webhooks import intake, mailbox, rest, staff

    return [staff.register, rest.register, intake.register, mailbox.register]
