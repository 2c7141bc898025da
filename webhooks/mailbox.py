"""Mail pages: the mailbox of the embedded mode (mail captured instead of sent: all of it for
administrators, one's own for everyone else) and, for administrators, the mails that need a person —
failed for good, or uncertain (the connection dropped after the message: perhaps delivered) — with a
"send again" action, which for an uncertain mail asks for confirmation that it may arrive twice. Reads
only; the retry is one engine call."""

from __future__ import annotations

from email.utils import getaddresses

import sqlalchemy as sa
from flask import Blueprint, Flask, abort, flash, g, redirect, render_template_string, request, url_for
from flask_babel import gettext as _

from engine import outbox
from engine.errors import Conflict
from engine.models import User
from engine.reminder_models import CapturedMail
from webhooks.engine_ext import get_engine
from webhooks.staff import common

ADMIN_ROLES = {"admin", "systemadministrator"}
bp = Blueprint("mailbox", __name__)
common.protect(bp)

MAILBOX = """{% extends "base.html" %}
{% block title %}Brevlåda{% endblock %}
{% block content %}
<h1>Brevlåda</h1>
<p>{{ intro }}</p>
{% for m in mails %}
<article class="card">
  <h2>{{ m.subject }}</h2>
  <p>Till: {{ m.mail_to }} · {{ format_dt(m.captured_at) }}</p>
  <pre style="white-space: pre-wrap">{{ m.body }}</pre>
</article>
{% else %}
<p>Brevlådan är tom.</p>
{% endfor %}
{% endblock %}"""

FAILED = """{% extends "base.html" %}
{% block title %}Misslyckade utskick{% endblock %}
{% block content %}
<h1>Misslyckade utskick</h1>
{% if waiting %}
<p class="card"><strong>{{ waiting }} utskick väntar på ett nytt försök</strong> (de skickas automatiskt i upp
  till tre dygn). Senaste fel: {{ waiting_error }}</p>
{% endif %}
{% for r in rows %}
<article class="card">
  <h2>{{ r.payload.get("subject") }}</h2>
  {% if r.status == "uncertain" %}
  <p><strong>Osäkert:</strong> anslutningen bröts efter att brevet skickats, så det kan ha kommit fram.</p>
  {% endif %}
  <p>Till: {{ r.payload.get("to") }} · {{ r.attempts }} försök · {{ r.last_error }}</p>
  <form method="post" action="{{ url_for('mailbox.retry', outbox_id=r.id) }}">
    <input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
    {% if r.status == "uncertain" %}
    <label><input type="checkbox" name="dubblett" value="ja" required>
      Jag förstår att mottagaren kan få brevet två gånger.</label>
    {% endif %}
    <button type="submit">Skicka igen</button>
  </form>
</article>
{% else %}
<p>Inga misslyckade utskick.</p>
{% endfor %}
{% endblock %}"""


def _require_admin() -> None:
    if not (g.roles & ADMIN_ROLES):
        abort(403)


@bp.get("/brevlada")
def mailbox():
    """Administrators read every captured mail. Everyone else reads the mail sent to their own address
    (their reminders): the citizens' receipts carry contact data and private status links, which only
    the intake roles may see (``webhooks.intake.access``)."""
    newest = sa.select(CapturedMail).order_by(CapturedMail.id.desc()).limit(200)
    with get_engine().session() as s:
        if g.roles & ADMIN_ROLES:
            mails = s.execute(newest).scalars().all()
            intro = _(
                "I det inbyggda läget skickas ingen e-post: här syns allt som Delaktig skulle ha skickat."
            )
        else:
            own = s.execute(sa.select(User.email).where(User.name == g.user)).scalar()
            mails = []
            if own:  # the LIKE narrows; the parsed addresses decide (ann@x.se is not in joann@x.se)
                candidates = s.execute(newest.where(CapturedMail.mail_to.icontains(own, autoescape=True)))
                mails = [m for m in candidates.scalars() if _addressed_to(m.mail_to, own)]
            intro = _(
                "I det inbyggda läget skickas ingen e-post: här syns det som Delaktig skulle ha skickat till "
                "dig. E-post till andra syns bara för administratörer."
            )
    return render_template_string(MAILBOX, mails=mails, intro=intro, format_dt=common.format_dt)


def _addressed_to(mail_to: str, address: str) -> bool:
    return any(addr.lower() == address.lower() for _name, addr in getaddresses([mail_to]))


@bp.get("/admin/utskick")
def failed():
    _require_admin()
    waiting, waiting_error = outbox.waiting(get_engine())
    return render_template_string(
        FAILED, rows=outbox.failed(get_engine()), waiting=waiting, waiting_error=waiting_error
    )


@bp.post("/admin/utskick/<int:outbox_id>/skicka-igen")
def retry(outbox_id: int):
    _require_admin()
    try:
        outbox.retry(get_engine(), outbox_id, g.user, accept_duplicate=request.form.get("dubblett") == "ja")
    except Conflict as err:  # an uncertain mail without the confirmation, or already sent again
        flash(str(err))
        return redirect(url_for("mailbox.failed"))
    flash("Utskicket skickas igen.")
    return redirect(url_for("mailbox.failed"))


def register(app: Flask) -> None:
    app.register_blueprint(bp)
