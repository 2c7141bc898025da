"""External-initiative intake: the public form and status page ("intake"), the signed webhook
("webhooks_api") and the staff views ("initiatives_staff"). Views are thin callers of
``engine.initiatives``; configuration is described in docs/initiatives-webhook.md.

Configuration (Flask config, or the environment with the ``DELAKTIG_`` prefix):
- ``INTAKE_RULES``: JSON object (or ``@/path/file.json``) read by ``engine.initiatives.IntakeConfig``;
- ``INTAKE_RATE_LIMIT``: public form submissions per address, ``"5/3600"`` (count/seconds);
- ``INTAKE_MAX_BODY``: webhook body limit in bytes (65536).
"""

from __future__ import annotations

import json

import click
from flask import Flask, current_app

from engine.initiatives import add_channel
from webhooks.intake import api, public, staff
from webhooks.intake.common import exempt_from_csrf, intake_config, load_config
from webhooks.intake.ratelimit import RateLimiter


def register(app: Flask) -> None:
    app.extensions["intake_config"] = load_config(app.config.get("INTAKE_RULES"))
    app.extensions["intake_ratelimit"] = RateLimiter.from_setting(
        app.config.get("INTAKE_RATE_LIMIT", "5/3600")
    )
    app.register_blueprint(public.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(staff.bp)
    exempt_from_csrf(app, api.bp)  # signed requests carry no CSRF token
    # The public form checks its token itself, to answer a citizen whose token expired with the form and
    # their text kept, not with the staff error page.
    exempt_from_csrf(app, public.submit)
    app.cli.add_command(intake_cli)


@click.group("intake", help="Initiativmottagningen: webhook-kanaler och rutinjobb.")
def intake_cli() -> None:
    pass


@intake_cli.command(
    "add-channel", help="Skapa eller byt hemlighet för en webhook-kanal; skriver hemligheten."
)
@click.argument("name")
@click.option("--secret", default=None, help="Egen hemlighet (annars slumpas 64 hex-tecken).")
def add_channel_cmd(name: str, secret: str | None) -> None:
    click.echo(add_channel(current_app.extensions["delaktig"], name, secret))


@intake_cli.command("housekeeping", help="Synka status från ärenden, rensa personuppgifter, skicka rapport.")
def housekeeping_cmd() -> None:
    from engine.initiatives import housekeeping

    click.echo(json.dumps(housekeeping(current_app.extensions["delaktig"], intake_config()), default=str))
