"""Swedish working days and user-task due dates (camunda:dueDate / camunda:followUpDate).

SpiffWorkflow drops these attributes, so Delaktig computes them itself when a task is created. Pure
functions: local time is always Europe/Stockholm, results are aware UTC datetimes.

Decisions:
- Non-working days: Saturdays, Sundays, the public holidays (allmänna helgdagar) and the three eves that
  the annual leave act (SFS 1977:480 §7) treats like Sundays: midsommarafton, julafton, nyårsafton. The
  half days (e.g. trettondagsafton, skärtorsdagen from 14:00) are working days.
- `PnD`/`PnW`/`PnM`/`PnY` are calendar steps in local time (same clock time across DST; P1M from 31 Jan
  is 28/29 Feb, like Camunda's Java Period). `T` parts (`PT48H`) are elapsed time.
- A bare date (`2026-03-01`) means 17:00 local that day: the end of the working day, so a task due "on
  the 1st" is not overdue from the first minute of that day.
- Naive date-times are local (Europe/Stockholm).
- With working_days=True only `PnD` is allowed; it counts Swedish working days after the creation day.
"""

import re
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from dateutil.relativedelta import relativedelta

from engine.bpmn.expressions import TranslationError, parse_iso_duration

STOCKHOLM = ZoneInfo("Europe/Stockholm")
END_OF_WORKING_DAY = time(17, 0)
_VARIABLE_RE = re.compile(r"\s*[$#]\{\s*([^\W\d]\w*(?:\.[^\W\d]\w*)*)\s*\}\s*")
_DUE_HELP = (
    "expected an ISO-8601 duration (P14D, PT48H, P1M), an ISO date or date-time (2026-03-01, "
    "2026-03-01T09:00:00) or ${variable} naming a date"
)


@lru_cache(maxsize=32)
def _non_working_days(year: int) -> frozenset[date]:
    # PUBLIC = allmänna helgdagar; DE_FACTO = midsommarafton, julafton, nyårsafton (holidays 0.109 keeps
    # them out of PUBLIC; a set cannot count twice anyway). Sundays come from weekday(), not the package.
    calendar = holidays.Sweden(
        years=year, categories=(holidays.PUBLIC, holidays.DE_FACTO), include_sundays=False
    )
    return frozenset(calendar)


def swedish_non_working_days(year: int) -> set[date]:
    """Swedish public holidays plus midsommarafton, julafton and nyårsafton (weekends not included)."""
    return set(_non_working_days(year))


def is_working_day(d: date) -> bool:
    return d.weekday() < 5 and d not in _non_working_days(d.year)


def _require_aware(dt: datetime, name: str) -> None:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


def add_working_days(start: datetime, n: int) -> datetime:
    """The n-th working day after start's local date, at start's local clock time (UTC result).

    n=0 gives start itself on a working day, else the next working day at the same clock time."""
    _require_aware(start, "start")
    if n < 0:
        raise ValueError("n must be >= 0")
    local = start.astimezone(STOCKHOLM)
    day, remaining = local.date(), n
    if n == 0 and is_working_day(day):
        return start.astimezone(UTC)
    while True:
        day += timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
            if remaining <= 0:
                break
    # Rebuild from the local wall clock so a DST change in between keeps e.g. 09:00 at 09:00.
    return datetime.combine(day, local.time(), STOCKHOLM).astimezone(UTC)


def _add_duration(created: datetime, text: str, working_days: bool) -> datetime:
    parts = parse_iso_duration(text)
    if working_days:
        if set(parts) != {"days"}:
            raise TranslationError(f"{text!r}: working-day due dates need a whole-day duration such as P10D")
        return add_working_days(created, parts["days"])
    wall = created.astimezone(STOCKHOLM).replace(tzinfo=None)
    wall += relativedelta(
        years=parts.get("years", 0),
        months=parts.get("months", 0),
        weeks=parts.get("weeks", 0),
        days=parts.get("days", 0),
    )
    elapsed = timedelta(
        hours=parts.get("hours", 0), minutes=parts.get("minutes", 0), seconds=parts.get("seconds", 0)
    )
    return wall.replace(tzinfo=STOCKHOLM).astimezone(UTC) + elapsed


def _from_datetime(value: datetime) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=STOCKHOLM)
    return value.astimezone(UTC)


def _from_date(value: date) -> datetime:
    return datetime.combine(value, END_OF_WORKING_DAY, STOCKHOLM).astimezone(UTC)


def _from_text(text: str, created: datetime, working_days: bool) -> datetime:
    s = text.strip()
    if s[:1] in "Pp":
        return _add_duration(created, s, working_days)
    try:
        return _from_date(date.fromisoformat(s))
    except ValueError:
        pass
    try:
        return _from_datetime(datetime.fromisoformat(s))
    except ValueError:
        raise TranslationError(f"{text!r} is not a valid due date: {_DUE_HELP}") from None


def _lookup(variables: dict, path: str):
    value = variables
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            raise TranslationError(f"variable {path!r} is not set")
        value = value[key]
    return value


def compute_due(
    value: str | None, created: datetime, variables: dict, working_days: bool = False
) -> datetime | None:
    """The due (or follow-up) time for a task created at `created`, as an aware UTC datetime.

    `value` is the attribute text: a duration from `created`, an ISO date/date-time, or `${var}` naming a
    variable that holds a date, datetime or ISO string (None/empty -> None, like Camunda's null)."""
    _require_aware(created, "created")
    if value is None or not value.strip():
        return None
    m = _VARIABLE_RE.fullmatch(value)
    if m is None:
        if "${" in value or "#{" in value:
            raise TranslationError(f"{value!r}: only ${{variable}} or ${{a.b}} is supported in due dates")
        return _from_text(value, created, working_days)
    resolved = _lookup(variables, m.group(1))
    if resolved is None:
        return None
    if isinstance(resolved, datetime):
        return _from_datetime(resolved)
    if isinstance(resolved, date):
        return _from_date(resolved)
    if isinstance(resolved, str) and resolved.strip():
        return _from_text(resolved, created, working_days)
    raise TranslationError(
        f"variable {m.group(1)!r} holds {type(resolved).__name__}, not a date: {_DUE_HELP}"
    )


def check_due(value: str | None, working_days: bool = False) -> None:
    """Deploy-time check of a dueDate/followUpDate attribute; raises TranslationError with the reason."""
    if value is not None and _VARIABLE_RE.fullmatch(value) is None:
        compute_due(value, datetime.now(UTC), {}, working_days)
