"""Start a routine by hand, for the roles allowed to (see ``engine.inbox`` for the rule), with the fields of
its start form when the diagram's none start event has one (``camunda:formData``; checked by the engine as
a submitted start form: errors beside their fields, nothing started)."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine import errors, start_forms
from engine import inbox as queries
from webhooks.engine_messages import translate, translate_error
from webhooks.staff.common import engine, fail, protect, read_session
from webhooks.staff.forms import build_fields, read_submission

bp = Blueprint("staff_start", __name__)
protect(bp)

MAX_BUSINESS_KEY = 200


def _page(
    routines, status: int = 200, key: str | None = None, business_key: str = "", values=None, problems=None
):
    """The start page: one card per routine, each with its start form's fields; the card of ``key`` shows
    what was submitted and its errors."""
    forms = {d.key: start_forms.start_form(d) for d, _o in routines}
    fields = {
        k: build_fields(form, (values or {}) if k == key else {}, (problems or {}) if k == key else {})
        for k, form in forms.items()
    }
    errors_ = {key: (problems or {}).get("business_key") or (problems or {}).get("_form")} if key else {}
    return render_template(
        "staff/start.html",
        routines=routines,
        fields=fields,
        errors={k: v for k, v in errors_.items() if v},
        values={key: business_key} if key else {},
    ), status


def _startable():
    with read_session() as s:
        routines = queries.startable(s, g.roles)
        for definition, _o in routines:
            start_forms.start_form(definition)  # read while the definition's XML can be loaded
        s.expunge_all()
    return routines


@bp.route("/starta")
def choose():
    return _page(_startable())


@bp.route("/starta/<key>", methods=["POST"])
def start(key: str):
    routines = _startable()
    with read_session() as s:
        known = any(d.key == key for d in queries.latest_definitions(s))
    allowed = {d.key: d for d, _o in routines}
    if not known:
        fail(404, _("Rutinen finns inte."))
    if key not in allowed:
        fail(403, _("Du saknar behörighet att starta den här rutinen."))
    definition = allowed[key]
    form = start_forms.start_form(definition)
    data = read_submission(form, request.form) if form["fields"] else {}
    business_key = (request.form.get("business_key") or "").strip() or None
    if business_key and len(business_key) > MAX_BUSINESS_KEY:
        message = _("Får vara högst %(n)d tecken.", n=MAX_BUSINESS_KEY)
        return _page(routines, 422, key, business_key, data, {"business_key": message})
    try:
        info = engine().start_case(
            definition_id=definition.id,
            business_key=business_key,
            variables=data,
            actor=g.user,
            roles=g.roles,
            start_form=bool(form["fields"]),
        )
    except errors.ValidationFailed as err:
        problems: dict[str, str] = {}
        for p in err.problems:
            problems.setdefault(p.where if p.where in data else "_form", translate(p.message))
        if not any(k in data for k in problems):
            problems = {"_form": translate_error(err)}
        return _page(routines, 422, key, business_key or "", data, problems)
    flash(_("Ärendet är startat."), "success")
    return redirect(url_for("staff_cases.show", case_id=info.id))
