"""Failed sign-ins are limited per account and per address — on the staff pages and on the REST API's
HTTP Basic alike, counted together, so guessing cannot switch from one to the other. Kept in the web
process's memory, as the public form's limit (``webhooks.intake.ratelimit``)."""

from __future__ import annotations

from flask import Flask, current_app

from webhooks.intake.ratelimit import RateLimiter


def init_app(app: Flask) -> None:
    """``LOGIN_FAILURES`` (default 10 in 15 minutes) per account, ``LOGIN_FAILURES_PER_ADDRESS`` (default
    50: colleagues behind one address share it) per address."""
    app.extensions.setdefault(
        "login_throttle",
        (
            RateLimiter.from_setting(app.config.get("LOGIN_FAILURES", "10/900")),
            RateLimiter.from_setting(app.config.get("LOGIN_FAILURES_PER_ADDRESS", "50/900")),
        ),
    )


def attempt(name: str, address: str) -> bool:
    """Count this attempt as a failure in advance (given back when it succeeds), so parallel guesses
    cannot all pass the check before any is counted; False when either limit is reached."""
    accounts, addresses = current_app.extensions["login_throttle"]
    if not accounts.try_hit(name):
        return False
    if not addresses.try_hit(address):
        accounts.give_back(name)
        return False
    return True


def succeeded(name: str, address: str) -> None:
    accounts, addresses = current_app.extensions["login_throttle"]
    accounts.give_back(name)
    addresses.give_back(address)
