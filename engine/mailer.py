"""Mailers: SMTP from the environment, and a capture mailer for the embedded mode; Swedish templates.

The relay (``engine.outbox``) hands a mailer a group of messages and a ``commit`` callback that marks the
outbox rows sent (with their audit events) in one transaction. The SMTP mailer calls it *after* every
message has been written to its server connection but *before* the final ``<CRLF>.<CRLF>``: an SMTP
server only accepts a message on that final dot, so a worker killed before the commit leaves half-sent
messages the servers throw away (the rows are still claimed, and are sent again, once, when the claim
expires), and a worker killed after the commit has already made the sends durable. The window that
remains — between our commit and writing five bytes per connection — is microseconds, not an SMTP round
trip plus a database commit; and one commit per group (not per mail) is what makes 10,000 mails a minute.
Two outcomes stay open: if the database connection is lost while that COMMIT is under way, after the
dots went out, the rows are sent again (at least once in that window); and if the connection to the SMTP
server drops after the dot before its reply, the row is ``uncertain`` (``Uncertain``), not resent.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import smtplib
import ssl
from collections.abc import Callable
from datetime import UTC
from email import message_from_bytes
from email.header import Header, decode_header, make_header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import SMTPUTF8 as SMTPUTF8_POLICY
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.orm import Session

from engine import clock
from engine.reminder_models import CapturedMail

TEMPLATES = Path(__file__).resolve().parent / "templates" / "mail"
_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)
# commit(ids, extra, release) marks the given outbox rows sent in one transaction (running
# ``extra(session, ids)`` in it), calls ``release(ids)`` once the commit is on its way, and returns the ids
# it could mark (a row whose lease was lost is not among them).
Commit = Callable[
    [list[int], Callable[[Session, set[int]], None] | None, Callable[[set[int]], None] | None], set[int]
]


class LeaseLost(Exception):
    """Another worker took the row over (our lease ran out): its message was not finished."""


class PermanentFailure(Exception):
    """Retrying will not help: the server refused this recipient or message (a 5xx to RCPT, DATA or
    the final dot), or the address or message cannot be built at all."""


class RelayUnavailable(smtplib.SMTPException):
    """The relay itself could not be used — no connection, no answer within the timeout, a certificate
    that does not verify, AUTH or MAIL FROM refused. Nothing is wrong with the message: it waits and is
    tried again until the retry horizon (a 530 for a missing relay password is the operator's to fix and
    must not fail every mail for good). The relay stops its run at the first one: the next message would
    wait for the same dead server."""


class Uncertain(Exception):
    """The final dot went out but no reply came (the connection dropped): the server may have the
    message. Sending it again may deliver it twice, so it is not retried by itself."""


# Replies that mean "this relay wants authentication" even when they come as 5xx: the operator's
# configuration, not the message, is wrong.
_RELAY_CODES = frozenset({530, 535, 538})


def envelope_address(address: str) -> str:
    """The address as it goes on the wire (envelope and header): the domain in IDNA (malmö.se →
    xn--malm-8qa.se), which every server accepts. A local part with å, ä, ö (``åsa@kommun.se``) stays as
    it is: it needs SMTPUTF8 (RFC 6531), which the sending checks for. A malformed address cannot be
    delivered at all: it fails the row at once instead of being retried."""
    from engine.mail import EMAIL  # here, not at the top: engine.mail imports the models

    address = (address or "").strip()
    if not EMAIL.match(address):
        raise PermanentFailure(f"ogiltig e-postadress: {address!r}")
    local, _, domain = address.rpartition("@")
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError as err:
        raise PermanentFailure(f"ogiltig domän i {address!r}: {err}") from err
    return f"{local}@{domain}"


def sender_header(sender: str) -> str:
    """``Malmö stad <noreply@malmo.se>`` as a valid From header: only the display name is encoded
    (RFC 2047), the address stays a plain address (a receiver must be able to read it, DMARC too). A
    comma in an unquoted name (``Västerås stad, kommunledning <…>``) is taken as part of the name. A
    sender that is no address is the operator's to fix: ``RelayUnavailable``, so mail waits, not fails."""
    bracketed = re.fullmatch(r"\s*(.*?)\s*<([^<>]*)>\s*", sender or "")
    if bracketed:
        name, address = bracketed.group(1).strip('"').strip(), bracketed.group(2)
    else:
        name, address = parseaddr(sender or "")
    try:
        return formataddr((name, envelope_address(address)), charset="utf-8")
    except PermanentFailure as err:
        raise RelayUnavailable(f"DELAKTIG_MAIL_FROM {sender!r}: {err}") from err


def render(template: str, **context: Any) -> tuple[str, str]:
    """Plain text and HTML bodies of ``templates/mail/<template>.txt|.html``."""
    return (
        _env.get_template(f"{template}.txt").render(**context),
        _env.get_template(f"{template}.html").render(**context),
    )


def message_id(dedupe_key: str, sender: str) -> str:
    """Stable per outbox row, so a receiving system can also recognise a repeat."""
    domain = parseaddr(sender)[1].partition("@")[2] or "delaktig.local"
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        domain = "delaktig.local"
    return f"<{hashlib.sha256(dedupe_key.encode()).hexdigest()[:40]}@{domain}>"


def build_message(sender: str, payload: dict[str, Any], dedupe_key: str) -> Message:
    """A MIME message (text, plus HTML as an alternative). The compat32 classes: the modern
    ``Message`` header parsing costs milliseconds per mail, which shows at 10,000 reminders. Raises
    ``PermanentFailure`` for an address that cannot be sent to."""
    text = MIMEText(payload.get("body") or "", "plain", "utf-8")
    if payload.get("html"):
        msg: Message = MIMEMultipart("alternative")
        msg.attach(text)
        msg.attach(MIMEText(payload["html"], "html", "utf-8"))
    else:
        msg = text
    msg["From"] = sender_header(sender)
    to = envelope_address(payload["to"])
    msg["To"] = to if to.isascii() else "utf8-recipient@invalid"  # set below, see _international
    msg["Subject"] = Header(payload.get("subject") or "Meddelande från Delaktig", "utf-8")
    msg["Date"] = format_datetime(clock.now().astimezone(UTC))
    msg["Message-ID"] = message_id(dedupe_key, sender) if dedupe_key else make_msgid()
    return msg if to.isascii() else _international(msg, to)


def _international(msg: Message, to: str) -> Message:
    """The message for a recipient like ``åsa@kommun.se``: its To header must be raw UTF-8 (RFC 6532),
    which the compat32 classes cannot write (they would make it an encoded word, which is no address).
    Rare enough that the modern, slower classes may carry it."""
    modern = message_from_bytes(msg.as_bytes(), policy=SMTPUTF8_POLICY)
    modern.replace_header("To", to)
    return modern


def _fix_eols(data: bytes) -> bytes:
    return re.sub(rb"(?:\r\n|\n|\r(?!\n))", b"\r\n", data)


def _part(msg: Message, subtype: str) -> str | None:
    for part in msg.walk():
        if part.get_content_type() == f"text/{subtype}":
            return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
    return None


def _plain(msg: Message) -> str:
    return _part(msg, "plain") or ""


def _html(msg: Message) -> str | None:
    return _part(msg, "html")


class CaptureMailer:
    """Stores each mail in ``captured_mail`` in the same transaction that marks the row sent."""

    name = "capture"

    def __enter__(self) -> CaptureMailer:
        return self

    def __exit__(self, *exc) -> None:
        return None

    parallel = 50

    def send_many(
        self, items: list[tuple[int, Message]], commit: Commit, before_each=None
    ) -> dict[int, Exception | None]:
        by_id = dict(items)

        def store(s: Session, ids: set[int]) -> None:
            s.execute(
                sa.insert(CapturedMail),
                [
                    {
                        "outbox_id": i,
                        "mail_to": str(by_id[i]["To"]),
                        "subject": str(make_header(decode_header(str(by_id[i]["Subject"])))),
                        "body": _plain(by_id[i]),
                        "html": _html(by_id[i]),
                        "message_id": str(by_id[i]["Message-ID"]),
                        "captured_at": clock.now(),
                    }
                    for i in sorted(ids)
                ],
            )

        done = commit(list(by_id), store, None)
        return {i: None if i in done else LeaseLost(str(i)) for i in by_id}


class SMTPMailer:
    """Sends a group of messages over up to ``parallel`` open connections with one database commit for
    the whole group: each message is staged on its own connection (everything but the final dot), the
    group is marked sent in one transaction, then every connection gets its dot. Connections stay open
    for the next group and are re-opened after a failure."""

    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int = 25,
        user: str | None = None,
        password: str | None = None,
        tls: bool = False,
        starttls: bool = False,
        timeout: float = 15.0,
        parallel: int = 8,
        ca_file: str | None = None,
    ):
        self.host, self.port, self.user, self.password = host, port, user, password
        self.tls, self.starttls, self.timeout = tls, starttls, timeout
        self.ca_file = ca_file
        self._context: ssl.SSLContext | None = None
        self.parallel = max(1, parallel)
        self.conns: dict[int, smtplib.SMTP] = {}

    @classmethod
    def from_env(cls) -> SMTPMailer:
        env = os.environ
        flag = lambda name: env.get(name, "").lower() in ("1", "true", "yes", "on")  # noqa: E731
        return cls(
            host=env.get("DELAKTIG_SMTP_HOST", "localhost"),
            port=int(env.get("DELAKTIG_SMTP_PORT", "25")),
            user=env.get("DELAKTIG_SMTP_USER") or None,
            password=env.get("DELAKTIG_SMTP_PASSWORD") or None,
            tls=flag("DELAKTIG_SMTP_TLS"),
            starttls=flag("DELAKTIG_SMTP_STARTTLS"),
            timeout=float(env.get("DELAKTIG_SMTP_TIMEOUT", "15")),
            parallel=int(env.get("DELAKTIG_SMTP_CONNECTIONS", "8")),
            ca_file=env.get("DELAKTIG_SMTP_CA_FILE") or None,
        )

    def __enter__(self) -> SMTPMailer:
        return self

    def __exit__(self, *exc) -> None:
        for slot in list(self.conns):
            try:
                self.conns[slot].quit()
            except (smtplib.SMTPException, OSError):
                self._drop(slot)
        self.conns.clear()

    def _drop(self, slot: int) -> None:
        conn = self.conns.pop(slot, None)
        if conn is not None:
            try:
                conn.close()
            except OSError:
                pass

    def _connect(self, slot: int) -> smtplib.SMTP:
        if slot not in self.conns:
            if self.tls:
                conn = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self._tls())
            else:
                conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            try:
                if self.starttls and not self.tls:
                    conn.starttls(context=self._tls())
                conn.ehlo_or_helo_if_needed()
                if self.user:
                    self._login(conn)
            except BaseException:
                conn.close()  # a half-opened session is never reused
                raise
            self.conns[slot] = conn
        return self.conns[slot]

    def _login(self, conn: smtplib.SMTP) -> None:
        """SMTP AUTH. smtplib encodes credentials as ASCII, so a password with å, ä or ö could never sign
        in; those go as AUTH PLAIN in UTF-8, as RFC 4616 defines it."""
        user, password = self.user or "", self.password or ""
        if (user + password).isascii() or "PLAIN" not in conn.esmtp_features.get("auth", "").upper().split():
            conn.login(user, password)
            return
        token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode("ascii")
        code, resp = conn.docmd("AUTH", "PLAIN " + token)
        if code != 235:
            raise smtplib.SMTPAuthenticationError(code, resp)

    def _tls(self) -> ssl.SSLContext:
        """The server's certificate is verified, host name included: against the system's CA store, or
        ``ca_file`` (``DELAKTIG_SMTP_CA_FILE``) for a municipality's own CA. Built once, when first used:
        loading a CA store costs ~40 ms."""
        if self._context is None:
            self._context = ssl.create_default_context(cafile=self.ca_file)
        return self._context

    def _stage(self, slot: int, msg: Message) -> None:
        """MAIL, RCPT, DATA and the message — all but the final dot."""
        try:
            conn = self._connect(slot)
        except smtplib.SMTPResponseException as err:  # EHLO, STARTTLS or AUTH refused
            raise RelayUnavailable(f"{self.host}:{self.port}: {err.smtp_code} {err.smtp_error!r}") from err
        except (OSError, smtplib.SMTPException) as err:  # refused, timed out (no greeting), TLS
            raise RelayUnavailable(f"{self.host}:{self.port}: {type(err).__name__}: {err}") from err
        sender = parseaddr(str(msg["From"]))[1]
        to = parseaddr(str(msg["To"]))[1]
        options: list[str] = []
        if not (sender + to).isascii():
            if not conn.has_extn("smtputf8"):
                # Another relay run will meet the same server: only a change of server can deliver it.
                raise PermanentFailure(
                    f"e-postservern {self.host} tar inte emot adresser med tecken som å, ä, ö före @ "
                    f"(SMTPUTF8 saknas): {to}"
                )
            options = ["SMTPUTF8", "BODY=8BITMIME"]
        code, resp = conn.mail(sender, options)
        if code != 250:  # the relay's policy on our sender (530 auth required, 550 not allowed to relay)
            raise RelayUnavailable(f"MAIL FROM {sender}: {code} {resp!r}")
        code, resp = conn.rcpt(to)
        if code not in (250, 251):
            raise smtplib.SMTPRecipientsRefused({to: (code, resp)})
        conn.putcmd("data")
        code, resp = conn.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, resp)
        raw = msg.as_bytes(policy=SMTPUTF8_POLICY) if options else msg.as_bytes()
        data = re.sub(rb"(?m)^\.", b"..", _fix_eols(raw))
        if not data.endswith(b"\r\n"):
            data += b"\r\n"
        conn.send(data)

    def _failure(self, slot: int, err: Exception) -> Exception:
        """Classify a staging error and leave the connection usable (RSET) or closed. Only a 5xx to this
        recipient or message is permanent; 4xx, 530/535 (authentication) and transport errors are not."""
        if isinstance(err, PermanentFailure):  # refused before MAIL FROM: the session is still clean
            return err
        if isinstance(err, smtplib.SMTPResponseException | smtplib.SMTPRecipientsRefused):
            try:
                self.conns[slot].rset()
            except (smtplib.SMTPException, OSError, KeyError):
                self._drop(slot)
            codes = (
                [c for c, _ in err.recipients.values()]
                if isinstance(err, smtplib.SMTPRecipientsRefused)
                else [err.smtp_code]
            )
            if codes and min(codes) >= 500 and not set(codes) & _RELAY_CODES:
                return PermanentFailure(f"{codes[0]} {err}")
            if set(codes) & _RELAY_CODES:
                return RelayUnavailable(f"{codes[0]} {err}")
            return err
        self._drop(slot)
        return err

    def send_many(
        self,
        items: list[tuple[int, Message]],
        commit: Commit,
        before_each: Callable[[], None] | None = None,
    ) -> dict[int, Exception | None]:
        """``before_each`` runs before each message is staged: the relay renews its lease there, so a
        slow server (seconds per RCPT) cannot make the claim expire under us."""
        results: dict[int, Exception | None] = {}
        staged: list[tuple[int, int]] = []
        down: RelayUnavailable | None = None
        for slot, (key, msg) in enumerate(items):
            if down is not None:  # the relay is down: the next connection would wait just as long
                results[key] = down
                continue
            if before_each is not None:
                before_each()
            try:
                self._stage(slot, msg)
                staged.append((key, slot))
            except Exception as err:  # noqa: BLE001 - per message: the relay retries or fails it
                results[key] = self._failure(slot, err)
                if isinstance(results[key], RelayUnavailable):
                    down = results[key]
        if not staged:
            return results
        dotted: list[tuple[int, int]] = []

        def release(done: set[int]) -> None:
            """Called by the commit the moment it is on its way to the database (see engine.outbox):
            every dot goes out before any reply is awaited, so a crash lands either before the commit
            (no dot: the servers discard the messages, the rows are sent again later) or after both."""
            for key, slot in staged:
                if key not in done:
                    continue
                try:
                    self.conns[slot].send(b".\r\n")
                    dotted.append((key, slot))
                except (smtplib.SMTPException, OSError) as err:
                    self._drop(slot)  # the dot did not go out: the server discards it, send again
                    results[key] = AfterCommitRefusal(0, f"punkten kunde inte skickas: {err}".encode())

        try:
            done = commit([key for key, _ in staged], None, release)
        except BaseException:
            for key, slot in staged:
                if (key, slot) not in dotted:
                    self._drop(slot)  # no dot: the server discards the staged message
            raise
        for key, slot in staged:
            if key not in done:
                self._drop(slot)
                results[key] = LeaseLost(str(key))
        for key, slot in dotted:
            try:
                code, resp = self.conns[slot].getreply()
            except (smtplib.SMTPException, OSError) as err:
                self._drop(slot)
                results[key] = Uncertain(f"ingen kvittens efter meddelandet ({type(err).__name__}: {err})")
                continue
            if code == -1:  # smtplib's "connection closed" reply: no answer to our dot either
                self._drop(slot)
                results[key] = Uncertain(f"ingen kvittens efter meddelandet ({resp!r})")
                continue
            results[key] = None if code == 250 else AfterCommitRefusal(code, resp)
        return results


class AfterCommitRefusal(smtplib.SMTPResponseException):
    """The server answered the final dot with a refusal after the row was already marked sent: a 5xx
    (content rejected) fails the row, a 4xx — or code 0, the dot could not be written — sends it again."""


def from_env() -> SMTPMailer | CaptureMailer:
    """DELAKTIG_MAILER=smtp|capture; without it, SMTP when DELAKTIG_SMTP_HOST is set, else capture."""
    kind = os.environ.get("DELAKTIG_MAILER") or (
        "smtp" if os.environ.get("DELAKTIG_SMTP_HOST") else "capture"
    )
    return SMTPMailer.from_env() if kind == "smtp" else CaptureMailer()
