"""Sign-in (local accounts with argon2 hashes via the engine; OIDC when configured), sign-out, language.

OIDC (Azure AD, Keycloak, any OpenID Connect provider) is on when the environment gives
``DELAKTIG_OIDC_METADATA_URL`` (the provider's ``.well-known/openid-configuration``),
``DELAKTIG_OIDC_CLIENT_ID`` and ``DELAKTIG_OIDC_CLIENT_SECRET``. The user name is the claim
``DELAKTIG_OIDC_USERNAME_CLAIM`` (default ``preferred_username``); the roles are the claim
``DELAKTIG_OIDC_ROLES_CLAIM`` (default ``roles``: Azure AD app roles, or a Keycloak client-role mapper)
plus the roles of a local account with the same name, if there is one. A deactivated local account
cannot sign in through OIDC either.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _

from engine.models import User
from webhooks import signin_throttle
from webhooks.engine_ext import get_engine
from webhooks.staff.common import LANGUAGES, fail, protect, read_session, safe_next

bp = Blueprint("staff_auth", __name__)
protect(bp, login=False)
# A user name is at most 100 characters (``engine.models.User``). A longer one is cut to one more — still
# no account — so that what is shown again, counted as a failure and logged stays small: a megabyte "name"
# was kept by the failure count for 15 minutes and written to the log at every attempt.
MAX_NAME = 100


def oidc_enabled() -> bool:
    return "oidc" in current_app.extensions.get("staff_oauth", {})


def init_oidc(app: Flask) -> None:
    cfg = app.config
    if not (cfg.get("OIDC_METADATA_URL") and cfg.get("OIDC_CLIENT_ID") and cfg.get("OIDC_CLIENT_SECRET")):
        return
    from authlib.integrations.flask_client import OAuth

    oauth = OAuth(app)
    oauth.register(
        "oidc",
        client_id=cfg["OIDC_CLIENT_ID"],
        client_secret=cfg["OIDC_CLIENT_SECRET"],
        server_metadata_url=cfg["OIDC_METADATA_URL"],
        client_kwargs={"scope": cfg.get("OIDC_SCOPE", "openid profile email")},
    )
    app.extensions["staff_oauth"] = {"oidc": oauth.oidc}


def _start_session(
    name: str,
    auth: str,
    display_name: str | None = None,
    roles: list[str] | None = None,
    generation: int = 0,
):
    lang = session.get("lang")
    session.clear()  # a fresh session on sign-in: nothing carried over from before (session fixation)
    session.permanent = True
    session.update(user=name, auth=auth, generation=generation)
    if lang:
        session["lang"] = lang
    if display_name:
        session["display_name"] = display_name
    if roles:
        session["oidc_roles"] = sorted(roles)


@bp.route("/logga-in", methods=["GET", "POST"])
def login():
    target = safe_next(request.values.get("next"), url_for("staff_inbox.inbox"))
    if g.user and request.method == "GET":
        return redirect(target)
    error, name, status = None, "", 200
    if request.method == "POST":
        name = (request.form.get("username") or "").strip().lower()[: MAX_NAME + 1]
        password = request.form.get("password") or ""
        address = request.remote_addr or ""
        if not signin_throttle.attempt(name, address):
            current_app.logger.warning(
                "Sign-in as %r from %s refused: too many failed attempts", name, address
            )
            error, status = _("För många misslyckade inloggningar. Vänta en stund och försök igen."), 429
        else:
            d = current_app.extensions["delaktig"]
            user = d.authenticate(name, password) if name and password else None
            if user is not None:
                signin_throttle.succeeded(name, address)
                _start_session(user.name, "local", generation=user.session_generation)
                return redirect(target)
            current_app.logger.info("Failed sign-in as %r from %s", name, address)
            error, status = _("Fel användarnamn eller lösenord."), 401
    return render_template(
        "staff/login.html", error=error, username=name, next=target, oidc=oidc_enabled()
    ), status


@bp.route("/logga-ut", methods=["POST"])
def logout():
    if g.user:
        _end_sessions(g.user)
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    flash(_("Du är utloggad."), "info")
    return redirect(url_for("staff_auth.login"))


def _end_sessions(name: str) -> None:
    """The cookie is signed but kept by the browser: clearing it does not stop a copy of it. Raising the
    user's session generation does (``load_identity``), for every session of the account, on every device."""
    get_engine().transaction(
        lambda s: s.execute(
            sa.update(User).where(User.name == name).values(session_generation=User.session_generation + 1)
        )
    )


@bp.route("/sprak", methods=["POST"])
def language():
    lang = request.form.get("lang")
    if lang not in LANGUAGES:
        fail(400, _("Okänt språk."))
    session["lang"] = lang
    return redirect(safe_next(request.form.get("next"), url_for("staff_inbox.inbox")))


@bp.route("/logga-in/oidc")
def oidc_login():
    if not oidc_enabled():
        fail(404, _("Inloggning via organisationens konto är inte konfigurerad."))
    session["oidc_next"] = safe_next(request.args.get("next"), url_for("staff_inbox.inbox"))
    client = current_app.extensions["staff_oauth"]["oidc"]
    return client.authorize_redirect(url_for("staff_auth.oidc_callback", _external=True))


@bp.route("/logga-in/oidc/klar")
def oidc_callback():
    if not oidc_enabled():
        fail(404, _("Inloggning via organisationens konto är inte konfigurerad."))
    client = current_app.extensions["staff_oauth"]["oidc"]
    try:
        token = client.authorize_access_token()
    except Exception as err:  # Authlib raises several error types (state mismatch, bad token, network)
        current_app.logger.warning("OIDC sign-in failed: %s", err)
        fail(400, _("Inloggningen via organisationens konto misslyckades. Försök igen."))
    claims = token.get("userinfo") or {}
    cfg = current_app.config
    name = str(claims.get(cfg.get("OIDC_USERNAME_CLAIM", "preferred_username")) or "").strip().lower()
    if not name:
        fail(400, _("Inloggningen gav inget användarnamn."))
    raw_roles = claims.get(cfg.get("OIDC_ROLES_CLAIM", "roles")) or []
    roles = [str(r) for r in (raw_roles if isinstance(raw_roles, list) else [raw_roles])]
    with read_session() as s:
        local = s.query(User).filter(User.name == name).one_or_none()
        if local is not None and not local.active:
            fail(403, _("Kontot är inaktiverat."))
    target = session.get("oidc_next") or url_for("staff_inbox.inbox")
    _start_session(name, "oidc", claims.get("name"), roles, local.session_generation if local else 0)
    return redirect(target)
