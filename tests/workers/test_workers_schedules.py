"""Scheduled routines, by time travel through the engine clock (in-process; SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from conftest import CONFIG_DIR, ROOT, deploy

from engine import clock, routine_config, schedules
from engine.models import Case, UserTask

STHLM = ZoneInfo("Europe/Stockholm")


def at(*args) -> datetime:
    return datetime(*args, tzinfo=STHLM)


def cases(d, key="test_arlig"):
    with d.session() as s:
        return s.execute(
            sa.select(Case.business_key, Case.started_at)
            .where(Case.process_key == key)
            .order_by(Case.started_at)
        ).all()


def test_yearly_revision_one_case_each_february_first_never_on_january_31(d):
    deploy(d, "arlig")
    config = routine_config.load(CONFIG_DIR)
    config.schedules = [s for s in config.schedules if s.key == "test_arlig_oversyn"]
    for year in range(2025, 2030):  # 2028 is a leap year: no drift to 31 January or 2 February
        clock.set(at(year, 1, 31, 23, 59))
        assert schedules.run_due(d, config) == []
        assert len(cases(d)) == year - 2025
        clock.set(at(year, 2, 1, 7, 0))
        started = schedules.run_due(d, config)
        assert [(s.schedule_key, s.occurrence) for s in started] == [("test_arlig_oversyn", date(year, 2, 1))]
        clock.set(at(year, 2, 1, 7, 5))
        assert schedules.run_due(d, config) == []  # a second beat, a retry: nothing more
        clock.set(at(year, 6, 1, 12))
        assert schedules.run_due(d, config) == []
    rows = cases(d)
    assert [bk for bk, _ in rows] == [f"test_arlig_oversyn-{y}-02-01" for y in range(2025, 2030)]
    assert [started.astimezone(STHLM).date() for _, started in rows] == [
        date(y, 2, 1) for y in range(2025, 2030)
    ]
    assert [o for o, _ in schedules.occurrences(d, "test_arlig_oversyn")] == [
        date(y, 2, 1) for y in range(2025, 2030)
    ]
    with d.session() as s:
        data = s.execute(
            sa.select(Case.data).where(Case.business_key == "test_arlig_oversyn-2028-02-01")
        ).scalar()
    assert data["anledning"] == "arlig" and data["schema_tillfalle"] == "2028-02-01"


def test_missed_occurrences_after_downtime_start_one_case_not_a_burst(d):
    deploy(d, "arlig")
    config = routine_config.load(CONFIG_DIR)
    config.schedules = [s for s in config.schedules if s.key == "test_arlig_oversyn"]
    clock.set(at(2025, 2, 1, 8))
    assert len(schedules.run_due(d, config)) == 1
    clock.set(at(2029, 3, 15, 9))  # down from 2025 to 2029: four occurrences missed
    started = schedules.run_due(d, config)
    assert [s.occurrence for s in started] == [date(2029, 2, 1)]
    assert schedules.run_due(d, config) == []
    assert len(cases(d)) == 2


def test_undeployed_routine_is_tried_again_later(d):
    config = routine_config.load(CONFIG_DIR)
    clock.set(at(2025, 2, 1, 8))
    assert schedules.run_due(d, config) == []
    assert schedules.occurrences(d, "test_arlig_oversyn") == []
    deploy(d, "arlig")
    assert [s.occurrence for s in schedules.run_due(d, config)] == [date(2025, 2, 1)]


def test_mandate_period_schedule_first_working_day_of_november_after_each_election():
    config = routine_config.load(CONFIG_DIR)
    s = config.schedule("test_mandatperiod")
    # 1 Nov 2026 is a Sunday -> Monday 2 Nov; 2030: Friday 1 Nov; 2034: Wednesday 1 Nov.
    assert [schedules.nominal_date(s, n) for n in range(3)] == [
        date(2026, 11, 2),
        date(2030, 11, 1),
        date(2034, 11, 1),
    ]
    assert schedules.latest_due(s, at(2026, 11, 1, 12)) is None
    assert schedules.latest_due(s, at(2030, 10, 31, 12)) == date(2026, 11, 2)
    assert schedules.next_occurrence(s, at(2027, 1, 1)) == date(2030, 11, 1)


def test_leap_day_schedule_does_not_drift():
    s = routine_config.Schedule(key="x", process="p", first=date(2024, 2, 29), month=2, day=29)
    assert [schedules.nominal_date(s, n) for n in range(5)] == [
        date(2024, 2, 29), date(2025, 2, 28), date(2026, 2, 28), date(2027, 2, 28), date(2028, 2, 29),
    ]  # fmt: skip


def test_start_on_demand_uses_no_occurrence(d):
    deploy(d, "arlig")
    config = routine_config.load(CONFIG_DIR)
    clock.set(at(2025, 5, 5, 10))
    started = schedules.start_now(d, config, "test_arlig_oversyn", actor="anna")
    with d.session() as s:
        case = s.get(Case, started.case_id)
        assert case.data["anledning"] == "vid_behov" and case.started_by == "anna"
        assert (
            s.execute(sa.select(UserTask.name).where(UserTask.case_id == case.id)).scalar()
            == "Se över rutinen"
        )
    assert schedules.occurrences(d, "test_arlig_oversyn") == []


def test_real_routines_are_scheduled_on_their_dates(d):
    """The real diagrams and their schedules.yaml: HV revision on 1 Feb, Haninge after each election."""
    processes = ROOT / "processes"
    config = routine_config.load(processes)
    keys = {s.process: s for s in config.schedules}
    assert {"hv_revidering", "haninge_policyuppfoljning"} <= set(keys)
    d.deploy((processes / "hasselby-vallingby" / "revidering.bpmn").read_bytes(), "revidering.bpmn")
    d.deploy((processes / "haninge" / "policyuppfoljning.bpmn").read_bytes(), "policyuppfoljning.bpmn")
    clock.set(at(2025, 1, 31, 12))
    assert schedules.run_due(d, config) == []
    clock.set(at(2025, 2, 1, 9))
    assert [(s.schedule_key, s.occurrence) for s in schedules.run_due(d, config)] == [
        (keys["hv_revidering"].key, date(2025, 2, 1))
    ]
    clock.set(at(2026, 11, 2, 9))
    started = {s.schedule_key: s.occurrence for s in schedules.run_due(d, config)}
    assert started == {
        keys["hv_revidering"].key: date(2026, 2, 1),
        keys["haninge_policyuppfoljning"].key: date(2026, 11, 2),
    }
    assert len(cases(d, "hv_revidering")) == 2 and len(cases(d, "haninge_policyuppfoljning")) == 1
