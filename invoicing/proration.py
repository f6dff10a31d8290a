"""Proration by days, as Lago prorates a base fee: days are local days of the customer's timezone,
and a day started counts whole. One rule for the fee of a partial period and for the unused part of
a fee paid in advance that a termination gives back."""

from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from plans.billing_periods import BillingPeriod

_JUST_BEFORE = timedelta(microseconds=1)


def _first_day(start: datetime, zone: ZoneInfo) -> date:
    return start.astimezone(zone).date()


def _last_day(end: datetime, zone: ZoneInfo) -> date:
    """The local day of the last instant before the exclusive `end`."""
    return (end - _JUST_BEFORE).astimezone(zone).date()


def days_touched(start: datetime, end: datetime, tz: str) -> int:
    """How many local days the half-open range [start, end) touches; 0 when it is empty."""
    if end <= start:
        return 0
    zone = ZoneInfo(tz)
    return (_last_day(end, zone) - _first_day(start, zone)).days + 1


def share_of_days(amount_cents: int, days: int, of_days: int) -> int:
    """`amount_cents` × days / of_days in Decimal, rounded once half up to the minor unit."""
    if of_days <= 0 or days <= 0:
        return 0
    if days >= of_days:
        return amount_cents
    share = Decimal(amount_cents) * Decimal(days) / Decimal(of_days)
    return int(share.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def prorated_fee_cents(*, amount_cents: int, period: BillingPeriod, start: datetime, end: datetime, tz: str) -> int:
    """The base fee for the days of `period` from `start` to `end`."""
    covered = days_touched(max(start, period.start), min(end, period.end), tz)
    return share_of_days(amount_cents, covered, days_touched(period.start, period.end, tz))


def unused_fee_cents(*, amount_cents: int, fee_start: datetime, fee_end: datetime, at: datetime, tz: str) -> int:
    """The part of a fee covering [fee_start, fee_end), paid in advance, left unused when the
    subscription ends at `at`: the day of the termination counts as used."""
    covered = days_touched(fee_start, fee_end, tz)
    used = min(days_touched(fee_start, at, tz), covered)
    return share_of_days(amount_cents, covered - used, covered)
