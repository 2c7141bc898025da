"""Session 10's hostile-input probe of the intake, over real HTTP on both databases (and a real SMTP server
for the receipt): what a citizen or a member of staff typed is never lost on an error, and an address no
mail server delivers to is refused at the door instead of being promised a receipt that never comes."""

from __future__ import annotations

import html
import re

import sqlalchemy as sa

from engine.initiative_models import Initiative
from tests.conftest import count
from tests.intake.test_public import GOOD
from tests.intake.test_staff_access import initiatives_and_staff, signed_in  # noqa: F401 (fixture)
from tests.intake.test_webhook import BODY, nothing_stored, post


def _field_error(page: str, field: str) -> str:
    m = re.search(rf'<p class="field-error" id="{field}-error">(.*?)</p>', page, re.S)
    assert m, page
    shown = re.sub(r'<span class="visually-hidden">[^<]*</span>', "", m.group(1))  # ("Fel: " for readers)
    return html.unescape(re.sub(r"<[^>]+>", "", shown)).strip()


def test_an_internal_note_that_is_too_long_comes_back_as_typed(d, server, initiatives_and_staff):  # noqa: F811
    """Before: the page showed the stored note again and the 10,001 typed characters were gone."""
    _, unrouted = initiatives_and_staff
    c = signed_in(server, "stina")
    typed = "Ring initiativtagaren först. " + "x" * 10_000
    r = c.post_form(f"/personal/initiativ/{unrouted.initiative_id}/anteckning", {"note": typed})
    assert r.status == 422
    assert _field_error(r.text, "note") == "Får vara högst 10000 tecken."
    note = re.search(r'<textarea id="note" name="note"[^>]*>(.*?)</textarea>', r.text, re.S).group(1)
    assert html.unescape(note) == typed
    assert 'aria-invalid="true" aria-describedby="note-error"' in r.text
    with d.session() as s:
        assert s.get(Initiative, unrouted.initiative_id).internal_note is None


def test_an_unknown_status_is_marked_on_its_field(server, initiatives_and_staff):  # noqa: F811
    _, unrouted = initiatives_and_staff
    c = signed_in(server, "stina")
    r = c.post_form(f"/personal/initiativ/{unrouted.initiative_id}/status", {"status": "bogus"})
    assert r.status == 422 and "Okänd status" in _field_error(r.text, "status")
    assert '<select id="status" name="status" aria-invalid="true" aria-describedby="status-error">' in r.text


UNDELIVERABLE = (
    "anna.@example.se",  # a dot at the end of the part before the @
    ".anna@example.se",
    "anna..berg@example.se",
    "anna@-kommun.se",  # a host name does not start or end with a hyphen
    "anna@kommun-.se",
    "anna@" + "k" * 64 + ".se",  # a label of more than 63 characters (the receipt failed at sending)
    "a" * 65 + "@example.se",
)


def test_an_address_no_server_delivers_to_is_refused_with_the_text_kept(client, d):
    """Before: each was registered and the citizen told a receipt was sent; the mail could never arrive."""
    for address in UNDELIVERABLE:
        client.get("/initiativ")
        r = client.post_form("/initiativ", {**GOOD, "email": address})
        assert r.status == 422, (address, r.status)
        assert _field_error(r.text, "email").startswith("Skriv en giltig e-postadress"), address
        assert f'value="{address}"' in r.text and 'value="Trasig gatubelysning"' in r.text
        assert "Lamporna längs Råckstavägen" in r.text
        r = post(client, {**BODY, "initiator": {"name": "Eva", "email": address}})
        assert r.status == 422 and r.json()["fields"][0]["field"] == "initiator.email", (address, r.text)
    nothing_stored(d)


def test_good_addresses_still_get_their_receipt(client, d, relay, smtp):
    for address in ("anna.berg+initiativ@example.se", "o'neil@example.se", "olle@malmö.se"):
        client.get("/initiativ")
        r = client.post_form("/initiativ", {**GOOD, "email": address})
        assert r.status == 200 and "/initiativ/status/" in r.url, (address, r.status)
    assert relay() == 3
    assert sorted(a for m in smtp.messages for a in m["to"]) == sorted(
        ["anna.berg+initiativ@example.se", "o'neil@example.se", "olle@xn--malm-8qa.se"]
    )


def test_a_nul_in_the_form_gives_the_form_back_with_the_text_kept(client, d):
    """Before: a bare error page ("Felaktig begäran"), and the citizen's text was gone."""
    client.get("/initiativ")
    r = client.post_form("/initiativ", {**GOOD, "text": "Lamporna\x00 är släckta."})
    assert r.status == 400
    assert "NUL" in _field_error(r.text, "text")
    assert '<textarea id="text" name="text"' in r.text and ">Lamporna är släckta.</textarea>" in r.text
    assert 'value="Trasig gatubelysning"' in r.text and 'value="olle@example.se"' in r.text
    # in a field that is not the citizen's (a key or a hidden field): the form again, with a notice
    client.get("/initiativ")
    r = client.post_form("/initiativ", {**GOOD, "inlamning": "x\x00"})
    assert r.status == 400 and '<div class="notice" role="alert"><p>Texten innehöll' in r.text
    assert 'value="Trasig gatubelysning"' in r.text
    assert count(d, Initiative) == 0
    # a NUL elsewhere is still refused by the app-wide guard
    assert client.get("/initiativ/status/a%00b").status == 400
    # and the form then goes through once the text is fine
    client.get("/initiativ")
    assert client.post_form("/initiativ", GOOD).status == 200
    with d.session() as s:
        assert s.execute(sa.select(Initiative.text)).scalar_one() == GOOD["text"]


def test_a_body_that_is_not_json_is_named_in_swedish(client, d):
    """Before: Python's English parser text ("Expecting property name enclosed in double quotes: …")."""
    for raw, message in (
        (b"{not json", "ogiltig JSON på rad 1, kolumn 2"),
        (b'{"kind":\n "synpunkt",}', "ogiltig JSON på rad 2, kolumn 13"),
        (b"\xff{}", "inte UTF-8 (byte 0)"),
        (b"[" * 15_000, "nästlad djupare än 100 nivåer"),
    ):
        r = post(client, raw)
        assert r.status == 422 and r.headers["Content-Type"] == "application/json", (raw[:20], r.status)
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.json()["error"] == "malformed_json"
        assert r.json()["fields"] == [{"field": "(body)", "message": message}], r.text
    nothing_stored(d)


def test_the_json_answer_with_the_status_link_is_not_cached_nor_sniffed(client, d):
    r = post(client, BODY)
    assert r.status == 201 and "/initiativ/status/" in r.json()["status_url"]
    assert r.headers["Cache-Control"] == "no-store" and r.headers["X-Content-Type-Options"] == "nosniff"
