"""Start a routine by hand, for the roles allowed to (see ``engine.inbox`` for the rule)."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine import errors
from engine import inbox as queries
from webhooks.staff.common import engine, fail, protect, read_session
from webhooks.staff.messages import translate_error

bp = Blueprint("staff_start", __name__)
protect(bp)

MAX_BUSINESS_KEY = 200


@bp.route("/starta")
def choose():
    with read_session() as s:
        routines = queries.startable(s, g.roles)
        s.expunge_all()
    return render_template("staff/start.html", routines=routines, errors={}, values={})


@bp.route("/starta/<key>", methods=["POST"])
def start(key: str):
    with read_session() as s:
        routines = queries.startable(s, g.roles)
        known = any(d.key == key for d in queries.latest_definitions(s))
        s.expunge_all()
    allowed = {d.key: d for d, _o in routines}
    if not known:
        fail(404, _("Rutinen finns inte."))
    if key not in allowed:
        fail(403, _("Du saknar behörighet att starta den här rutinen."))
    business_key = (request.form.get("business_key") or "").strip() or None
    if business_key and len(business_key) > MAX_BUSINESS_KEY:
        message = _("Får vara högst %(n)d tecken.", n=MAX_BUSINESS_KEY)
        return render_template(
            "staff/start.html", routines=routines, errors={key: message}, values={key: business_key}
        ), 422
    definition = allowed[key]
    try:
        info = engine().start_case(
            definition_id=definition.id, business_key=business_key, actor=g.user, roles=g.roles
        )
    except errors.ValidationFailed as err:
        return render_template(
            "staff/start.html",
            routines=routines,
            errors={key: translate_error(err)},
            values={key: business_key or ""},
        ), 422
    flash(_("Ärendet är startat."), "success")
    return redirect(url_for("staff_cases.show", case_id=info.id))
