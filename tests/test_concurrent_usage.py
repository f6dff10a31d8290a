"""Distinct events racing into one rollup row: the same subscription, metric and quarter hour, sent
at once by many clients (single events and batches), give exact totals in the rollup, the current
usage and the invoice. A lost update would show as a missing event or unit."""

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test import Client

from conftest import ApiCaller
from events.models import Event, UsageRollup
from invoicing import services
from invoicing.usage import current_usage
from organizations.services import create_api_key
from plans.subscription_periods import period_of
from plans.tests.factories import BillableMetricFactory, ChargeFactory, PlanFactory, SubscriptionFactory

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
QUARTER_HOUR = datetime(2026, 3, 10, 11, 45, tzinfo=UTC)  # every event falls in [11:45, 12:00)
CLIENTS = 8
SINGLES_PER_CLIENT = 10
BATCHES_PER_CLIENT = 2
EVENTS_PER_BATCH = 25


def units_of(client: int, number: int) -> Decimal:
    """Distinct amounts with decimals, so that a lost or doubled event changes the exact sum."""
    return Decimal(client * 1000 + number) + Decimal("0.25")


@pytest.mark.django_db(transaction=True)
def test_distinct_events_racing_into_one_rollup_row_give_exact_totals(organization):
    assert connection.vendor == "postgresql"
    plan = PlanFactory(organization=organization, amount_cents=0, amount_currency="EUR")
    metric = BillableMetricFactory(
        organization=organization, code="units", aggregation_type="sum_agg", field_name="units"
    )
    ChargeFactory(plan=plan, billable_metric=metric, charge_model="standard", properties={"amount": "0.01"})
    subscription = SubscriptionFactory(
        customer__organization=organization,
        plan=plan,
        external_id="sub_race",
        subscription_at=datetime(2026, 1, 1, tzinfo=UTC),
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    _, raw_key = create_api_key(organization=organization)
    barrier = threading.Barrier(CLIENTS)
    statuses: list[int] = []
    sent: list[Decimal] = []
    lock = threading.Lock()

    def raw_event(client: int, number: int) -> dict:
        units = units_of(client, number)
        with lock:
            sent.append(units)
        return {
            "transaction_id": f"race_{client}_{number}",
            "external_subscription_id": "sub_race",
            "code": "units",
            "timestamp": int((QUARTER_HOUR + timedelta(seconds=client * 60 + number)).timestamp()),
            "properties": {"units": str(units)},
        }

    def send(client: int) -> None:
        try:
            caller = ApiCaller(Client(), raw_key)
            barrier.wait()
            for number in range(SINGLES_PER_CLIENT):
                answer = caller.post("/api/v1/events", {"event": raw_event(client, number)})
                with lock:
                    statuses.append(answer.status_code)
            for batch in range(BATCHES_PER_CLIENT):
                first = SINGLES_PER_CLIENT + batch * EVENTS_PER_BATCH
                events = [raw_event(client, number) for number in range(first, first + EVENTS_PER_BATCH)]
                answer = caller.post("/api/v1/events/batch", {"events": events})
                with lock:
                    statuses.append(answer.status_code)
        finally:
            connection.close()

    with time_machine.travel(NOW, tick=False):
        threads = [threading.Thread(target=send, args=(client,)) for client in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        expected_count = CLIENTS * (SINGLES_PER_CLIENT + BATCHES_PER_CLIENT * EVENTS_PER_BATCH)
        expected_units = sum(sent, Decimal(0))
        assert statuses == [200] * (CLIENTS * (SINGLES_PER_CLIENT + BATCHES_PER_CLIENT))
        assert len(sent) == expected_count == Event.objects.count()
        # One rollup row took them all, exactly.
        [row] = UsageRollup.objects.filter(subscription=subscription)
        assert (row.events_count, row.units_sum) == (expected_count, expected_units)
        [item] = current_usage(subscription=subscription).charges
        assert (item.events_count, item.units) == (expected_count, expected_units)

    # The invoice of the period bills the same units, to the cent.
    period = period_of(subscription, NOW)
    invoice = services.bill_subscription(
        subscription=subscription, reason="subscription_periodic", period=period, at=period.end + timedelta(hours=1)
    )
    [fee] = [fee for fee in invoice.fees.all() if fee.fee_type == "charge"]
    assert (fee.events_count, fee.units) == (expected_count, expected_units)
    # 0.01 EUR a unit: a cent per unit (the quarters add up to whole units: 480 x 0.25 = 120).
    assert expected_units == expected_units.to_integral_value()
    assert fee.amount_cents == int(expected_units)
