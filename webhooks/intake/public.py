"""The public intake form (no sign-in) and the initiator's status page."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from urllib.parse import urlsplit

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_wtf.csrf import generate_csrf, validate_csrf
from wtforms.validators import ValidationError

from engine import initiatives
from engine.errors import ConcurrentChange, Conflict, ValidationFailed
from webhooks import guard
from webhooks.intake.common import client_address, engine, intake_config

bp = Blueprint("intake", __name__)
HONEYPOT = "webbplats"  # hidden from people (and from assistive technology); bots fill it in
FIELDS = ("kind", "subject", "text", "area", "name", "email")
# Form field id for each place the engine names a problem.
WHERE = {"initiator.email": "email", "initiator.name": "name"}
FRIENDLY = {
    "kind": "Välj vilken sorts initiativ det är.",
    "subject": "Skriv en rubrik.",
    "text": "Beskriv ditt initiativ.",
    "email": "Skriv en giltig e-postadress, t.ex. namn@exempel.se, eller lämna fältet tomt.",
}


# Errors on citizens' URLs, in the intake's layout (citizens have no use for the staff pages' links).
CITIZEN_ERRORS = {
    400: ("Felaktig begäran", "Det du skickade kunde inte tas emot."),
    404: (
        "Sidan finns inte",
        "Adressen är felaktig eller ofullständig. Kontrollera att du har kopierat hela länken.",
    ),
    405: ("Sidan tar inte emot det här", "Gå till formuläret och skicka ditt initiativ därifrån."),
    413: ("Det du skickade är för stort", "Korta texten och försök igen."),
}


def is_citizen_path(path: str) -> bool:
    return path == "/initiativ" or path.startswith("/initiativ/")


def citizen_error(status: int, message: str | None = None):
    title, text = CITIZEN_ERRORS.get(status, ("Något gick fel", "Försök igen om en stund."))
    response = current_app.make_response(
        (render_template("intake/error.html", title=title, body_text=message or text), status)
    )
    return _headers(response)  # a routing error has no blueprint, so the blueprint's hook would not run


@bp.after_request
def _headers(response):
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    # The status link is a secret: never leak it to another site in a Referer header, never cache it.
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'none'; form-action 'self'; "
        "frame-ancestors 'none'",
    )
    return response


def _render(values: dict, errors: dict[str, str], status: int = 200, notice: str | None = None):
    return render_template(
        "intake/form.html",
        values=values,
        errors=errors,
        submission=_submission_id() or secrets.token_urlsafe(18),
        kinds=initiatives.KINDS,
        areas=intake_config().areas,
        csrf=generate_csrf(),
        honeypot=HONEYPOT,
        notice=notice,
    ), status


def _friendly(field: str, message: str) -> str:
    """A missing or invalid kind/e-mail, or an empty text, gets a sentence saying what to do."""
    if field in FRIENDLY and (field in ("kind", "email") or message in ("krävs", "får inte vara tomt")):
        return FRIENDLY[field]
    return f"{message[0].upper()}{message[1:]}."


@bp.get("/initiativ")
def form():
    return _render({"kind": request.args.get("typ", "")}, {})


def _csrf_ok() -> bool:
    """The view checks the form's signed token itself (the staff app's CSRFProtect leaves it out), so that a
    missing or expired one shows the form again with the citizen's text kept."""
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return True
    try:
        validate_csrf(request.form.get("csrf_token"))
        return True
    except ValidationError:
        return False


UNSTORABLE = (
    "Texten innehöll ett tecken som inte kan sparas (NUL eller ett ensamt surrogattecken). Vi har tagit "
    "bort det: kontrollera texten och skicka igen."
)


def _storable(text: str) -> str:
    """``text`` without what no database keeps (``webhooks.guard.unusable``): NUL and lone surrogates."""
    return "".join(c for c in text if c != "\x00" and not 0xD800 <= ord(c) <= 0xDFFF)


def _unstorable_fields() -> set[str]:
    """The posted fields holding such a character (the app-wide guard leaves this form to us, so that the
    citizen gets the form back with the text kept instead of an error page)."""
    return {
        key for key, value in request.form.items(multi=True) if guard.unusable(key) or guard.unusable(value)
    }


@bp.post("/initiativ")
def submit():
    values = {f: _storable(request.form.get(f) or "").strip() for f in FIELDS}
    if bad := _unstorable_fields():  # nothing stored; shown again without the character
        errors = {f: UNSTORABLE for f in FIELDS if f in bad}
        return _render(values, errors, 400, None if errors else UNSTORABLE)
    if not _csrf_ok():
        return _render(values, {}, 400, "Formuläret har gått ut. Skicka det igen.")
    limiter = current_app.extensions["intake_ratelimit"]
    address = client_address()
    if not limiter.try_hit(address):
        return _render(
            values, {}, 429, "Du har skickat många initiativ på kort tid. Försök igen om en stund."
        )
    if request.form.get(HONEYPOT):  # a bot's attempt keeps counting against its address
        return _render(values, {}, 422, "Formuläret kunde inte skickas. Lämna fältet ”Webbplats” tomt.")
    data = {
        "kind": values["kind"],
        "subject": values["subject"],
        "text": values["text"],
        "area": values["area"] or None,
        "initiator": {"name": values["name"] or None, "email": values["email"] or None},
    }
    if not values["kind"]:
        data.pop("kind")
    errors: dict[str, str] = {}
    try:
        sub = initiatives.parse_submission(data)
        if intake_config().areas and sub.area and sub.area not in intake_config().areas:
            errors["area"] = "Välj ett område i listan."
    except ValidationFailed as err:
        for p in err.problems:
            field = WHERE.get(p.where, p.where)
            if field in FIELDS and field not in errors:
                errors[field] = _friendly(field, p.message)
    if errors:
        limiter.give_back(address)  # a citizen correcting the form is not flooding it
        return _render(values, errors, 422)
    done = _register_once(sub, data)
    if done.replayed:  # a double click or a resent form: the first one's receipt, nothing new
        limiter.give_back(address)
        # (the stored answer's address carries the configured base URL; the path is this site's)
        return redirect(urlsplit(done.response["status_url"]).path + "?ny=1", 303)
    return redirect(url_for("intake.status", token=done.token, ny=1), 303)


_SUBMISSION = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def _submission_id() -> str | None:
    """The form's one-time id (a hidden field set when the form was shown), if it is one."""
    value = request.form.get("inlamning") or ""
    return value if _SUBMISSION.match(value) else None


def _register_once(sub, data: dict):
    """Register the initiative once per shown form: a second post of the same form (a double click, the
    browser resending it) gets the first one's answer, as a webhook's Idempotency-Key does. The same form
    sent again with other text (back, edit, send) is a new initiative."""
    key = _submission_id()
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    channel = initiatives.FORM_CHANNEL
    try:  # (two posts at once: the engine tries the second again and it finds the first's answer)
        return initiatives.register(engine(), sub, intake_config(), channel, key, digest, actor="medborgare")
    except ConcurrentChange:
        raise
    except Conflict:  # the form's id already used for other text (back, edit, send): a new initiative
        return initiatives.register(engine(), sub, intake_config(), channel, None, digest, actor="medborgare")


@bp.get("/initiativ/status/<token>")
def status(token: str):
    view = initiatives.public_status(engine(), token)
    if view is None:
        return render_template("intake/not_found.html"), 404
    return render_template("intake/status.html", s=view, new=request.args.get("ny") == "1")
