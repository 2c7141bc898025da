"""External initiatives: one way in (public form and signed webhooks), a gap-free diary number, routing to
a routine, the initiator's status and e-mails, deadlines, the unanswered report and purging personal data.

Every state change is one function running one transaction (``d.transaction``): registration takes the diary
counter row's lock, writes the initiative, its contact row (apart, so it can be purged), the receipt
e-mail (outbox), the idempotency record and starts the routine — all or nothing, so a rolled-back
registration leaves no gap in the diary series. Configuration (rules, diary format, deadlines) is a
JSON object, see ``IntakeConfig`` and docs/initiatives-webhook.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import uuid
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from dateutil.relativedelta import relativedelta
from jsonschema import Draft202012Validator
from SpiffWorkflow.exceptions import WorkflowException
from sqlalchemy.orm import Session

from engine import clock, mail
from engine.audit import AuditWriter, close_chain, open_chain
from engine.errors import Conflict, DelaktigError, NotFound, Problem, ValidationFailed
from engine.inbox import readable_cases
from engine.initiative_models import (
    DiaryCounter,
    IdempotencyKey,
    Initiative,
    InitiativeContact,
    WebhookChannel,
)
from engine.models import AuditEvent, Case, MessageSubscription, Outbox
from engine.runtime import open_case

if TYPE_CHECKING:
    from engine.app import Delaktig

KINDS = {
    "synpunkt": "Synpunkt",
    "medborgarforslag": "Medborgarförslag",
    "e_forslag": "E-förslag",
    "initiativ_medborgardialog": "Initiativ till medborgardialog",
}
STATES = ("received", "screened", "decided", "answered")
STATE_LABELS = {"received": "Mottaget", "screened": "Granskat", "decided": "Beslutat", "answered": "Besvarat"}
NEXT_STEPS = {
    "received": "Förvaltningen granskar initiativet och bestämmer hur det ska hanteras.",
    "screened": "Initiativet bereds och tas upp för beslut.",
    "decided": "Beslut är fattat. Svaret publiceras här och skickas till dig.",
    "answered": "Initiativet är besvarat.",
}
EVENTS = ("submitted", "threshold_reached", "reply")
FORM_CHANNEL = "formular"
REDACTED = "[personuppgift borttagen]"
# When a routine's decision/answer is not in a case variable the rule names
DEFAULT_DECISION = "Beslut har fattats i ärendet."
DEFAULT_ANSWER = "Svaret har skickats till dig."
MAX = {
    "subject": 200,
    "text": 10000,
    "area": 120,
    "topic": 120,
    "name": 200,
    "email": 300,
    "external_id": 200,
}

SUBMISSION_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Delaktig initiative",
    "type": "object",
    "additionalProperties": False,
    "required": ["kind", "subject", "text"],
    "properties": {
        "event": {"enum": list(EVENTS)},
        "kind": {"enum": list(KINDS)},
        "subject": {"type": "string", "minLength": 1, "maxLength": MAX["subject"]},
        "text": {"type": "string", "minLength": 1, "maxLength": MAX["text"]},
        "area": {"type": ["string", "null"], "maxLength": MAX["area"]},
        "topic": {"type": ["string", "null"], "maxLength": MAX["topic"]},
        "external_id": {"type": ["string", "null"], "maxLength": MAX["external_id"]},
        "reference": {"type": ["string", "null"], "maxLength": 60},
        "votes": {"type": ["integer", "null"], "minimum": 0},
        "initiator": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": ["string", "null"], "maxLength": MAX["name"]},
                "email": {"type": ["string", "null"], "maxLength": MAX["email"]},
            },
        },
    },
    # A follow-up (vote threshold, a reply) names the initiative it belongs to.
    "if": {"properties": {"event": {"enum": ["threshold_reached", "reply"]}}, "required": ["event"]},
    "then": {"required": ["reference"]},
}
_validator = Draft202012Validator(SUBMISSION_SCHEMA)


# --- configuration ------------------------------------------------------------------------------------
@dataclass
class Rule:
    """Which routine an initiative goes to. Empty match fields match anything; first matching rule wins."""

    name: str
    message: str | None = None  # message name: starts a routine (submitted) or reaches a waiting case
    kind: list[str] = field(default_factory=list)
    topic: list[str] = field(default_factory=list)
    area: list[str] = field(default_factory=list)
    event: list[str] = field(default_factory=lambda: ["submitted"])
    series: str | None = None
    receipt: bool = True
    # element id of the routine → state it means once completed (task) or queued (send task)
    states: dict[str, str] = field(default_factory=dict)
    decision_var: str | None = None
    answer_var: str | None = None

    def matches(self, kind: str, topic: str | None, area: str | None, event: str) -> bool:
        def ok(wanted: list[str], value: str | None) -> bool:
            return not wanted or (value or "").casefold() in {w.casefold() for w in wanted}

        return ok(self.event, event) and ok(self.kind, kind) and ok(self.topic, topic) and ok(self.area, area)


def _as_list(value: Any) -> list[str]:
    if value in (None, "", "*"):
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


@dataclass
class IntakeConfig:
    series: str = "KS"
    diary_format: str = "{series} {year}/{seq:04d}"
    deadlines: dict[str, str] = field(default_factory=lambda: {"medborgarforslag": "P1Y"})
    expected: dict[str, str] = field(default_factory=lambda: {"*": "P6M"})
    retention: str = "P1Y"
    areas: list[str] = field(default_factory=list)
    report_to: str = "role:namndsekreterare"
    report_dates: list[str] = field(default_factory=lambda: ["03-01", "09-01"])
    rules: list[Rule] = field(default_factory=list)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> IntakeConfig:
        if not isinstance(raw, dict):
            raise ValidationFailed([Problem("intake", "konfigurationen ska vara ett JSON-objekt")])
        rules = []
        for i, r in enumerate(raw.get("rules") or []):
            unknown = set(r) - {f.name for f in fields(Rule)}
            if unknown:
                raise ValidationFailed(
                    [Problem(f"rules[{i}]", f"okända nycklar: {', '.join(sorted(unknown))}")]
                )
            bad = [s for s in (r.get("states") or {}).values() if s not in STATES]
            if bad:
                raise ValidationFailed([Problem(f"rules[{i}].states", f"okänt tillstånd: {bad[0]}")])
            rules.append(
                Rule(
                    name=str(r.get("name") or f"regel {i + 1}"),
                    message=r.get("message"),
                    kind=_as_list(r.get("kind")),
                    topic=_as_list(r.get("topic")),
                    area=_as_list(r.get("area")),
                    event=_as_list(r.get("event", "submitted")),
                    series=r.get("series"),
                    receipt=bool(r.get("receipt", True)),
                    states=dict(r.get("states") or {}),
                    decision_var=r.get("decision_var"),
                    answer_var=r.get("answer_var"),
                )
            )
        cfg = cls(
            series=str(raw.get("series", cls.series)),
            diary_format=str(raw.get("format", cls.diary_format)),
            retention=str(raw.get("retention", cls.retention)),
            report_to=str(raw.get("report_to", cls.report_to)),
            areas=[str(a) for a in raw.get("areas") or []],
            rules=rules,
        )
        if "deadlines" in raw:
            cfg.deadlines = dict(raw["deadlines"] or {})
        if "expected" in raw:
            cfg.expected = dict(raw["expected"] or {})
        if "report_dates" in raw:
            cfg.report_dates = list(raw["report_dates"] or [])
        cfg.check()
        return cfg

    @classmethod
    def from_json(cls, text: str) -> IntakeConfig:
        """JSON text, or ``@/path/to/file.json``."""
        text = text.strip()
        if text.startswith("@"):
            text = Path(text[1:]).read_text(encoding="utf-8")
        return cls.from_dict(json.loads(text)) if text else cls()

    @classmethod
    def from_env(cls) -> IntakeConfig:
        return cls.from_json(os.environ.get("DELAKTIG_INTAKE_RULES", ""))

    def check(self) -> None:
        if "{seq" not in self.diary_format or "{year" not in self.diary_format:
            raise ValidationFailed([Problem("format", "diarieformatet måste innehålla {year} och {seq}")])
        try:
            self.diary_format.format(series="KS", year=2026, seq=1)
        except (KeyError, ValueError, IndexError) as err:
            raise ValidationFailed([Problem("format", f"ogiltigt diarieformat: {err}")]) from err
        for where, value in [("retention", self.retention), *self.deadlines.items(), *self.expected.items()]:
            duration(value, where)
        for d in self.report_dates:
            if not re.fullmatch(r"\d\d-\d\d", d):
                raise ValidationFailed([Problem("report_dates", f"ange MM-DD, inte {d!r}")])

    def rule_for(self, kind: str, topic: str | None, area: str | None, event: str) -> Rule | None:
        return next((r for r in self.rules if r.matches(kind, topic, area, event)), None)


def duration(text: str, where: str = "duration") -> relativedelta:
    """``P1Y``, ``P6M``, ``P2W``, ``P30D`` (and combinations) as calendar arithmetic."""
    m = re.fullmatch(r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?", str(text or ""))
    if not m or not any(m.groups()):
        raise ValidationFailed([Problem(where, f"ogiltig period {text!r} (t.ex. P1Y, P6M, P30D)")])
    y, mo, w, d = (int(g or 0) for g in m.groups())
    return relativedelta(years=y, months=mo, weeks=w, days=d)


# --- input ------------------------------------------------------------------------------------------------
@dataclass
class Submission:
    kind: str
    subject: str
    text: str
    area: str | None = None
    topic: str | None = None
    name: str | None = None
    email: str | None = None
    external_id: str | None = None
    event: str = "submitted"
    reference: str | None = None
    votes: int | None = None


_MESSAGES = {
    "required": "krävs",
    "minLength": "får inte vara tomt",
    "enum": "ogiltigt värde",
    "type": "fel typ",
    "additionalProperties": "okänt fält",
    "minimum": "får inte vara negativt",
}


def _field_of(err) -> str:
    path = [str(p) for p in err.absolute_path]
    if err.validator == "required":
        missing = re.findall(r"'([^']+)' is a required property", err.message)
        path += missing[:1]
    if err.validator == "additionalProperties":
        extra = re.findall(r"'([^']+)'", err.message)
        path += extra[:1]
    return ".".join(path) or "(body)"


_HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def _deliverable(address: str) -> bool:
    """Beyond ``mail.EMAIL`` (one address, nothing a header would misread): what no mail server delivers
    to, so a citizen who mistyped is told at once rather than promised a receipt and answers that never
    come — a dot at either end of the part before the @ or two in a row, a part before the @ longer than
    64 characters, and a domain that is no host name (each label in IDNA form 1–63 letters, digits or
    hyphens, neither starting nor ending with a hyphen)."""
    local, _, domain = address.rpartition("@")
    if local.startswith(".") or local.endswith(".") or ".." in local or len(local) > 64:
        return False
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:  # a label too long or empty
        return False
    return len(ascii_domain) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in ascii_domain.split("."))


def parse_submission(data: Any) -> Submission:
    """Validate a webhook or form body against ``SUBMISSION_SCHEMA``; ValidationFailed names every field."""
    problems: list[Problem] = []
    for err in sorted(_validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        if err.validator in ("if", "then"):
            continue
        where = _field_of(err)
        if err.validator == "maxLength":
            msg = f"får vara högst {err.validator_value} tecken"
        elif err.validator == "enum":
            msg = f"ogiltigt värde; tillåtna: {', '.join(map(str, err.validator_value))}"
        else:
            msg = _MESSAGES.get(err.validator, err.message)
        problems.append(Problem(where, msg))
    if not isinstance(data, dict):
        raise ValidationFailed(
            problems or [Problem("(body)", "ska vara ett JSON-objekt")], "Ogiltig begäran."
        )
    initiator = data.get("initiator") or {}
    email = (initiator.get("email") or "").strip() if isinstance(initiator, dict) else ""
    if email and not (mail.EMAIL.match(email) and _deliverable(email)):
        problems.append(Problem("initiator.email", "ogiltig e-postadress"))
    for key in ("subject", "text"):
        if isinstance(data.get(key), str) and data.get(key) and not data[key].strip():
            problems.append(Problem(key, "får inte vara tomt"))
    if problems:
        raise ValidationFailed(problems, "Begäran innehåller fel: " + ", ".join(p.where for p in problems))

    def clean(v: Any) -> str | None:
        return v.strip() or None if isinstance(v, str) else None

    return Submission(
        kind=data["kind"],
        subject=data["subject"].strip(),
        text=data["text"].strip(),
        area=clean(data.get("area")),
        topic=clean(data.get("topic")),
        name=clean(initiator.get("name")) if isinstance(initiator, dict) else None,
        email=email or None,
        external_id=clean(data.get("external_id")),
        event=data.get("event") or "submitted",
        reference=clean(data.get("reference")),
        votes=data.get("votes"),
    )


# --- webhook security ------------------------------------------------------------------------------------
WINDOW = timedelta(minutes=5)


def sign(secret: str, timestamp: str | int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={mac}"


def check_signature(
    secret: str | None, timestamp: str | None, signature: str | None, body: bytes
) -> str | None:
    """None when the request is authentic and fresh, else the reason (Swedish) for a 401."""
    if not secret:
        return "okänd eller inaktiv kanal (X-Delaktig-Channel)"
    if not timestamp or not signature:
        return "X-Delaktig-Timestamp och X-Delaktig-Signature krävs"
    if not re.fullmatch(r"\d{1,12}", timestamp.strip()):
        return "X-Delaktig-Timestamp ska vara Unix-sekunder"
    if not signature.isascii():  # compare_digest takes ASCII text only
        return "signaturen stämmer inte"
    if not hmac.compare_digest(sign(secret, timestamp.strip(), body), signature.strip()):
        return "signaturen stämmer inte"
    if abs(clock.now().timestamp() - int(timestamp)) > WINDOW.total_seconds():
        return "tidsstämpeln ligger utanför fönstret på 5 minuter"
    return None


def add_channel(d: Delaktig, name: str, secret: str | None = None) -> str:
    """Create or rotate a webhook channel; returns its secret (shown once to the operator)."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]{0,59}", name or ""):
        raise ValidationFailed([Problem("name", "kanalnamn: a–z, 0–9, _ . - (högst 60 tecken)")])
    secret = secret or secrets.token_hex(32)

    def work(s: Session) -> str:
        row = s.get(WebhookChannel, name)
        if row is None:
            s.add(WebhookChannel(name=name, secret=secret, active=True, created_at=clock.now()))
        else:
            row.secret, row.active = secret, True
        return secret

    return d.transaction(work)


def channel_secret(d: Delaktig, name: str | None) -> str | None:
    if not name:
        return None
    with d.session() as s:
        row = s.get(WebhookChannel, name.strip())
        return row.secret if row is not None and row.active else None


def replayed(d: Delaktig, channel: str, key: str, request_hash: str) -> tuple[int, dict] | None:
    """The stored first response for this key, or None. Another body under the same key is a conflict."""
    with d.session() as s:
        row = s.get(IdempotencyKey, (channel, key))
        if row is None:
            return None
        if row.request_hash != request_hash:
            raise Conflict("Idempotency-Key har redan använts för en annan begäran.")
        return row.status_code, dict(row.response)


def remember(d: Delaktig, channel: str, key: str, request_hash: str, status: int, response: dict) -> None:
    """Keep one more key for an answer already given (a client's retry under its Idempotency-Key comes with
    a new signature: a copy of the retry without the key then gets the same answer). Kept already: fine."""
    try:
        d.transaction(lambda s: _remember_response(s, channel, key, request_hash, status, response))
    except Conflict:
        pass


# --- helpers ------------------------------------------------------------------------------------------------
def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def status_url(d: Delaktig, token: str) -> str:
    return f"{d.settings.base_url.rstrip('/')}/initiativ/status/{token}"


def _audit(s: Session, initiative_id: str, actor: str, kind: str, detail: dict[str, Any]) -> None:
    """Initiative events live in their own hash chain ("initiative:<id>"), like a case's."""
    writer = AuditWriter()
    chain = open_chain(s, f"initiative:{initiative_id}")
    writer.append(chain, clock.now(), actor, kind, None, None, detail)
    writer.flush(s)
    close_chain(s, chain)


def _lock(s: Session, initiative_id: str) -> Initiative:
    q = sa.select(Initiative).where(Initiative.id == initiative_id)
    if s.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()
    row = s.execute(q.execution_options(populate_existing=True)).scalar()
    if row is None:
        raise NotFound(f"Initiativet {initiative_id} finns inte.")
    return row


def next_seq(s: Session, series: str, year: int) -> int:
    """The next number of the series for the year. The counter row is locked until commit (FOR UPDATE on
    PostgreSQL; SQLite's BEGIN IMMEDIATE holds the database's write lock), so concurrent registrations queue,
    and a rolled-back registration gives its number back: no gaps, no duplicates."""
    dialect = s.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    s.execute(insert(DiaryCounter).values(series=series, year=year, last=0).on_conflict_do_nothing())
    q = sa.select(DiaryCounter.last).where(DiaryCounter.series == series, DiaryCounter.year == year)
    if dialect == "postgresql":
        q = q.with_for_update()
    last = s.execute(q).scalar_one() + 1
    s.execute(
        sa.update(DiaryCounter)
        .where(DiaryCounter.series == series, DiaryCounter.year == year)
        .values(last=last)
    )
    return last


def local_date(moment: datetime | None) -> str | None:
    return moment.astimezone(clock.STOCKHOLM).date().isoformat() if moment else None


def _mail_row(initiative: Initiative, to: str, key: str, subject: str, body: str) -> dict[str, Any]:
    now = clock.now()
    return {
        "dedupe_key": f"initiative:{initiative.id}:{key}:{to}",
        "kind": "email",
        "case_id": initiative.case_id,
        "payload": {"to": to, "subject": subject, "body": body, "element_id": None},
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def _receipt(d: Delaktig, i: Initiative, contact: InitiativeContact, token: str) -> dict[str, Any]:
    greeting = f"Hej {contact.name}!" if contact.name else "Hej!"
    expected = local_date(i.deadline_at or i.expected_decision_at)
    body = (
        f"{greeting}\n\nVi har tagit emot ditt initiativ ({KINDS[i.kind].lower()}) "
        f'"{i.subject}".\n\nDiarienummer: {i.diarienummer}\nRegistrerat: {local_date(i.registered_at)}\n'
        f"Beslut väntas senast: {expected}\n\n"
        "Du får ett svar när beslut har fattats. Du får också e-post varje gång ärendet byter steg.\n"
        f"Följ ärendet här: {status_url(d, token)}\n\n"
        "Länken är personlig: dela den bara med den du vill ska kunna se ärendets status.\n"
        "Dina kontaktuppgifter används bara för att ge dig besked i detta ärende och tas bort "
        "när ärendet har varit avslutat en tid.\n"
    )
    return _mail_row(i, contact.email, "received", f"Mottagningsbevis {i.diarienummer}", body)


def _status_mail(d: Delaktig, i: Initiative, contact: InitiativeContact) -> dict[str, Any]:
    label = STATE_LABELS[i.status]
    parts = [
        f"Hej{' ' + contact.name if contact.name else ''}!",
        "",
        f'Ditt initiativ {i.diarienummer} "{i.subject}" har bytt steg: {label}.',
    ]
    if i.status in ("decided", "answered") and i.decision:
        parts += ["", "Beslut:", i.decision]
    if i.status == "answered" and i.answer:
        parts += ["", "Svar:", i.answer]
    if i.next_step:
        parts += ["", f"Nästa steg: {i.next_step}"]
    if contact.status_token:
        parts += ["", f"Följ ärendet här: {status_url(d, contact.status_token)}"]
    return _mail_row(
        i, contact.email, f"status:{i.status}", f"{i.diarienummer}: {label}", "\n".join(parts) + "\n"
    )


# Words a name part may also be (a citizen named "att"): redacting them would deface the municipality's
# published text without protecting anyone.
_COMMON_WORDS = frozenset(
    "att och i på som för med en ett det av till är den om har de inte var vi ni kan ska så men eller "  # noqa: SIM905
    "när från vid efter hos ut in upp ner nu här där vem vad hur".split()
)


def _redact(text: str | None, contact: InitiativeContact | None) -> str | None:
    """The published decision, answer and next step hold no personal data of the initiator: the address,
    the full name and each part of it (a given name alone, a surname alone, a genitive "Evas"), as whole
    words only — "Bo" is taken out of "Bo kontaktas", not out of "bostad"."""
    if not text or contact is None:
        return text
    values = {contact.email} if contact.email else set()
    if contact.name:
        values.add(contact.name.strip())  # (a single word is checked with the parts below)
        values -= {v for v in values if len(v) < 2 or v.lower() in _COMMON_WORDS}
        values |= {
            part
            for part in [*re.split(r"[\s,]+", contact.name), *re.split(r"[\s,.\-]+", contact.name)]
            if len(part) >= 2 and part.lower() not in _COMMON_WORDS
        }
    for value in sorted((v for v in values if v), key=len, reverse=True):  # the full name before its parts
        text = re.sub(rf"(?<!\w){re.escape(value)}s?(?!\w)", REDACTED, text, flags=re.IGNORECASE)
    return text


# --- registration -------------------------------------------------------------------------------------------
@dataclass
class Registered:
    initiative_id: str
    diarienummer: str
    registered_at: datetime
    token: str
    case_id: str | None
    status_code: int
    response: dict[str, Any]
    replayed: bool = False


def _case_variables(i: Initiative, sub: Submission) -> dict[str, Any]:
    values = {
        "initiative_id": i.id,
        "diarienummer": i.diarienummer,
        "kind": i.kind,
        "subject": i.subject,
        "text": i.text,
        "area": i.area,
        "topic": i.topic,
        "registrerad": local_date(i.registered_at),
        # names used by the Hässelby-Vällingby routine (processes/hasselby-vallingby/README.md)
        "initiativ_text": i.text,
        "inkom_datum": local_date(i.registered_at),
        "initiator_email": sub.email,
        "initiator_name": sub.name,
        "initiator_namn": sub.name,
    }
    return {k: v for k, v in values.items() if v is not None}


def _route(d: Delaktig, s: Session, i: Initiative, rule: Rule | None, sub: Submission) -> None:
    """Start the rule's routine by its message, in a savepoint: a routine that is not deployed (or fails)
    must not lose the citizen's initiative — it is registered unrouted and staff see why."""
    if rule is None or not rule.message:
        i.routing = {"rule": rule.name if rule else None, "error": None if rule else "ingen regel matchade"}
        return
    i.routing = {
        "rule": rule.name,
        "message": rule.message,
        "states": rule.states,
        "decision_var": rule.decision_var,
        "answer_var": rule.answer_var,
    }
    try:
        with s.begin_nested():
            info = d.start_by_message_in(s, rule.message, _case_variables(i, sub), i.diarienummer, "intake")
        i.case_id, i.process_key = info.id, info.process_key
    except (DelaktigError, WorkflowException) as err:
        i.routing = {**i.routing, "error": str(err)}


def register(
    d: Delaktig,
    sub: Submission,
    config: IntakeConfig,
    channel: str = FORM_CHANNEL,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
    actor: str = "intake",
    also_key: str | None = None,
) -> Registered:
    """Register a new initiative (event "submitted"): diary number, contact apart, receipt, routing.
    ``idempotency_key`` (and ``also_key``: a webhook request's signature beside the client's key) get the
    first answer again, kept in the same transaction; a concurrent request under either key loses the
    race with a Conflict and then finds that answer (``replayed``)."""
    if sub.event != "submitted":
        raise ValidationFailed([Problem("event", "registrering gäller bara event 'submitted'")])

    def work(s: Session) -> Registered:
        prior = _prior_response(s, channel, also_key, request_hash) or _prior_response(
            s, channel, idempotency_key, request_hash
        )
        if prior is not None:
            body = dict(prior.response)
            return Registered(
                body.get("id", ""),
                body.get("diarienummer", ""),
                clock.now(),
                "",
                None,
                prior.status_code,
                body,
                replayed=True,
            )
        now = clock.now()
        local = now.astimezone(clock.STOCKHOLM)
        rule = config.rule_for(sub.kind, sub.topic, sub.area, "submitted")
        series = (rule.series if rule and rule.series else None) or config.series
        seq = next_seq(s, series, local.year)
        token = secrets.token_urlsafe(32)
        deadline = config.deadlines.get(sub.kind)
        expected = config.expected.get(sub.kind) or config.expected.get("*")
        deadline_at = now + duration(deadline) if deadline else None
        i = Initiative(
            id=str(uuid.uuid4()),
            diarienummer=config.diary_format.format(series=series, year=local.year, seq=seq),
            series=series,
            year=local.year,
            seq=seq,
            kind=sub.kind,
            subject=sub.subject,
            text=sub.text,
            area=sub.area,
            topic=sub.topic,
            description=f"{KINDS[sub.kind]}: {sub.subject}"[:300],
            channel=channel,
            external_id=sub.external_id,
            status="received",
            next_step=NEXT_STEPS["received"],
            status_token_hash=_hash_token(token),
            registered_at=now,
            deadline_at=deadline_at,
            expected_decision_at=deadline_at or (now + duration(expected) if expected else None),
            routing={},
            updated_at=now,
        )
        s.add(i)
        s.flush()
        contact = None
        if sub.name or sub.email:
            contact = InitiativeContact(
                initiative_id=i.id, name=sub.name, email=sub.email, status_token=token, created_at=now
            )
            s.add(contact)
        _audit(
            s,
            i.id,
            actor,
            "initiative_registered",
            {
                "diarienummer": i.diarienummer,
                "kind": i.kind,
                "channel": channel,
                "contact": contact is not None,
            },
        )
        _route(d, s, i, rule, sub)
        if contact and contact.email and (rule is None or rule.receipt):
            s.execute(sa.insert(Outbox), [_receipt(d, i, contact, token)])
        s.flush()
        response = {
            "id": i.id,
            "diarienummer": i.diarienummer,
            "registrerad": now.isoformat(),
            "status": i.status,
            "status_url": status_url(d, token),
            "routed": i.case_id is not None,
        }
        for key in {idempotency_key, also_key}:
            _remember_response(s, channel, key, request_hash, 201, response)
        return Registered(i.id, i.diarienummer, now, token, i.case_id, 201, response)

    return d.transaction_retrying(work)  # a concurrent copy: the retry finds its answer


def _prior_response(
    s: Session, channel: str, key: str | None, request_hash: str | None
) -> IdempotencyKey | None:
    """The stored first answer for this Idempotency-Key, or None; the same key with another body is a conflict."""
    if not key:
        return None
    prior = s.get(IdempotencyKey, (channel, key))
    if prior is not None and prior.request_hash != request_hash:
        raise Conflict("Idempotency-Key har redan använts för en annan begäran.")
    return prior


def _remember_response(
    s: Session, channel: str, key: str | None, request_hash: str | None, status: int, response: dict[str, Any]
) -> None:
    if key:
        s.add(
            IdempotencyKey(
                channel=channel,
                key=key,
                request_hash=request_hash or "",
                status_code=status,
                response=response,
                created_at=clock.now(),
            )
        )


def deliver_followup(
    d: Delaktig,
    sub: Submission,
    config: IntakeConfig,
    channel: str,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
    also_key: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """A follow-up for a registered initiative (an e-förslag reaching its vote threshold, a reply): the
    matching rule's message goes to the initiative's waiting case."""

    def work(s: Session) -> tuple[int, dict[str, Any]]:
        prior = _prior_response(s, channel, also_key, request_hash) or _prior_response(
            s, channel, idempotency_key, request_hash
        )
        if prior is not None:
            return prior.status_code, dict(prior.response)
        i = s.execute(sa.select(Initiative).where(Initiative.diarienummer == sub.reference)).scalar()
        if i is None:
            raise ValidationFailed([Problem("reference", "inget initiativ har det diarienumret")])
        rule = config.rule_for(i.kind, i.topic, i.area, sub.event)
        if rule is None or not rule.message:
            raise ValidationFailed([Problem("event", f"ingen regel tar emot {sub.event!r} för {i.kind}")])
        waiting = s.execute(
            sa.select(Case.id)
            .join(MessageSubscription, MessageSubscription.case_id == Case.id)
            .where(
                Case.id == i.case_id,
                Case.status == "active",
                MessageSubscription.message_name == rule.message,
            )
        ).first()
        if waiting is None:
            raise Conflict(f"ärendet {i.diarienummer} väntar inte på {sub.event!r} just nu")
        variables = {
            "event": sub.event,
            "votes": sub.votes,
            "reply_subject": sub.subject,
            "reply_text": sub.text,
        }
        d.deliver_to_case_in(
            s, i.case_id, rule.message, {k: v for k, v in variables.items() if v is not None}, channel
        )
        _audit(s, i.id, channel, "initiative_followup", {"event": sub.event, "message": rule.message})
        response = {"diarienummer": i.diarienummer, "event": sub.event, "delivered": True}
        for key in {idempotency_key, also_key}:
            _remember_response(s, channel, key, request_hash, 200, response)
        return 200, response

    return d.transaction_retrying(work)


# --- status -----------------------------------------------------------------------------------------------
def _advance(
    d: Delaktig,
    s: Session,
    i: Initiative,
    status: str,
    actor: str,
    decision: str | None = None,
    answer: str | None = None,
    next_step: str | None = None,
) -> bool:
    """Move forward to ``status`` (never back), publish decision/answer, mail the initiator."""
    if status not in STATES:
        raise ValidationFailed([Problem("status", f"okänt tillstånd {status!r}")])
    if STATES.index(status) <= STATES.index(i.status):
        return False
    contact = s.get(InitiativeContact, i.id)
    now = clock.now()
    decision = _redact((decision or "").strip() or None, contact)
    answer = _redact((answer or "").strip() or None, contact)
    if status in ("decided", "answered") and not (decision or i.decision):
        raise ValidationFailed([Problem("decision", "beslutet måste anges")])
    if status == "answered" and not (answer or i.answer):
        raise ValidationFailed([Problem("answer", "svaret måste anges")])
    before = i.status
    i.status = status
    i.next_step = _redact((next_step or "").strip() or None, contact) or NEXT_STEPS[status]
    if decision and STATES.index(status) >= STATES.index("decided"):
        i.decision, i.decided_at = decision, now
    if status == "answered":
        i.answer, i.answered_at = answer or i.answer, now
        if i.case_id is None or _case_ended(s, i.case_id):
            i.closed_at = now
    i.updated_at = now
    _audit(s, i.id, actor, "initiative_status_changed", {"status": [before, status]})
    if contact and contact.email:
        s.execute(sa.insert(Outbox), [_status_mail(d, i, contact)])
    return True


def _case_ended(s: Session, case_id: str) -> bool:
    status = s.execute(sa.select(Case.status).where(Case.id == case_id)).scalar()
    return status is None or status != "active"


def set_status(
    d: Delaktig,
    initiative_id: str,
    status: str,
    actor: str,
    decision: str | None = None,
    answer: str | None = None,
    next_step: str | None = None,
) -> bool:
    """Staff move an initiative forward (screened → decided → answered); the initiator gets an e-mail."""

    _check_lengths(decision=decision, answer=answer, next_step=next_step)

    def work(s: Session) -> bool:
        i = _lock(s, initiative_id)
        if status not in STATES:
            raise ValidationFailed([Problem("status", f"Okänd status {status!r}.")])
        if STATES.index(status) <= STATES.index(i.status):
            raise Conflict(f"Initiativet är redan {STATE_LABELS[i.status].lower()}.")
        return _advance(d, s, i, status, actor, decision, answer, next_step)

    return d.transaction(work)


STAFF_TEXT_MAX = 10_000  # a decision, an answer to the citizen, a note: as a citizen's own text


def _check_lengths(**texts: str | None) -> None:
    long = [name for name, text in texts.items() if text is not None and len(text) > STAFF_TEXT_MAX]
    if long:
        raise ValidationFailed([Problem(name, f"Får vara högst {STAFF_TEXT_MAX} tecken.") for name in long])


def set_internal_note(d: Delaktig, initiative_id: str, actor: str, note: str) -> None:
    _check_lengths(note=note)

    def work(s: Session) -> None:
        i = _lock(s, initiative_id)
        i.internal_note, i.updated_at = (note or "").strip() or None, clock.now()
        _audit(s, i.id, actor, "initiative_note_changed", {})

    d.transaction(work)


def sync_from_cases(d: Delaktig, limit: int = 500) -> int:
    """Follow each routed initiative's case: completed tasks / queued mails named in the rule's ``states``
    move the initiative forward (with its e-mail); a finished case closes an answered initiative.
    Called by the scheduler every minute and by the staff list; each initiative is its own transaction."""
    with d.session() as s:
        ids = list(
            s.execute(
                sa.select(Initiative.id)
                .where(Initiative.case_id.is_not(None), Initiative.closed_at.is_(None))
                .order_by(Initiative.registered_at)
                .limit(limit)
            ).scalars()
        )
    changed = 0
    for initiative_id in ids:
        try:
            changed += d.transaction(lambda s, iid=initiative_id: _sync_one(d, s, iid))
        except Conflict:
            continue  # someone else moved it; the next run sees the new state
    return changed


def _sync_one(d: Delaktig, s: Session, initiative_id: str) -> bool:
    i = _lock(s, initiative_id)
    states = (i.routing or {}).get("states") or {}
    case = s.execute(sa.select(Case.status, Case.data).where(Case.id == i.case_id)).first()
    if case is None:
        return False
    reached: set[str] = set()
    if states:
        done = set(
            s.execute(
                sa.select(AuditEvent.element_id).where(
                    AuditEvent.chain == i.case_id,
                    AuditEvent.kind.in_(["task_completed", "mail_queued"]),
                    AuditEvent.element_id.in_(list(states)),
                )
            ).scalars()
        )
        reached = {state for element, state in states.items() if element in done}
    data = case.data or {}
    routing = i.routing or {}
    decision = data.get(routing.get("decision_var") or "") or None
    answer = data.get(routing.get("answer_var") or "") or decision
    changed = False
    # One step at a time, so the initiator gets an e-mail for every state the case has passed.
    for state in [st for st in STATES if st in reached and STATES.index(st) > STATES.index(i.status)]:
        text = str(decision) if decision else (None if i.decision else DEFAULT_DECISION)
        changed |= _advance(d, s, i, state, "system", text, str(answer) if answer else DEFAULT_ANSWER)
    if i.status == "answered" and case.status != "active" and i.closed_at is None:
        i.closed_at = i.updated_at = clock.now()
        changed = True
    return changed


# --- reading --------------------------------------------------------------------------------------------------
def find_by_token(d: Delaktig, token: str) -> Initiative | None:
    if not token or len(token) > 100:
        return None
    with d.session() as s:
        row = s.execute(
            sa.select(Initiative).where(Initiative.status_token_hash == _hash_token(token))
        ).scalar()
        if row is not None:
            s.expunge(row)
        return row


def public_status(d: Delaktig, token: str) -> dict[str, Any] | None:
    """What the status page may show: no internal notes, no contact data, not the free text."""
    i = find_by_token(d, token)
    if i is None:
        return None
    reached = STATES.index(i.status)
    return {
        "diarienummer": i.diarienummer,
        "kind": KINDS.get(i.kind, i.kind),
        "subject": i.subject,
        "registered": local_date(i.registered_at),
        "status": i.status,
        "status_label": STATE_LABELS[i.status],
        "steps": [
            {"label": STATE_LABELS[st], "done": n <= reached, "current": n == reached}
            for n, st in enumerate(STATES)
        ],
        "next_step": i.next_step,
        "deadline": local_date(i.deadline_at),
        "expected_decision": local_date(i.deadline_at or i.expected_decision_at),
        "decision": i.decision if reached >= STATES.index("decided") else None,
        "decided": local_date(i.decided_at),
        "answer": i.answer if i.status == "answered" else None,
        "answered": local_date(i.answered_at),
    }


def get(d: Delaktig, initiative_id: str) -> tuple[Initiative, InitiativeContact | None]:
    with d.session() as s:
        i = s.get(Initiative, initiative_id)
        if i is None:
            raise NotFound(f"Initiativet {initiative_id} finns inte.")
        contact = s.get(InitiativeContact, initiative_id)
        s.expunge_all()
        return i, contact


def _row(i: Initiative, now: datetime) -> dict[str, Any]:
    expected = i.deadline_at or i.expected_decision_at
    return {
        "id": i.id,
        "diarienummer": i.diarienummer,
        "kind": KINDS.get(i.kind, i.kind),
        "subject": i.subject,
        "description": i.description,
        "area": i.area,
        "status": STATE_LABELS[i.status],
        "registered": local_date(i.registered_at),
        # calendar days in Stockholm, as staff count them
        "age_days": (
            now.astimezone(clock.STOCKHOLM).date() - i.registered_at.astimezone(clock.STOCKHOLM).date()
        ).days,
        "deadline": local_date(i.deadline_at),
        "expected_decision": local_date(expected),
        "days_left": (expected - now).days if expected else None,
        "overdue": bool(expected and expected < now and i.status != "answered"),
        "routed": i.case_id is not None,
        "routing_error": (i.routing or {}).get("error"),
    }


def list_initiatives(
    d: Delaktig,
    order: str = "age",
    open_only: bool = False,
    readable_by: tuple[str, set[str]] | None = None,
) -> list[dict[str, Any]]:
    """For staff: oldest first ("age") or nearest deadline first ("deadline", those without last).
    ``readable_by`` (user, roles): only initiatives whose case that user may read (``case_access``)."""
    now = clock.now()
    q = sa.select(Initiative)
    if open_only:
        q = q.where(Initiative.status != "answered")
    if readable_by is not None:
        user, roles = readable_by
        q = q.where(
            Initiative.case_id.is_not(None),
            readable_cases(Initiative.case_id, user, roles, d.db.dialect.name),
        )
    if order == "deadline":
        expected = sa.func.coalesce(Initiative.deadline_at, Initiative.expected_decision_at)
        q = q.order_by(expected.is_(None), expected, Initiative.registered_at)
    else:
        q = q.order_by(Initiative.registered_at, Initiative.seq)
    with d.session() as s:
        return [_row(i, now) for i in s.execute(q).scalars()]


def unanswered_report(d: Delaktig, readable_by: tuple[str, set[str]] | None = None) -> list[dict[str, Any]]:
    """Every initiative not yet answered, oldest first, with age and expected decision date."""
    return list_initiatives(d, order="age", open_only=True, readable_by=readable_by)


def report_text(rows: list[dict[str, Any]], today: str) -> str:
    lines = [f"Obesvarade initiativ per {today}: {len(rows)} st.", ""]
    for r in rows:
        late = " – FÖRSENAT" if r["overdue"] else ""
        lines.append(
            f"{r['diarienummer']}  {r['kind']}: {r['subject']}\n"
            f"    registrerat {r['registered']}, {r['age_days']} dagar gammalt, status {r['status']}, "
            f"beslut väntas senast {r['expected_decision'] or 'ej angivet'}{late}"
        )
    return "\n".join(lines) + "\n"


def report_period(config: IntakeConfig, now: datetime | None = None) -> str | None:
    """The latest report date (YYYY-MM-DD) on or before today, or None before the year's first one."""
    today = (now or clock.now()).astimezone(clock.STOCKHOLM).date()
    dates = sorted(f"{y}-{md}" for y in (today.year - 1, today.year) for md in config.report_dates)
    past = [x for x in dates if x <= today.isoformat()]
    return past[-1] if past else None


def queue_unanswered_report(d: Delaktig, config: IntakeConfig, now: datetime | None = None) -> int:
    """Mail the report to ``config.report_to`` once per report period (twice a year by default). The
    scheduler calls this daily; the outbox dedupe key makes extra calls harmless. Returns mails queued."""
    period = report_period(config, now)
    if period is None:
        return 0
    rows = unanswered_report(d)

    def work(s: Session) -> int:
        at = clock.now()
        body = report_text(rows, local_date(at))
        queued = 0
        for to in mail.recipients(s, config.report_to, {}):
            key = f"initiative-report:{period}:{to}"
            if s.execute(sa.select(Outbox.id).where(Outbox.dedupe_key == key)).first():
                continue
            s.execute(
                sa.insert(Outbox),
                [
                    {
                        "dedupe_key": key,
                        "kind": "email",
                        "case_id": None,
                        "payload": {"to": to, "subject": f"Obesvarade initiativ {period}", "body": body},
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": at,
                        "created_at": at,
                    }
                ],
            )
            queued += 1
        return queued

    return d.transaction(work)


# --- personal data ---------------------------------------------------------------------------------------------
def purge_contact(d: Delaktig, initiative_id: str, actor: str = "system", reason: str = "retention") -> bool:
    """Remove the initiator's contact data: the contact row, the case's ``initiator_*`` variables (in the
    workflow state and the case's data), and the address in sent outbox rows — one transaction, with an
    audit event ``personal_data_purged`` on the initiative and on its case."""

    def work(s: Session) -> bool:
        i = _lock(s, initiative_id)
        if i.contact_purged_at is not None:
            return False
        contact = s.get(InitiativeContact, i.id)
        email = contact.email if contact else None
        now = clock.now()
        fields: list[str] = []
        if i.case_id:
            run = open_case(s, i.case_id, d.specs, actor, AuditWriter())
            for task in run.wf.get_tasks():
                for key in [k for k in task.data if str(k).startswith("initiator_")]:
                    task.data[key] = None
                    fields.append(key)
            fields = sorted(set(fields))
            run.record("personal_data_purged", detail={"fields": fields, "reason": reason})
            run.save()
        redacted = 0
        if email:
            rows = s.execute(
                sa.select(Outbox).where(
                    sa.or_(
                        Outbox.dedupe_key.like(f"initiative:{i.id}:%"),
                        Outbox.case_id == i.case_id if i.case_id else sa.false(),
                    )
                )
            ).scalars()
            for row in rows:
                if (row.payload or {}).get("to") == email:
                    row.payload = {**row.payload, "to": REDACTED}
                    if row.status == "pending":
                        row.status, row.last_error = "failed", "personuppgifter borttagna före utskick"
                    redacted += 1
        if contact:
            s.delete(contact)
        i.contact_purged_at = i.updated_at = now
        _audit(
            s,
            i.id,
            actor,
            "personal_data_purged",
            {
                "reason": reason,
                "contact": contact is not None,
                "case_fields": fields,
                "outbox_rows": redacted,
            },
        )
        return True

    return d.transaction(work)


def purge_expired(d: Delaktig, config: IntakeConfig, now: datetime | None = None) -> list[str]:
    """Purge contact data of initiatives closed longer ago than ``config.retention``; returns diary numbers."""
    now = now or clock.now()
    cutoff = now - duration(config.retention, "retention")
    with d.session() as s:
        due = s.execute(
            sa.select(Initiative.id, Initiative.diarienummer).where(
                Initiative.closed_at.is_not(None),
                Initiative.closed_at <= cutoff,
                Initiative.contact_purged_at.is_(None),
            )
        ).all()
    return [dnr for iid, dnr in due if purge_contact(d, iid, "system", "retention")]


def purge_idempotency_keys(d: Delaktig, older_than: timedelta = timedelta(days=1)) -> int:
    cutoff = clock.now() - older_than
    return d.transaction(
        lambda s: s.execute(sa.delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff)).rowcount
    )


def housekeeping(d: Delaktig, config: IntakeConfig) -> dict[str, Any]:
    """Everything the scheduler runs for the intake (every few minutes is plenty)."""
    return {
        "synced": sync_from_cases(d),
        "purged": purge_expired(d, config),
        "idempotency_keys_removed": purge_idempotency_keys(d),
        "reports_queued": queue_unanswered_report(d, config),
    }
