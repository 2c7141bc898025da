"""Which variable names hold personal data (engine.personal): the convention in any case, in camelCase
as Camunda clients write it, and inside Json values — the append-only audit log must never keep them."""

from __future__ import annotations

from engine.personal import REDACTED, is_personal, redact


def test_the_convention_in_any_case_and_in_camel_case():
    for name in ("initiator_email", "initiatorEmail", "InitiatorEmail", "Personnummer", "KONTAKT_EPOST",
                 "proposerName", "kontaktTelefon", "epost", "telefon", "adress"):  # fmt: skip
        assert is_personal(name), name
    for name in ("kommun", "fragan_paverkbar", "antal", "beslut", "kontakt", "namnd"):
        assert not is_personal(name), name


def test_redaction_reaches_into_json_values():
    got = redact(
        {
            "initiatorEmail": "a@example.se",
            "kontakt": {"email": "b@example.se", "roll": "ombud"},
            "deltagare": [{"person_namn": "Anna", "antal": 2}, "text"],
            "tomt": "",
            "antal": 3,
        }
    )
    assert got == {
        "initiatorEmail": REDACTED,
        "kontakt": {"email": REDACTED, "roll": "ombud"},
        "deltagare": [{"person_namn": REDACTED, "antal": 2}, "text"],
        "tomt": "",
        "antal": 3,
    }
