"""The public form and status page over real HTTP; e-mails through the outbox to a real SMTP server."""

from __future__ import annotations

import re
import threading

import pytest
import sqlalchemy as sa
from flask import Flask
from werkzeug.serving import make_server

from engine import initiatives
from engine.initiative_models import Initiative, InitiativeContact
from engine.models import Outbox
from tests.conftest import count
from tests.intake.conftest import RULES, Client, status_token
from webhooks import intake
from webhooks.intake.ratelimit import RateLimiter

GOOD = {
    "kind": "synpunkt",
    "subject": "Trasig gatubelysning",
    "text": "Lamporna längs Råckstavägen har varit släckta i två veckor.",
    "area": "Råcksta",
    "name": "Olle Exempel",
    "email": "olle@example.se",
}


def test_form_is_swedish_labelled_and_protected(client):
    r = client.get("/initiativ")
    assert r.status == 200
    page = r.text
    assert '<html lang="sv">' in page
    for field in ("subject", "text", "area", "name", "email"):
        assert f'<label for="{field}"' in page and f'id="{field}"' in page
    for kind in initiatives.KINDS:
        assert f'<label for="kind-{kind}">' in page
    assert "<legend>Vad vill du lämna? (obligatoriskt)</legend>" in page
    assert "Så använder vi dina personuppgifter" in page
    assert 'class="trap" aria-hidden="true"' in page and 'tabindex="-1"' in page
    assert client.token  # the CSRF token is in the form
    assert r.headers["Referrer-Policy"] == "no-referrer"


def test_errors_are_reshown_with_the_entered_values(client, d):
    client.get("/initiativ")
    bad = {**GOOD, "kind": "", "text": "   ", "email": "olle-at-example"}
    r = client.post_form("/initiativ", bad)
    assert r.status == 422
    page = r.text
    assert "Formuläret innehåller 3 fel" in page
    assert 'href="#kind-synpunkt">Välj vilken sorts initiativ det är.' in page
    assert "Beskriv ditt initiativ." in page and "Skriv en giltig e-postadress" in page
    assert 'value="Trasig gatubelysning"' in page and 'value="olle-at-example"' in page
    assert 'value="Olle Exempel"' in page and 'value="Råcksta"' in page
    assert 'id="email" name="email"' in page and 'aria-invalid="true"' in page
    assert 'aria-describedby="pud email-error"' in page
    assert count(d, Initiative) == 0 and count(d, Outbox) == 0


def test_submission_gives_diary_number_receipt_and_status_page(client, d, relay, smtp):
    client.get("/initiativ")
    r = client.post_form("/initiativ", GOOD)
    assert r.status == 200 and "/initiativ/status/" in r.url
    assert "Tack! Ditt initiativ är registrerat med diarienummer KS " in r.text
    assert relay() == 1
    [receipt] = smtp.to("olle@example.se")
    dnr = re.search(r"Diarienummer: (KS \d{4}/\d{4})", receipt["body"]).group(1)
    assert receipt["subject"] == f"Mottagningsbevis {dnr}"
    token = status_token(receipt["body"])
    assert r.url.endswith(token + "?ny=1")
    page = client.get(f"/initiativ/status/{token}").text
    assert f"Ärende {dnr}" in page and "Mottaget" in page and "Trasig gatubelysning" in page
    assert "Beslut väntas senast" in page
    assert "Olle" not in page and "olle@example.se" not in page
    with d.session() as s:
        i = s.execute(sa.select(Initiative)).scalar_one()
    assert i.channel == "formular" and i.case_id is None  # synpunkter: no routine in this config
    assert i.routing["rule"] == "synpunkter handläggs utan rutin"


def test_status_changes_mail_the_initiator_and_publish_without_personal_data(client, d, relay, smtp):
    client.get("/initiativ")
    client.post_form("/initiativ", GOOD)
    relay()
    token = status_token(smtp.to("olle@example.se")[0]["body"])
    with d.session() as s:
        iid = s.execute(sa.select(Initiative.id)).scalar_one()
    initiatives.set_internal_note(d, iid, "nina", "Ring trafikkontoret – internt")
    initiatives.set_status(d, iid, "screened", "nina")
    initiatives.set_status(d, iid, "decided", "nina", decision="Belysningen lagas. Tack Olle Exempel!")
    initiatives.set_status(
        d, iid, "answered", "nina", answer="Lamporna byts vecka 12 (svar till olle@example.se)."
    )
    assert relay() == 3
    subjects = [m["subject"] for m in smtp.to("olle@example.se")]
    assert [s.split(": ")[-1] for s in subjects[1:]] == ["Granskat", "Beslutat", "Besvarat"]
    answered = smtp.to("olle@example.se")[-1]["body"]
    assert "Lamporna byts vecka 12" in answered and token in answered
    page = client.get(f"/initiativ/status/{token}").text
    assert "Besvarat" in page and "Belysningen lagas." in page and "Lamporna byts vecka 12" in page
    assert "Olle" not in page and "olle@example.se" not in page and "[personuppgift borttagen]" in page
    assert "trafikkontoret" not in page
    with d.session() as s:
        i = s.get(Initiative, iid)
    assert i.closed_at is not None  # no routine: answered closes it
    with pytest.raises(Exception, match="redan"):
        initiatives.set_status(d, iid, "decided", "nina", decision="igen")


def test_unknown_status_token_is_404(client):
    r = client.get("/initiativ/status/finns-inte")
    assert r.status == 404 and "Ärendet hittades inte" in r.text


def test_honeypot_and_missing_csrf_token_store_nothing(client, d):
    client.get("/initiativ")
    assert client.post_form("/initiativ", {**GOOD, "webbplats": "http://spam.example"}).status == 422
    assert client.post_form("/initiativ", GOOD, token=False).status == 400
    assert count(d, Initiative) == 0 and count(d, InitiativeContact) == 0


def test_rate_limit_per_address(app, client, d):
    app.extensions["intake_ratelimit"] = RateLimiter(2, 3600)
    client.get("/initiativ")
    assert client.post_form("/initiativ", GOOD).status == 200
    assert client.post_form("/initiativ", GOOD).status == 200
    r = client.post_form("/initiativ", GOOD)
    assert r.status == 429 and "många initiativ" in r.text and 'value="Trasig gatubelysning"' in r.text
    assert count(d, Initiative) == 2


def test_form_is_csrf_protected_without_the_staff_app_too(d, db_url):
    """Only the intake registered (no CSRFProtect): the form checks the token itself, and the webhook
    needs none."""
    app = Flask("webhooks.app")
    app.config.update(SECRET_KEY="x", INTAKE_RULES=RULES, DATABASE_URL=db_url)
    app.extensions["delaktig"] = d
    intake.register(app)
    assert "csrf" not in app.extensions
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        c = Client(f"http://127.0.0.1:{srv.server_port}")
        c.get("/initiativ")
        assert c.post_form("/initiativ", GOOD, token=False).status == 400
        assert c.post_form("/initiativ", {**GOOD, "csrf_token": "förfalskad"}, token=False).status == 400
        assert count(d, Initiative) == 0
        assert c.post_form("/initiativ", GOOD).status == 200
        assert count(d, Initiative) == 1
        r = c.request("POST", "/webhooks/initiatives", b"{}", {"Content-Type": "application/json"})
        assert r.status == 401  # reached the signature check, not a CSRF error
    finally:
        srv.shutdown()


def test_staff_views_without_the_staff_app_require_a_session_user(d, db_url):
    """The fallback when webhooks/staff is not registered: session["user"] is required, and staff POSTs
    are checked for the CSRF token."""
    app = Flask("webhooks.app")
    app.config.update(SECRET_KEY="x", INTAKE_RULES=RULES, DATABASE_URL=db_url)
    app.extensions["delaktig"] = d
    intake.register(app)
    reg = initiatives.register(
        d, initiatives.Submission("synpunkt", "Buller", "Text"), app.extensions["intake_config"]
    )
    c = app.test_client()
    assert c.get("/personal/initiativ/").status_code == 401
    with c.session_transaction() as s:
        s["user"] = "nina"
    page = c.get("/personal/initiativ/")
    assert page.status_code == 200 and reg.diarienummer in page.get_data(as_text=True)
    url = f"/personal/initiativ/{reg.initiative_id}/anteckning"
    assert c.post(url, data={"note": "x"}).status_code == 400
    token = re.search(
        r'name="csrf_token" value="([^"]+)"', c.get(url.rsplit("/", 1)[0]).get_data(as_text=True)
    )
    assert c.post(url, data={"note": "Internt", "csrf_token": token.group(1)}).status_code == 303
    assert initiatives.get(d, reg.initiative_id)[0].internal_note == "Internt"
