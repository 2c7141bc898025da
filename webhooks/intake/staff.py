"""Staff views of the intake under /personal/initiativ: initiatives by age and deadline, one initiative
(contact data, internal note, moving it forward), and the report of unanswered initiatives.

Sign-in: when the staff app (webhooks/staff) is registered, its identity rules apply (``load_identity``:
``session["user"]``, deactivated accounts signed out) and an anonymous visitor is sent to its sign-in page;
without it, a signed-in ``session["user"]`` is still required (401 otherwise).
"""

from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, current_app, g, redirect, render_template, request, session, url_for
from flask_wtf.csrf import generate_csrf, validate_csrf
from wtforms.validators import ValidationError

from engine import clock, initiatives
from engine.errors import Conflict, NotFound, ValidationFailed
from webhooks.intake import access
from webhooks.intake.common import engine

bp = Blueprint("initiatives_staff", __name__, url_prefix="/personal/initiativ")


def _staff_app() -> bool:
    return "staff_auth" in current_app.blueprints


@bp.before_request
def _require_sign_in():
    if _staff_app():
        from webhooks.staff.common import load_identity

        load_identity()
        if not g.user:
            return redirect(url_for("staff_auth.login", next=request.full_path.rstrip("?")))
        g.intake_user = g.user
    else:
        if not session.get("user"):
            return render_template(
                "intake/layout.html",
                title="Inloggning krävs",
                body_text=("Du måste vara inloggad som personal för att se sidan."),
            ), 401
        g.intake_user = session["user"]
    if request.method == "POST" and "csrf" not in current_app.extensions and _csrf_enabled():
        try:  # without the staff app's CSRFProtect, check the same signed token here
            validate_csrf(request.form.get("csrf_token"))
        except ValidationError:
            return render_template(
                "intake/layout.html",
                title="Formuläret har gått ut",
                body_text="Ladda om sidan och försök igen.",
            ), 400
    return None


def _csrf_enabled() -> bool:
    return bool(current_app.config.get("WTF_CSRF_ENABLED", True))


@bp.errorhandler(NotFound)
def _not_found(err):
    return render_template("intake/layout.html", title="Initiativet finns inte", body_text=str(err)), 404


@bp.after_request
def _no_store(response):
    response.headers.setdefault("Cache-Control", "no-store")  # pages carry personal data
    return response


@bp.context_processor
def _layout():
    return {"layout": "base.html" if _staff_app() else "intake/layout.html", "csrf": generate_csrf()}


def _forbidden(text: str):
    return render_template("intake/layout.html", title="Behörighet saknas", body_text=text), 403


def _require_manager():
    if not access.current().manage:
        return _forbidden(
            "Du kan inte ändra initiativ. Det gör de som tar emot och hanterar initiativen "
            "(kontaktcenter, nämndsekreterare eller de roller kommunen har valt)."
        )
    return None


@bp.get("/")
def index():
    order = "deadline" if request.args.get("ordning") == "frist" else "age"
    rows = initiatives.list_initiatives(
        engine(),
        order=order,
        open_only=request.args.get("alla") != "1",
        readable_by=access.current().readable_by(),
    )
    return render_template(
        "intake/staff_list.html",
        rows=rows,
        order=order,
        all=request.args.get("alla") == "1",
        may_manage=access.current().manage,
    )


def _cell(text: str | None) -> str:
    """A citizen's text as a spreadsheet shows it, never as a formula it would run (=, +, -, @, tab, CR)."""
    text = text or ""
    return "'" + text if text.startswith(("=", "+", "-", "@", "\t", "\r")) else text


@bp.get("/rapport")
def report():
    rows = initiatives.unanswered_report(engine(), readable_by=access.current().readable_by())
    if request.args.get("format") == "csv":
        out = io.StringIO()
        writer = csv.writer(out, delimiter=";")
        writer.writerow(
            [
                "Diarienummer",
                "Typ",
                "Rubrik",
                "Registrerat",
                "Ålder (dagar)",
                "Beslut väntas senast",
                "Status",
                "Försenat",
            ]
        )
        for r in rows:
            writer.writerow(
                [
                    _cell(r["diarienummer"]),
                    _cell(r["kind"]),
                    _cell(r["subject"]),
                    r["registered"],
                    r["age_days"],
                    r["expected_decision"] or "",
                    _cell(r["status"]),
                    "ja" if r["overdue"] else "nej",
                ]
            )
        return Response(
            "\ufeff" + out.getvalue(),  # BOM: Excel opens UTF-8 with å, ä, ö intact
            mimetype="text/csv",
            headers={"Content-Disposition": "attachment; filename=obesvarade-initiativ.csv"},
        )
    today = clock.local_now().date().isoformat()
    return render_template("intake/staff_report.html", rows=rows, today=today)


def _detail(initiative_id: str, errors: dict | None = None, status: int = 200, message: str | None = None):
    try:
        i, contact = initiatives.get(engine(), initiative_id)
    except NotFound:
        return render_template(
            "intake/layout.html", title="Initiativet finns inte", body_text="Initiativet finns inte."
        ), 404
    who = access.current()
    if not who.may_read(i.case_id):
        return _forbidden("Du har inte behörighet att se det här initiativet.")
    return render_template(
        "intake/staff_detail.html",
        i=i,
        contact=contact,
        may_manage=who.manage,
        kinds=initiatives.KINDS,
        labels=initiatives.STATE_LABELS,
        states=initiatives.STATES,
        errors=errors or {},
        message=message,
        form=request.form,
        dates={
            "registered": initiatives.local_date(i.registered_at),
            "deadline": initiatives.local_date(i.deadline_at),
            "expected": initiatives.local_date(i.deadline_at or i.expected_decision_at),
            "purged": initiatives.local_date(i.contact_purged_at),
        },
    ), status


@bp.get("/<initiative_id>")
def detail(initiative_id: str):
    return _detail(initiative_id)


@bp.post("/<initiative_id>/status")
def change_status(initiative_id: str):
    if (refused := _require_manager()) is not None:
        return refused
    try:
        initiatives.set_status(
            engine(),
            initiative_id,
            request.form.get("status", ""),
            g.intake_user,
            decision=request.form.get("decision"),
            answer=request.form.get("answer"),
            next_step=request.form.get("next_step"),
        )
    except ValidationFailed as err:
        return _detail(initiative_id, {p.where: p.message for p in err.problems}, 422)
    except Conflict as err:
        return _detail(initiative_id, {}, 409, str(err))
    except NotFound:
        return _detail(initiative_id)
    return redirect(url_for(".detail", initiative_id=initiative_id), 303)


@bp.post("/<initiative_id>/anteckning")
def note(initiative_id: str):
    if (refused := _require_manager()) is not None:
        return refused
    try:
        initiatives.set_internal_note(engine(), initiative_id, g.intake_user, request.form.get("note", ""))
    except ValidationFailed as err:
        return _detail(initiative_id, {p.where: p.message for p in err.problems}, 422)
    return redirect(url_for(".detail", initiative_id=initiative_id), 303)


@bp.post("/<initiative_id>/rensa-personuppgifter")
def purge(initiative_id: str):
    if (refused := _require_manager()) is not None:
        return refused
    initiatives.purge_contact(engine(), initiative_id, g.intake_user, reason="manuellt")
    return redirect(url_for(".detail", initiative_id=initiative_id), 303)


@bp.post("/synka")
def sync():
    """Move initiatives forward from their cases now (the scheduler does it regularly)."""
    if (refused := _require_manager()) is not None:
        return refused
    initiatives.sync_from_cases(engine())
    return redirect(url_for(".index"), 303)
