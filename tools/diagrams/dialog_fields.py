"""Form fields shared by the dialogue processes of several municipalities (same ids everywhere,
so reports and the engine can read them the same way)."""

from bpmn_writer import F

JA_DELVIS_NEJ = [("ja", "Ja"), ("delvis", "Delvis"), ("nej", "Nej")]

SKAL_EJ_PAVERKBAR = [
    ("lagstyrd", "Lagstyrd – frågan styrs av lag och är inte påverkbar"),
    ("vardestyrd", "Värderingsstyrd – de förtroendevalda är inte påverkbara"),
    ("tidsstyrd", "Tidsstyrd – inget utrymme för dialog i tidplanen"),
    ("annat", "Annat skäl"),
]


def gate_fields():
    """The two gate questions and, for a no, the reason (common to every dialogue routine).

    Yes/no questions are plain (not required) booleans: Delaktig reads a required boolean as a box
    that must be ticked, so "required" is kept for done-items and commitments only. Unticked = no."""
    return [
        F("fragan_paverkbar", "Frågan är påverkbar (kryssa för ja)", "boolean"),
        F("beslutsfattare_paverkbara", "Beslutsfattarna är påverkbara (kryssa för ja)", "boolean"),
        F("skal_ej_paverkbar", "Skäl om svaret är nej", "enum", False, values=SKAL_EJ_PAVERKBAR),
        F("skal_beskrivning", "Beskriv skälet (skickas till förslagsställaren vid nej)", multiline=True),
    ]


def before_start_fields():
    """What must be stated before a dialogue starts: purpose and goal, what participants can
    influence, how the result will be used, and how and when participants get feedback."""
    return [
        F("syfte", "Syfte med dialogen", required=True, multiline=True),
        F("mal", "Mål med dialogen", required=True, multiline=True),
        F("paverkan_deltagare", "Vad kan deltagarna påverka?", required=True, multiline=True),
        F("resultat_anvandning", "Hur ska resultatet användas?", required=True, multiline=True),
        F("aterkoppling_hur", "Hur får deltagarna återkoppling?", required=True, multiline=True),
        F("aterkoppling_senast", "Återkoppling till deltagarna senast", "date", True),
    ]
