"""A task: instructions, the case's key data, the form; claim, unclaim, complete; delegate to a colleague
and — the colleague — give it back ("Lämna tillbaka till …": the form's values set, the task not completed;
``Delaktig.delegate_task`` / ``resolve_task``).

Bad input: an unknown task is a 404 page; a task of another role a 403; a completed, cancelled or
someone else's task a 409 page that says why (nothing changed); an invalid form comes back with the
errors next to the fields and the entered values kept (422), as does an unknown delegate.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine import errors
from engine import inbox as queries
from engine.models import User
from webhooks.engine_messages import translate, translate_error
from webhooks.staff.common import engine, fail, now, process_error_message, protect, read_session, safe_next
from webhooks.staff.forms import build_fields, read_submission

bp = Blueprint("staff_tasks", __name__)
protect(bp)


def _load(task_id: str, for_change: bool = False) -> queries.TaskView:
    with read_session() as s:
        view = queries.get_task(s, task_id)
        if view is None:
            fail(404, _("Uppgiften finns inte."))
        if not queries.may_work_on(view.task, g.user, g.roles):
            fail(403, _("Uppgiften hör till en annan roll än dina."))
        s.expunge_all()
    if for_change and view.task.state != "open":
        fail(409, _closed_message(view))
    return view


def _closed_message(view: queries.TaskView) -> str:
    if view.task.state == "completed":
        return _(
            "Uppgiften är redan slutförd (av %(who)s). Inget har ändrats.", who=view.task.completed_by or "?"
        )
    return _("Uppgiften är inte längre aktiv (ärendet har gått vidare). Inget har ändrats.")


def _case_data(view: queries.TaskView) -> list[tuple[str, object]]:
    """The case's variables worth showing: scalars and short lists, in name order."""
    out = []
    for key, value in sorted((view.case.data or {}).items()):
        if isinstance(value, str | int | float | bool) or value is None:
            out.append((key, value))
        elif isinstance(value, list) and len(value) <= 10:
            out.append((key, ", ".join(str(v) for v in value)))
    return out


def _colleagues(view: queries.TaskView) -> list[tuple[str, str]]:
    """(user name, shown name) of the active users the task can be delegated to: anyone but oneself and
    the one who delegated it (who gets it back by "Lämna tillbaka" instead)."""
    pending = view.task.delegation_state == "PENDING"
    exclude = {g.user, *([view.task.owner] if pending and view.task.owner else [])}
    with read_session() as s:
        rows = s.execute(
            sa.select(User.name, User.display_name)
            .where(User.active.is_(True), User.name.not_in(sorted(exclude)))
            .order_by(sa.func.lower(sa.func.coalesce(User.display_name, User.name)), User.name)
        ).all()
    return [(name, f"{shown} ({name})" if shown and shown != name else name) for name, shown in rows]


def _render(
    view: queries.TaskView,
    values: dict,
    problems: dict[str, str] | None = None,
    status: int = 200,
    delegate_error: str | None = None,
):
    fields = build_fields(view.task.form or {}, values, problems)
    moment = now()
    mine = view.task.assignee == g.user
    return render_template(
        "staff/task.html",
        view=view,
        task=view.task,
        case=view.case,
        fields=fields,
        problems=problems or {},
        case_data=_case_data(view),
        mine=mine,
        # (also without an owner: the REST API delegates an unassigned task, as Camunda does)
        delegated=view.task.delegation_state == "PENDING",
        colleagues=_colleagues(view) if mine else [],
        delegate_error=delegate_error,
        now=moment,
        soon=bool(view.task.due_at and moment <= view.task.due_at <= moment + queries.DUE_SOON),
    ), status


@bp.route("/uppgifter/<task_id>")
def show(task_id: str):
    view = _load(task_id)
    if view.task.state != "open":
        return _render_closed(view)
    # The form's defaults see the task's input parameters (camunda:inputOutput) over the case's variables.
    return _render(view, {**(view.case.data or {}), **((view.task.form or {}).get("variables") or {})})


def _render_closed(view: queries.TaskView):
    return render_template(
        "staff/error.html",
        status=409,
        title=_("Uppgiften är inte öppen"),
        message=_closed_message(view),
        back=url_for("staff_cases.show", case_id=view.case.id),
        back_label=_("Till ärendet"),
    ), 409


@bp.route("/uppgifter/<task_id>", methods=["POST"])
def complete(task_id: str):
    view = _load(task_id, for_change=True)
    if view.task.assignee != g.user:
        if view.task.assignee:
            fail(409, _("Uppgiften är tagen av %(who)s. Inget har ändrats.", who=view.task.assignee))
        fail(409, _("Ta uppgiften innan du slutför den. Inget har ändrats."))
    data = read_submission(view.task.form or {}, request.form)
    try:
        engine().complete_task(task_id, g.user, data, roles=g.roles)
    except errors.ValidationFailed as err:
        problems: dict[str, str] = {}
        for p in err.problems:
            problems.setdefault(p.where or "_form", translate(p.message))
        return _render(view, {**(view.case.data or {}), **data}, problems, 422)
    except errors.ProcessError as err:
        return _render(view, {**(view.case.data or {}), **data}, {"_form": process_error_message(err)}, 422)
    flash(_("Uppgiften ”%(name)s” är slutförd.", name=view.task.name or view.task.element_id), "success")
    return redirect(url_for("staff_cases.show", case_id=view.case.id))


@bp.route("/uppgifter/<task_id>/ta", methods=["POST"])
def claim(task_id: str):
    view = _load(task_id, for_change=True)
    engine().claim_task(task_id, g.user, roles=g.roles)
    flash(_("Du har tagit uppgiften ”%(name)s”.", name=view.task.name or view.task.element_id), "success")
    return redirect(safe_next(request.form.get("next"), url_for("staff_tasks.show", task_id=task_id)))


@bp.route("/uppgifter/<task_id>/lamna", methods=["POST"])
def unclaim(task_id: str):
    view = _load(task_id, for_change=True)
    engine().unclaim_task(task_id, g.user, roles=g.roles)
    flash(
        _(
            "Du har lämnat tillbaka uppgiften ”%(name)s” till gruppen.",
            name=view.task.name or view.task.element_id,
        ),
        "success",
    )
    return redirect(safe_next(request.form.get("next"), url_for("staff_inbox.inbox", lista="grupp")))


@bp.route("/uppgifter/<task_id>/delegera", methods=["POST"])
def delegate(task_id: str):
    """Hand the task one holds to a colleague, who gives it back when done (the owner then completes it)."""
    view = _load(task_id, for_change=True)
    to_user = (request.form.get("user") or "").strip()
    try:
        engine().delegate_task(task_id, g.user, to_user, roles=g.roles)
    except errors.ValidationFailed as err:
        return _render(view, dict(view.case.data or {}), status=422, delegate_error=translate_error(err))
    flash(
        _(
            "Du har delegerat uppgiften ”%(name)s” till %(who)s. Den kommer tillbaka till dig när hen är klar.",
            name=view.task.name or view.task.element_id,
            who=to_user,
        ),
        "success",
    )
    return redirect(url_for("staff_inbox.inbox"))


@bp.route("/uppgifter/<task_id>/lamna-tillbaka", methods=["POST"])
def resolve(task_id: str):
    """The delegate gives the task back to its owner with the form's values set, without completing it."""
    view = _load(task_id, for_change=True)
    if view.task.assignee != g.user or view.task.delegation_state != "PENDING":
        fail(409, _("Uppgiften är inte delegerad till dig. Inget har ändrats."))
    data = read_submission(view.task.form or {}, request.form)
    try:
        engine().resolve_task(task_id, g.user, data, roles=g.roles, allow_extra=False)
    except errors.ValidationFailed as err:
        problems: dict[str, str] = {}
        for p in err.problems:
            problems.setdefault(p.where or "_form", translate(p.message))
        return _render(view, {**(view.case.data or {}), **data}, problems, 422)
    name = view.task.name or view.task.element_id
    if view.task.owner:
        flash(_("Uppgiften ”%(name)s” är tillbaka hos %(who)s.", name=name, who=view.task.owner), "success")
    else:  # delegated while no one held it: back to the group
        flash(_("Du har lämnat tillbaka uppgiften ”%(name)s” till gruppen.", name=name), "success")
    return redirect(url_for("staff_inbox.inbox"))
