"""The signed webhook over real HTTP: registration, signature and window, idempotency, schema, size."""

from __future__ import annotations

import json
import threading
import time

import sqlalchemy as sa

from engine.initiative_models import IdempotencyKey, Initiative, InitiativeContact
from engine.models import Case, Outbox
from tests.conftest import count
from tests.intake.conftest import CHANNEL, signed

BODY = {
    "kind": "medborgarforslag",
    "subject": "Fler bänkar i parken",
    "text": "Det behövs fler bänkar längs gångvägen i Vällingby park.",
    "area": "Vällingby",
    "external_id": "ext-1",
    "initiator": {"name": "Eva Exempel", "email": "eva@example.se"},
}


def post(client, body, **kw):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = signed(raw, **kw)
    return client.request("POST", "/webhooks/initiatives", raw, headers)


def nothing_stored(d):
    assert count(d, Initiative) == 0
    assert count(d, InitiativeContact) == 0
    assert count(d, IdempotencyKey) == 0
    assert count(d, Case) == 0
    assert count(d, Outbox) == 0


def test_signed_request_registers_routes_and_queues_receipt(client, d):
    r = post(client, BODY, key="k-1")
    assert r.status == 201, r.text
    body = r.json()
    year = time.localtime().tm_year
    assert body["diarienummer"] == f"KS {year}/0001"
    assert body["routed"] is True
    assert "/initiativ/status/" in body["status_url"]
    with d.session() as s:
        i = s.execute(sa.select(Initiative)).scalar_one()
        contact = s.get(InitiativeContact, i.id)
        case = s.get(Case, i.case_id)
        receipt = s.execute(sa.select(Outbox)).scalar_one()
    # personal data apart from the initiative; the case gets what its send tasks need
    assert (contact.name, contact.email) == ("Eva Exempel", "eva@example.se")
    assert not hasattr(i, "email")
    assert i.channel == CHANNEL and i.kind == "medborgarforslag" and i.status == "received"
    assert i.description == "Medborgarförslag: Fler bänkar i parken"
    assert case.process_key == "intake_test" and case.business_key == body["diarienummer"]
    assert (
        case.data["initiator_email"] == "eva@example.se" and case.data["diarienummer"] == body["diarienummer"]
    )
    # medborgarförslag: decided within one year
    assert (i.deadline_at - i.registered_at).days in (365, 366)
    assert receipt.payload["to"] == "eva@example.se"
    assert body["diarienummer"] in receipt.payload["body"] and body["status_url"] in receipt.payload["body"]


def test_same_idempotency_key_returns_first_response_and_creates_nothing(client, d):
    first = post(client, BODY, key="k-2")
    again = post(client, BODY, key="k-2")
    assert first.status == again.status == 201
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert count(d, Initiative) == 1 and count(d, Case) == 1 and count(d, Outbox) == 1
    other = post(client, {**BODY, "subject": "Annat"}, key="k-2")
    assert other.status == 409 and count(d, Initiative) == 1


def test_replayed_request_without_key_gets_first_response(client, d):
    raw = json.dumps(BODY).encode()
    headers = signed(raw)
    first = client.request("POST", "/webhooks/initiatives", raw, headers)
    replay = client.request("POST", "/webhooks/initiatives", raw, headers)
    assert first.status == replay.status == 201
    assert replay.json() == first.json()
    assert count(d, Initiative) == 1


def test_a_captured_request_replayed_under_another_key_or_none_creates_nothing(client, d):
    """The Idempotency-Key is not signed: the signature is remembered too, so changing or dropping the
    key of a captured request gets the first response, not a new initiative and a new receipt."""
    raw = json.dumps(BODY).encode()
    headers = signed(raw, key="k-original")
    first = client.request("POST", "/webhooks/initiatives", raw, headers)
    assert first.status == 201 and "Idempotent-Replayed" not in first.headers
    without_key = {k: v for k, v in headers.items() if k != "Idempotency-Key"}
    for replay in (
        {**headers, "Idempotency-Key": "attacker-1"},
        {**headers, "Idempotency-Key": "x"},
        without_key,
    ):
        again = client.request("POST", "/webhooks/initiatives", raw, replay)
        assert again.status == 201 and again.json() == first.json()
        assert again.headers.get("Idempotent-Replayed") == "true"
    assert count(d, Initiative) == 1 and count(d, Case) == 1 and count(d, Outbox) == 1
    # the client's own retry (same key, signed anew) still gets the first response, and so does a copy
    # of that retry without its key
    retry_headers = signed(raw, key="k-original", ts=int(headers["X-Delaktig-Timestamp"]) - 1)
    assert retry_headers["X-Delaktig-Signature"] != headers["X-Delaktig-Signature"]
    retry = client.request("POST", "/webhooks/initiatives", raw, retry_headers)
    assert retry.json() == first.json() and retry.headers.get("Idempotent-Replayed") == "true"
    del retry_headers["Idempotency-Key"]
    copy = client.request("POST", "/webhooks/initiatives", raw, retry_headers)
    assert copy.json() == first.json() and copy.headers.get("Idempotent-Replayed") == "true"
    assert count(d, Initiative) == 1 and count(d, Outbox) == 1


def test_parallel_copies_of_one_signed_request_under_different_keys_create_one_initiative(client, d):
    raw = json.dumps(BODY).encode()
    headers = signed(raw)
    barrier = threading.Barrier(8)
    replies: list = [None] * 8

    def send(n: int) -> None:
        barrier.wait()
        replies[n] = client.request(
            "POST", "/webhooks/initiatives", raw, {**headers, "Idempotency-Key": f"p-{n}"}
        )

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    created = [r for r in replies if r.status == 201 and "Idempotent-Replayed" not in r.headers]
    assert len(created) == 1, [(r.status, r.text) for r in replies]
    for r in replies:  # the others: the first response
        assert r.status == 201 and r.json() == created[0].json(), r.text
    assert count(d, Initiative) == 1 and count(d, Outbox) == 1
    late = client.request("POST", "/webhooks/initiatives", raw, {**headers, "Idempotency-Key": "p-late"})
    assert late.status == 201 and late.json() == created[0].json()


def test_a_refused_request_keeps_no_claim_on_its_signature(client, d):
    raw = json.dumps({**BODY, "kind": "okand"}).encode()
    headers = signed(raw, key="k-bad")
    assert client.request("POST", "/webhooks/initiatives", raw, headers).status == 422
    again = client.request("POST", "/webhooks/initiatives", raw, {**headers, "Idempotency-Key": "k-bad-2"})
    assert again.status == 422 and again.json()["error"] == "validation_failed"
    nothing_stored(d)


def test_forged_missing_and_stale_signatures_are_401_and_store_nothing(client, d):
    raw = json.dumps(BODY).encode()
    assert post(client, BODY, secret="fel-hemlighet").status == 401
    assert post(client, BODY, channel="okand").status == 401
    assert post(client, BODY, ts=int(time.time()) - 301).status == 401
    assert post(client, BODY, ts=int(time.time()) + 301).status == 401
    r = client.request("POST", "/webhooks/initiatives", raw, {"X-Delaktig-Channel": CHANNEL})
    assert r.status == 401 and "krävs" in r.json()["message"]
    # body changed after signing
    headers = signed(raw)
    tampered = raw.replace(b"parken", b"torget")
    r = client.request("POST", "/webhooks/initiatives", tampered, headers)
    assert r.status == 401 and r.json()["error"] == "unauthorized"
    nothing_stored(d)


def test_malformed_json_and_schema_violations_are_422_naming_fields(client, d):
    r = post(client, b"{not json")
    assert r.status == 422 and r.json()["error"] == "malformed_json"
    bad = {"kind": "klagomal", "subject": "", "initiator": {"email": "inte-en-adress"}, "extra": 1}
    r = post(client, bad)
    assert r.status == 422, r.text
    fields = {f["field"]: f["message"] for f in r.json()["fields"]}
    assert set(fields) == {"kind", "subject", "text", "extra", "initiator.email"}
    assert "tillåtna" in fields["kind"] and fields["text"] == "krävs" and fields["extra"] == "okänt fält"
    r = post(client, {**BODY, "subject": "x" * 201})
    assert r.status == 422 and r.json()["fields"] == [
        {"field": "subject", "message": "får vara högst 200 tecken"}
    ]
    r = post(client, [1, 2])
    assert r.status == 422
    nothing_stored(d)


def test_oversized_body_is_413(client, d):
    big = {**BODY, "text": "å" * 20000}
    r = post(client, big)
    assert r.status == 413 and r.json()["error"] == "payload_too_large"
    nothing_stored(d)


def test_follow_up_reaches_the_waiting_case(client, d):
    eforslag = {**BODY, "kind": "e_forslag", "subject": "Utegym i Hässelby strand"}
    dnr = post(client, eforslag, key="e-1").json()["diarienummer"]
    # the case waits for the vote threshold only after screening
    early = post(
        client, {**eforslag, "event": "threshold_reached", "reference": dnr, "votes": 250}, key="e-2"
    )
    assert early.status == 409
    with d.session() as s:
        case_id = s.execute(sa.select(Initiative.case_id)).scalar_one()
    task = _open_task(d, case_id, "Task_granska")
    d.complete_task(task, "hanna", {"granskning": "ok"})
    r = post(client, {**eforslag, "event": "threshold_reached", "reference": dnr, "votes": 250}, key="e-3")
    assert r.status == 200, r.text
    assert r.json() == {"diarienummer": dnr, "event": "threshold_reached", "delivered": True}
    with d.session() as s:
        case = s.get(Case, case_id)
    assert case.data["votes"] == 250
    assert _open_task(d, case_id, "Task_beslut")
    assert count(d, Initiative) == 1  # a follow-up gets no diary number of its own
    missing = post(client, {**eforslag, "event": "threshold_reached"})
    assert missing.status == 422 and missing.json()["fields"][0]["field"] == "reference"
    unknown = post(client, {**eforslag, "event": "threshold_reached", "reference": "KS 1999/0001"})
    assert unknown.status == 422 and unknown.json()["fields"][0]["field"] == "reference"


def test_schema_is_published(client):
    r = client.get("/webhooks/initiatives/schema")
    assert r.status == 200 and "kind" in r.json()["properties"]


def _open_task(d, case_id, element_id):
    from engine.models import UserTask

    with d.session() as s:
        return s.execute(
            sa.select(UserTask.id).where(
                UserTask.case_id == case_id, UserTask.element_id == element_id, UserTask.state == "open"
            )
        ).scalar()
