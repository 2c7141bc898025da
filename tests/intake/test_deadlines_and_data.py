"""Deadlines, the unanswered report (on demand and per half-year), staff views, purging personal data."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from engine import clock, initiatives
from engine.initiative_models import Initiative, InitiativeContact
from engine.models import AuditEvent, Case, Outbox
from engine.runtime import open_case
from tests.intake.conftest import PASSWORD, signed

T0 = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)


def register(d, config, kind: str, subject: str, email: str | None = None):
    sub = initiatives.Submission(
        kind=kind, subject=subject, text="Text", email=email, name="Kim" if email else None
    )
    return initiatives.register(d, sub, config)


def test_deadlines_order_and_unanswered_report_mail(d, config, relay, smtp):
    with clock.frozen(T0):
        old = register(d, config, "synpunkt", "Gammal synpunkt")
    with clock.frozen(T0 + timedelta(days=30)):
        forslag = register(d, config, "medborgarforslag", "Nytt förslag")
        answered = register(d, config, "synpunkt", "Besvarad")
        initiatives.set_status(
            d, answered.initiative_id, "answered", "nina", decision="Klart.", answer="Klart."
        )
    with clock.frozen(datetime(2026, 9, 2, 8, 0, tzinfo=UTC)):
        by_age = initiatives.list_initiatives(d, order="age", open_only=True)
        by_deadline = initiatives.list_initiatives(d, order="deadline", open_only=True)
        report = initiatives.unanswered_report(d)
        assert [r["subject"] for r in by_age] == ["Gammal synpunkt", "Nytt förslag"]
        # synpunkt: expected within 6 months (P6M) → 2026-07-10, overdue; förslag: statutory 2027-02-09
        assert [r["subject"] for r in by_deadline] == ["Gammal synpunkt", "Nytt förslag"]
        assert [(r["age_days"], r["expected_decision"], r["overdue"]) for r in report] == [
            (235, "2026-07-10", True),
            (205, "2027-02-09", False),
        ]
        assert report[1]["deadline"] == "2027-02-09"
        assert initiatives.queue_unanswered_report(d, config) == 1
        assert initiatives.queue_unanswered_report(d, config) == 0  # once per half-year
    with clock.frozen(datetime(2027, 3, 1, 8, 0, tzinfo=UTC)):
        assert initiatives.queue_unanswered_report(d, config) == 1  # the next half-year
        relay()
    mails = smtp.to("nina@kommun.example.se")
    assert [m["subject"] for m in mails] == [
        "Obesvarade initiativ 2026-09-01",
        "Obesvarade initiativ 2027-03-01",
    ]
    body = mails[0]["body"]
    assert old.diarienummer in body and forslag.diarienummer in body and answered.diarienummer not in body
    assert "235 dagar gammalt" in body and "beslut väntas senast 2026-07-10 – FÖRSENAT" in body


def test_staff_views_need_sign_in_and_show_age_deadline_and_report(client, d, config):
    d.add_user("stina", PASSWORD, ["namndsekreterare"], email="stina@kommun.example.se")
    reg = register(d, config, "medborgarforslag", "Parkering vid skolan", email="kim@example.se")
    anonymous = client.get("/personal/initiativ/")
    assert "/logga-in" in anonymous.url  # sent to sign in
    client.get("/logga-in")
    client.post_form("/logga-in", {"username": "stina", "password": PASSWORD})
    page = client.get("/personal/initiativ/?ordning=frist")
    assert page.status == 200 and reg.diarienummer in page.text and "närmast frist först" in page.text
    assert "dagar kvar" in page.text
    detail = client.get(f"/personal/initiativ/{reg.initiative_id}")
    assert "kim@example.se" in detail.text and "Medborgarförslag: Parkering vid skolan" in detail.text
    bad = client.post_form(f"/personal/initiativ/{reg.initiative_id}/status", {"status": "decided"})
    assert bad.status == 422 and "beslutet måste anges" in bad.text
    ok = client.post_form(
        f"/personal/initiativ/{reg.initiative_id}/status", {"status": "decided", "decision": "Bifall."}
    )
    assert ok.status == 200 and "Beslutat" in ok.text
    report = client.get("/personal/initiativ/rapport")
    assert report.status == 200 and reg.diarienummer in report.text
    csv = client.get("/personal/initiativ/rapport?format=csv")
    assert csv.headers["Content-Type"].startswith("text/csv") and reg.diarienummer in csv.text


def test_contact_data_is_purged_after_retention_with_audit(client, d, config, relay):
    raw = json.dumps(
        {
            "kind": "medborgarforslag",
            "subject": "Cykelbana",
            "text": "Bygg en cykelbana.",
            "initiator": {"name": "Maja Exempel", "email": "maja@example.se"},
        }
    ).encode()
    dnr = client.request("POST", "/webhooks/initiatives", raw, signed(raw, key="p-1")).json()["diarienummer"]
    relay()
    with d.session() as s:
        i = s.execute(sa.select(Initiative)).scalar_one()
    d.cancel_case(i.case_id, "nina", "dras tillbaka")
    initiatives.set_status(
        d, i.id, "answered", "nina", decision="Avskrivet.", answer="Förslaget drogs tillbaka."
    )
    assert initiatives.purge_expired(d, config) == []  # retention (P1Y) not yet over
    with clock.frozen(clock.now() + timedelta(days=367)):
        assert initiatives.purge_expired(d, config) == [dnr]
        assert initiatives.purge_expired(d, config) == []
    with d.session() as s:
        assert s.get(InitiativeContact, i.id) is None
        row = s.get(Initiative, i.id)
        case = s.get(Case, i.case_id)
        mails = s.execute(sa.select(Outbox)).scalars().all()
        events = s.execute(
            sa.select(AuditEvent.chain, AuditEvent.detail).where(AuditEvent.kind == "personal_data_purged")
        ).all()
        run = open_case(s, i.case_id, d.specs, "test", None)
        state_values = [
            t.data.get("initiator_email") for t in run.wf.get_tasks() if "initiator_email" in t.data
        ]
    assert row.contact_purged_at is not None and row.answer == "Förslaget drogs tillbaka."
    assert case.data["initiator_email"] is None and case.data["initiator_name"] is None
    assert state_values and set(state_values) == {None}
    assert all(m.payload["to"] != "maja@example.se" for m in mails)
    assert {c for c, _ in events} == {i.case_id, f"initiative:{i.id}"}
    assert any(
        detail.get("fields") == ["initiator_email", "initiator_name", "initiator_namn"]
        for _, detail in events
    )
    assert d.verify_audit() == []
