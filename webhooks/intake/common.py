"""Shared by the intake blueprints: the configuration, the engine, the layout for staff pages."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Flask, current_app

from engine.app import Delaktig
from engine.initiatives import IntakeConfig


def load_config(raw) -> IntakeConfig:
    if isinstance(raw, IntakeConfig):
        return raw
    if isinstance(raw, dict):
        return IntakeConfig.from_dict(raw)
    if isinstance(raw, list):  # from_prefixed_env parses JSON: a bare list is the rules
        return IntakeConfig.from_dict({"rules": raw})
    if isinstance(raw, str) and raw.strip():
        return IntakeConfig.from_json(raw)
    return IntakeConfig.from_env()


def exempt_from_csrf(app: Flask, view: Blueprint | Callable) -> None:
    """Leave a view (or blueprint) out of the staff app's CSRFProtect, which checks before any view: one
    registered before us, and — by a hook that runs first — one registered after us."""

    def exempt() -> None:
        csrf = current_app.extensions.get("csrf")
        if csrf is not None:
            csrf.exempt(view)

    if "csrf" in app.extensions:
        app.extensions["csrf"].exempt(view)
    app.before_request_funcs.setdefault(None, []).insert(0, exempt)


def intake_config() -> IntakeConfig:
    return current_app.extensions["intake_config"]


def engine() -> Delaktig:
    return current_app.extensions["delaktig"]


def client_address() -> str:
    """The address the limit counts. Behind a reverse proxy, ``DELAKTIG_PROXY_FIX`` (``webhooks.app``)
    makes this the citizen's address and not the proxy's."""
    from flask import request

    return request.remote_addr or "okänd"
