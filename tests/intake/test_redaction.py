"""What is published to the initiator's status page (decision, answer, next step) holds no personal data
of the initiator: the address, the full name and each part of it, as whole words — and the municipality's
own words stay as written when a "name" is one of them."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from engine import initiatives
from engine.initiative_models import Initiative

R = initiatives.REDACTED


@pytest.mark.parametrize(
    "name, email, text, published",
    [
        (
            "Eva Andersson",
            "eva.andersson@example.se",
            "Förslaget från Eva (eva.andersson@example.se) avslås. Andersson får svar. Evas förslag. Evangelium.",
            f"Förslaget från {R} ({R}) avslås. {R} får svar. {R} förslag. Evangelium.",
        ),
        (
            "Bo Ek",
            None,
            "Bo Ek föreslog bänkar; Bo kontaktas om bostad.",
            f"{R} föreslog bänkar; {R} kontaktas om bostad.",
        ),
        ("att", None, "Nämnden beslutar att avslå.", "Nämnden beslutar att avslå."),
        ("Anna-Karin Öberg", None, "Anna-Karin och Öbergs förslag", f"{R} och {R} förslag"),
    ],
)
def test_redaction_takes_names_and_their_parts_as_whole_words(name, email, text, published):
    assert initiatives._redact(text, SimpleNamespace(name=name, email=email)) == published


def test_the_next_step_is_redacted_like_the_decision(d, config):
    sub = initiatives.Submission(
        kind="synpunkt", subject="Buller", text="Text", email="eva@example.se", name="Eva Andersson"
    )
    registered = initiatives.register(d, sub, config)
    initiatives.set_status(
        d, registered.initiative_id, "screened", "nina", next_step="Vi ringer Eva på tisdag."
    )
    with d.session() as s:
        assert s.get(Initiative, registered.initiative_id).next_step == f"Vi ringer {R} på tisdag."
