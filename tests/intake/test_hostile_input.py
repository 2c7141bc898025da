"""Hostile input to the intake and the staff pages, over real HTTP on both databases: text no database can
keep is refused alike on SQLite and PostgreSQL (NUL, lone surrogates) and stores nothing; an address that
is two addresses is no address; a citizen's text never runs as a spreadsheet formula; the JSON API answers
JSON, also for routing errors; staff texts have a limit. Never a 500."""

from __future__ import annotations

import json

from engine import initiatives
from engine.initiative_models import Initiative
from tests.conftest import count
from tests.intake.conftest import CHANNEL, signed
from tests.intake.test_public import GOOD
from tests.intake.test_staff_access import initiatives_and_staff, signed_in  # noqa: F401 (fixture)
from tests.intake.test_webhook import BODY, nothing_stored, post


def test_nul_in_the_public_form_is_refused_and_stores_nothing(client, d):
    for field in ("subject", "text", "area", "name"):
        client.get("/initiativ")
        r = client.post_form("/initiativ", {**GOOD, field: "a\x00b"})
        assert r.status == 400 and "NUL" in r.text, (field, r.status)
    assert count(d, Initiative) == 0


def test_nul_in_a_sign_in_or_a_path_is_a_400_page(client, server, initiatives_and_staff):  # noqa: F811
    client.get("/logga-in")
    assert client.post_form("/logga-in", {"username": "stina\x00", "password": "x"}).status == 400
    c = signed_in(server, "stina")
    for path in ("/uppgifter/a%00b", "/arenden/a%00b", "/personal/initiativ/a%00b", "/uppgifter?rutin=%00"):
        r = c.get(path)
        assert r.status == 400 and "<html" in r.text.lower(), (path, r.status)


def test_webhook_fields_that_cannot_be_kept_are_named(client, d):
    for body, field in (
        ({**BODY, "subject": "a\u0000b"}, "subject"),
        ({**BODY, "initiator": {"name": "Eva\u0000", "email": "eva@example.se"}}, "initiator.name"),
    ):
        r = post(client, body)
        assert r.status == 422 and r.json()["fields"][0]["field"] == field, r.text
    raw = json.dumps({**BODY, "text": "\ud800"}).encode()  # a lone surrogate, as JSON may carry it
    r = post(client, raw)
    assert r.status == 422 and r.json()["fields"][0]["field"] == "text", r.text
    nothing_stored(d)


def test_webhook_headers_that_are_not_text_are_refused_as_json(client, d):
    raw = json.dumps(BODY).encode()
    headers = signed(raw)
    headers["X-Delaktig-Signature"] = "sha256=\u00e5"  # Latin-1 on the wire: not a signature
    r = client.request("POST", "/webhooks/initiatives", raw, headers)
    assert r.status == 401 and r.json()["error"] == "unauthorized"
    r = post(client, BODY, key="k\x00")
    assert r.status == 422 and r.json()["error"] == "validation_failed"
    nothing_stored(d)


def test_the_json_api_answers_json_for_unknown_paths_and_methods(client):
    for method, path, status in (("GET", "/webhooks/initiatives", 405), ("GET", "/webhooks/finns-inte", 404)):
        r = client.request(method, path, None, {})
        assert r.status == status and r.json()["error"] in ("method_not_allowed", "not_found"), r.text


def test_an_address_that_is_two_addresses_is_refused(client, d):
    for address in ("postmaster,ali@example.se", "a;b@example.se", '"eva"@example.se', "eva @example.se"):
        r = post(client, {**BODY, "initiator": {"name": "Eva", "email": address}})
        assert r.status == 422, (address, r.text)
        client.get("/initiativ")
        assert client.post_form("/initiativ", {**GOOD, "email": address}).status == 422, address
    nothing_stored(d)
    assert post(client, {**BODY, "initiator": {"name": "Åsa", "email": "åsa@malmö.se"}}).status == 201


def test_a_citizen_s_text_never_runs_as_a_formula_in_the_report(d, config, server):
    d.add_user("stina", "hemligt-losen-1", ["namndsekreterare"])
    for n, subject in enumerate(
        ('=HYPERLINK("http://evil.example","Klicka")', "@SUM(1+1)", "+1", "-1", "Bänkar")
    ):
        sub = initiatives.Submission(kind="synpunkt", subject=subject, text="Text", email=f"k{n}@example.se")
        initiatives.register(d, sub, config)
    report = signed_in(server, "stina").get("/personal/initiativ/rapport?format=csv").text
    subjects = [line.split(";")[2] for line in report.splitlines()[1:]]
    assert sorted(subjects) == sorted(
        ['"\'=HYPERLINK(""http://evil.example"",""Klicka"")"', "'@SUM(1+1)", "'+1", "'-1", "Bänkar"]
    ), subjects


def test_staff_texts_and_statuses_are_checked(d, server, initiatives_and_staff):  # noqa: F811
    _, unrouted = initiatives_and_staff
    c = signed_in(server, "stina")
    base = f"/personal/initiativ/{unrouted.initiative_id}"
    r = c.post_form(f"{base}/status", {"status": "bogus"})
    assert r.status == 422 and "Okänd status" in r.text
    r = c.post_form(f"{base}/anteckning", {"note": "x" * 10_001})
    assert r.status == 422 and "högst 10000 tecken" in r.text
    r = c.post_form(f"{base}/status", {"status": "decided", "decision": "y" * 10_001})
    assert r.status == 422 and "högst 10000 tecken" in r.text
    with d.session() as s:
        i = s.get(Initiative, unrouted.initiative_id)
        assert i.internal_note is None and i.status == "received"


def test_channel_header_with_nul_is_refused_before_anything(client, d):
    raw = json.dumps(BODY).encode()
    r = client.request(
        "POST", "/webhooks/initiatives", raw, {**signed(raw), "X-Delaktig-Channel": CHANNEL + "\x00"}
    )
    assert r.status in (401, 422) and r.json()["error"] in ("unauthorized", "validation_failed")
    nothing_stored(d)
