"""The engine's messages in the page's language.

``engine`` knows nothing of Flask or Babel: its errors (``engine.errors``: NotFound, Forbidden, Conflict,
ValidationFailed with its Problems) and form checks (``engine.forms``) carry Swedish sentences, some with
a value filled in (a user name, a number). This module lists those sentences as templates — the engine's
text, with ``%(name)s`` where the engine puts a value — marked with ``N_`` so that ``pybabel extract``
puts them into the catalog like every other UI string (msgid = the engine's Swedish text; the English is
in ``webhooks/translations/en``). ``translate(message)`` finds the template the message was made from
and returns its translation with the same values; a message that matches no template is shown as the
engine wrote it. Swedish (the default) therefore shows the engine's text unchanged.

When an engine message changes or a new one reaches the staff pages, change the template here and the
catalog (``webhooks/frontend/README.md``, "Translations"); ``tests/web/test_engine_messages.py`` raises
each listed engine error and fails for a message that is no longer matched.
"""

from __future__ import annotations

import re
from functools import lru_cache

from flask_babel import gettext

from engine.errors import DelaktigError, Problem


def N_(message: str) -> str:
    """Mark a string for the catalog without translating it here (pybabel's default keyword)."""
    return message


TEMPLATES = (
    # engine.app: tasks
    N_("Uppgiften %(task)s finns inte."),
    N_("Uppgiften är redan slutförd."),
    N_("Uppgiften är inte längre aktiv."),
    N_("Uppgiften hör till en annan roll än dina."),
    N_("Uppgiften är redan tagen av %(who)s."),
    N_("Uppgiften är tagen av %(who)s."),
    N_("Uppgiften är tagen av %(who)s; bara den personen kan lämna tillbaka den."),
    N_("Uppgiften togs samtidigt av någon annan."),
    N_("Uppgiften är inte längre redo att slutföras (någon hann före)."),
    N_("Uppgiften slutfördes samtidigt av någon annan."),
    N_("Formuläret innehåller fel."),
    # engine.app: delegation (delegate_task, resolve_task)
    N_("Uppgiften är tagen av %(who)s; bara den personen kan delegera den."),
    N_("Ta uppgiften innan du delegerar den."),
    N_("Uppgiften är inte delegerad och kan inte lämnas tillbaka."),
    N_("Uppgiften är delegerad till %(who)s; bara den personen kan lämna tillbaka den."),
    N_("Ta uppgiften innan du lämnar tillbaka den."),
    N_("En delegerad uppgift kan inte slutföras; lämna tillbaka den i stället."),
    N_("Uppgiften ändrades samtidigt av någon annan; ladda om och försök igen."),
    N_("ange vem uppgiften ska delegeras till"),
    N_("du har redan uppgiften; välj en kollega"),
    N_("%(who)s delegerade uppgiften; lämna tillbaka den i stället"),
    N_("okänd användare %(who)s"),
    # engine.app, engine.runtime, engine.audit, engine.rowio: cases, starting, races
    N_("Ärendet %(case)s finns inte."),
    N_("Ärendet är redan avslutat."),
    N_("Ärendet ändrades samtidigt; försök igen."),
    N_("Ärendet ändrades samtidigt av någon annan; ladda om och försök igen."),
    N_("Du saknar behörighet att starta %(routine)s."),
    N_("databasen är upptagen av en samtidig ändring; försök igen"),
    N_("samtidig ändring upptäcktes (%(error)s); försök igen"),
    # engine.forms: form fields
    N_("Fältet är obligatoriskt."),
    N_("Måste vara ja eller nej."),
    N_("Måste vara ifyllt (kryssat) innan uppgiften kan slutföras."),
    N_("Måste vara ett heltal."),
    N_("Måste vara minst %(n)s."),
    N_("Får vara högst %(n)s."),
    N_("Måste vara minst %(n)s tecken."),
    N_("Får vara högst %(n)s tecken."),
    N_("Ogiltigt datum; skriv det som ÅÅÅÅ-MM-DD."),
    N_("Ogiltigt val; välj ett av alternativen."),
    N_("Måste vara text."),
    N_("Måste vara ett tal."),
    N_("Har inte rätt form."),
    N_("Formulärdata måste vara ett objekt."),
    N_("Okänt fält för den här uppgiften."),
    N_("Ogiltigt variabelnamn."),
    # engine.task_changes and the task rules of engine.app: task details, candidates, comments
    N_("kan inte ändras på en uppgift"),
    N_("ska vara en text på högst %(n)s tecken"),
    N_("ska vara ett heltal"),
    N_("ligger utanför tillåtet intervall"),
    N_("ska vara en tidpunkt med tidszon"),
    N_("ska vara ett användarnamn"),
    N_("ska vara en text på 1–100 tecken"),
    N_("okänd roll %(role)s"),
    N_("uppgiften måste ha kvar minst en kandidat (grupp eller användare)"),
    N_("en kommentar behöver en text"),
    N_("får vara högst %(n)s tecken"),
    N_("%(who)s har inte rollen för uppgiften och kan inte tilldelas den"),
    N_(
        "Uppgiften har ingen kandidat (grupp eller användare) och kan inte lämnas tillbaka; tilldela den någon annan i stället."
    ),
    N_("Uppgiften är tagen av %(who)s; bara den personen kan lämna den vidare."),
    # engine.app, engine.signals, engine.forms: starting, messages and signals (the REST API's answers)
    N_("ärendenumret (business key) ska vara en text på högst 200 tecken"),
    N_(
        "%(routine)s startas av en händelse (meddelande eller tidpunkt), inte för hand; skicka meddelandet i stället"
    ),
    N_("Ärendet är avslutat; dess uppgifter ändras inte längre."),
    N_("ärendet väntar inte längre på meddelandet %(name)s"),
    N_("inget ärende eller startmeddelande väntar på meddelandet %(name)s"),
    N_("startmeddelandet %(name)s hittades inte i %(routine)s"),
    N_("meddelandet %(name)s matchar %(n)s väntande ärenden; ange korrelation"),
    N_("Du deltar inte i det väntande ärendet och kan inte skicka meddelanden till det."),
    N_("Du deltar inte i ett av ärendena som väntar på signalen och kan inte skicka den."),
    N_("Fältet är skrivskyddat och kan inte ändras."),
)

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@lru_cache(maxsize=1)
def _patterns() -> list[tuple[re.Pattern[str], str]]:
    """(regex, template), the templates with the most fixed text first: "Får vara högst 5 tecken." is
    matched by "… %(n)s tecken." before "… %(n)s." could take "5 tecken" for its number."""
    out = []
    for template in TEMPLATES:
        parts = _PLACEHOLDER.split(template)  # literal, name, literal, name, …, literal
        regex = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts))
        fixed = sum(len(part) for part in parts[::2])
        out.append((fixed, re.compile(regex, re.DOTALL), template))
    out.sort(key=lambda item: -item[0])
    return [(pattern, template) for _fixed, pattern, template in out]


def translate(message: str) -> str:
    """An engine message in the current locale (unchanged if it is not a known engine message)."""
    text = str(message)
    for pattern, template in _patterns():
        m = pattern.fullmatch(text)
        if m:
            return gettext(template, **m.groupdict()) if m.groupdict() else gettext(template)
    return text


def translate_problem(problem: Problem) -> str:
    message = translate(problem.message)
    return f"{problem.where}: {message}" if problem.where else message


def translate_error(err: DelaktigError) -> str:
    """``str(err)`` in the current locale; a ValidationFailed without its own message is its problems."""
    problems = getattr(err, "problems", None)
    text = str(err)
    if problems and text == "; ".join(str(p) for p in problems):
        return "; ".join(translate_problem(p) for p in problems)
    return translate(text)
