"""The outbox relay when the SMTP server misbehaves, and addresses it cannot send to (in-process, a real
aiosmtpd server; SQLite and PostgreSQL). Probe 8: F4–F9, F11, F12."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
import sqlalchemy as sa
from conftest import CONFIG_DIR, deploy

from engine import clock, outbox, reminders, routine_config
from engine.errors import Conflict, ValidationFailed
from engine.mailer import SMTPMailer, build_message, envelope_address
from engine.models import AuditEvent, Outbox, UserTask


def mailer(inbox) -> SMTPMailer:
    return SMTPMailer("127.0.0.1", inbox.port, timeout=5)


def insert(d, *addresses: str, payload: dict | None = None) -> None:
    now = clock.now()
    d.transaction(
        lambda s: s.execute(
            sa.insert(Outbox),
            [
                {
                    "dedupe_key": f"k{i}",
                    "kind": "email",
                    "payload": {"to": to, "subject": f"nr {i}", "body": "Hej", **(payload or {})},
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for i, to in enumerate(addresses)
            ],
        )
    )


def rows(d) -> list[Outbox]:
    with d.session() as s:
        return s.execute(sa.select(Outbox).order_by(Outbox.id)).scalars().all()


def kinds(d) -> list[str]:
    with d.session() as s:
        return s.execute(sa.select(AuditEvent.kind).order_by(AuditEvent.id)).scalars().all()


def test_530_on_mail_from_is_the_relays_problem_and_is_retried_not_failed(d, smtp):
    insert(d, "a@example.se", "b@example.se", "c@example.se")
    smtp.mail_reply = "530 5.7.0 Authentication required"
    result = outbox.relay_batch(d, mailer(smtp))
    assert (result.failed, result.retried, result.relay_down) == (0, 3, True)
    assert [(r.status, r.attempts) for r in rows(d)] == [("pending", 1)] * 3
    assert all("530" in r.last_error for r in rows(d))
    smtp.mail_reply = ""
    clock.set(clock.now() + timedelta(minutes=5))
    assert outbox.relay_batch(d, mailer(smtp)).sent == 3
    assert sorted(smtp.to()) == ["a@example.se", "b@example.se", "c@example.se"]


def test_550_for_one_recipient_fails_only_that_row_at_once(d, smtp):
    insert(d, "ok@example.se", "nej@example.se")
    original = smtp.handle_RCPT

    async def refuse(server, session, envelope, address, options):
        if address.startswith("nej@"):
            return "550 5.1.1 No such user"
        return await original(server, session, envelope, address, options)

    smtp.handle_RCPT = refuse
    result = outbox.relay_batch(d, mailer(smtp))
    assert (result.sent, result.failed) == (1, 1)
    assert [(r.status, r.attempts) for r in rows(d)] == [("sent", 1), ("failed", 1)]


def test_451_after_the_final_dot_is_retried_and_then_delivered_once(d, smtp):
    insert(d, "a@example.se")
    smtp.data_reply = "451 4.3.0 Temporary local problem"
    result = outbox.relay_batch(d, mailer(smtp))
    assert (result.retried, result.failed) == (1, 0)
    (row,) = rows(d)
    assert (row.status, row.sent_at) == ("pending", None) and "451" in row.last_error
    smtp.data_reply = ""
    clock.set(row.next_attempt_at + timedelta(seconds=1))
    assert outbox.relay_batch(d, mailer(smtp)).sent == 1
    assert smtp.to() == ["a@example.se"] and rows(d)[0].status == "sent"


def test_an_hour_long_outage_does_not_fail_the_mail(d, monkeypatch):
    """Connection refused at every retry for over an hour (it failed for good at 63.5 min before)."""
    insert(d, "a@example.se")
    down = SMTPMailer("127.0.0.1", 1, timeout=1)
    t0 = clock.now()
    clock.set(t0)
    while clock.now() < t0 + timedelta(hours=3):
        outbox.relay_batch(d, down)
        (row,) = rows(d)
        assert row.status == "pending", row.last_error
        clock.set(row.next_attempt_at)
    assert "RelayUnavailable" in row.last_error and row.attempts >= 8
    # The waits are capped (30 min) and the horizon is three days, then it fails.
    assert outbox.backoff(20) == timedelta(minutes=30)
    assert not outbox.gives_up(row.attempts) and outbox.gives_up(200)
    monkeypatch.setenv("DELAKTIG_OUTBOX_RETRY_HOURS", "1")
    assert outbox.gives_up(row.attempts)


def test_lost_reply_after_the_dot_is_uncertain_and_resent_only_when_confirmed(d, smtp):
    insert(d, "a@example.se", "b@example.se")
    smtp.drop_after_data = 1
    outbox.relay_batch(d, mailer(smtp))
    by_to = {r.payload["to"]: r for r in rows(d)}
    assert len(smtp.messages) == 2  # the server has both
    dropped = next(r for r in by_to.values() if r.status != "sent")
    assert dropped.status == "uncertain" and "kvittens" in dropped.last_error
    assert [r.id for r in outbox.failed(d)] == [dropped.id]  # listed for the administrator
    clock.set(clock.now() + timedelta(days=1))
    assert outbox.relay_batch(d, mailer(smtp)).claimed == 0  # never resent by itself
    with pytest.raises(Conflict, match="två gånger"):
        outbox.retry(d, dropped.id, "admin")
    outbox.retry(d, dropped.id, "admin", accept_duplicate=True)
    assert outbox.relay_batch(d, mailer(smtp)).sent == 1 and len(smtp.messages) == 3


def test_reminder_for_a_task_completed_before_sending_is_cancelled(d, smtp):
    deploy(d, "arlig")
    d.add_user("hanna", "pw-hanna-1", ["handlaggare"], email="hanna@kommun.se")
    config = routine_config.load(CONFIG_DIR)
    reminders.notify_assignments(d, config)
    clock.set(clock.now() - timedelta(days=10))
    case = d.start_case("test_arlig")
    clock.reset()
    assert reminders.notify_assignments(d, config) + reminders.scan(d, config) >= 1
    with d.session() as s:
        task_id = s.execute(sa.select(UserTask.id).where(UserTask.case_id == case.id)).scalar_one()
    d.complete_task(task_id, "hanna", {})  # done before the relay runs
    outbox.relay_batch(d, mailer(smtp))
    assert smtp.messages == []
    assert {r.status for r in rows(d) if r.payload.get("reminder")} == {"cancelled"}
    assert "reminder_cancelled" in kinds(d) and "reminder_sent" not in kinds(d)
    assert d.verify_audit() == []


def test_swedish_display_name_in_from_is_encoded_and_the_address_is_not(d, smtp, tmp_path, db_url):
    from engine.app import Delaktig
    from engine.config import Settings

    sender = "Västerås stad, kommunledning <noreply@vasteras.se>"
    app = Delaktig(settings=Settings.from_env(database_url=db_url, data_dir=tmp_path, mail_from=sender))
    try:
        insert(app, "a@example.se")
        assert outbox.relay_batch(app, mailer(smtp)).sent == 1
    finally:
        app.dispose()
    header = smtp.messages[0]["From"]
    (address,) = header.addresses
    assert (address.display_name, address.addr_spec) == (
        "Västerås stad, kommunledning",
        "noreply@vasteras.se",
    )
    assert header.defects == ()


def test_idn_domain_is_delivered_in_punycode(d, smtp):
    insert(d, "anna@malmö.se")
    assert outbox.relay_batch(d, mailer(smtp)).sent == 1
    assert smtp.to() == ["anna@xn--malm-8qa.se"]
    assert smtp.messages[0]["To"].addresses[0].domain == "xn--malm-8qa.se"


@pytest.mark.parametrize(
    "address",
    ["inte en adress", "inj@kommun.se\r\nBcc: spion@example.org", "åsa@kommun"],
)
def test_address_that_cannot_be_sent_fails_the_row_at_once(d, smtp, address):
    insert(d, address, "ok@example.se")
    result = outbox.relay_batch(d, mailer(smtp))
    assert (result.sent, result.failed, result.retried) == (1, 1, 0)
    bad = rows(d)[0]
    assert (bad.status, bad.attempts) == ("failed", 1)
    assert smtp.to() == ["ok@example.se"]


def test_local_part_with_swedish_letters_is_sent_with_smtputf8(d, smtp):
    insert(d, "åsa.öberg@malmö.se", "ok@example.se")
    assert outbox.relay_batch(d, mailer(smtp)).sent == 2
    by_to = {rcpts[0]: (options, raw) for _from, rcpts, options, raw in smtp.envelopes}
    assert set(by_to) == {"åsa.öberg@xn--malm-8qa.se", "ok@example.se"}
    options, raw = by_to["åsa.öberg@xn--malm-8qa.se"]
    assert "SMTPUTF8" in options
    assert "SMTPUTF8" not in by_to["ok@example.se"][0]  # plain mail stays plain
    # RFC 6532: the header holds the address in UTF-8, not as an encoded word (which is no address)
    assert "To: åsa.öberg@xn--malm-8qa.se\r\n".encode() in raw
    text = message_from_bytes(raw, policy=default_policy)
    assert str(text["Subject"]) == "nr 0" and text.get_content().strip() == "Hej"
    assert all(r.status == "sent" for r in rows(d))


def test_local_part_with_swedish_letters_fails_at_once_where_the_server_lacks_smtputf8(d, smtp_ascii):
    insert(d, "åsa@kommun.se", "ok@example.se")
    result = outbox.relay_batch(d, mailer(smtp_ascii))
    assert (result.sent, result.failed, result.retried) == (1, 1, 0)
    bad = rows(d)[0]
    assert (bad.status, bad.attempts) == ("failed", 1)
    assert "SMTPUTF8" in bad.last_error
    assert smtp_ascii.to() == ["ok@example.se"]


def test_staff_email_is_validated_when_the_user_is_added(d):
    for bad in ("inte en adress", "a@b.se\r\nBcc: x@y.se", "a@b"):
        with pytest.raises(ValidationFailed, match="giltig e-postadress"):
            d.add_user("nisse", "pw-nisse-12", [], email=bad)
    d.add_user("asa", "pw-asa-1234", [], email="åsa@kommun.se")  # sent with SMTPUTF8, below
    d.add_user("nisse", "pw-nisse-12", [], email="nisse@malmö.se")
    assert envelope_address("nisse@malmö.se") == "nisse@xn--malm-8qa.se"


def test_cli_users_add_refuses_a_bad_email(db_url, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from engine.cli import main

    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("DELAKTIG_DATA_DIR", str(tmp_path))
    args = ["users", "add", "nisse", "--password", "pw-nisse-12", "--email", "inte en adress"]
    out = CliRunner().invoke(main, args)
    assert out.exit_code != 0 and "giltig e-postadress" in out.output


def test_message_with_crlf_in_to_never_builds(d):
    with pytest.raises(Exception, match="ogiltig"):
        build_message("Delaktig <noreply@x.se>", {"to": "a@b.se\r\nBcc: c@d.se"}, "k")


def test_slow_server_keeps_the_lease_and_nobody_steals_the_mail(pg_d, smtp, monkeypatch):
    """Each RCPT takes 0.6 s, a group of 6 takes ~4 s, the lease is 2 s, and another relay starts every
    second: without renewal they take the rows over mid-send from each other (livelock)."""
    d = pg_d
    monkeypatch.setenv("DELAKTIG_OUTBOX_LEASE", "2")
    insert(d, *[f"p{i}@example.se" for i in range(6)])
    smtp.delay = 0.6
    results: dict[int, outbox.RelayResult] = {}

    def run(i: int):
        time.sleep(i * 1.0)
        results[i] = outbox.relay_batch(d, SMTPMailer("127.0.0.1", smtp.port, timeout=5, parallel=6))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results[0].sent == 6, results  # the first relay kept its claim to the end
    assert [results[i].claimed for i in range(1, 5)] == [0, 0, 0, 0], results
    assert sorted(smtp.to()) == sorted(f"p{i}@example.se" for i in range(6))  # each once
    assert {r.status for r in rows(d)} == {"sent"}
