"""The SMTP relay over TLS, against a real SMTP server (aiosmtpd) on 127.0.0.1 with its own certificate:
STARTTLS and implicit TLS, with SMTP AUTH (which the server allows only over TLS). The certificate is
verified — host name included — against ``DELAKTIG_SMTP_CA_FILE``; a server the relay cannot verify, a
wrong password, or a server that demands STARTTLS from a relay configured without it gets no mail, and
the mail stays pending for the next attempt."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from conftest import Inbox, deploy, free_port
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from engine import outbox
from engine.mailer import SMTPMailer
from engine.models import Outbox

USER, PASSWORD = "delaktig", "relä-lösen"  # smtplib alone cannot send this one (ASCII only)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 (the relay's CA file) and the server's context."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "delaktig-test-smtp")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("smtp-tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    return str(cert_file), server


class TlsInbox(Inbox):
    """Also records, per message, whether it came over TLS and from a signed-in client."""

    def __init__(self) -> None:
        super().__init__()
        self.sessions: list[tuple[bool, object]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        # STARTTLS sets session.ssl; an implicit-TLS connection is TLS from its first byte (its transport).
        tls = session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None
        self.sessions.append((tls, session.authenticated and session.auth_data.login))
        return await super().handle_DATA(server, session, envelope)


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


def _server(certificate, implicit: bool):
    _, context = certificate
    inbox = TlsInbox()
    port = free_port()
    options = {"ssl_context": context} if implicit else {"tls_context": context, "require_starttls": True}
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=_authenticator,
        # aiosmtpd counts only STARTTLS as TLS: with implicit TLS it would hide AUTH altogether.
        auth_require_tls=not implicit,
        server_hostname="127.0.0.1",
        **options,
    )
    controller.start()
    inbox.port = port
    return inbox, controller


@pytest.fixture(params=["starttls", "implicit"])
def tls_smtp(request, certificate):
    inbox, controller = _server(certificate, implicit=request.param == "implicit")
    inbox.mode = request.param
    yield inbox
    controller.stop()


def _queue_mail(d, n: int = 1) -> None:
    deploy(d, "skicka")
    for i in range(n):
        d.start_case("test_skicka", business_key=f"TLS-{i}", variables={"email": f"p{i}@example.se"})


def _statuses(d) -> list[str]:
    with d.session() as s:
        return list(s.execute(sa.select(Outbox.status).order_by(Outbox.id)).scalars())


def _mailer(inbox, certificate, **overrides) -> SMTPMailer:
    options = {
        "user": USER,
        "password": PASSWORD,
        "tls": inbox.mode == "implicit",
        "starttls": inbox.mode == "starttls",
        "ca_file": certificate[0],
        "timeout": 5,
    }
    return SMTPMailer("127.0.0.1", inbox.port, **{**options, **overrides})


def test_mail_goes_out_over_tls_signed_in(d, tls_smtp, certificate):
    _queue_mail(d, 3)
    with _mailer(tls_smtp, certificate, parallel=2) as mailer:
        assert outbox.relay_batch(d, mailer).sent == 3
    assert sorted(tls_smtp.to()) == ["p0@example.se", "p1@example.se", "p2@example.se"]
    assert tls_smtp.sessions == [(True, USER.encode())] * 3  # every message over TLS, after AUTH
    assert _statuses(d) == ["sent"] * 3


def test_from_env_reads_the_tls_settings(d, tls_smtp, certificate, monkeypatch):
    monkeypatch.setenv("DELAKTIG_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("DELAKTIG_SMTP_PORT", str(tls_smtp.port))
    monkeypatch.setenv("DELAKTIG_SMTP_USER", USER)
    monkeypatch.setenv("DELAKTIG_SMTP_PASSWORD", PASSWORD)
    monkeypatch.setenv("DELAKTIG_SMTP_CA_FILE", certificate[0])
    flag = "DELAKTIG_SMTP_TLS" if tls_smtp.mode == "implicit" else "DELAKTIG_SMTP_STARTTLS"
    monkeypatch.setenv(flag, "1")
    _queue_mail(d)
    with SMTPMailer.from_env() as mailer:
        assert outbox.relay_batch(d, mailer).sent == 1
    assert tls_smtp.sessions == [(True, USER.encode())]


@pytest.mark.parametrize(
    "overrides",
    [
        {"ca_file": None},  # the system's CA store does not know the server's certificate
        {"password": "fel"},
    ],
    ids=["unverified-certificate", "wrong-password"],
)
def test_a_server_the_relay_cannot_use_gets_nothing_and_mail_waits(d, tls_smtp, certificate, overrides):
    _queue_mail(d)
    with _mailer(tls_smtp, certificate, **overrides) as mailer:
        result = outbox.relay_batch(d, mailer)
    assert result.sent == 0
    assert tls_smtp.messages == []
    assert _statuses(d) == ["pending"]
    # Configured right, the next attempt delivers it.
    with d.session() as s, s.begin():
        s.execute(sa.update(Outbox).values(next_attempt_at=Outbox.created_at))
    with _mailer(tls_smtp, certificate) as mailer:
        assert outbox.relay_batch(d, mailer).sent == 1


def test_no_plain_text_to_a_server_that_demands_starttls(d, certificate):
    inbox, controller = _server(certificate, implicit=False)
    try:
        _queue_mail(d)
        with SMTPMailer("127.0.0.1", inbox.port, user=USER, password=PASSWORD, timeout=5) as mailer:
            assert outbox.relay_batch(d, mailer).sent == 0
        assert inbox.messages == [] and _statuses(d) == ["pending"]
    finally:
        controller.stop()
