"""The staff web app: sign-in, task inbox, task forms, case page, starting a routine.

``register(app)`` sets up what every staff page needs (Babel, CSRF, identity, security headers, error
pages) and registers the blueprints. Views are thin: reads go through ``engine.inbox``, every change is
one ``engine`` call.
"""

from __future__ import annotations

from flask import Flask

from webhooks import signin_throttle
from webhooks.staff import auth, cases, common, inbox, start, tasks


def register(app: Flask) -> None:
    common.init_app(app)
    auth.init_oidc(app)
    signin_throttle.init_app(app)
    for module in (auth, inbox, tasks, cases, start):
        app.register_blueprint(module.bp)
