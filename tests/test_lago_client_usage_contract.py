"""Lago's Python client drives metrics, plans, subscriptions, events and current usage."""

import time

import pytest
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import BillableMetric, Charge, Charges, Customer, Plan, Subscription
from lago_python_client.models.event import BatchEvent, Event

from organizations.services import create_api_key
from organizations.tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def lago(live_server):
    organization = OrganizationFactory(name="Usage Co")
    _, raw_key = create_api_key(organization=organization)
    return Client(api_key=raw_key, api_url=live_server.url)


@pytest.fixture
def startup(lago):
    """Lago's own end-to-end example (reference §7): a sum metric priced 0.5 per unit."""
    lago.customers.create(Customer(external_id="cust_1", name="Acme", currency="EUR"))
    metric = lago.billable_metrics.create(
        BillableMetric(name="API calls", code="api_calls", aggregation_type="sum_agg", field_name="units")
    )
    plan = lago.plans.create(
        Plan(
            name="Startup",
            code="startup",
            interval="monthly",
            amount_cents=10000,
            amount_currency="EUR",
            pay_in_advance=False,
            charges=Charges(
                __root__=[
                    Charge(billable_metric_id=metric.lago_id, charge_model="standard", properties={"amount": "0.5"})
                ]
            ),
        )
    )
    subscription = lago.subscriptions.create(
        Subscription(external_customer_id="cust_1", plan_code="startup", external_id="sub_1")
    )
    return metric, plan, subscription


def test_metric_plan_and_subscription_round_trip(lago, startup):
    metric, plan, subscription = startup
    assert metric.code == "api_calls" and metric.filters.__root__ == []
    assert plan.code == "startup" and plan.amount_cents == 10000
    assert subscription.status == "active" and subscription.billing_time == "calendar"
    assert lago.billable_metrics.find("api_calls").aggregation_type == "sum_agg"
    assert lago.plans.find("startup").charges.__root__[0].properties == {"amount": "0.5"}
    found = lago.subscriptions.find_all({"external_customer_id": "cust_1"})
    assert [s.external_id for s in found["subscriptions"]] == ["sub_1"]
    assert lago.subscriptions.find("sub_1").lago_id == subscription.lago_id


def test_events_and_current_usage_as_in_lagos_example(lago, startup):
    lago.events.create(
        Event(transaction_id="tr_1", external_subscription_id="sub_1", code="api_calls", properties={"units": 3})
    )
    lago.events.batch_create(
        BatchEvent(
            events=[
                Event(
                    transaction_id=f"tr_{i}",
                    external_subscription_id="sub_1",
                    code="api_calls",
                    timestamp=int(time.time()),
                    properties={"units": 1},
                )
                for i in range(2, 4)
            ]
        )
    )
    usage = lago.customers.current_usage("cust_1", "sub_1")
    assert usage.amount_cents == 250 and usage.total_amount_cents == 250 and usage.currency == "EUR"
    [charge] = usage.charges_usage
    assert charge.units == "5.0" and charge.events_count == 3 and charge.amount_cents == 250
    assert charge.billable_metric.code == "api_calls"


def test_duplicate_transaction_id_is_a_422(lago, startup):
    event = Event(transaction_id="tr_1", external_subscription_id="sub_1", code="api_calls", properties={"units": 3})
    lago.events.create(event)
    with pytest.raises(LagoApiError) as exc:
        lago.events.create(event)
    assert exc.value.status_code == 422
    assert exc.value.response["error_details"] == {"transaction_id": ["value_already_exist"]}
    assert lago.customers.current_usage("cust_1", "sub_1").charges_usage[0].events_count == 1


def test_event_timestamps_as_strings_and_null_properties(lago, startup):
    lago.events.create(
        Event(
            transaction_id="tr_s", external_subscription_id="sub_1", code="api_calls", timestamp=str(int(time.time()))
        )
    )
    usage = lago.customers.current_usage("cust_1", "sub_1")
    assert usage.charges_usage[0].events_count == 1 and usage.charges_usage[0].units == "0.0"


def test_usage_of_unknown_subscription_is_a_405(lago, startup):
    with pytest.raises(LagoApiError) as exc:
        lago.customers.current_usage("cust_1", "nope")
    assert exc.value.status_code == 405
    assert exc.value.response["code"] == "no_active_subscription"


def test_event_for_unknown_subscription_is_refused(lago, startup):
    with pytest.raises(LagoApiError) as exc:
        lago.events.create(Event(transaction_id="tr_x", external_subscription_id="nope", code="api_calls"))
    assert exc.value.status_code == 422
    assert exc.value.response["error_details"] == {"external_subscription_id": ["subscription_not_found"]}


def test_terminate_then_find_with_status(lago, startup):
    terminated = lago.subscriptions.destroy("sub_1")
    assert terminated.status == "terminated" and terminated.terminated_at
    assert lago.subscriptions.find("sub_1", {"status": "terminated"}).status == "terminated"
    with pytest.raises(LagoApiError) as exc:
        lago.subscriptions.destroy("sub_1")
    assert exc.value.status_code == 404


def test_destroy_metric_and_plan(lago):
    lago.billable_metrics.create(BillableMetric(name="Seats", code="seats", aggregation_type="max_agg", field_name="n"))
    assert lago.billable_metrics.destroy("seats").code == "seats"
    with pytest.raises(LagoApiError) as exc:
        lago.billable_metrics.find("seats")
    assert exc.value.status_code == 404
