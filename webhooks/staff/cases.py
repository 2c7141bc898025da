"""The case page: status, business key, data, upcoming deadlines, the diagram with the path taken, and
the timeline from the audit log.

Who may read a case (the page and its diagram): whoever started it, whoever has or had a task in it
(assigned to them, completed by them, or a candidate group of any of its tasks is one of their roles),
whoever acted on it, and the case-reader roles: ``CASE_READER_ROLES`` in the app config (environment
``DELAKTIG_CASE_READER_ROLES``, a JSON list or comma-separated), default ``admin`` and
``systemadministrator`` (the administrator roles, as for ``/admin/utskick``) and ``revisor`` (auditors).
Everyone else gets the 403 page, which shows nothing of the case. The rule is ``engine.inbox.case_access``.
"""

from __future__ import annotations

from flask import Blueprint, Response, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from engine import inbox as queries
from engine.errors import Conflict, DelaktigError
from engine.models import ExternalTask, ProcessDefinition
from webhooks.case_readers import DEFAULT_CASE_READER_ROLES, case_reader_roles  # noqa: F401 - re-exported
from webhooks.engine_ext import get_engine
from webhooks.rest.auth import manager_roles
from webhooks.staff.common import fail, now, protect, read_session

# Who may give a stopped integration step new tries from the case page: the REST API's process owners
# (as for its PUT /external-task/{id}/retries).
_retry_roles = manager_roles


bp = Blueprint("staff_cases", __name__)
protect(bp)

KIND_LABELS = {
    "case_started": _l("Ärendet startades"),
    "case_completed": _l("Ärendet avslutades"),
    "case_cancelled": _l("Ärendet avbröts"),
    "case_migrated": _l("Ärendet flyttades till en ny version"),
    "task_created": _l("Uppgift skapad"),
    "task_claimed": _l("Uppgift tagen"),
    "task_unclaimed": _l("Uppgift lämnad tillbaka"),
    "task_reassigned": _l("Uppgift tilldelad"),
    "task_delegated": _l("Uppgift delegerad"),
    "task_resolved": _l("Uppgift lämnad tillbaka efter delegering"),
    "task_updated": _l("Uppgift ändrad"),
    "task_candidates_changed": _l("Uppgiftens kandidater ändrade"),
    "comment": _l("Kommentar"),
    "task_completed": _l("Uppgift slutförd"),
    "task_cancelled": _l("Uppgift avbruten"),
    "timer_fired": _l("Tidsfrist löpte ut"),
    "timer_failed": _l("Tidsfristen kunde inte köras (försöker igen)"),
    "message_received": _l("Meddelande mottaget"),
    "signal_thrown": _l("Signal skickad"),
    "signal_received": _l("Signal mottagen"),
    "signal_failed": _l("Signalen kunde inte tas emot"),
    "mail_queued": _l("E-post köad"),
    "reminder_sent": _l("Påminnelse skickad"),
    "data_changed": _l("Uppgifter ändrade"),
    "variables_modified": _l("Uppgifter ändrade"),
    "personal_data_purged": _l("Personuppgifter rensade"),
    "external_task_created": _l("Väntar på integration"),
    "external_task_completed": _l("Integrationen klar"),
    "external_task_error": _l("Integrationen rapporterade ett fel i ärendet"),
    "external_task_failed": _l("Integrationen misslyckades"),
    "external_task_unlocked": _l("Integrationens lås släppt"),
    "external_task_locked": _l("Integrationen låste steget"),
    "external_task_retries_set": _l("Nya försök för integrationen"),
    "external_task_priority_set": _l("Ny prioritet för integrationen"),
    "external_task_cancelled": _l("Integrationssteget avbröts"),
}
STATUS_LABELS = {"active": _l("Pågår"), "completed": _l("Avslutat"), "terminated": _l("Avbrutet")}
DEADLINE_LABELS = {
    "task_due": _l("Förfaller"),
    "task_follow_up": _l("Uppföljning"),
    "timer": _l("Nästa tidsstyrda händelse"),
}


def _check_access(s, case_id: str) -> None:
    """404 for an unknown case, 403 (nothing of the case shown) for a user who may not read it."""
    access = queries.case_access(s, case_id, g.user, g.roles, case_reader_roles())
    if access == "missing":
        fail(404, _("Ärendet finns inte."))
    if access is None:
        fail(403, _("Du har inte behörighet att läsa det här ärendet."))


@bp.route("/arenden/<case_id>")
def show(case_id: str):
    with read_session() as s:
        _check_access(s, case_id)
        view = queries.get_case(s, case_id)
        if view is None:
            fail(404, _("Ärendet finns inte."))
        events = queries.timeline(s, case_id)
        s.expunge_all()
    names = view.outline.names
    task_names = {t.id: t.name for t in view.open_tasks + view.done_tasks}
    entries = [
        {
            "event": e,
            "what": names.get(e.element_id or "")
            or (e.detail or {}).get("name")
            or task_names.get(e.task_id or ""),
            "changes": queries.changes_of(e),
        }
        for e in events
    ]
    return render_template(
        "staff/case.html",
        view=view,
        case=view.case,
        definition=view.definition,
        timeline=entries,
        names=names,
        now=now(),
        kind_labels=KIND_LABELS,
        status_labels=STATUS_LABELS,
        deadline_labels=DEADLINE_LABELS,
        can_retry=bool(g.roles & _retry_roles()),
    )


@bp.post("/arenden/<case_id>/integration/<task_id>/forsok-igen")
def retry_integration(case_id: str, task_id: str):
    """One more try for an integration step whose tries ran out (an incident): workers fetch it again."""
    if not g.roles & _retry_roles():
        fail(403, _("Du har inte behörighet att starta om integrationssteg."))
    with read_session() as s:
        _check_access(s, case_id)
        row = s.get(ExternalTask, task_id)
        if row is None or row.case_id != case_id or row.state != "open":
            fail(404, _("Integrationssteget finns inte längre."))
    try:
        get_engine().set_external_retries([task_id], 1, g.user, only_stopped=True)
    except Conflict:  # it has tries left (a second click, say): nothing to restart
        flash(_("Integrationssteget har redan försök kvar."), "info")
        return redirect(url_for("staff_cases.show", case_id=case_id))
    except DelaktigError as err:
        fail(409, str(err))
    flash(_("Integrationssteget försöks igen."), "success")
    return redirect(url_for("staff_cases.show", case_id=case_id))


@bp.route("/arenden/<case_id>/diagram.bpmn")
def diagram(case_id: str):
    """The case's diagram exactly as deployed, for the viewer."""
    with read_session() as s:
        _check_access(s, case_id)
        view = queries.get_case(s, case_id)
        if view is None:
            fail(404, _("Ärendet finns inte."))
        definition = s.get(ProcessDefinition, view.definition.id)
        content = bytes(definition.resource.content)
    return Response(content, mimetype="application/xml", headers={"Cache-Control": "private, max-age=3600"})
