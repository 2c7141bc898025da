"""Swedish working days and due dates (engine/workdays.py)."""

from datetime import UTC, date, datetime, timedelta

import pytest

from engine.bpmn.expressions import TranslationError
from engine.workdays import (
    STOCKHOLM,
    add_working_days,
    check_due,
    compute_due,
    is_working_day,
    swedish_non_working_days,
)


def local(*args) -> datetime:
    return datetime(*args, tzinfo=STOCKHOLM)


# ---- non-working days ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "name"),
    [
        (date(2026, 1, 1), "nyårsdagen"),
        (date(2026, 1, 6), "trettondedag jul"),
        (date(2026, 4, 3), "långfredagen"),
        (date(2026, 4, 6), "annandag påsk"),
        (date(2026, 5, 1), "första maj"),
        (date(2026, 5, 14), "Kristi himmelsfärdsdag"),
        (date(2026, 6, 19), "midsommarafton"),
        (date(2026, 12, 24), "julafton"),
        (date(2026, 12, 25), "juldagen"),
        (date(2026, 12, 31), "nyårsafton"),
    ],
)
def test_holidays_and_eves_are_not_working_days(day, name):
    assert day.weekday() < 5, f"{name} {day} is a weekday in 2026"
    assert day in swedish_non_working_days(2026)
    assert not is_working_day(day)


def test_non_working_days_2026_exactly():
    # Weekends come from weekday(); the package must not add every Sunday (include_sundays=False).
    assert swedish_non_working_days(2026) == {
        date(2026, 1, 1), date(2026, 1, 6), date(2026, 4, 3), date(2026, 4, 5), date(2026, 4, 6),
        date(2026, 5, 1), date(2026, 5, 14), date(2026, 5, 24), date(2026, 6, 6), date(2026, 6, 19),
        date(2026, 6, 20), date(2026, 10, 31), date(2026, 12, 24), date(2026, 12, 25), date(2026, 12, 26),
        date(2026, 12, 31),
    }  # fmt: skip


def test_returned_set_is_a_copy():
    swedish_non_working_days(2026).add(date(2026, 3, 3))
    assert is_working_day(date(2026, 3, 3))


@pytest.mark.parametrize(
    "day",
    [
        date(2026, 1, 5),  # trettondagsafton: half day only
        date(2026, 4, 2),  # skärtorsdagen: half day only
        date(2026, 4, 30),  # valborgsmässoafton
        date(2026, 6, 18),  # Thursday before midsommar
        date(2026, 12, 23),
        date(2027, 1, 7),
    ],
)
def test_working_days(day):
    assert is_working_day(day)


def test_weekends_are_not_working_days():
    assert not is_working_day(date(2026, 3, 7))  # Saturday
    assert not is_working_day(date(2026, 3, 8))  # Sunday


def test_midsommarafton_moves_with_the_calendar():
    assert date(2027, 6, 25) in swedish_non_working_days(2027)  # Friday 25 June 2027
    assert is_working_day(date(2027, 6, 18))


# ---- add_working_days --------------------------------------------------------------------------------


def test_thursday_before_midsommar_plus_one_is_monday():
    due = add_working_days(local(2026, 6, 18, 10, 0), 1)
    assert due == local(2026, 6, 22, 10, 0)
    assert due.tzinfo is UTC


def test_easter_is_skipped():
    # Thursday 2 April 2026 + 1: långfredag, the weekend and annandag påsk are skipped.
    assert add_working_days(local(2026, 4, 2, 9, 0), 1) == local(2026, 4, 7, 9, 0)


def test_keeps_local_clock_time_across_dst_start():
    due = add_working_days(local(2026, 3, 27, 9, 0), 1)  # Friday; clocks go forward on Sunday 29 March
    assert due == local(2026, 3, 30, 9, 0)
    assert due == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)


def test_keeps_local_clock_time_across_dst_end():
    due = add_working_days(local(2026, 10, 23, 9, 0), 1)  # clocks go back on Sunday 25 October
    assert due == datetime(2026, 10, 26, 8, 0, tzinfo=UTC)


def test_zero_days():
    assert add_working_days(local(2026, 6, 18, 10, 0), 0) == local(2026, 6, 18, 10, 0)
    assert add_working_days(local(2026, 6, 19, 10, 0), 0) == local(2026, 6, 22, 10, 0)  # midsommarafton


def test_counts_by_local_date_not_utc_date():
    # 23:30 on Friday 19 June local is still 19 June in Stockholm (21:30 UTC).
    assert add_working_days(local(2026, 6, 18, 23, 30), 1) == local(2026, 6, 22, 23, 30)


def test_rejects_naive_start_and_negative_days():
    with pytest.raises(ValueError, match="timezone-aware"):
        add_working_days(datetime(2026, 6, 18, 10, 0), 1)
    with pytest.raises(ValueError):
        add_working_days(local(2026, 6, 18, 10, 0), -1)


# ---- compute_due -------------------------------------------------------------------------------------

CREATED = local(2026, 3, 20, 10, 0)  # a Friday, before the switch to summer time


def test_duration_in_calendar_days_keeps_local_time():
    due = compute_due("P14D", CREATED, {})
    assert due == local(2026, 4, 3, 10, 0)  # 10:00 summer time
    assert due == datetime(2026, 4, 3, 8, 0, tzinfo=UTC)
    assert due.tzinfo is UTC


def test_hours_are_elapsed_time():
    assert compute_due("PT48H", CREATED, {}) == CREATED + timedelta(hours=48)
    assert compute_due("PT48H", local(2026, 3, 28, 10, 0), {}) == local(2026, 3, 30, 11, 0)  # DST


def test_months_and_years_are_calendar_correct():
    assert compute_due("P1M", local(2026, 1, 31, 10, 0), {}) == local(2026, 2, 28, 10, 0)
    assert compute_due("P1M", local(2028, 1, 31, 10, 0), {}) == local(2028, 2, 29, 10, 0)
    assert compute_due("P1Y", local(2028, 2, 29, 10, 0), {}) == local(2029, 2, 28, 10, 0)
    assert compute_due("P1Y2M3DT4H", local(2026, 1, 1, 8, 0), {}) == local(2027, 3, 4, 12, 0)


def test_working_days_across_christmas_and_new_year():
    created = local(2026, 12, 21, 10, 0)  # Monday
    # 22, 23 Dec; 28, 29, 30 Dec; 4, 5, 7, 8, 11 Jan (julafton, juldagen, nyårsafton, nyårsdagen,
    # trettondedag jul and weekends skipped).
    assert compute_due("P10D", created, {}, working_days=True) == local(2027, 1, 11, 10, 0)
    assert compute_due("P10D", created, {}) == local(2026, 12, 31, 10, 0)


def test_working_days_need_a_day_duration():
    with pytest.raises(TranslationError, match="whole-day duration"):
        compute_due("PT48H", CREATED, {}, working_days=True)
    with pytest.raises(TranslationError, match="whole-day duration"):
        compute_due("P2W", CREATED, {}, working_days=True)


def test_bare_date_is_17_local():
    assert compute_due("2026-03-01", CREATED, {}) == datetime(2026, 3, 1, 16, 0, tzinfo=UTC)
    assert compute_due("2026-07-01", CREATED, {}) == datetime(2026, 7, 1, 15, 0, tzinfo=UTC)


def test_datetimes():
    assert compute_due("2026-07-01T09:00:00", CREATED, {}) == datetime(2026, 7, 1, 7, 0, tzinfo=UTC)
    assert compute_due("2026-07-01T09:00:00Z", CREATED, {}) == datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    assert compute_due("2026-07-01T09:00:00+01:00", CREATED, {}) == datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("deadline", "expected"),
    [
        ("2026-05-04", datetime(2026, 5, 4, 15, 0, tzinfo=UTC)),
        ("2026-05-04T12:00:00", datetime(2026, 5, 4, 10, 0, tzinfo=UTC)),
        (date(2026, 5, 4), datetime(2026, 5, 4, 15, 0, tzinfo=UTC)),
        (datetime(2026, 5, 4, 12, 0), datetime(2026, 5, 4, 10, 0, tzinfo=UTC)),
        (datetime(2026, 5, 4, 12, 0, tzinfo=UTC), datetime(2026, 5, 4, 12, 0, tzinfo=UTC)),
        ("P14D", datetime(2026, 4, 3, 8, 0, tzinfo=UTC)),
        (None, None),
    ],
)
def test_variable(deadline, expected):
    assert compute_due("${deadline}", CREATED, {"deadline": deadline}) == expected


def test_dotted_variable():
    assert compute_due("${beslut.frist}", CREATED, {"beslut": {"frist": "2026-05-04"}}) == datetime(
        2026, 5, 4, 15, 0, tzinfo=UTC
    )


@pytest.mark.parametrize("value", [None, "", "   "])
def test_no_value_means_no_due_date(value):
    assert compute_due(value, CREATED, {}) is None


@pytest.mark.parametrize(
    ("value", "variables", "reason"),
    [
        ("P14X", {}, "ISO-8601 duration"),
        ("tomorrow", {}, "not a valid due date"),
        ("2026-13-45", {}, "not a valid due date"),
        ("${deadline}", {}, "'deadline' is not set"),
        ("${beslut.frist}", {"beslut": "x"}, "'beslut.frist' is not set"),
        ("${deadline}", {"deadline": 14}, "holds int"),
        ("${deadline}", {"deadline": "snart"}, "not a valid due date"),
        ("${a + b}", {}, "only ${variable}"),
        ("P14D ${x}", {}, "only ${variable}"),
    ],
)
def test_bad_values(value, variables, reason):
    with pytest.raises(TranslationError) as err:
        compute_due(value, CREATED, variables)
    assert reason in str(err.value)


def test_created_must_be_aware():
    with pytest.raises(ValueError, match="timezone-aware"):
        compute_due("P14D", datetime(2026, 3, 20, 10, 0), {})


def test_check_due_at_deploy_time():
    for good in ("P14D", "2026-03-01", "${deadline}", None):
        check_due(good)
    check_due("P10D", working_days=True)
    with pytest.raises(TranslationError):
        check_due("P14X")
    with pytest.raises(TranslationError):
        check_due("PT4H", working_days=True)
