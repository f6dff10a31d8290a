"""Proration by days (`invoicing.proration`): one rule for a partial period's base fee and for the
unused part of a fee paid in advance that a termination credits back."""

from datetime import UTC, datetime

from invoicing.proration import prorated_fee_cents, unused_fee_cents
from plans.billing_periods import BillingPeriod

JAN_10 = datetime(2026, 1, 10, 10, 0, tzinfo=UTC)


def test_proration_counts_days_in_the_customers_timezone():
    january = BillingPeriod(start=datetime(2026, 1, 1, tzinfo=UTC), end=datetime(2026, 2, 1, tzinfo=UTC))
    # Jan 10 to Jan 31: 22 of 31 days of 100.00 = 70.967... → 70.97
    assert prorated_fee_cents(amount_cents=10000, period=january, start=JAN_10, end=january.end, tz="UTC") == 7097
    assert (
        prorated_fee_cents(amount_cents=10000, period=january, start=january.start, end=january.end, tz="UTC") == 10000
    )
    # Terminated on Jan 10 at 10:00: the started day counts, 10 days.
    assert prorated_fee_cents(amount_cents=10000, period=january, start=january.start, end=JAN_10, tz="UTC") == 3226


def unused(*, start: datetime, end: datetime, at: datetime, tz: str) -> int:
    return unused_fee_cents(amount_cents=1001, fee_start=start, fee_end=end, at=at, tz=tz)


def test_unused_fee_is_prorated_by_days_half_up():
    april = {"start": datetime(2026, 4, 1, tzinfo=UTC), "end": datetime(2026, 5, 1, tzinfo=UTC)}
    # Ended on April 15: 15 of 30 days used, 1001 × 15 / 30 = 500.5 → 501.
    assert unused(**april, at=datetime(2026, 4, 15, 12, tzinfo=UTC), tz="UTC") == 501
    # At midnight starting April 16 the same 15 days are used; at the start of the period nothing is.
    assert unused(**april, at=datetime(2026, 4, 16, tzinfo=UTC), tz="UTC") == 501
    assert unused(**april, at=datetime(2026, 4, 1, tzinfo=UTC), tz="UTC") == 1001
    # In Tokyo, 2026-04-15 20:00 UTC is already April 16: 16 days used → 1001 × 14 / 30 = 467.13 → 467.
    tokyo_april = {"start": datetime(2026, 3, 31, 15, tzinfo=UTC), "end": datetime(2026, 4, 30, 15, tzinfo=UTC)}
    assert unused(**tokyo_april, at=datetime(2026, 4, 15, 20, tzinfo=UTC), tz="Asia/Tokyo") == 467
