"""E-mails a diagram asks for (send tasks), as outbox rows written in the case's transaction.

Subject and body are Jinja templates rendered in Jinja's sandbox with the case variables, so a process
owner can write ``Hej {{ initiator_name }}`` without being able to reach Python objects. Nothing is sent
here: the outbox relay (a worker) delivers after commit, with retries; the dedupe key makes a re-run of
the same send task never mail twice.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy.orm import Session

from engine.models import Role, User, UserRole

_env = SandboxedEnvironment(autoescape=False, keep_trailing_newline=True)
# One address, nothing that a To: header would read as a second one or as a display name: no comma,
# semicolon, quote, bracket, parenthesis, colon, backslash, white space or control character; a dot
# only between the domain's labels. (Letters beyond ASCII are allowed: malmö.se.)
_CHAR = r"[^@\s<>()\[\],;:\\\"\x00-\x1f\x7f]"
_LABEL = r"[^@\s<>()\[\],;:\\\"\x00-\x1f\x7f.]+"
EMAIL = re.compile(rf"^{_CHAR}+@(?:{_LABEL}\.)+{_LABEL}\Z")


def render(template: str, variables: dict[str, Any]) -> str:
    try:
        return _env.from_string(template or "").render(**variables)
    except Exception as err:  # noqa: BLE001 - a broken template must not lose the mail; show it raw
        return f"{template}\n\n[mallfel: {err}]"


def recipients(session: Session, spec: str, variables: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for part in [p.strip() for p in (spec or "").split(",") if p.strip()]:
        if part.startswith("var:"):
            value = variables.get(part[4:].strip())
            # A variable may hold one address, several separated by , ; or spaces, or a list of them.
            values = (
                value
                if isinstance(value, list)
                else re.split(r"[,;\s]+", value)
                if isinstance(value, str)
                else []
            )
            out += [v.strip() for v in values if isinstance(v, str) and EMAIL.match(v.strip())]
        elif part.startswith("role:"):
            role = part[5:].strip()
            out += [
                e
                for (e,) in session.execute(
                    sa.select(User.email)
                    .join(UserRole, UserRole.user_id == User.id)
                    .join(Role, Role.name == UserRole.role_name)
                    .where(Role.name == role, User.active.is_(True), User.email.is_not(None))
                )
            ]
        elif EMAIL.match(part):
            out.append(part)
    return sorted(set(out))


def mail_rows(session: Session, case, effect: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
    props = effect.get("properties", {})
    variables = {k: v for k, v in effect.get("data", {}).items() if not str(k).startswith("_")}
    variables.setdefault("business_key", case.business_key)
    subject = render(
        props.get("mailSubject") or effect.get("name") or "Meddelande från Delaktig", variables
    ).strip()
    body = render(effect.get("body") or "", variables)
    rows = []
    for to in recipients(session, props.get("mailTo", ""), variables):
        rows.append(
            {
                # The address is hashed: dedupe keys end up in the audit log, addresses must not.
                "dedupe_key": f"mail:{case.id}:{effect['task_id']}:{hashlib.sha256(to.lower().encode()).hexdigest()[:16]}",
                "kind": "email",
                "case_id": case.id,
                "payload": {
                    "to": to,
                    "subject": subject,
                    "body": body,
                    "element_id": effect.get("element_id"),
                },
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
        )
    return rows
