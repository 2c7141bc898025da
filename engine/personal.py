"""Personal data in the audit log.

The audit log is append-only, so whatever personal data it holds outlives any purge. Contact details of
citizens (and of anyone named in a form) are therefore never written to it: variables whose names say
they are personal data are recorded as changed, but with the value replaced. The case data and the
outbox keep the values (they are purged by the retention rules); the audit keeps who did what, when.

Convention (docs/modeling.md): ``initiator_*``, ``proposer_*``, and any ``*_email``, ``*_epost``,
``*_namn``, ``*_name``, ``*_telefon``, ``*_phone``, ``*_adress``, ``personnummer``.
"""

from __future__ import annotations

import re
from typing import Any

PERSONAL = re.compile(
    r"^(initiator_.*|proposer_.*|.*_(email|epost|namn|name|telefon|phone|adress|address)|personnummer|email|epost)$"
)
REDACTED = "[personuppgift]"


def is_personal(name: str) -> bool:
    return bool(PERSONAL.match(str(name)))


def redact(variables: dict[str, Any]) -> dict[str, Any]:
    return {k: (REDACTED if is_personal(k) and v not in (None, "") else v) for k, v in variables.items()}
