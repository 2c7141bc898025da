"""Mail pages: the mailbox of the embedded mode (mail captured instead of sent) and, for administrators,
the permanently failed mails with a "send again" action. Reads only; the retry is one engine call."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, Flask, abort, flash, g, redirect, render_template_string, url_for

from engine import outbox
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
<p>I det inbyggda läget skickas ingen e-post: här syns allt som Delaktig skulle ha skickat.</p>
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
{% for r in rows %}
<article class="card">
  <h2>{{ r.payload.get("subject") }}</h2>
  <p>Till: {{ r.payload.get("to") }} · {{ r.attempts }} försök · {{ r.last_error }}</p>
  <form method="post" action="{{ url_for('mailbox.retry', outbox_id=r.id) }}">
    <input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
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
    with get_engine().session() as s:
        mails = s.execute(sa.select(CapturedMail).order_by(CapturedMail.id.desc()).limit(200)).scalars().all()
    return render_template_string(MAILBOX, mails=mails, format_dt=common.format_dt)


@bp.get("/admin/utskick")
def failed():
    _require_admin()
    return render_template_string(FAILED, rows=outbox.failed(get_engine()))


@bp.post("/admin/utskick/<int:outbox_id>/skicka-igen")
def retry(outbox_id: int):
    _require_admin()
    outbox.retry(get_engine(), outbox_id, g.user)
    flash("Utskicket skickas igen.")
    return redirect(url_for("mailbox.failed"))


def register(app: Flask) -> None:
    app.register_blueprint(bp)
