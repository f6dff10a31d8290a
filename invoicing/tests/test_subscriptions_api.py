"""Subscriptions through Lago's v1 endpoints: the lifecycle (`invoicing.subscriptions`) at its API edge."""

from datetime import UTC, datetime

import pytest
import time_machine

from customers.models import Customer
from customers.tests.factories import CustomerFactory
from invoicing.subscriptions import activate_due_subscriptions
from invoicing.tasks import activate_due_subscriptions_task
from plans.models import Subscription
from plans.tests.factories import PlanFactory, SubscriptionFactory

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def subscription_body(**fields):
    return {
        "subscription": {"external_customer_id": "cust_1", "plan_code": "startup", "external_id": "sub_1", **fields}
    }


def test_create_subscription_now_is_active_and_locks_the_external_id(api, organization):
    PlanFactory(organization=organization, code="startup", amount_currency="EUR")
    customer = CustomerFactory(organization=organization, external_id="cust_1", currency=None)
    response = api.post("/api/v1/subscriptions", subscription_body(name="Main"))
    assert response.status_code == 200, response.content
    subscription = response.json()["subscription"]
    assert subscription["status"] == "active" and subscription["billing_time"] == "calendar"
    assert subscription["started_at"] == "2026-03-20T12:00:00.000Z"
    assert subscription["current_billing_period_started_at"] == "2026-03-20T12:00:00Z"
    assert subscription["current_billing_period_ending_at"] == "2026-03-31T23:59:59Z"
    assert subscription["plan"]["code"] == "startup"
    customer.refresh_from_db()
    assert customer.currency == "EUR"  # taken from the plan
    rename = api.put("/api/v1/customers/cust_1", {"customer": {"external_id": "renamed"}})
    assert rename.status_code == 422


def test_create_is_idempotent_and_creates_unknown_customers(api, organization):
    PlanFactory(organization=organization, code="startup")
    first = api.post("/api/v1/subscriptions", subscription_body()).json()["subscription"]
    again = api.post("/api/v1/subscriptions", subscription_body()).json()["subscription"]
    assert first["lago_id"] == again["lago_id"] and Subscription.objects.count() == 1
    assert Customer.live.get(organization=organization, external_id="cust_1")


def test_future_start_is_pending_until_activated(api, organization):
    PlanFactory(organization=organization, code="startup")
    response = api.post("/api/v1/subscriptions", subscription_body(subscription_at="2026-04-01T00:00:00Z"))
    assert response.json()["subscription"]["status"] == "pending"
    assert api.get("/api/v1/subscriptions/sub_1").status_code == 404
    assert api.get("/api/v1/subscriptions/sub_1", status="pending").status_code == 200
    with time_machine.travel(datetime(2026, 4, 1, 0, 5, tzinfo=UTC), tick=False):
        assert activate_due_subscriptions() == 1
    subscription = Subscription.objects.get()
    assert subscription.status == "active" and subscription.started_at == datetime(2026, 4, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fields", "status", "details"),
    [
        ({"external_id": ""}, 422, {"external_id": ["value_is_mandatory"]}),
        ({"billing_time": "weekly"}, 422, {"billing_time": ["value_is_invalid"]}),
        ({"subscription_at": "next week"}, 422, {"subscription_at": ["invalid_date"]}),
        ({"ending_at": "2027-01-01T00:00:00Z"}, 422, {"ending_at": ["not_supported"]}),
    ],
)
def test_subscription_validation(api, organization, fields, status, details):
    PlanFactory(organization=organization, code="startup")
    response = api.post("/api/v1/subscriptions", subscription_body(**fields))
    assert response.status_code == status and response.json()["error_details"] == details
    assert not Subscription.objects.exists()


def test_unknown_plan_is_a_404(api):
    response = api.post("/api/v1/subscriptions", subscription_body())
    assert response.status_code == 404 and response.json()["code"] == "plan_not_found"


def test_currency_mismatch_is_refused(api, organization):
    PlanFactory(organization=organization, code="startup", amount_currency="USD")
    CustomerFactory(organization=organization, external_id="cust_1", currency="EUR")
    response = api.post("/api/v1/subscriptions", subscription_body())
    assert response.status_code == 422 and response.json()["error_details"] == {
        "currency": ["currencies_does_not_match"]
    }


def test_live_external_id_of_another_customer_is_refused(api, organization):
    plan = PlanFactory(organization=organization, code="startup")
    SubscriptionFactory(customer__organization=organization, plan=plan, external_id="sub_1")
    response = api.post("/api/v1/subscriptions", subscription_body())
    assert response.status_code == 422 and response.json()["error_details"] == {"external_id": ["value_already_exist"]}


def test_list_filters(api, organization, other_organization):
    startup = PlanFactory(organization=organization, code="startup")
    other_plan = PlanFactory(organization=organization, code="other")
    customer = CustomerFactory(organization=organization, external_id="cust_1")
    SubscriptionFactory(customer=customer, plan=startup, external_id="a")
    SubscriptionFactory(customer=customer, plan=other_plan, external_id="b")
    SubscriptionFactory(customer=customer, plan=startup, external_id="c", status="terminated")
    SubscriptionFactory(customer__organization=other_organization, external_id="theirs")

    def ids(**params):
        return sorted(s["external_id"] for s in api.get("/api/v1/subscriptions", **params).json()["subscriptions"])

    assert ids() == ["a", "b"]  # active only by default, as Lago
    assert ids(plan_code="startup") == ["a"]
    assert ids(external_customer_id="cust_1", **{"status[]": ["active", "terminated"]}) == ["a", "b", "c"]
    assert api.get("/api/v1/subscriptions", **{"status[]": ["bogus"]}).status_code == 422


def test_terminate_and_cancel(api, organization):
    plan = PlanFactory(organization=organization, code="startup")
    SubscriptionFactory(customer__organization=organization, plan=plan, external_id="live")
    SubscriptionFactory(customer__organization=organization, plan=plan, external_id="later", status="pending")
    terminated = api.delete("/api/v1/subscriptions/live").json()["subscription"]
    assert terminated["status"] == "terminated" and terminated["terminated_at"] == "2026-03-20T12:00:00Z"
    assert api.delete("/api/v1/subscriptions/live").status_code == 404
    canceled = api.delete("/api/v1/subscriptions/later?status=pending").json()["subscription"]
    assert canceled["status"] == "canceled"


def test_terminated_external_id_can_be_reused_without_inheriting_anything(api, organization):
    PlanFactory(organization=organization, code="startup")
    first = api.post("/api/v1/subscriptions", subscription_body()).json()["subscription"]["lago_id"]
    api.delete("/api/v1/subscriptions/sub_1")
    second = api.post("/api/v1/subscriptions", subscription_body()).json()["subscription"]["lago_id"]
    assert first != second
    assert api.get("/api/v1/subscriptions/sub_1").json()["subscription"]["lago_id"] == second
    assert api.get("/api/v1/subscriptions/sub_1", status="terminated").json()["subscription"]["lago_id"] == first


def test_activation_task_runs_the_service(organization):
    SubscriptionFactory(customer__organization=organization, status="pending", started_at=None, subscription_at=NOW)
    assert activate_due_subscriptions_task.apply().get() == 1
    assert Subscription.objects.get().status == "active"
