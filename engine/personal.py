"""Personal data in the audit log.

The audit log is append-only, so whatever personal data it holds outlives any purge. Contact details of
citizens (and of anyone named in a form) are therefore never written to it: variables whose names say
they are personal data are recorded as changed, but with the value replaced. The case data and the
outbox keep the values (they are purged by the retention rules); the audit keeps who did what, when.

Convention (docs/modeling.md): ``initiator_*``, ``proposer_*``, and any ``*_email``, ``*_epost``,
``*_namn``, ``*_name``, ``*_telefon``, ``*_phone``, ``*_adress``, ``personnummer`` (and ``email``,
``epost``, ``telefon``, ``adress`` alone), in any case and in camelCase, also as keys inside Json values.
"""

from __future__ import annotations

import re
from typing import Any

PERSONAL = re.compile(
    r"^(initiator_.*|proposer_.*|.*_(email|epost|namn|name|telefon|phone|adress|address)|personnummer|email|epost"
    r"|telefon|phone|adress|address)$"
)
REDACTED = "[personuppgift]"


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def is_personal(name: str) -> bool:
    """By the naming convention, in any case and in camelCase too: ``initiatorEmail``, ``Personnummer``
    and ``KONTAKT_EPOST`` are personal data as ``initiator_email`` is (Camunda clients write camelCase)."""
    return bool(PERSONAL.match(_CAMEL.sub("_", str(name)).lower()))


def redact(variables: dict[str, Any]) -> dict[str, Any]:
    """The variables with personal data replaced, also inside Json values (``{"kontakt": {"email": …}}``)."""
    return {
        k: (REDACTED if is_personal(k) and v not in (None, "") else _inner(v)) for k, v in variables.items()
    }


def _inner(value: Any) -> Any:
    if isinstance(value, dict):
        return redact(value)
    if isinstance(value, list):
        return [_inner(v) for v in value]
    return value


def _personal_values(variables: Any, out: set[str]) -> set[str]:
    if isinstance(variables, dict):
        for k, v in variables.items():
            if is_personal(k) and not isinstance(v, dict | list) and v not in (None, ""):
                out.add(str(v))
            else:
                _personal_values(v, out)
    elif isinstance(variables, list):
        for v in variables:
            _personal_values(v, out)
    return out


def scrub(text: str, variables: dict[str, Any]) -> str:
    """``text`` (an error message quoting a value, say) without the values of the case's personal data."""
    for value in sorted(_personal_values(variables, set()), key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text
