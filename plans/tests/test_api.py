"""Billable metrics and plans through Lago's v1 endpoints."""

from datetime import UTC, datetime
from urllib.parse import quote

import pytest
import time_machine

from plans.models import BillableMetric, Plan
from plans.tests.factories import BillableMetricFactory, ChargeFactory, PlanFactory, SubscriptionFactory

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def metric_body(**fields):
    return {
        "billable_metric": {
            "name": "API calls",
            "code": "api_calls",
            "aggregation_type": "sum_agg",
            "field_name": "units",
            **fields,
        }
    }


def plan_body(metric_id=None, **fields):
    charges = [{"billable_metric_id": str(metric_id), "charge_model": "standard", "properties": {"amount": "0.5"}}]
    return {
        "plan": {
            "name": "Startup",
            "code": "startup",
            "interval": "monthly",
            "amount_cents": 10000,
            "amount_currency": "EUR",
            "pay_in_advance": False,
            "charges": charges if metric_id else [],
            **fields,
        }
    }


# Billable metrics ----------------------------------------------------------------------------


def test_create_metric_in_lago_shape(api):
    response = api.post("/api/v1/billable_metrics", metric_body())
    assert response.status_code == 200
    metric = response.json()["billable_metric"]
    assert (metric["code"], metric["aggregation_type"], metric["field_name"]) == ("api_calls", "sum_agg", "units")
    assert metric["filters"] == [] and metric["lago_id"] and metric["created_at"].endswith("Z")


@pytest.mark.parametrize(
    ("fields", "details"),
    [
        ({"code": ""}, {"code": ["value_is_mandatory"]}),
        ({"aggregation_type": "weighted_sum_agg"}, {"aggregation_type": ["value_is_invalid"]}),
        ({"field_name": None}, {"field_name": ["value_is_mandatory"]}),
        ({"recurring": True}, {"recurring": ["not_supported"]}),
        ({"filters": [{"key": "region", "values": ["eu"]}]}, {"filters": ["not_supported"]}),
        ({"colour": "blue"}, {"colour": ["unknown_field"]}),
    ],
)
def test_metric_validation(api, fields, details):
    response = api.post("/api/v1/billable_metrics", metric_body(**fields))
    assert response.status_code == 422 and response.json()["error_details"] == details
    assert not BillableMetric.objects.exists()


def test_count_metric_drops_its_field_and_codes_are_unique(api):
    body = metric_body(aggregation_type="count_agg", field_name="ignored")
    assert api.post("/api/v1/billable_metrics", body).json()["billable_metric"]["field_name"] is None
    duplicate = api.post("/api/v1/billable_metrics", body)
    assert duplicate.status_code == 422 and duplicate.json()["error_details"] == {"code": ["value_already_exist"]}


def test_metric_in_a_plan_cannot_change_how_it_aggregates(api, organization):
    charge = ChargeFactory(plan__organization=organization, billable_metric__code="calls")
    response = api.put("/api/v1/billable_metrics/calls", {"billable_metric": {"aggregation_type": "max_agg"}})
    assert response.status_code == 422
    assert response.json()["error_details"] == {"aggregation_type": ["value_is_not_editable"]}
    renamed = api.put("/api/v1/billable_metrics/calls", {"billable_metric": {"name": "Calls"}})
    assert renamed.status_code == 200 and renamed.json()["billable_metric"]["name"] == "Calls"
    assert api.delete("/api/v1/billable_metrics/calls").status_code == 405
    charge.billable_metric.refresh_from_db()
    assert charge.billable_metric.deleted_at is None


def test_metric_delete_is_soft_and_frees_the_code(api):
    api.post("/api/v1/billable_metrics", metric_body())
    assert api.delete("/api/v1/billable_metrics/api_calls").status_code == 200
    assert api.get("/api/v1/billable_metrics/api_calls").json()["code"] == "billable_metric_not_found"
    assert api.post("/api/v1/billable_metrics", metric_body()).status_code == 200
    assert BillableMetric.objects.count() == 2


def test_metric_list_meta_and_tenancy(api, other_api, organization, other_organization):
    BillableMetricFactory.create_batch(3, organization=organization)
    BillableMetricFactory(organization=other_organization, code="theirs")
    data = api.get("/api/v1/billable_metrics", per_page=2).json()
    assert len(data["billable_metrics"]) == 2 and data["meta"]["total_count"] == 3
    assert api.get("/api/v1/billable_metrics/theirs").status_code == 404


# Plans ---------------------------------------------------------------------------------------


def test_create_plan_with_charges(api, organization):
    metric = BillableMetricFactory(organization=organization, code="api_calls")
    response = api.post("/api/v1/plans", plan_body(metric.pk))
    assert response.status_code == 200, response.content
    plan = response.json()["plan"]
    assert (plan["code"], plan["interval"], plan["amount_cents"], plan["amount_currency"]) == (
        "startup",
        "monthly",
        10000,
        "EUR",
    )
    [charge] = plan["charges"]
    assert charge["lago_billable_metric_id"] == str(metric.pk) and charge["billable_metric_code"] == "api_calls"
    assert charge["properties"] == {"amount": "0.5"} and charge["charge_model"] == "standard"


@pytest.mark.parametrize(
    ("fields", "details"),
    [
        ({"interval": "daily"}, {"interval": ["value_is_invalid"]}),
        ({"amount_cents": -1}, {"amount_cents": ["value_is_out_of_range"]}),
        ({"amount_cents": 12.5}, {"amount_cents": ["value_is_invalid"]}),
        ({"amount_currency": "EURO"}, {"amount_currency": ["value_is_invalid"]}),
        ({"trial_period": 1.5}, {"trial_period": ["value_is_invalid"]}),
        ({"bill_charges_monthly": True}, {"bill_charges_monthly": ["not_supported"]}),
    ],
)
def test_plan_validation(api, fields, details):
    response = api.post("/api/v1/plans", plan_body(**fields))
    assert response.status_code == 422 and response.json()["error_details"] == details
    assert not Plan.objects.exists()


def test_charge_properties_are_validated(api, organization):
    metric = BillableMetricFactory(organization=organization)
    body = plan_body(metric.pk)
    body["plan"]["charges"][0]["properties"] = {"amount": 0.5}  # Lago wants a decimal string
    response = api.post("/api/v1/plans", body)
    assert response.status_code == 422 and response.json()["error_details"] == {"amount": ["invalid_amount"]}


def test_charge_on_another_organizations_metric_is_refused(api, other_organization):
    foreign = BillableMetricFactory(organization=other_organization)
    response = api.post("/api/v1/plans", plan_body(foreign.pk))
    assert response.status_code == 404 and response.json()["code"] == "billable_metrics_not_found"


def test_update_replaces_charges_only_when_sent(api, organization):
    first = BillableMetricFactory(organization=organization, code="first")
    second = BillableMetricFactory(organization=organization, code="second")
    created = api.post("/api/v1/plans", plan_body(first.pk)).json()["plan"]
    renamed = api.put("/api/v1/plans/startup", {"plan": {"name": "Renamed"}}).json()["plan"]
    assert renamed["name"] == "Renamed" and len(renamed["charges"]) == 1
    charges = [
        {
            "id": created["charges"][0]["lago_id"],
            "billable_metric_id": str(first.pk),
            "charge_model": "standard",
            "properties": {"amount": "2"},
        },
        {
            "billable_metric_id": str(second.pk),
            "charge_model": "package",
            "properties": {"amount": "10", "package_size": 100, "free_units": 0},
        },
    ]
    updated = api.put("/api/v1/plans/startup", {"plan": {"charges": charges}}).json()["plan"]
    by_code = {c["billable_metric_code"]: c for c in updated["charges"]}
    assert set(by_code) == {"first", "second"}
    assert by_code["first"]["lago_id"] == created["charges"][0]["lago_id"]
    assert by_code["first"]["properties"] == {"amount": "2"}


def test_plan_with_subscriptions_keeps_interval_and_currency(api, organization):
    plan = PlanFactory(organization=organization, code="startup")
    SubscriptionFactory(customer__organization=organization, plan=plan)
    response = api.put("/api/v1/plans/startup", {"plan": {"interval": "yearly"}})
    assert response.status_code == 422 and response.json()["error_details"] == {"interval": ["value_is_not_editable"]}


def test_deleting_a_plan_ends_its_subscriptions(api, organization):
    plan = PlanFactory(organization=organization, code="startup")
    active = SubscriptionFactory(customer__organization=organization, plan=plan)
    pending = SubscriptionFactory(customer__organization=organization, plan=plan, status="pending", started_at=None)
    assert api.delete("/api/v1/plans/startup").status_code == 200
    active.refresh_from_db()
    pending.refresh_from_db()
    assert (active.status, pending.status) == ("terminated", "canceled")
    assert api.get("/api/v1/plans/startup").status_code == 404


@pytest.mark.parametrize("path", ["/api/v1/billable_metrics/x", "/api/v1/plans/x", "/api/v1/subscriptions/x"])
def test_other_organizations_objects_are_404(api, other_organization, path):
    BillableMetricFactory(organization=other_organization, code="x")
    plan = PlanFactory(organization=other_organization, code="x")
    SubscriptionFactory(customer__organization=other_organization, plan=plan, external_id="x")
    assert api.get(path).status_code == 404
    assert api.delete(path).status_code == 404


@pytest.mark.parametrize(
    "path", ["/api/v1/billable_metrics", "/api/v1/plans", "/api/v1/subscriptions", "/api/v1/events"]
)
def test_endpoints_need_a_key(client, path):
    assert client.get(path).status_code in (401, 405)
    assert client.post(path, data={}, content_type="application/json").status_code == 401


def test_encoded_codes_work(api):
    api.post("/api/v1/billable_metrics", metric_body(code="calls/eu v2"))
    assert api.get("/api/v1/billable_metrics/" + quote("calls/eu v2", safe="")).status_code == 200


def test_metric_with_usage_keeps_its_aggregation_but_one_only_in_deleted_plans_is_free(api, organization):
    charge = ChargeFactory(plan__organization=organization, billable_metric__code="calls")
    subscription = SubscriptionFactory(customer__organization=organization, plan=charge.plan, external_id="s")
    api.post("/api/v1/events", {"event": {"transaction_id": "t", "external_subscription_id": "s", "code": "calls"}})
    api.delete(f"/api/v1/plans/{charge.plan.code}")
    subscription.refresh_from_db()
    assert subscription.status == "terminated"
    # No live plan charges it any more, but its events were rolled up under its field.
    response = api.put("/api/v1/billable_metrics/calls", {"billable_metric": {"field_name": "other"}})
    assert response.json()["error_details"] == {"field_name": ["value_is_not_editable"]}
    assert api.delete("/api/v1/billable_metrics/calls").status_code == 200


def test_null_charges_are_refused_not_a_500(api):
    response = api.post(
        "/api/v1/plans",
        {
            "plan": {
                "name": "P",
                "code": "p",
                "interval": "monthly",
                "amount_cents": 0,
                "amount_currency": "EUR",
                "charges": [None],
            }
        },
    )
    assert response.status_code == 422
