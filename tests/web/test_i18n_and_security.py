"""Translations in sync, security headers, CSRF exemptions for the API blueprints, error pages."""

from __future__ import annotations

import os
from pathlib import Path

from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import Blueprint

from tests.web.conftest import Staff, ensure_user, html

WEBHOOKS = Path(__file__).resolve().parents[2] / "webhooks"
PO = WEBHOOKS / "translations/en/LC_MESSAGES/messages.po"
MO = WEBHOOKS / "translations/en/LC_MESSAGES/messages.mo"


def test_committed_mo_matches_the_po():
    with PO.open("rb") as f:
        po = read_po(f)
    with MO.open("rb") as f:
        mo = read_mo(f)
    po_msgs = {m.id: m.string for m in po if m.id}
    mo_msgs = {m.id: m.string for m in mo if m.id}
    assert po_msgs == mo_msgs


def test_every_ui_string_has_an_english_translation(tmp_path):
    pot = tmp_path / "messages.pot"
    cli = CommandLineInterface()
    cwd = os.getcwd()
    try:
        os.chdir(WEBHOOKS)
        cli.run(
            ["pybabel", "-q", "extract", "-F", "babel.cfg", "-k", "_l", "-o", str(pot), "--no-location", "."]
        )
    finally:
        os.chdir(cwd)
    with pot.open("rb") as f:
        wanted = {m.id for m in read_po(f) if m.id}
    with PO.open("rb") as f:
        translated = {m.id for m in read_po(f) if m.id and m.string}
    assert wanted - translated == set()
    assert len(wanted) > 100


def test_security_headers_on_staff_pages(staff):
    r = staff("anna").get("/uppgifter")
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["Cache-Control"] == "no-store"
    assert "<script>" not in html(r)  # no inline script anywhere (CSP would block it)


def test_security_headers_on_the_initiative_and_mail_pages(app, engine, staff):
    """The other areas' signed-in pages (citizens' contact data, buttons that mail a citizen) cannot be
    framed or cached either."""
    from engine import initiatives

    reg = initiatives.register(
        engine, initiatives.Submission("synpunkt", "Buller", "Text"), app.extensions["intake_config"]
    )
    s = staff("adam")
    for url in (
        "/personal/initiativ/",
        "/personal/initiativ/rapport",
        f"/personal/initiativ/{reg.initiative_id}",
        "/brevlada",
        "/admin/utskick",
    ):
        r = s.get(url)
        assert r.status_code == 200, url
        assert r.headers["X-Frame-Options"] == "DENY", url
        assert r.headers["X-Content-Type-Options"] == "nosniff", url
        csp = r.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, url
        assert r.headers["Cache-Control"] == "no-store", url


def test_api_blueprints_are_csrf_exempt_and_keep_their_own_errors(d, db_url):
    """Blueprints named "rest" and "webhooks_api" (other areas) take POSTs without a CSRF token."""
    from flask import Flask

    from engine.app import Delaktig
    from webhooks import staff

    app = Flask("webhooks.app")
    app.config.update(SECRET_KEY="k")
    app.extensions["delaktig"] = Delaktig(database_url=db_url)
    staff.register(app)
    for name, prefix in (("rest", "/engine-rest-test"), ("webhooks_api", "/webhooks-test")):
        bp = Blueprint(name, __name__, url_prefix=prefix)
        bp.add_url_rule("/ping", f"ping_{name}", lambda: {"ok": True}, methods=["POST"])
        app.register_blueprint(bp)
    c = app.test_client()
    assert c.post("/engine-rest-test/ping").get_json() == {"ok": True}
    assert c.post("/webhooks-test/ping").get_json() == {"ok": True}
    r = c.get("/engine-rest/no-such-thing")
    assert r.status_code == 404 and r.mimetype == "application/json"  # Camunda's shape, no staff HTML page
    assert c.post("/logga-ut").status_code == 400  # staff forms still need the token
    app.extensions["delaktig"].dispose()


def test_error_pages_are_in_english_when_chosen(app):
    ensure_user(app, "anna")
    s = Staff(app)
    s.login("anna")
    s.post("/sprak", {"lang": "en"})
    r = s.get("/uppgifter/nope")
    assert r.status_code == 404 and "Page not found" in html(r) and "The task does not exist." in html(r)
