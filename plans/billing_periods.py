"""Billing periods of a subscription, computed in the customer's timezone.

Pure date arithmetic: no models, no database. Everything a caller stores or compares is an aware
UTC ``datetime``; the customer's IANA timezone only decides *where the local days begin*.

A period is the half-open interval ``[start, end)`` where ``start`` is the first instant of its
first local day and ``end`` the first instant of the day after its last local day. Half-open
bounds are what make consecutive periods share a boundary instead of overlapping or leaving a
gap, so an instant (an event, a run of the billing clock) always belongs to exactly one period.
That is the property whose absence caused duplicate invoices for UTC+ customers in Lago
(getlago/lago-api#879, #1074): a period looked up by UTC date instead of local date.

Lago's presentation (``from_datetime`` / ``to_datetime`` = last day at 23:59:59 /
``issuing_date``) is derived from these bounds by the properties of :class:`BillingPeriod`.
"""

from __future__ import annotations

import calendar
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

__all__ = [
    "BillingPeriod",
    "BillingTime",
    "Interval",
    "local_midnight",
    "next_period",
    "period_containing",
    "periods_between",
]


class Interval(StrEnum):
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"


class BillingTime(StrEnum):
    CALENDAR = "calendar"
    ANNIVERSARY = "anniversary"


# Length of one period in months for the month-based intervals.
_MONTHS_PER_PERIOD: dict[Interval, int] = {
    Interval.MONTHLY: 1,
    Interval.QUARTERLY: 3,
    Interval.YEARLY: 12,
}

# Calendar billing is anniversary billing from a fixed anchor: a Monday that is also January 1st
# gives weeks starting on Monday, months on the 1st, quarters in Jan/Apr/Jul/Oct and years on
# Jan 1. One code path for both billing times means one set of boundary rules to get right.
_CALENDAR_ANCHOR = date(2024, 1, 1)

_ONE_SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class BillingPeriod:
    """One billing period: ``[start, end)`` as aware UTC datetimes."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value: datetime = getattr(self, name)
            if not isinstance(value, datetime) or value.utcoffset() is None:
                raise ValueError(f"BillingPeriod.{name} must be an aware datetime, got {value!r}")
            # Normalise to UTC so equality and repr do not depend on the tzinfo the caller used.
            object.__setattr__(self, name, value.astimezone(UTC))
        if self.start >= self.end:
            raise ValueError(f"BillingPeriod must not be empty: start={self.start} end={self.end}")

    @property
    def from_datetime(self) -> datetime:
        """Lago's ``from_datetime``: the first instant of the period."""
        return self.start

    @property
    def to_datetime(self) -> datetime:
        """Lago's ``to_datetime``: the last local day at 23:59:59, i.e. one second before ``end``.

        Only for display; use ``end`` (exclusive) for comparisons so that events in the last
        second's fraction are not lost.
        """
        return self.end - _ONE_SECOND

    @property
    def issuing_date(self) -> date:
        """Lago's ``issuing_date`` of the period: the UTC date of ``to_datetime``.

        Lago assigns the period end (a UTC time) to a date column, which keeps its UTC date. For a
        UTC- customer that is the day after the local last day (Los Angeles, January: 2024-02-01);
        for UTC and UTC+ customers it is the local last day.
        """
        return self.to_datetime.astimezone(UTC).date()

    def contains(self, instant: datetime) -> bool:
        """True when ``start <= instant < end``; the end belongs to the next period."""
        _require_aware(instant, "instant")
        return self.start <= instant < self.end

    def clamped_to_start(self, started_at: datetime) -> BillingPeriod:
        """The period as reported for a subscription that started inside it (Lago §5).

        Lago reports ``from_datetime`` = the exact ``started_at`` for the first period, not the
        local midnight. The result keeps ``end``, so ``next_period`` still works on it; its
        ``start`` is then no longer a local midnight.
        """
        _require_aware(started_at, "started_at")
        if started_at >= self.end:
            raise ValueError(f"started_at {started_at} is not before the end of the period {self.end}")
        if started_at <= self.start:
            return self
        return dataclasses.replace(self, start=started_at)


def local_midnight(day: date, timezone: str) -> datetime:
    """The first instant (aware UTC) of the local calendar ``day`` in ``timezone``.

    Usually that is 00:00 local. Where the clocks jump over midnight (America/Santiago and
    America/Havana start DST at 00:00 -> 01:00) 00:00 never happens, and the day starts at the
    jump itself (01:00 local). Where 00:00 happens twice (Havana ends DST at 01:00 -> 00:00),
    the earlier one is the start. A day skipped entirely (Pacific/Apia, 2011-12-30) gets the
    same first instant as the next existing day, so it is an empty stretch, never a gap.
    """
    if isinstance(day, datetime):
        # A datetime would silently lose its time and zone; the caller must decide the local day.
        raise TypeError("local_midnight() takes a date, not a datetime")
    tz = _zone(timezone)
    wall = datetime.combine(day, time.min)
    # fold=0 picks the earlier instant when the wall time is ambiguous.
    instant = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if _wall_time(instant, tz) == wall:
        return instant
    # Midnight falls in a gap. For gap times zoneinfo maps fold=0 with the offset before the jump
    # (an instant after it) and fold=1 with the offset after (an instant before it), so the jump
    # lies between the two. Search for the first second whose local wall time is at or after
    # midnight; offsets and transitions are whole seconds, so this is exact.
    low = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    low, high = min(low, instant), max(low, instant)
    # Invariant: wall time at `low` is before midnight, at `high` it is at or after midnight.
    while high - low > _ONE_SECOND:
        middle = low + (high - low) // 2
        middle = middle.replace(microsecond=0)
        if _wall_time(middle, tz) >= wall:
            high = middle
        else:
            low = middle
    return high


def period_containing(
    *,
    interval: Interval,
    billing_time: BillingTime,
    anchor: date,
    timezone: str,
    at: datetime,
) -> BillingPeriod:
    """The billing period that contains the instant ``at``.

    ``anchor`` is the subscription's start date in the customer's timezone. For anniversary
    billing its weekday (weekly) or day-of-month (other intervals) places the period boundaries;
    for calendar billing it is ignored.
    """
    _require_aware(at, "at")
    interval = Interval(interval)
    billing_time = BillingTime(billing_time)
    if isinstance(anchor, datetime):
        # Its date depends on a timezone we would have to guess; the caller knows the customer's.
        raise TypeError("anchor must be a date in the customer's timezone, not a datetime")
    tz = _zone(timezone)
    effective_anchor = _CALENDAR_ANCHOR if billing_time is BillingTime.CALENDAR else anchor

    first_day, next_first_day = _period_days(interval, effective_anchor, at.astimezone(tz).date())
    start = local_midnight(first_day, timezone)
    end = local_midnight(next_first_day, timezone)
    # The local date of `at` picks the period. Membership however is decided by the UTC bounds,
    # and in a zone whose clock steps back across midnight the two could disagree for the
    # repeated hour; step until they agree so that `contains(at)` always holds.
    while at < start:
        first_day, next_first_day = _period_days(interval, effective_anchor, first_day - timedelta(days=1))
        start = local_midnight(first_day, timezone)
        end = local_midnight(next_first_day, timezone)
    while at >= end:
        first_day, next_first_day = _period_days(interval, effective_anchor, next_first_day)
        start = local_midnight(first_day, timezone)
        end = local_midnight(next_first_day, timezone)
    return BillingPeriod(start=start, end=end)


def next_period(
    period: BillingPeriod,
    *,
    interval: Interval,
    billing_time: BillingTime,
    anchor: date,
    timezone: str,
) -> BillingPeriod:
    """The period that starts exactly where ``period`` ends."""
    return period_containing(
        interval=interval,
        billing_time=billing_time,
        anchor=anchor,
        timezone=timezone,
        at=period.end,
    )


def periods_between(
    *,
    interval: Interval,
    billing_time: BillingTime,
    anchor: date,
    timezone: str,
    start: datetime,
    end: datetime,
) -> Iterator[BillingPeriod]:
    """Every period overlapping ``[start, end)``, in order, each starting where the previous ends.

    The first period is the one containing ``start`` (it may begin before it); a period beginning
    exactly at ``end`` is not included. Nothing is yielded when ``end <= start``.
    """
    _require_aware(start, "start")
    _require_aware(end, "end")
    if end <= start:
        return
    period = period_containing(interval=interval, billing_time=billing_time, anchor=anchor, timezone=timezone, at=start)
    while period.start < end:
        yield period
        period = next_period(period, interval=interval, billing_time=billing_time, anchor=anchor, timezone=timezone)


# --- local-date arithmetic -------------------------------------------------------------------


def _period_days(interval: Interval, anchor: date, day: date) -> tuple[date, date]:
    """First day of the period containing the local ``day``, and first day of the next one."""
    if interval is Interval.WEEKLY:
        first = day - timedelta(days=(day.weekday() - anchor.weekday()) % 7)
        return first, first + timedelta(days=7)

    step = _MONTHS_PER_PERIOD[interval]
    months_since_anchor = (day.year - anchor.year) * 12 + (day.month - anchor.month)
    # Floor division also counts backwards correctly for days before the anchor. It picks the
    # period whose first month is the latest one not after `day`'s month, so the next period
    # necessarily starts after `day`.
    index = months_since_anchor // step
    if _anniversary(anchor, step, index) > day:
        # In that first month but before the (clamped) anniversary day: the previous period.
        index -= 1
    return _anniversary(anchor, step, index), _anniversary(anchor, step, index + 1)


def _anniversary(anchor: date, months_per_period: int, index: int) -> date:
    """The ``index``-th period start counted from ``anchor`` (negative = before it).

    Always computed from the anchor, never from the previous period start, so that clamping a
    31st to Feb 28/29 does not drift: Jan 31 -> Feb 28 -> Mar 31.
    """
    months = anchor.month - 1 + index * months_per_period
    year = anchor.year + months // 12
    month = months % 12 + 1
    return date(year, month, min(anchor.day, calendar.monthrange(year, month)[1]))


# --- helpers -----------------------------------------------------------------------------------


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    # Raises ZoneInfoNotFoundError (a KeyError) for unknown names: a bad timezone is a data
    # error the caller must see, not something to default to UTC silently.
    return ZoneInfo(name)


def _wall_time(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def _require_aware(value: datetime, name: str) -> None:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        # A naive datetime has no defined instant; guessing UTC is how the #879 bug class starts.
        raise ValueError(f"{name} must be an aware datetime, got {value!r}")
