"""Billing periods in the customer's timezone (plans/billing_periods.py).

Pure functions: no database, no Django. Expected values follow Lago's Subscriptions::DatesService
(and the reference doc §5): periods start at local midnight, ``to_datetime`` is the last local day
at 23:59:59, ``issuing_date`` is the UTC date of ``to_datetime``.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest

from plans.billing_periods import (
    BillingPeriod,
    BillingTime,
    Interval,
    local_midnight,
    next_period,
    period_containing,
    periods_between,
)

CAL = BillingTime.CALENDAR
ANN = BillingTime.ANNIVERSARY
ALL_COMBINATIONS = list(itertools.product(Interval, BillingTime))
ONE_MICROSECOND = timedelta(microseconds=1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(timezone: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(timezone))


def iso(value: datetime) -> str:
    """Lago's rendering of a UTC datetime."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def period(
    interval: Interval,
    billing_time: BillingTime,
    at: datetime,
    *,
    anchor: date = date(2024, 1, 1),
    timezone: str = "UTC",
) -> BillingPeriod:
    return period_containing(interval=interval, billing_time=billing_time, anchor=anchor, timezone=timezone, at=at)


def starts(periods: list[BillingPeriod], timezone: str) -> list[date]:
    """Local first day of each period."""
    return [p.start.astimezone(ZoneInfo(timezone)).date() for p in periods]


def year_of_periods(
    interval: Interval, billing_time: BillingTime, anchor: date, timezone: str, first: datetime, last: datetime
) -> list[BillingPeriod]:
    return list(
        periods_between(
            interval=interval, billing_time=billing_time, anchor=anchor, timezone=timezone, start=first, end=last
        )
    )


# --- calendar billing ------------------------------------------------------------------------


def test_calendar_weekly_runs_monday_to_sunday() -> None:
    p = period(Interval.WEEKLY, CAL, utc(2024, 3, 13, 12))  # a Wednesday
    assert (p.start, p.end) == (utc(2024, 3, 11), utc(2024, 3, 18))
    assert p.start.weekday() == 0
    assert iso(p.to_datetime) == "2024-03-17T23:59:59Z"
    assert p.issuing_date == date(2024, 3, 17)


def test_calendar_weekly_ignores_the_anchor_weekday() -> None:
    thursday_anchor = date(2024, 3, 7)
    p = period(Interval.WEEKLY, CAL, utc(2024, 3, 13), anchor=thursday_anchor)
    assert p.start == utc(2024, 3, 11)


def test_calendar_monthly_matches_lago_usage_example() -> None:
    # lago-api usage_controller_spec: first day of the month .. last day 23:59:59, issued on the last day.
    p = period(Interval.MONTHLY, CAL, utc(2024, 1, 15, 10), anchor=date(2024, 1, 15))
    assert iso(p.from_datetime) == "2024-01-01T00:00:00Z"
    assert iso(p.to_datetime) == "2024-01-31T23:59:59Z"
    assert p.issuing_date == date(2024, 1, 31)
    assert p.end == utc(2024, 2, 1)


@pytest.mark.parametrize(
    ("at", "first_day", "next_first_day"),
    [
        (utc(2024, 2, 10), date(2024, 1, 1), date(2024, 4, 1)),
        (utc(2024, 5, 31), date(2024, 4, 1), date(2024, 7, 1)),
        (utc(2024, 8, 1), date(2024, 7, 1), date(2024, 10, 1)),
        (utc(2024, 12, 31, 23, 59), date(2024, 10, 1), date(2025, 1, 1)),
    ],
)
def test_calendar_quarterly_starts_in_january_april_july_october(
    at: datetime, first_day: date, next_first_day: date
) -> None:
    p = period(Interval.QUARTERLY, CAL, at, anchor=date(2024, 2, 17))
    assert (p.start, p.end) == (local_midnight(first_day, "UTC"), local_midnight(next_first_day, "UTC"))
    assert p.issuing_date == next_first_day - timedelta(days=1)


def test_calendar_yearly_runs_january_1_to_december_31() -> None:
    p = period(Interval.YEARLY, CAL, utc(2024, 6, 1), anchor=date(2023, 6, 20))
    assert (p.start, p.end) == (utc(2024, 1, 1), utc(2025, 1, 1))
    assert iso(p.to_datetime) == "2024-12-31T23:59:59Z"
    assert p.issuing_date == date(2024, 12, 31)


# --- anniversary billing ---------------------------------------------------------------------


def test_anniversary_weekly_starts_on_the_anchor_weekday() -> None:
    thursday = date(2024, 3, 7)
    p = period(Interval.WEEKLY, ANN, utc(2024, 3, 19, 8), anchor=thursday)  # a Tuesday
    assert (p.start, p.end) == (utc(2024, 3, 14), utc(2024, 3, 21))
    # Lago: from + 6 days.
    assert iso(p.to_datetime) == "2024-03-20T23:59:59Z"
    assert p.issuing_date == date(2024, 3, 20)


def test_anniversary_monthly_runs_from_anchor_day_to_the_day_before() -> None:
    p = period(Interval.MONTHLY, ANN, utc(2024, 3, 10), anchor=date(2024, 1, 15))
    assert (p.start, p.end) == (utc(2024, 2, 15), utc(2024, 3, 15))
    assert iso(p.to_datetime) == "2024-03-14T23:59:59Z"
    assert p.issuing_date == date(2024, 3, 14)


def test_anniversary_quarterly_steps_three_months_from_the_anchor() -> None:
    anchor = date(2024, 2, 10)
    periods = year_of_periods(Interval.QUARTERLY, ANN, anchor, "UTC", utc(2024, 2, 10), utc(2025, 2, 10))
    assert starts(periods, "UTC") == [date(2024, 2, 10), date(2024, 5, 10), date(2024, 8, 10), date(2024, 11, 10)]
    assert periods[-1].end == utc(2025, 2, 10)
    assert period(Interval.QUARTERLY, ANN, utc(2025, 1, 1), anchor=anchor).start == utc(2024, 11, 10)


def test_anniversary_yearly_runs_from_anchor_to_the_day_before_next_year() -> None:
    anchor = date(2023, 6, 20)
    p = period(Interval.YEARLY, ANN, utc(2024, 6, 19, 23), anchor=anchor)
    assert (p.start, p.end) == (utc(2023, 6, 20), utc(2024, 6, 20))
    assert p.issuing_date == date(2024, 6, 19)
    assert period(Interval.YEARLY, ANN, utc(2024, 6, 20), anchor=anchor).start == utc(2024, 6, 20)


@pytest.mark.parametrize(("interval", "billing_time"), ALL_COMBINATIONS)
def test_period_of_the_anchor_day_starts_on_the_anchor_for_anniversary(
    interval: Interval, billing_time: BillingTime
) -> None:
    anchor = date(2024, 5, 17)
    p = period(interval, billing_time, local("Asia/Tokyo", 2024, 5, 17, 9), anchor=anchor, timezone="Asia/Tokyo")
    if billing_time is ANN:
        assert p.start == local_midnight(anchor, "Asia/Tokyo")
    assert p.contains(local("Asia/Tokyo", 2024, 5, 17, 9))


@pytest.mark.parametrize(("interval", "billing_time"), ALL_COMBINATIONS)
def test_periods_before_the_anchor_are_computed_backwards(interval: Interval, billing_time: BillingTime) -> None:
    # A backdated or not-yet-started subscription must still get well-formed periods.
    anchor = date(2024, 5, 17)
    p = period(interval, billing_time, utc(2022, 1, 3), anchor=anchor)
    assert p.contains(utc(2022, 1, 3))
    assert next_period(p, interval=interval, billing_time=billing_time, anchor=anchor, timezone="UTC").start == p.end


# --- midnight boundaries ---------------------------------------------------------------------


@pytest.mark.parametrize("timezone", ["UTC", "Europe/Paris", "Asia/Tokyo", "America/Los_Angeles"])
@pytest.mark.parametrize(("interval", "billing_time"), ALL_COMBINATIONS)
def test_instant_at_local_midnight_belongs_to_the_new_period_and_one_microsecond_before_to_the_old(
    interval: Interval, billing_time: BillingTime, timezone: str
) -> None:
    anchor = date(2024, 1, 17)
    old = period(interval, billing_time, local(timezone, 2024, 2, 20, 12), anchor=anchor, timezone=timezone)
    boundary = old.end
    assert boundary.astimezone(ZoneInfo(timezone)).time() == time(0, 0)

    new = period(interval, billing_time, boundary, anchor=anchor, timezone=timezone)
    assert new.start == boundary
    assert period(interval, billing_time, boundary - ONE_MICROSECOND, anchor=anchor, timezone=timezone) == old
    assert not old.contains(boundary)
    assert old.contains(boundary - ONE_MICROSECOND)
    assert new.contains(boundary)


def test_to_datetime_is_one_second_before_the_exclusive_end() -> None:
    p = period(Interval.MONTHLY, CAL, utc(2024, 4, 2))
    assert p.to_datetime == p.end - timedelta(seconds=1)
    assert iso(p.to_datetime) == "2024-04-30T23:59:59Z"
    # The last fraction of a second still belongs to the period even though to_datetime is past.
    assert p.contains(utc(2024, 4, 30, 23, 59, 59, 999_999))


# --- month ends and leap years ---------------------------------------------------------------


def test_monthly_anniversary_on_the_31st_clamps_to_month_end_without_drifting() -> None:
    periods = year_of_periods(Interval.MONTHLY, ANN, date(2024, 1, 31), "UTC", utc(2024, 1, 31), utc(2025, 3, 31))
    assert starts(periods, "UTC") == [
        date(2024, 1, 31),
        date(2024, 2, 29),  # leap year
        date(2024, 3, 31),  # back to the 31st, not stuck on the 29th
        date(2024, 4, 30),
        date(2024, 5, 31),
        date(2024, 6, 30),
        date(2024, 7, 31),
        date(2024, 8, 31),
        date(2024, 9, 30),
        date(2024, 10, 31),
        date(2024, 11, 30),
        date(2024, 12, 31),
        date(2025, 1, 31),
        date(2025, 2, 28),  # common year
    ]
    assert periods[0].issuing_date == date(2024, 2, 28)
    assert periods[-1].end == utc(2025, 3, 31)


def test_monthly_anniversary_on_the_30th_gives_february_its_last_day() -> None:
    p = period(Interval.MONTHLY, ANN, utc(2025, 3, 10), anchor=date(2025, 1, 30))
    assert (p.start, p.end) == (utc(2025, 2, 28), utc(2025, 3, 30))


def test_quarterly_anniversary_on_a_month_end_clamps_without_drifting() -> None:
    periods = year_of_periods(Interval.QUARTERLY, ANN, date(2023, 11, 30), "UTC", utc(2023, 12, 1), utc(2024, 12, 1))
    assert starts(periods, "UTC") == [
        date(2023, 11, 30),
        date(2024, 2, 29),
        date(2024, 5, 30),
        date(2024, 8, 30),
        date(2024, 11, 30),
    ]


def test_yearly_anniversary_on_february_29_falls_on_february_28_in_common_years() -> None:
    periods = year_of_periods(Interval.YEARLY, ANN, date(2024, 2, 29), "UTC", utc(2024, 3, 1), utc(2028, 3, 1))
    assert starts(periods, "UTC") == [
        date(2024, 2, 29),
        date(2025, 2, 28),
        date(2026, 2, 28),
        date(2027, 2, 28),
        date(2028, 2, 29),
    ]
    # Lago ends the 2024 period on Feb 27 2025 (the day before the clamped anniversary).
    assert periods[0].issuing_date == date(2025, 2, 27)
    assert iso(periods[0].to_datetime) == "2025-02-27T23:59:59Z"


def test_monthly_anniversary_on_february_29_keeps_the_29th_except_in_common_februaries() -> None:
    periods = year_of_periods(Interval.MONTHLY, ANN, date(2024, 2, 29), "UTC", utc(2025, 1, 1), utc(2025, 4, 1))
    assert starts(periods, "UTC") == [date(2024, 12, 29), date(2025, 1, 29), date(2025, 2, 28), date(2025, 3, 29)]


def test_calendar_february_has_29_days_in_a_leap_year() -> None:
    p = period(Interval.MONTHLY, CAL, utc(2024, 2, 29, 23, 59, 59))
    assert (p.start, p.end) == (utc(2024, 2, 1), utc(2024, 3, 1))
    assert p.issuing_date == date(2024, 2, 29)


# --- daylight saving time --------------------------------------------------------------------


def test_paris_spring_forward_month_is_one_hour_shorter_but_starts_at_local_midnight() -> None:
    p = period(Interval.MONTHLY, CAL, local("Europe/Paris", 2024, 3, 15), timezone="Europe/Paris")
    assert (p.start, p.end) == (utc(2024, 2, 29, 23), utc(2024, 3, 31, 22))  # CET then CEST
    assert p.end - p.start == timedelta(days=31, hours=-1)
    assert p.start.astimezone(ZoneInfo("Europe/Paris")) == local("Europe/Paris", 2024, 3, 1)
    assert p.end.astimezone(ZoneInfo("Europe/Paris")) == local("Europe/Paris", 2024, 4, 1)
    assert iso(p.to_datetime) == "2024-03-31T21:59:59Z"


def test_paris_fall_back_month_is_one_hour_longer_but_starts_at_local_midnight() -> None:
    p = period(Interval.MONTHLY, CAL, local("Europe/Paris", 2024, 10, 27, 2, 30), timezone="Europe/Paris")
    assert (p.start, p.end) == (utc(2024, 9, 30, 22), utc(2024, 10, 31, 23))  # CEST then CET
    assert p.end - p.start == timedelta(days=31, hours=1)
    assert p.end.astimezone(ZoneInfo("Europe/Paris")) == local("Europe/Paris", 2024, 11, 1)


def test_paris_weekly_period_across_the_dst_change_is_168_hours_minus_one() -> None:
    p = period(Interval.WEEKLY, CAL, local("Europe/Paris", 2024, 3, 31, 12), timezone="Europe/Paris")
    assert (p.start, p.end) == (utc(2024, 3, 24, 23), utc(2024, 3, 31, 22))
    assert p.end - p.start == timedelta(hours=167)


def test_both_occurrences_of_the_repeated_paris_hour_belong_to_the_same_day_period() -> None:
    first = datetime(2024, 10, 27, 2, 30, tzinfo=ZoneInfo("Europe/Paris"), fold=0)
    second = datetime(2024, 10, 27, 2, 30, tzinfo=ZoneInfo("Europe/Paris"), fold=1)
    assert second - first == timedelta(0) and second.astimezone(UTC) - first.astimezone(UTC) == timedelta(hours=1)
    p1 = period(Interval.WEEKLY, ANN, first, anchor=date(2024, 10, 27), timezone="Europe/Paris")
    p2 = period(Interval.WEEKLY, ANN, second, anchor=date(2024, 10, 27), timezone="Europe/Paris")
    assert p1 == p2
    assert p1.start == utc(2024, 10, 26, 22)


# --- midnight that does not exist locally ----------------------------------------------------


def test_local_midnight_is_plain_midnight_when_it_exists() -> None:
    assert local_midnight(date(2024, 1, 1), "Asia/Tokyo") == utc(2023, 12, 31, 15)
    assert local_midnight(date(2024, 7, 1), "America/Los_Angeles") == utc(2024, 7, 1, 7)


@pytest.mark.parametrize(
    ("timezone", "day", "expected_utc", "expected_local_hour"),
    [
        # DST starts at 00:00 -> 01:00: the day begins at 01:00 local.
        ("America/Santiago", date(2024, 9, 8), utc(2024, 9, 8, 4), 1),
        ("America/Havana", date(2024, 3, 10), utc(2024, 3, 10, 5), 1),
    ],
)
def test_local_midnight_uses_the_first_instant_of_the_day_when_midnight_does_not_exist(
    timezone: str, day: date, expected_utc: datetime, expected_local_hour: int
) -> None:
    first_instant = local_midnight(day, timezone)
    assert first_instant == expected_utc
    as_local = first_instant.astimezone(ZoneInfo(timezone))
    assert (as_local.date(), as_local.hour, as_local.minute) == (day, expected_local_hour, 0)
    # One second earlier is still the previous local day.
    assert (first_instant - timedelta(seconds=1)).astimezone(ZoneInfo(timezone)).date() == day - timedelta(days=1)


def test_local_midnight_finds_the_jump_when_the_gap_straddles_midnight() -> None:
    # Toronto jumped 23:30 -> 00:30 on 1919-03-30/31: the day began at 00:30 EDT, not at the
    # instant a naive "midnight with the old offset" would give (01:00 EDT).
    first_instant = local_midnight(date(1919, 3, 31), "America/Toronto")
    assert first_instant == utc(1919, 3, 31, 4, 30)
    assert first_instant.astimezone(ZoneInfo("America/Toronto")).time() == time(0, 30)


def test_local_midnight_takes_the_earlier_of_two_midnights() -> None:
    # Havana ends DST at 01:00 -> 00:00, so 00:00 happens twice on 2024-11-03.
    assert local_midnight(date(2024, 11, 3), "America/Havana") == utc(2024, 11, 3, 4)


def test_local_midnight_of_a_skipped_day_equals_the_next_days_start() -> None:
    # Samoa skipped 2011-12-30 entirely when it crossed the date line.
    assert local_midnight(date(2011, 12, 30), "Pacific/Apia") == local_midnight(date(2011, 12, 31), "Pacific/Apia")
    assert local_midnight(date(2011, 12, 31), "Pacific/Apia") == utc(2011, 12, 30, 10)


def test_period_starting_on_a_day_without_midnight_starts_at_its_first_instant() -> None:
    santiago = "America/Santiago"
    sunday = date(2024, 9, 8)
    p = period(Interval.WEEKLY, ANN, utc(2024, 9, 10), anchor=sunday, timezone=santiago)
    assert p.start == utc(2024, 9, 8, 4)
    before = period(Interval.WEEKLY, ANN, p.start - ONE_MICROSECOND, anchor=sunday, timezone=santiago)
    assert before.end == p.start
    # The previous period ends on Saturday 23:59:59 local (-04), i.e. the second before the jump.
    assert before.to_datetime.astimezone(ZoneInfo(santiago)) == local(santiago, 2024, 9, 7, 23, 59, 59)


@pytest.mark.parametrize(("interval", "billing_time"), ALL_COMBINATIONS)
def test_periods_over_a_skipped_day_stay_contiguous(interval: Interval, billing_time: BillingTime) -> None:
    anchor = date(2011, 12, 30)  # the skipped Friday itself
    periods = year_of_periods(interval, billing_time, anchor, "Pacific/Apia", utc(2011, 11, 1), utc(2012, 3, 1))
    for earlier, later in itertools.pairwise(periods):
        assert earlier.end == later.start


# --- UTC+ and UTC- customers: no overlap, no gap ---------------------------------------------


def test_tokyo_calendar_month_starts_at_local_midnight() -> None:
    p = period(Interval.MONTHLY, CAL, utc(2024, 1, 15), timezone="Asia/Tokyo")
    assert iso(p.from_datetime) == "2023-12-31T15:00:00Z"
    assert iso(p.to_datetime) == "2024-01-31T14:59:59Z"
    assert p.issuing_date == date(2024, 1, 31)


def test_kiritimati_utc_plus_14_month_starts_the_previous_utc_day() -> None:
    p = period(Interval.MONTHLY, CAL, utc(2024, 1, 15), timezone="Pacific/Kiritimati")
    assert iso(p.from_datetime) == "2023-12-31T10:00:00Z"
    assert iso(p.to_datetime) == "2024-01-31T09:59:59Z"
    # 2024-01-31T10:00Z is already February 1st in Kiritimati.
    assert period(Interval.MONTHLY, CAL, utc(2024, 1, 31, 10), timezone="Pacific/Kiritimati").start == p.end


def test_los_angeles_issuing_date_is_the_utc_date_of_the_period_end() -> None:
    # Lago stores the period end (UTC) in a date column: a UTC- customer's January is issued on Feb 1.
    p = period(Interval.MONTHLY, CAL, utc(2024, 1, 15), timezone="America/Los_Angeles")
    assert iso(p.from_datetime) == "2024-01-01T08:00:00Z"
    assert iso(p.to_datetime) == "2024-02-01T07:59:59Z"
    assert p.issuing_date == date(2024, 2, 1)


def test_pago_pago_utc_minus_11_month_ends_the_next_utc_day() -> None:
    p = period(Interval.MONTHLY, CAL, utc(2024, 1, 15), timezone="Pacific/Pago_Pago")
    assert iso(p.from_datetime) == "2024-01-01T11:00:00Z"
    assert iso(p.to_datetime) == "2024-02-01T10:59:59Z"


def test_hourly_utc_clock_sees_one_period_per_local_day_for_a_utc_plus_customer() -> None:
    # lago-api#879: a UTC+ customer's billing day spans two UTC dates; every tick during the local
    # February 1st must designate the same period (and the same just-finished one) to bill once.
    tokyo = "Asia/Tokyo"
    feb_1_local = [local_midnight(date(2024, 2, 1), tokyo) + timedelta(hours=h) for h in range(24)]
    assert {t.date() for t in feb_1_local} == {date(2024, 1, 31), date(2024, 2, 1)}
    current = {period(Interval.MONTHLY, ANN, t, anchor=date(2023, 11, 1), timezone=tokyo) for t in feb_1_local}
    assert len(current) == 1
    (p,) = current
    assert p.start == utc(2024, 1, 31, 15)
    finished = {period(Interval.MONTHLY, ANN, p.start - ONE_MICROSECOND, anchor=date(2023, 11, 1), timezone=tokyo)}
    assert len(finished) == 1 and next(iter(finished)).end == p.start


SAMPLE_STEP = timedelta(hours=5)


@pytest.mark.parametrize(
    "timezone",
    [
        "Asia/Tokyo",
        "Pacific/Kiritimati",
        "America/Los_Angeles",
        "Pacific/Pago_Pago",
        "Europe/Paris",
        "America/Santiago",
    ],
)
@pytest.mark.parametrize(("interval", "billing_time"), ALL_COMBINATIONS)
def test_consecutive_periods_over_a_year_never_overlap_and_leave_no_gap(
    interval: Interval, billing_time: BillingTime, timezone: str
) -> None:
    anchor = date(2024, 1, 31)
    first, last = utc(2024, 1, 1), utc(2025, 1, 1)
    periods = year_of_periods(interval, billing_time, anchor, timezone, first, last)

    assert periods[0].contains(first)
    assert periods[-1].start < last <= periods[-1].end
    for earlier, later in itertools.pairwise(periods):
        assert earlier.end == later.start
        assert earlier.to_datetime < later.from_datetime
    tz = ZoneInfo(timezone)
    for p in periods:
        # Every period starts at the beginning of a local day (plain midnight in these zones,
        # except Santiago's 01:00 on days when DST starts).
        as_local = p.start.astimezone(tz)
        assert (as_local - timedelta(seconds=1)).date() < as_local.date()

    instant = first
    while instant < last:
        owners = [p for p in periods if p.contains(instant)]
        assert len(owners) == 1, instant
        assert (
            period_containing(
                interval=interval, billing_time=billing_time, anchor=anchor, timezone=timezone, at=instant
            )
            == owners[0]
        )
        instant += SAMPLE_STEP


# --- next_period / periods_between -----------------------------------------------------------


@pytest.mark.parametrize(("interval", "billing_time"), ALL_COMBINATIONS)
def test_next_period_starts_where_the_previous_ends(interval: Interval, billing_time: BillingTime) -> None:
    kwargs = {"interval": interval, "billing_time": billing_time, "anchor": date(2024, 3, 31), "timezone": "Asia/Tokyo"}
    p = period_containing(at=utc(2024, 4, 5), **kwargs)
    chained = [p]
    for _ in range(6):
        chained.append(next_period(chained[-1], **kwargs))
    assert [q.start for q in chained[1:]] == [q.end for q in chained[:-1]]
    assert chained == list(periods_between(start=p.start, end=chained[-1].end, **kwargs))


def test_periods_between_includes_the_period_containing_start_but_not_one_beginning_at_end() -> None:
    kwargs = {"interval": Interval.MONTHLY, "billing_time": CAL, "anchor": date(2024, 1, 1), "timezone": "UTC"}
    periods = list(periods_between(start=utc(2024, 1, 15), end=utc(2024, 4, 1), **kwargs))
    assert [p.start for p in periods] == [utc(2024, 1, 1), utc(2024, 2, 1), utc(2024, 3, 1)]
    one_more = list(periods_between(start=utc(2024, 1, 15), end=utc(2024, 4, 1, 0, 0, 1), **kwargs))
    assert one_more[-1].start == utc(2024, 4, 1)


def test_periods_between_an_empty_or_reversed_range_yields_nothing() -> None:
    kwargs = {"interval": Interval.WEEKLY, "billing_time": CAL, "anchor": date(2024, 1, 1), "timezone": "UTC"}
    assert list(periods_between(start=utc(2024, 1, 15), end=utc(2024, 1, 15), **kwargs)) == []
    assert list(periods_between(start=utc(2024, 2, 15), end=utc(2024, 1, 15), **kwargs)) == []


# --- clamping to started_at (reference §5) ---------------------------------------------------


def test_first_period_is_clamped_to_the_exact_started_at() -> None:
    started_at = utc(2024, 1, 15, 10)
    p = period(Interval.MONTHLY, CAL, started_at, anchor=date(2024, 1, 15)).clamped_to_start(started_at)
    assert iso(p.from_datetime) == "2024-01-15T10:00:00Z"
    assert iso(p.to_datetime) == "2024-01-31T23:59:59Z"
    assert p.issuing_date == date(2024, 1, 31)
    assert not p.contains(utc(2024, 1, 15, 9, 59, 59))
    following = next_period(p, interval=Interval.MONTHLY, billing_time=CAL, anchor=date(2024, 1, 15), timezone="UTC")
    assert following.start == utc(2024, 2, 1)


def test_clamping_to_a_start_before_the_period_changes_nothing() -> None:
    p = period(Interval.MONTHLY, CAL, utc(2024, 3, 3))
    assert p.clamped_to_start(utc(2023, 1, 1)) is p
    with pytest.raises(ValueError):
        p.clamped_to_start(p.end)


# --- input validation ------------------------------------------------------------------------


def test_naive_at_is_rejected() -> None:
    with pytest.raises(ValueError, match="aware"):
        period(Interval.MONTHLY, CAL, datetime(2024, 1, 1))


def test_naive_contains_argument_is_rejected() -> None:
    with pytest.raises(ValueError, match="aware"):
        period(Interval.MONTHLY, CAL, utc(2024, 1, 1)).contains(datetime(2024, 1, 2))


def test_datetime_anchor_is_rejected_because_its_local_date_is_ambiguous() -> None:
    with pytest.raises(TypeError):
        period(Interval.MONTHLY, ANN, utc(2024, 1, 1), anchor=utc(2023, 12, 31, 20))
    with pytest.raises(TypeError):
        local_midnight(utc(2024, 1, 1), "UTC")


def test_unknown_timezone_is_an_error_not_utc() -> None:
    with pytest.raises(ZoneInfoNotFoundError):
        period(Interval.MONTHLY, CAL, utc(2024, 1, 1), timezone="Mars/Olympus_Mons")


def test_unknown_interval_is_rejected() -> None:
    with pytest.raises(ValueError):
        period("fortnightly", CAL, utc(2024, 1, 1))  # type: ignore[arg-type]


def test_billing_period_requires_aware_non_empty_bounds_and_normalises_to_utc() -> None:
    with pytest.raises(ValueError):
        BillingPeriod(start=datetime(2024, 1, 1), end=utc(2024, 2, 1))
    with pytest.raises(ValueError):
        BillingPeriod(start=utc(2024, 2, 1), end=utc(2024, 2, 1))
    p = BillingPeriod(start=local("Asia/Tokyo", 2024, 1, 1), end=local("Asia/Tokyo", 2024, 2, 1))
    assert p.start.tzinfo is UTC and p.start == utc(2023, 12, 31, 15)


def test_interval_and_billing_time_values_match_lago() -> None:
    assert [i.value for i in Interval] == ["weekly", "monthly", "quarterly", "yearly"]
    assert [b.value for b in BillingTime] == ["calendar", "anniversary"]
    assert period("monthly", "anniversary", utc(2024, 3, 20), anchor=date(2024, 1, 15)).start == utc(2024, 3, 15)  # type: ignore[arg-type]
