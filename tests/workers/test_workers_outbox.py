"""The outbox relay against a real SMTP server (aiosmtpd), the capture mailer, leases (in-process)."""

from __future__ import annotations

import time
from datetime import timedelta

import sqlalchemy as sa
from conftest import deploy

from engine import clock, leases, outbox
from engine.mailer import CaptureMailer, SMTPMailer
from engine.models import AuditEvent, Outbox
from engine.reminder_models import CapturedMail


def smtp_mailer(inbox) -> SMTPMailer:
    return SMTPMailer("127.0.0.1", inbox.port, timeout=5)


def start_with_mail(d, n=1):
    deploy(d, "skicka")
    return [
        d.start_case("test_skicka", business_key=f"INI-{i}", variables={"email": f"p{i}@example.se"})
        for i in range(n)
    ]


def rows(d):
    with d.session() as s:
        return s.execute(sa.select(Outbox).order_by(Outbox.id)).scalars().all()


def test_relay_sends_each_row_once_with_audit_event(d, smtp):
    cases = start_with_mail(d, 3)
    result = outbox.relay_batch(d, smtp_mailer(smtp))
    assert (result.sent, result.failed) == (3, 0)
    assert outbox.relay_batch(d, smtp_mailer(smtp)).claimed == 0
    assert sorted(smtp.to()) == ["p0@example.se", "p1@example.se", "p2@example.se"]
    assert len(set(smtp.ids())) == 3
    assert str(smtp.messages[0]["Subject"]).startswith("Kvitto INI-")
    assert {r.status for r in rows(d)} == {"sent"}
    with d.session() as s:
        kinds = s.execute(sa.select(AuditEvent.case_id).where(AuditEvent.kind == "mail_sent")).scalars().all()
    assert sorted(kinds) == sorted(c.id for c in cases)
    assert d.verify_audit() == []


def test_each_person_gets_their_mails_in_outbox_order(d, smtp):
    now = clock.now()
    people = ["a@example.se", "b@example.se", "a@example.se", "a@example.se", "c@example.se", "b@example.se"]
    d.transaction(
        lambda s: s.execute(
            sa.insert(Outbox),
            [
                {
                    "dedupe_key": f"k{i}",
                    "kind": "email",
                    "payload": {"to": to, "subject": f"nr {i}", "body": "."},
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for i, to in enumerate(people)
            ],
        )
    )
    assert outbox.relay_batch(d, SMTPMailer("127.0.0.1", smtp.port, parallel=4)).sent == 6
    got = [(str(m["To"]), str(m["Subject"])) for m in smtp.messages]
    for person in set(people):
        expected = [f"nr {i}" for i, to in enumerate(people) if to == person]
        assert [subject for to, subject in got if to == person] == expected


def test_smtp_refusal_is_retried_with_backoff_then_delivered(d, smtp, monkeypatch):
    monkeypatch.setenv("DELAKTIG_OUTBOX_BACKOFF", "10")
    start_with_mail(d)
    smtp.refuse_until = time.monotonic() + 3600
    t0 = clock.now()
    clock.set(t0)
    assert outbox.relay_batch(d, smtp_mailer(smtp)).retried == 1
    row = rows(d)[0]
    assert (row.status, row.attempts) == ("pending", 1) and "451" in row.last_error
    assert row.next_attempt_at == t0 + timedelta(seconds=10)
    clock.set(t0 + timedelta(seconds=5))
    assert outbox.relay_batch(d, smtp_mailer(smtp)).claimed == 0  # not yet due
    clock.set(t0 + timedelta(seconds=11))
    assert outbox.relay_batch(d, smtp_mailer(smtp)).retried == 1
    assert rows(d)[0].next_attempt_at == t0 + timedelta(seconds=11 + 20)  # doubled
    smtp.refuse_until = 0
    clock.set(t0 + timedelta(seconds=40))
    assert outbox.relay_batch(d, smtp_mailer(smtp)).sent == 1
    assert len(smtp.messages) == 1 and rows(d)[0].status == "sent" and rows(d)[0].attempts == 3


def test_permanently_failed_mail_is_listed_and_retried_by_an_admin(d, smtp, monkeypatch):
    monkeypatch.setenv("DELAKTIG_OUTBOX_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("DELAKTIG_OUTBOX_BACKOFF", "1")
    (case,) = start_with_mail(d)
    smtp.refuse_until = time.monotonic() + 3600
    t0 = clock.now()
    for i in range(2):
        clock.set(t0 + timedelta(seconds=10 * i))
        outbox.relay_batch(d, smtp_mailer(smtp))
    failed = outbox.failed(d)
    assert [(f.status, f.attempts) for f in failed] == [("failed", 2)]
    clock.set(t0 + timedelta(hours=1))
    assert outbox.relay_batch(d, smtp_mailer(smtp)).claimed == 0  # failed stays failed
    smtp.refuse_until = 0
    outbox.retry(d, failed[0].id, "admin")
    assert outbox.relay_batch(d, smtp_mailer(smtp)).sent == 1
    assert outbox.failed(d) == [] and len(smtp.messages) == 1
    with d.session() as s:
        kinds = (
            s.execute(
                sa.select(AuditEvent.kind).where(AuditEvent.case_id == case.id).order_by(AuditEvent.seq)
            )
            .scalars()
            .all()
        )
    assert kinds[-3:] == ["mail_failed", "mail_retry_requested", "mail_sent"]
    assert d.verify_audit() == []


def test_unreachable_smtp_server_keeps_mail_pending(d):
    start_with_mail(d)
    result = outbox.relay_batch(d, SMTPMailer("127.0.0.1", 1, timeout=1))
    assert result.retried == 1 and rows(d)[0].status == "pending"


def test_expired_claim_is_taken_over_and_the_old_holder_cannot_finish(d, smtp, monkeypatch):
    monkeypatch.setenv("DELAKTIG_OUTBOX_LEASE", "5")
    start_with_mail(d)
    t0 = clock.now()
    clock.set(t0)
    (stale,) = outbox.claim(d)  # a worker claims, then dies
    clock.set(t0 + timedelta(seconds=6))
    assert outbox.relay_batch(d, smtp_mailer(smtp)).sent == 1
    assert outbox.mark_sent(d, [stale]) == set()  # the dead worker's claim is void
    assert len(smtp.messages) == 1


def test_capture_mailer_stores_mail_for_the_mailbox_page(d):
    start_with_mail(d, 2)
    assert outbox.relay_batch(d, CaptureMailer()).sent == 2
    with d.session() as s:
        mails = s.execute(sa.select(CapturedMail).order_by(CapturedMail.id)).scalars().all()
    assert [m.mail_to for m in mails] == ["p0@example.se", "p1@example.se"]
    assert "INI-0" in mails[0].body and mails[0].outbox_id == rows(d)[0].id


def test_beat_lease_one_leader_until_it_expires(d):
    t0 = clock.now()
    assert leases.acquire(d, "beat", "a", ttl=10, now=t0)
    assert not leases.acquire(d, "beat", "b", ttl=10, now=t0 + timedelta(seconds=1))
    assert leases.acquire(d, "beat", "a", ttl=10, now=t0 + timedelta(seconds=5))  # renewed
    assert not leases.acquire(d, "beat", "b", ttl=10, now=t0 + timedelta(seconds=14))
    assert leases.acquire(d, "beat", "b", ttl=10, now=t0 + timedelta(seconds=16))  # a stopped renewing
    clock.set(t0 + timedelta(seconds=17))
    assert leases.holder_of(d, "beat") == "b"
    leases.release(d, "beat", "b")
    assert leases.acquire(d, "beat", "a", ttl=10, now=t0 + timedelta(seconds=18))
