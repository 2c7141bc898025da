"""The public form and status page over real HTTP; e-mails through the outbox to a real SMTP server."""

from __future__ import annotations

import re
import threading
import urllib.parse

import pytest
import sqlalchemy as sa
from flask import Flask
from werkzeug.serving import make_server

from engine import initiatives
from engine.initiative_models import Initiative, InitiativeContact
from engine.models import Outbox
from tests.conftest import count
from tests.intake.conftest import RULES, TOKEN, Client, status_token
from webhooks import intake
from webhooks.app import create_app
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


def test_rate_limit_holds_under_parallel_posts(app, server, d):
    """Check and count are one step: a burst of parallel posts from one address registers no more than
    the limit (it used to check them all before counting any)."""
    app.extensions["intake_ratelimit"] = RateLimiter(3, 3600)
    clients = [Client(server) for _ in range(12)]
    for c in clients:
        c.get("/initiativ")
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []

    def send(c: Client) -> None:
        barrier.wait()
        statuses.append(c.post_form("/initiativ", GOOD).status)

    threads = [threading.Thread(target=send, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(statuses) == [200] * 3 + [429] * 9
    assert count(d, Initiative) == 3


def test_a_refused_form_gives_its_slot_back(app, client, d):
    app.extensions["intake_ratelimit"] = RateLimiter(2, 3600)
    client.get("/initiativ")
    for _ in range(3):
        assert client.post_form("/initiativ", {**GOOD, "subject": ""}).status == 422
    assert client.post_form("/initiativ", GOOD).status == 200
    assert client.post_form("/initiativ", GOOD).status == 200
    assert client.post_form("/initiativ", GOOD).status == 429
    assert count(d, Initiative) == 2


@pytest.mark.parametrize("hops", [0, 1])
def test_behind_a_proxy_each_citizen_has_their_own_limit(d, db_url, monkeypatch, hops):
    """DELAKTIG_PROXY_FIX=<proxies>: the limit counts the address the proxy forwards. Off by default, so
    a client that reaches the app directly cannot pick its address by sending the header itself."""
    monkeypatch.setenv("DELAKTIG_PROXY_FIX", str(hops))
    app = create_app({"DATABASE_URL": db_url, "SECRET_KEY": "k", "INTAKE_RULES": RULES})
    app.extensions["intake_ratelimit"] = RateLimiter(1, 3600)
    statuses = []
    for citizen in ("198.51.100.7", "203.0.113.9"):
        c = app.test_client()
        headers = {"X-Forwarded-For": citizen, "X-Forwarded-Proto": "https"}
        token = TOKEN.search(c.get("/initiativ", headers=headers).get_data(as_text=True)).group(1)
        statuses.append(c.post("/initiativ", data={**GOOD, "csrf_token": token}, headers=headers).status_code)
    if hops:
        assert statuses == [303, 303]
        assert count(d, Initiative) == 2
    else:
        assert statuses == [303, 429]  # both came from the same (the test client's) address
        assert count(d, Initiative) == 1


def test_a_citizen_whose_session_expired_gets_the_form_back_with_the_text_kept(client, d):
    """The staff app's CSRF check leaves the public form to its own: the citizen sees the form again, the
    text kept and a fresh token in it, never the staff error page."""
    long_text = "Vi behöver en ny lekplats vid Råcksta gård. " * 200
    client.get("/initiativ")
    client.jar.clear()  # the session cookie (and the token it signs) is gone
    for fields, token in (({**GOOD, "text": long_text}, True), ({**GOOD, "text": long_text}, False)):
        r = client.post_form("/initiativ", fields, token=token)
        assert r.status == 400
        assert "Formuläret har gått ut. Skicka det igen." in r.text
        assert long_text.strip() in r.text and 'value="Trasig gatubelysning"' in r.text
        assert "Till mina uppgifter" not in r.text and "/uppgifter" not in r.text
    assert count(d, Initiative) == 0
    r = client.post_form("/initiativ", {**GOOD, "text": long_text})  # with the token of that page
    assert r.status == 200 and "/initiativ/status/" in r.url
    assert count(d, Initiative) == 1


def test_errors_on_citizen_urls_use_the_intake_layout(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 4000
    client.get("/initiativ")
    body = urllib.parse.urlencode({**GOOD, "text": "x" * 8000, "csrf_token": client.token}).encode()
    replies = {
        404: client.get("/initiativ/finns-inte"),
        405: client.request("PUT", "/initiativ", b"", {}),
        413: client.request(
            "POST", "/initiativ", body, {"Content-Type": "application/x-www-form-urlencoded"}
        ),
    }
    for status, r in replies.items():
        assert r.status == status, (status, r.text)
        assert "Delaktig – lämna ett initiativ" in r.text  # the intake layout
        assert '<a href="/initiativ">Till formuläret för initiativ</a>' in r.text
        assert "Till mina uppgifter" not in r.text and "English" not in r.text
        assert r.headers["X-Frame-Options"] == "DENY" and r.headers["Cache-Control"] == "no-store"
    assert "Sidan finns inte" in replies[404].text and "Korta texten" in replies[413].text
    assert client.get("/initiativ/status/").status == 404
    assert "Till mina uppgifter" in client.get("/uppgifter-finns-inte").text  # staff URLs keep theirs


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
