"""Shared by the intake blueprints: the configuration, the engine, the layout for staff pages."""

from __future__ import annotations

from flask import current_app

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


def intake_config() -> IntakeConfig:
    return current_app.extensions["intake_config"]


def engine() -> Delaktig:
    return current_app.extensions["delaktig"]


def client_address() -> str:
    """The address the limit counts. Behind a reverse proxy, wrap the app in werkzeug's ProxyFix so this
    is the citizen's address and not the proxy's."""
    from flask import request

    return request.remote_addr or "okänd"
