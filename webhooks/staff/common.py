"""What every staff page shares: language, CSRF, who is signed in, error pages, date filters."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import Babel, format_datetime, format_timedelta
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from engine import clock, errors
from engine.models import User
from webhooks.engine_ext import get_engine
from webhooks.engine_messages import translate_error

LANGUAGES = {"sv": "Svenska", "en": "English"}
# API blueprints have their own authentication (HTTP Basic, HMAC signatures): no CSRF token there.
CSRF_EXEMPT_BLUEPRINTS = {"rest", "webhooks_api"}
API_PREFIXES = ("/engine-rest", "/webhooks/")
# Signed-in pages (the other areas' too: initiatives, the mailbox and failed mails carry citizens' contact
# data and buttons worth framing): no framing, no caching, the staff CSP.
STAFF_BLUEPRINTS = {
    "staff_auth",
    "staff_inbox",
    "staff_tasks",
    "staff_cases",
    "staff_start",
    "initiatives_staff",
    "mailbox",
}


class StaffCSRF(CSRFProtect):
    """CSRFProtect that also exempts the API blueprints by name, whenever they are registered."""

    def _is_exempt(self) -> bool:
        if (request.blueprint or "").split(".")[0] in CSRF_EXEMPT_BLUEPRINTS:
            return True
        return super()._is_exempt()


def select_locale() -> str:
    lang = session.get("lang")
    if lang in LANGUAGES:
        return lang
    return current_app.config.get("BABEL_DEFAULT_LOCALE", "sv")


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "sv")
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Europe/Stockholm")
    # Flask's own defaults (31-day sessions, cookie "session") are replaced unless configured otherwise.
    if app.config.get("PERMANENT_SESSION_LIFETIME") == timedelta(days=31):
        app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=10)
    if app.config.get("SESSION_COOKIE_NAME") == "session":
        app.config["SESSION_COOKIE_NAME"] = "delaktig_session"
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # the token lives as long as the session
    if "babel" not in app.extensions:
        Babel(app, locale_selector=select_locale)
    if "csrf" not in app.extensions:
        StaffCSRF(app)
    app.jinja_env.filters.update(dt=format_dt, day=format_day, relative=relative)
    app.jinja_env.globals.update(LANGUAGES=LANGUAGES, current_locale=select_locale)
    app.context_processor(lambda: {"staff_user": g.get("user"), "staff_roles": g.get("roles", set())})
    app.after_request(_security_headers)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(CSRFError, _csrf_error)


def _is_api() -> bool:
    return request.path.startswith(API_PREFIXES) or (request.blueprint or "").split(".")[0] in (
        CSRF_EXEMPT_BLUEPRINTS
    )


def _security_headers(response):
    if request.blueprint in STAFF_BLUEPRINTS or request.endpoint == "static":
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'",
        )
        if request.blueprint in STAFF_BLUEPRINTS:
            response.headers.setdefault("Cache-Control", "no-store")
    return response


ERROR_TITLES = {
    400: _l("Felaktig begäran"),
    401: _l("Inloggning krävs"),
    403: _l("Åtkomst nekad"),
    404: _l("Sidan finns inte"),
    405: _l("Metoden är inte tillåten"),
    409: _l("Det gick inte att genomföra"),
    413: _l("För stor förfrågan"),
    422: _l("Uppgifterna innehåller fel"),
}


def error_page(status: int, message: str | None = None, back: str | None = None):
    from webhooks.intake import public

    if "intake" in current_app.blueprints and public.is_citizen_path(request.path):
        return public.citizen_error(status, message)
    title = str(ERROR_TITLES.get(status) or _("Något gick fel"))
    return render_template("staff/error.html", status=status, title=title, message=message, back=back), status


def _http_error(err: HTTPException):
    if request.path.startswith("/engine-rest") and err.code is not None and err.code >= 400:
        # Routing errors (no such resource, wrong method) never reach the REST blueprint's own handler;
        # Camunda's clients still expect its JSON error shape.
        from webhooks.rest.errors import error_response, not_offered

        kind = "InvalidRequestException" if err.code < 500 else "RestException"
        message = err.description or err.name
        if err.code == 404:
            message = not_offered(request.method, request.path)
        return error_response(err.code, kind, message)
    if request.path.startswith("/webhooks/") and err.code is not None and err.code >= 400:
        # The intake API's shape (docs/initiatives-webhook.md), also for routing errors.
        code = {404: "not_found", 405: "method_not_allowed"}.get(err.code, "http_error")
        return jsonify({"error": code, "message": err.description or err.name}), err.code
    if _is_api() or err.code is None or err.code < 400:
        return err
    return error_page(err.code)


def _csrf_error(err: CSRFError):
    if _is_api():
        return err
    return error_page(
        400, _("Formuläret har gått ut eller saknar säkerhetstoken. Ladda om sidan och försök igen.")
    )


def fail(status: int, message: str):
    """Stop with an error page carrying a message meant for the user (engine messages are)."""
    abort(current_app.make_response(error_page(status, message)))


# --- identity ---------------------------------------------------------------------------------------------
def load_identity() -> None:
    """Put the signed-in user and roles on ``g``; a deactivated local account is signed out, and so is a
    session its user has signed out of since (a copy of the cookie: ``auth._end_sessions``)."""
    name = session.get("user")
    g.user, g.roles, g.display_name = None, set(), None
    if not name:
        return
    d = get_engine()
    with d.session() as s:
        user = s.query(User).filter(User.name == name).one_or_none()
        if user is not None and (not user.active or session.get("generation", 0) != user.session_generation):
            session.clear()
            return
        if user is None and session.get("auth") != "oidc":
            session.clear()
            return
        g.user = name
        g.display_name = (user.display_name if user else None) or session.get("display_name") or name
        g.roles = {r.name for r in user.roles} if user else set()
    g.roles |= set(session.get("oidc_roles") or [])


def protect(bp: Blueprint, login: bool = True) -> None:
    """Identity for every request of the blueprint, sign-in where needed, engine errors → pages (their
    Swedish messages in the page's language: ``webhooks.engine_messages``)."""

    @bp.before_request
    def _identity():
        load_identity()
        if login and not g.user:
            return redirect(url_for("staff_auth.login", next=request.full_path.rstrip("?")))
        return None

    bp.register_error_handler(errors.NotFound, lambda e: error_page(404, translate_error(e)))
    bp.register_error_handler(errors.Forbidden, lambda e: error_page(403, translate_error(e)))
    bp.register_error_handler(errors.Conflict, lambda e: error_page(409, translate_error(e)))
    bp.register_error_handler(errors.ProcessError, lambda e: error_page(422, process_error_message(e)))
    bp.register_error_handler(errors.DelaktigError, lambda e: error_page(400, translate_error(e)))


def process_error_message(err: errors.ProcessError) -> str:
    """The diagram failed at run time (a condition or script): the case did not move; the process owner
    is the one who can mend the diagram."""
    message = "; ".join(_diagram_detail(p.message) for p in err.problems)
    return _(
        "Ärendet kunde inte gå vidare från steget %(where)s i diagrammet: %(message)s. Inget har ändrats. "
        "Kontakta processägaren om felet består.",
        where=err.where,
        message=message,
    )


# The engine words a diagram's run-time failure in English, for the REST API and the process owner (as
# Camunda does). The most common one — a condition reading a variable the case does not hold, a form field
# left empty, say — is what a member of staff meets: in the page's language. Others are shown as they are.
_UNSET_VARIABLE = re.compile(
    r"variable '(?P<name>[^']+)' is not set \(evaluating (?P<expr>.+?)\)\.?(?: \(NameError\))?", re.DOTALL
)


def _diagram_detail(message: str) -> str:
    m = _UNSET_VARIABLE.fullmatch(message.strip())
    if m is None:
        return message
    return _("variabeln ”%(name)s” finns inte i ärendet (i uttrycket %(expr)s)", **m.groupdict())


def engine():
    return get_engine()


def now() -> datetime:
    return clock.now()


def read_session():
    """A read-only session on the engine's database."""
    return get_engine().session()


# --- formatting -----------------------------------------------------------------------------------------
def format_dt(value: datetime | None) -> str:
    return format_datetime(value, "yyyy-MM-dd HH:mm") if value else ""


def format_day(value: datetime | None) -> str:
    return format_datetime(value, "yyyy-MM-dd") if value else ""


def relative(value: datetime | None) -> str:
    """ "om 3 dagar" / "för 2 dagar sedan" in the page's language."""
    if not value:
        return ""
    return format_timedelta(value - clock.now(), add_direction=True, threshold=1.1)


def safe_next(target: Any, default: str) -> str:
    """Only a plain same-site path, else ``default`` (no open redirect). Browsers drop tabs and newlines
    from a URL and read a backslash as a slash, so ``next=/%09/evil.example`` (a tab) is
    ``//evil.example`` to them, and a CR or LF cannot go into a Location header at all: a target with
    whitespace, a control character or a backslash is refused rather than cleaned."""
    if not isinstance(target, str) or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(c.isspace() or not c.isprintable() for c in target):
        return default
    parts = urlsplit(target)
    return default if parts.scheme or parts.netloc else target
