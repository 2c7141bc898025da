"""Routines that start on calendar dates: yearly revisions, follow-up once per mandate period.

SpiffWorkflow freezes ``P1Y`` to seconds (yearly cycles drift after a leap year) and a cycle start event
never creates new cases, so Delaktig schedules these itself: each occurrence is computed from the calendar
(``date(first.year + n * every_years, month, day)``, optionally moved to the next Swedish working day) and
starts one new case. ``schedule_occurrence`` has a unique (schedule, date): the row and the case are
written in one transaction, so two beats, a retried task or a restart can never start a second case for
the same occurrence. After downtime only the latest missed occurrence starts a case — not a burst.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine import clock, definitions
from engine.errors import NotFound
from engine.reminder_models import ScheduleOccurrence
from engine.routine_config import RoutineConfig, Schedule
from engine.runtime import start_new_case
from engine.workdays import STOCKHOLM, is_working_day


def nominal_date(schedule: Schedule, n: int) -> date:
    year = schedule.first.year + n * schedule.every_years
    # 29 February in a common year becomes the 28th; every year is computed afresh, so nothing drifts.
    day = min(schedule.day, calendar.monthrange(year, schedule.month)[1])
    d = date(year, schedule.month, day)
    if schedule.working_day == "next":
        while not is_working_day(d):
            d += timedelta(days=1)
    return d


def occurrence_at(schedule: Schedule, d: date) -> datetime:
    """The moment an occurrence is due: its date at the schedule's local (Stockholm) time."""
    return datetime.combine(d, schedule.time, STOCKHOLM).astimezone(UTC)


def latest_due(schedule: Schedule, now: datetime) -> date | None:
    """The newest occurrence whose moment has come (None before the first one)."""
    latest = None
    n = 0
    while True:
        d = nominal_date(schedule, n)
        if d < schedule.first:
            n += 1
            continue
        if occurrence_at(schedule, d) > now:
            return latest
        latest, n = d, n + 1


def next_occurrence(schedule: Schedule, now: datetime) -> date:
    n = 0
    while True:
        d = nominal_date(schedule, n)
        if d >= schedule.first and occurrence_at(schedule, d) > now:
            return d
        n += 1


@dataclass
class Started:
    schedule_key: str
    occurrence: date | None
    case_id: str


def _start(d, s: Session, schedule: Schedule, occurrence: date | None, actor: str, reason: str) -> str:
    definition = definitions.latest_definition(s, schedule.process, None)
    variables = {
        **schedule.variables,
        "schema": schedule.key,
        "schema_tillfalle": occurrence.isoformat() if occurrence else None,
    }
    suffix = occurrence.isoformat() if occurrence else clock.now().strftime("%Y-%m-%dT%H%M%S")
    business_key = f"{schedule.key}-{suffix}"
    run = start_new_case(
        s,
        d.specs,
        definition,
        business_key,
        variables,
        actor,
        schedule=schedule.key,
        occurrence=occurrence.isoformat() if occurrence else None,
        reason=reason,
    )
    return run.case.id


def _insert_occurrence(s: Session, key: str, occurrence: date, now: datetime) -> int | None:
    """Insert the occurrence row unless it exists; returns its id, or None when it was already there."""
    dialect = s.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = (
        insert(ScheduleOccurrence)
        .values(schedule_key=key, occurrence=occurrence, created_at=now)
        .on_conflict_do_nothing()
        .returning(ScheduleOccurrence.id)
    )
    return s.execute(stmt).scalar()


def run_due(d, config: RoutineConfig, now: datetime | None = None) -> list[Started]:
    """Start the latest due occurrence of every schedule that has no case yet. Idempotent."""
    now = now or clock.now()
    started = []
    for schedule in config.schedules:
        occurrence = latest_due(schedule, now)
        if occurrence is None:
            continue

        def work(s: Session, schedule=schedule, occurrence=occurrence) -> str | None:
            with s.no_autoflush:
                try:
                    definitions.latest_definition(s, schedule.process, None)
                except NotFound:
                    return None  # not deployed (yet): no row, so the next scan tries again
                row_id = _insert_occurrence(s, schedule.key, occurrence, now)
                if row_id is None:
                    return None
                case_id = _start(d, s, schedule, occurrence, "system", "schema")
                s.execute(
                    sa.update(ScheduleOccurrence)
                    .where(ScheduleOccurrence.id == row_id)
                    .values(case_id=case_id)
                )
                return case_id

        case_id = d.transaction(work)
        if case_id:
            started.append(Started(schedule.key, occurrence, case_id))
    return started


def start_now(d, config: RoutineConfig, schedule_key: str, actor: str = "system") -> Started:
    """Start the schedule's routine on demand ("vid behov"): a case of its own, no occurrence used up."""
    schedule = config.schedule(schedule_key)
    on_demand = replace(schedule, variables=dict(schedule.on_demand_variables))
    case_id = d.transaction(lambda s: _start(d, s, on_demand, None, actor, "vid_behov"))
    return Started(schedule.key, None, case_id)


def occurrences(d, schedule_key: str) -> list[tuple[date, str | None]]:
    with d.session() as s:
        return [
            (r.occurrence, r.case_id)
            for r in s.execute(
                sa.select(ScheduleOccurrence)
                .where(ScheduleOccurrence.schedule_key == schedule_key)
                .order_by(ScheduleOccurrence.occurrence)
            ).scalars()
        ]
