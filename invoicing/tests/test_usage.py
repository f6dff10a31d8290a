"""Current usage: aggregation per metric, pricing per charge, the period, the API and the Usage tab."""

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from billing.errors import ValidationFailed
from customers.tests.factories import CustomerFactory
from events.aggregation import aggregate_usage
from events.models import Event
from events.services import numeric_value
from events.tests.factories import send_events
from invoicing.usage import current_usage
from plans.billing_periods import BillingPeriod
from plans.tests.factories import BillableMetricFactory, ChargeFactory, PlanFactory, SubscriptionFactory

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def plan(organization):
    return PlanFactory(organization=organization, code="startup", amount_currency="EUR")


@pytest.fixture
def subscription(organization, plan):
    customer = CustomerFactory(organization=organization, external_id="cust_1", timezone="Europe/Paris")
    return SubscriptionFactory(
        customer=customer, plan=plan, external_id="sub_1", subscription_at=datetime(2026, 1, 10, tzinfo=UTC)
    )


def charge(plan, code, aggregation, field="value", model="standard", properties=None):
    metric = BillableMetricFactory(
        organization=plan.organization,
        code=code,
        name=code.replace("_", " ").title(),
        aggregation_type=aggregation,
        field_name=None if aggregation == "count_agg" else field,
    )
    return ChargeFactory(
        plan=plan, billable_metric=metric, charge_model=model, properties=properties or {"amount": "1"}
    )


def usage_by_code(subscription):
    return {item.charge.billable_metric.code: item for item in current_usage(subscription=subscription).charges}


def at(day, hour=12, minute=0):
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def test_each_aggregation_from_a_worked_example(organization, plan, subscription):
    charge(plan, "calls", "count_agg")
    charge(plan, "minutes", "sum_agg")
    charge(plan, "storage", "max_agg")
    charge(plan, "users", "unique_count_agg", field="user")
    charge(plan, "seats", "latest_agg")
    send_events(
        subscription,
        [
            ("calls", at(2), {}),
            ("calls", at(3), {}),
            ("calls", at(4), {}),  # count: 3
            ("minutes", at(2), {"value": 10}),
            ("minutes", at(5), {"value": "2.5"}),
            ("minutes", at(6), {}),  # sum: 10 + 2.5 + nothing = 12.5, three events
            ("storage", at(2), {"value": 7}),
            ("storage", at(8), {"value": 30}),
            ("storage", at(9), {"value": 4}),  # max: 30
            ("users", at(2), {"user": "ann"}),
            ("users", at(3), {"user": "bob"}),
            ("users", at(4), {"user": "ann"}),  # unique: ann, bob = 2
            ("seats", at(2), {"value": 5}),
            ("seats", at(9), {"value": 3}),
            ("seats", at(7), {"value": 8}),  # latest by timestamp: 3 (Mar 9), though sent before Mar 7's
        ],
    )
    usage = usage_by_code(subscription)
    assert {code: (item.units, item.events_count) for code, item in usage.items()} == {
        "calls": (Decimal(3), 3),
        "minutes": (Decimal("12.5"), 3),
        "storage": (Decimal(30), 3),
        "users": (Decimal(2), 3),
        "seats": (Decimal(3), 3),
    }
    # Standard at 1 EUR per unit.
    assert usage["minutes"].amount_cents == 1250 and usage["storage"].amount_cents == 3000


def test_charges_are_priced_and_summed(organization, plan, subscription):
    charge(plan, "api_calls", "sum_agg", field="units", properties={"amount": "0.5"})
    graduated = {
        "graduated_ranges": [
            {"from_value": 0, "to_value": 10, "per_unit_amount": "1", "flat_amount": "0"},
            {"from_value": 11, "to_value": None, "per_unit_amount": "0.5", "flat_amount": "2"},
        ]
    }
    charge(plan, "requests", "count_agg", model="graduated", properties=graduated)
    send_events(subscription, [("api_calls", at(2), {"units": n}) for n in (2, 3, 5)])
    send_events(subscription, [("requests", at(3, minute=i), {}) for i in range(12)])
    usage = current_usage(subscription=subscription)
    # api_calls: 10 units × 0.50 = 5.00; requests: 10 × 1 + 2 × 0.5 + 2 flat = 13.00
    assert [(c.charge.billable_metric.code, c.amount_cents) for c in usage.charges] == [
        ("api_calls", 500),
        ("requests", 1300),
    ]
    assert (usage.amount_cents, usage.taxes_amount_cents, usage.total_amount_cents) == (1800, 0, 1800)
    assert usage.currency == "EUR"


def test_period_is_the_calendar_month_in_the_customers_timezone(subscription):
    usage = current_usage(subscription=subscription)
    # Europe/Paris is UTC+1 in March until the 29th: March 1 00:00 local = Feb 28 23:00 UTC.
    assert usage.from_datetime == datetime(2026, 2, 28, 23, 0, tzinfo=UTC)
    assert usage.to_datetime == datetime(2026, 3, 31, 21, 59, 59, tzinfo=UTC)  # CEST from Mar 29


def test_events_outside_the_period_of_another_subscription_or_organization_are_ignored(
    organization, other_organization, plan, subscription
):
    charge(plan, "calls", "count_agg")
    other_subscription = SubscriptionFactory(customer=subscription.customer, plan=plan, external_id="sub_2")
    foreign = SubscriptionFactory(customer__organization=other_organization, external_id="sub_1")
    BillableMetricFactory(organization=other_organization, code="calls", aggregation_type="count_agg", field_name=None)
    send_events(
        subscription,
        [
            ("calls", datetime(2026, 2, 28, 22, 59, 59, tzinfo=UTC), {}),  # Feb 28 23:59:59 in Paris: before
            ("calls", datetime(2026, 2, 28, 23, 0, tzinfo=UTC), {}),  # Mar 1 00:00 in Paris: counts
            ("calls", at(15), {}),  # counts
            ("calls", datetime(2026, 3, 31, 22, 0, tzinfo=UTC), {}),  # Apr 1 00:00 in Paris: next period
        ],
    )
    send_events(other_subscription, [("calls", at(15), {})])
    send_events(foreign, [("calls", at(15, minute=1), {})])
    assert usage_by_code(subscription)["calls"].events_count == 2


def test_events_before_the_subscription_started_are_ignored(organization, plan):
    charge(plan, "calls", "count_agg")
    started = datetime(2026, 3, 10, 10, 7, 30, tzinfo=UTC)  # inside a quarter hour
    subscription = SubscriptionFactory(
        customer__organization=organization, plan=plan, external_id="sub_late", subscription_at=started
    )
    send_events(
        subscription,
        [
            ("calls", started - timedelta(seconds=1), {}),  # same quarter hour, before the start
            ("calls", started, {}),
            ("calls", started + timedelta(minutes=3), {}),
        ],
    )
    usage = current_usage(subscription=subscription)
    assert usage.from_datetime == started
    assert usage.charges[0].events_count == 2


def test_a_unique_count_of_identifiers_in_the_first_partial_quarter_hour_counts_them(organization, plan):
    """The partial quarter hours are read from the raw events: a unique count's field holds ids
    ("user_5"), not numbers, and is read as ingestion reads it (the demo's first periods failed)."""
    charge(plan, "active_users", "unique_count_agg", field="user_id")
    charge(plan, "minutes", "sum_agg", field="minutes")
    started = datetime(2026, 3, 10, 10, 7, 30, tzinfo=UTC)  # inside a quarter hour
    subscription = SubscriptionFactory(
        customer__organization=organization, plan=plan, external_id="sub_ids", subscription_at=started
    )
    send_events(
        subscription,
        [
            ("active_users", started + timedelta(minutes=1), {"user_id": "user_5"}),
            ("active_users", started + timedelta(minutes=2), {"user_id": "user_5"}),
            ("active_users", started + timedelta(minutes=3), {"user_id": "user_7"}),
            ("minutes", started + timedelta(minutes=4), {"minutes": "2.5"}),
            ("active_users", started + timedelta(hours=2), {"user_id": "user_9"}),
        ],
    )
    usage = usage_by_code(subscription)
    assert (usage["active_users"].units, usage["active_users"].events_count) == (Decimal(3), 4)
    assert usage["minutes"].units == Decimal("2.5")


def test_rollups_agree_with_raw_events_including_late_and_duplicate_events(organization, plan, subscription):
    for code, aggregation in [("a", "count_agg"), ("b", "sum_agg"), ("c", "max_agg"), ("d", "latest_agg")]:
        charge(plan, code, aggregation)
    rng = random.Random(7)
    events = []
    for _ in range(600):
        timestamp = datetime(2026, 2, 25, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 30 * 86400))
        events.append((rng.choice("abcd"), timestamp, {"value": rng.randint(-5, 100)}))
    # Sent out of order (late events), and half of them again (duplicates must not count).
    send_events(subscription, events)
    for offset in range(0, 300, 100):
        with pytest.raises(ValidationFailed) as refused:
            send_events(subscription, events[offset : offset + 100], first_index=offset)
        assert refused.value.details["0"] == {"transaction_id": ["value_already_exist"]}
    start, end = datetime(2026, 2, 28, 23, 7, 41, tzinfo=UTC), datetime(2026, 3, 17, 5, 3, tzinfo=UTC)
    metrics = [c.billable_metric for c in plan.charges.all()]
    got = aggregate_usage(subscription=subscription, metrics=metrics, start=start, end=end)

    rows = Event.objects.filter(subscription=subscription, timestamp__gte=start, timestamp__lt=end)
    for metric in metrics:
        values = [(e.timestamp, e.id, numeric_value(e.properties.get("value"))) for e in rows if e.code == metric.code]
        expected = {
            "count_agg": Decimal(len(values)),
            "sum_agg": sum((v for _, _, v in values), Decimal(0)),
            "max_agg": max(v for _, _, v in values),
            "latest_agg": max(values)[2],
        }[metric.aggregation_type]
        assert got[metric.pk].units == expected, metric.aggregation_type
        assert got[metric.pk].events_count == len(values)


def test_current_usage_api_in_lagos_shape(api, organization, plan, subscription):
    charge(plan, "api_calls", "sum_agg", field="units", properties={"amount": "0.5"})
    api.post(
        "/api/v1/events",
        {
            "event": {
                "transaction_id": "t1",
                "external_subscription_id": "sub_1",
                "code": "api_calls",
                "properties": {"units": 3},
            }
        },
    )
    response = api.get("/api/v1/customers/cust_1/current_usage", external_subscription_id="sub_1")
    assert response.status_code == 200
    usage = response.json()["customer_usage"]
    assert usage["from_datetime"] == "2026-02-28T23:00:00Z" and usage["to_datetime"] == "2026-03-31T21:59:59Z"
    assert usage["issuing_date"] == "2026-03-31"
    assert (usage["amount_cents"], usage["taxes_amount_cents"], usage["total_amount_cents"]) == (150, 0, 150)
    [item] = usage["charges_usage"]
    assert item["units"] == "3.0" and item["events_count"] == 1 and item["amount_currency"] == "EUR"
    assert item["billable_metric"]["code"] == "api_calls" and item["charge"]["charge_model"] == "standard"
    assert item["filters"] == []


def test_an_accepted_event_is_in_the_current_usage_at_once(api, plan, subscription):
    charge(plan, "api_calls", "count_agg")
    for index in range(3):
        api.post(
            "/api/v1/events",
            {"event": {"transaction_id": f"t{index}", "external_subscription_id": "sub_1", "code": "api_calls"}},
        )
        usage = api.get("/api/v1/customers/cust_1/current_usage", external_subscription_id="sub_1").json()
        assert usage["customer_usage"]["charges_usage"][0]["events_count"] == index + 1


@pytest.mark.parametrize("status", ["pending", "terminated", "canceled"])
def test_usage_of_a_subscription_that_is_not_active_is_a_405(api, subscription, status):
    subscription.status = status
    subscription.save()
    response = api.get("/api/v1/customers/cust_1/current_usage", external_subscription_id="sub_1")
    assert response.status_code == 405 and response.json()["code"] == "no_active_subscription"


def test_usage_errors(api, other_api, subscription):
    unknown_sub = api.get("/api/v1/customers/cust_1/current_usage", external_subscription_id="nope")
    assert unknown_sub.status_code == 405
    unknown_customer = api.get("/api/v1/customers/nobody/current_usage", external_subscription_id="sub_1")
    assert unknown_customer.status_code == 404 and unknown_customer.json()["code"] == "customer_not_found"
    foreign = other_api.get("/api/v1/customers/cust_1/current_usage", external_subscription_id="sub_1")
    assert foreign.status_code == 404


def test_usage_costs_a_fixed_number_of_queries(api, organization, plan, subscription, django_assert_num_queries):
    kinds = ["count_agg", "sum_agg", "max_agg", "latest_agg", "unique_count_agg"]

    def add_charges(suffix):
        for kind in kinds:
            charge(plan, f"{kind}_{suffix}", kind)

    def add_events(suffix, per_day):
        events = [
            (f"{kind}_{suffix}", at(day, minute=i), {"value": i})
            for kind in kinds
            for day in (3, 4)
            for i in range(per_day)
        ]
        send_events(subscription, events, first_index=len(events) * per_day)

    add_charges("a")
    add_events("a", 2)
    # api key, customer, subscription + charges (2), rollups, latest values, unique counts
    with django_assert_num_queries(8) as few:
        api.get("/api/v1/customers/cust_1/current_usage", external_subscription_id="sub_1")
    add_charges("b")
    add_charges("c")
    add_events("b", 40)
    add_events("c", 40)
    with django_assert_num_queries(len(few.captured_queries)):
        response = api.get("/api/v1/customers/cust_1/current_usage", external_subscription_id="sub_1")
    assert len(response.json()["customer_usage"]["charges_usage"]) == 15


def test_usage_tab_shows_total_and_charges(
    staff_client, organization, plan, subscription, django_assert_max_num_queries
):
    charge(plan, "api_calls", "sum_agg", field="units", properties={"amount": "0.5"})
    send_events(subscription, [("api_calls", at(2), {"units": 7})])
    url = reverse("customers:tab", args=[subscription.customer.pk, "usage"])
    with django_assert_max_num_queries(12):
        page = staff_client.get(url, headers={"HX-Request": "true", "HX-Target": "tab-panel"}).content.decode()
    assert "3.50 EUR" in page and 'data-charge="api_calls"' in page and "<svg" in page
    assert "Europe/Paris" in page


def test_usage_tab_without_subscription_explains_what_to_do(staff_client, organization):
    customer = CustomerFactory(organization=organization)
    page = staff_client.get(reverse("customers:tab", args=[customer.pk, "usage"])).content.decode()
    assert "No usage to show" in page and "Assign a plan" in page


def test_period_object_is_half_open():
    period = BillingPeriod(start=at(1, 0), end=at(2, 0))
    assert period.contains(at(1, 0)) and not period.contains(at(2, 0))
