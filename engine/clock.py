"""The one clock of Delaktig.

Everything that needs "now" asks this module, so tests can move time (yearly revisions, overdue tasks)
without patching the world. SpiffWorkflow reads its own ``datetime.now`` inside its timer module; the
engine points that at this clock too (see ``engine.workflow``), so timers fire on our time, not the host's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

STOCKHOLM = ZoneInfo("Europe/Stockholm")

_fixed: datetime | None = None
_offset = timedelta(0)


def now() -> datetime:
    """Aware UTC now: the fixed time when tests set one, else the host clock plus any offset."""
    if _fixed is not None:
        return _fixed
    return datetime.now(UTC) + _offset


def local_now() -> datetime:
    return now().astimezone(STOCKHOLM)


def set(moment: datetime | None) -> None:  # noqa: A001 - mirrors the clock's vocabulary
    """Freeze the clock at ``moment`` (aware), or unfreeze with None."""
    global _fixed
    if moment is not None and moment.tzinfo is None:
        raise ValueError("the clock takes aware datetimes only")
    _fixed = moment.astimezone(UTC) if moment else None


def advance(delta: timedelta) -> None:
    """Move time forward: a frozen clock moves with it, a running one gets an offset."""
    global _fixed, _offset
    if _fixed is not None:
        _fixed = _fixed + delta
    else:
        _offset += delta


@contextlib.contextmanager
def frozen(moment: datetime) -> Iterator[None]:
    previous = _fixed
    set(moment)
    try:
        yield
    finally:
        set(previous)


def reset() -> None:
    global _fixed, _offset
    _fixed = None
    _offset = timedelta(0)
