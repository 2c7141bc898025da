"""Delegating on the task page: the holder picks a colleague ("Delegera"), the colleague sees "Delegerad av
…" and gives the task back with the form's values ("Lämna tillbaka till …") without completing it; the
owner then completes it. CSRF as every form; refusals change nothing; the case page names both steps."""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import force_locale

from engine.models import AuditEvent, Case, UserTask
from tests.conftest import count
from tests.web.conftest import html
from tests.web.test_tasks import GOOD, start
from webhooks import engine_messages as messages


def _row(engine, task_id: str) -> UserTask:
    with engine.session() as s:
        return s.get(UserTask, task_id)


def _signed_in(staff, *names):
    return [staff(n) for n in names]


def test_delegate_resolve_and_complete_on_the_pages(engine, staff):
    info, task = start(engine)
    anna, annika, bertil = _signed_in(staff, "anna", "annika", "bertil")
    anna.post(f"/uppgifter/{task}/ta")
    page = html(anna.get(f"/uppgifter/{task}"))
    assert 'id="delegate-form"' in page and 'id="delegate"' in page
    assert '<option value="annika">' in page and '<option value="bertil">' in page
    assert '<option value="anna">' not in page  # not oneself
    r = anna.post(f"/uppgifter/{task}/delegera", {"user": "bertil"})  # bertil: another role (namnd)
    assert r.status_code == 302 and r.headers["Location"].endswith("/uppgifter")
    t = _row(engine, task)
    assert (t.assignee, t.owner, t.delegation_state) == ("bertil", "anna", "PENDING")

    # The delegate: "Delegerad av anna", the give-back button instead of "Slutför", the case readable.
    page = html(bertil.get(f"/uppgifter/{task}"))
    assert 'id="delegated-by"' in page and "Delegerad av anna." in page
    assert 'id="resolve"' in page and "Lämna tillbaka till anna" in page and 'id="complete"' not in page
    assert '<option value="anna">' not in page  # the owner gets it back by resolving, not delegating
    assert bertil.get(f"/arenden/{info.id}").status_code == 200
    # The owner meanwhile: sees who has it, cannot complete it.
    page = html(anna.get(f"/uppgifter/{task}"))
    assert 'id="delegated-by"' in page and 'id="resolve"' not in page
    r = anna.post(f"/uppgifter/{task}", GOOD)
    assert r.status_code == 409

    # A bad value comes back next to its field, nothing changed; a valid one gives the task back.
    r = bertil.post(f"/uppgifter/{task}/lamna-tillbaka", {**GOOD, "antal": "tolv"})
    assert r.status_code == 422 and 'id="e-antal"' in html(r)
    assert _row(engine, task).delegation_state == "PENDING"
    r = bertil.post(f"/uppgifter/{task}/lamna-tillbaka", {"kommentar": "Nämnden tar upp det i maj."})
    assert r.status_code == 302
    t = _row(engine, task)
    assert (t.assignee, t.owner, t.delegation_state, t.state) == ("anna", "anna", "RESOLVED", "open")
    with engine.session() as s:
        assert s.get(Case, info.id).data["kommentar"] == "Nämnden tar upp det i maj."

    # The case page names both steps.
    page = html(anna.get(f"/arenden/{info.id}"))
    assert "Uppgift delegerad" in page and "Uppgift lämnad tillbaka efter delegering" in page
    # The owner completes it.
    r = anna.post(f"/uppgifter/{task}", GOOD)
    assert r.status_code == 302 and _row(engine, task).state == "completed"


def test_refusals_on_the_pages_change_nothing(engine, staff):
    info, task = start(engine)
    anna, annika = _signed_in(staff, "anna", "annika")
    # Nobody holds it: no delegate form, and a post is refused by the engine (409).
    assert 'id="delegate-form"' not in html(anna.get(f"/uppgifter/{task}"))
    assert anna.post(f"/uppgifter/{task}/delegera", {"user": "annika"}).status_code == 409
    anna.post(f"/uppgifter/{task}/ta")
    before = count(engine, AuditEvent, AuditEvent.case_id == info.id)
    # A colleague's task: 409; an unknown user: 422 with the message by the field.
    assert annika.post(f"/uppgifter/{task}/delegera", {"user": "david"}).status_code == 409
    r = anna.post(f"/uppgifter/{task}/delegera", {"user": "okand"})
    assert r.status_code == 422 and 'id="delegate-error"' in html(r) and "okänd användare okand" in html(r)
    # Not delegated: no give-back.
    assert anna.post(f"/uppgifter/{task}/lamna-tillbaka", GOOD).status_code == 409
    # Without the CSRF token: refused.
    r = anna.post(f"/uppgifter/{task}/delegera", {"user": "annika"}, token=False)
    assert r.status_code == 400
    assert count(engine, AuditEvent, AuditEvent.case_id == info.id) == before
    assert _row(engine, task).delegation_state is None


def test_delegation_messages_in_english(app, engine, staff):
    info, task = start(engine)
    s = staff("anna")
    s.post("/sprak", {"lang": "en"})
    s.post(f"/uppgifter/{task}/ta")
    staff("annika")
    s.post(f"/uppgifter/{task}/delegera", {"user": "annika"})
    page = html(s.get(f"/uppgifter/{task}"))
    assert "Delegated by" in page and "Delegerad av" not in page
    with engine.session() as db:
        kinds = {k for (k,) in db.execute(sa.select(AuditEvent.kind).where(AuditEvent.case_id == info.id))}
    assert "task_delegated" in kinds
    with app.test_request_context(), force_locale("en"):
        assert (
            messages.translate("En delegerad uppgift kan inte slutföras; lämna tillbaka den i stället.")
            == "A delegated task cannot be completed, but should be resolved instead."
        )
        assert (
            messages.translate(
                "Uppgiften är delegerad till annika; bara den personen kan lämna tillbaka den."
            )
            == "The task is delegated to annika; only that person can give it back."
        )
