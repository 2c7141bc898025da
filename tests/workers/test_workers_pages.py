"""The mailbox page (embedded mode) and the administrators' failed-mails page with its retry action."""

from __future__ import annotations

import time

import sqlalchemy as sa
from conftest import deploy

from engine import outbox
from engine.mailer import CaptureMailer, SMTPMailer
from engine.models import Outbox


def client_for(d, db_url, user):
    from webhooks.app import create_app

    app = create_app({"DATABASE_URL": db_url, "TESTING": True, "WTF_CSRF_ENABLED": False, "SECRET_KEY": "t"})
    client = app.test_client()
    if user:
        with client.session_transaction() as session:
            session["user"] = user
            session["auth"] = "local"
    return app, client


def test_mailbox_shows_captured_mail_and_needs_sign_in(d, db_url):
    deploy(d, "skicka")
    d.add_user("adam", "pw-adam-12", ["admin"])
    d.start_case("test_skicka", business_key="INI-7", variables={"email": "p@example.se"})
    outbox.relay_batch(d, CaptureMailer())
    app, anonymous = client_for(d, db_url, None)
    assert anonymous.get("/brevlada").status_code == 302
    _, client = client_for(d, db_url, "adam")
    page = client.get("/brevlada")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Kvitto INI-7" in text and "p@example.se" in text
    assert "allt som Delaktig skulle ha skickat" in text
    app.extensions["delaktig"].dispose()


def test_staff_read_only_their_own_mail_in_the_mailbox(d, db_url):
    """A citizen's receipt (contact data, a private status link) is for administrators; other staff see
    the mail sent to their own address, matched as a whole address."""
    deploy(d, "skicka")
    d.add_user("anna", "pw-anna-12", ["handlaggare"], email="Anna@Kommun.example.se")
    d.add_user("nils", "pw-nils-12", ["handlaggare"], email="na@kommun.example.se")
    d.add_user("olle", "pw-olle-12", ["kontaktcenter"])  # no address
    d.start_case("test_skicka", business_key="INI-7", variables={"email": "p@example.se"})
    d.start_case("test_skicka", business_key="INI-9", variables={"email": "anna@kommun.example.se"})
    outbox.relay_batch(d, CaptureMailer())
    app, anna = client_for(d, db_url, "anna")
    text = anna.get("/brevlada").get_data(as_text=True)
    assert "Kvitto INI-9" in text and "anna@kommun.example.se" in text
    assert "Kvitto INI-7" not in text and "p@example.se" not in text
    assert "E-post till andra syns bara för administratörer." in text
    assert anna.get("/admin/utskick").status_code == 403
    for name in ("nils", "olle"):  # "na@…" is inside "anna@…", but is not that address
        _, other = client_for(d, db_url, name)
        page = other.get("/brevlada")
        assert page.status_code == 200 and "Brevlådan är tom." in page.get_data(as_text=True)
    app.extensions["delaktig"].dispose()


def test_admin_sees_failed_mail_and_sends_it_again(d, db_url, smtp, monkeypatch):
    monkeypatch.setenv("DELAKTIG_OUTBOX_MAX_ATTEMPTS", "1")
    deploy(d, "skicka")
    d.add_user("admin", "pw-admin-12", ["admin"])
    d.start_case("test_skicka", business_key="INI-8", variables={"email": "q@example.se"})
    smtp.refuse_until = time.monotonic() + 3600
    mailer = SMTPMailer("127.0.0.1", smtp.port, timeout=5)
    assert outbox.relay_batch(d, mailer).failed == 1
    app, client = client_for(d, db_url, "admin")
    text = client.get("/admin/utskick").get_data(as_text=True)
    assert "Kvitto INI-8" in text and "451" in text
    assert "väntar på ett nytt försök" not in text  # failed for good, not waiting
    (row_id,) = [r.id for r in outbox.failed(d)]
    assert client.post(f"/admin/utskick/{row_id}/skicka-igen").status_code == 302
    with d.session() as s:
        assert s.execute(sa.select(Outbox.status).where(Outbox.id == row_id)).scalar() == "pending"
    smtp.refuse_until = 0
    assert outbox.relay_batch(d, mailer).sent == 1 and smtp.to() == ["q@example.se"]
    assert "Inga misslyckade utskick" in client.get("/admin/utskick").get_data(as_text=True)
    app.extensions["delaktig"].dispose()


def test_uncertain_mail_is_shown_and_sent_again_only_with_confirmation(d, db_url, smtp):
    deploy(d, "skicka")
    d.add_user("admin", "pw-admin-12", ["admin"])
    d.start_case("test_skicka", business_key="INI-5", variables={"email": "q@example.se"})
    smtp.drop_after_data = 1  # the server keeps the mail, the client never hears the 250
    outbox.relay_batch(d, SMTPMailer("127.0.0.1", smtp.port, timeout=5))
    (row,) = outbox.failed(d)
    assert row.status == "uncertain"
    app, client = client_for(d, db_url, "admin")
    text = client.get("/admin/utskick").get_data(as_text=True)
    assert "Osäkert" in text and "kan få brevet två gånger" in text
    page = client.post(f"/admin/utskick/{row.id}/skicka-igen", follow_redirects=True)
    assert "två gånger" in page.get_data(as_text=True)  # refused without the confirmation
    with d.session() as s:
        assert s.execute(sa.select(Outbox.status).where(Outbox.id == row.id)).scalar() == "uncertain"
    client.post(f"/admin/utskick/{row.id}/skicka-igen", data={"dubblett": "ja"})
    with d.session() as s:
        assert s.execute(sa.select(Outbox.status).where(Outbox.id == row.id)).scalar() == "pending"
    app.extensions["delaktig"].dispose()


def test_relay_outage_shows_on_the_admin_page_before_anything_fails(d, db_url):
    deploy(d, "skicka")
    d.add_user("admin", "pw-admin-12", ["admin"])
    d.start_case("test_skicka", business_key="INI-6", variables={"email": "q@example.se"})
    outbox.relay_batch(d, SMTPMailer("127.0.0.1", 1, timeout=1))  # nothing listens on port 1
    app, client = client_for(d, db_url, "admin")
    text = client.get("/admin/utskick").get_data(as_text=True)
    assert "1 utskick väntar på ett nytt försök" in text and "Connection refused" in text
    assert "Inga misslyckade utskick" in text
    app.extensions["delaktig"].dispose()
