"""The support admin for billable metrics, plans, charges and subscriptions: read-only pages found by the
ids support pastes, filtered by status and organization, linked to each other and to the staff UI, in a
number of queries that does not grow with the rows; deletions and terminations go through the services,
and their refusals are messages."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from customers.tests.factories import CustomerFactory
from invoicing.models import Invoice
from invoicing.tests.factories import InvoiceSubscriptionFactory
from organizations.models import User
from plans.models import AddOn, BillableMetric, Charge, Plan, Subscription
from plans.tests.factories import BillableMetricFactory, ChargeFactory, PlanFactory, SubscriptionFactory

MODELS = [BillableMetric, Plan, Charge, Subscription]
NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


@pytest.fixture
def support_client(db, client):
    client.force_login(User.objects.create_superuser("support@example.test", "support-pass"))
    return client


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def listed(response) -> list:
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def catalogue(organization, tag: str) -> dict:
    """A plan `plan_<tag>` charging a metric `metric_<tag>`, and a customer `acme_<tag>` subscribed to it."""
    metric = BillableMetricFactory(organization=organization, code=f"metric_{tag}", name=f"Metric {tag}")
    plan = PlanFactory(organization=organization, code=f"plan_{tag}", amount_cents=4999, amount_currency="EUR")
    charge = ChargeFactory(plan=plan, billable_metric=metric)
    customer = CustomerFactory(organization=organization, external_id=f"acme_{tag}")
    subscription = SubscriptionFactory(customer=customer, plan=plan, external_id=f"sub_{tag}")
    return {BillableMetric: metric, Plan: plan, Charge: charge, Subscription: subscription}


@pytest.fixture
def rows(organization, other_organization) -> dict:
    catalogue(other_organization, "other")
    return catalogue(organization, "42")


SEARCHES = {
    BillableMetric: lambda rows: "metric_42",
    Plan: lambda rows: "plan_42",
    Charge: lambda rows: str(rows[Charge].pk),
    Subscription: lambda rows: "acme_42",  # the customer's external id, through the relation
}
ORGANIZATION_FILTERS = {
    BillableMetric: "organization__id__exact",
    Plan: "organization__id__exact",
    Charge: "plan__organization__id__exact",
    Subscription: "organization__id__exact",
}


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.__name__)
def test_a_pasted_id_finds_the_row_under_its_organization_filter(support_client, rows, model, other_organization):
    term = SEARCHES[model](rows)
    organization_id = rows[Plan].organization_id
    found = support_client.get(url(model, "changelist"), {"q": term, ORGANIZATION_FILTERS[model]: organization_id})
    assert listed(found) == [rows[model]]
    elsewhere = support_client.get(
        url(model, "changelist"), {"q": term, ORGANIZATION_FILTERS[model]: other_organization.pk}
    )
    assert listed(elsewhere) == []
    by_lago_id = support_client.get(url(model, "changelist"), {"q": str(rows[model].pk)})
    assert listed(by_lago_id) == [rows[model]]


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.__name__)
def test_the_change_page_opens_read_only(support_client, rows, model):
    obj = rows[model]
    response = support_client.get(url(model, "change", obj.pk))
    assert response.status_code == 200
    assert 'name="_save"' not in response.content.decode()
    assert support_client.post(url(model, "change", obj.pk), {}).status_code == 403
    assert support_client.get(url(model, "add")).status_code == 403
    assert support_client.post(url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert model.objects.filter(pk=obj.pk).exists()


def test_filters_by_status_and_state(support_client, rows):
    subscription = rows[Subscription]
    active = support_client.get(url(Subscription, "changelist"), {"q": "acme_42", "status__exact": "active"})
    assert listed(active) == [subscription]
    terminated = support_client.get(url(Subscription, "changelist"), {"q": "acme_42", "status__exact": "terminated"})
    assert listed(terminated) == []
    Plan.objects.filter(pk=rows[Plan].pk).update(deleted_at=NOW)
    assert listed(support_client.get(url(Plan, "changelist"), {"q": "plan_42", "state": "deleted"})) == [rows[Plan]]
    assert listed(support_client.get(url(Plan, "changelist"), {"q": "plan_42", "state": "live"})) == []
    standard = support_client.get(url(Charge, "changelist"), {"q": str(rows[Charge].pk), "charge_model": "standard"})
    assert listed(standard) == [rows[Charge]]
    volume = support_client.get(url(Charge, "changelist"), {"q": str(rows[Charge].pk), "charge_model": "volume"})
    assert listed(volume) == []


def test_money_is_shown_in_its_currency(support_client, rows):
    assert "49.99 EUR" in support_client.get(url(Plan, "changelist"), {"q": "plan_42"}).content.decode()
    assert "49.99 EUR" in support_client.get(url(Plan, "change", rows[Plan].pk)).content.decode()


def test_pages_link_related_objects_and_the_staff_ui(support_client, rows):
    plan, metric, subscription = rows[Plan], rows[BillableMetric], rows[Subscription]
    plan_page = support_client.get(url(Plan, "change", plan.pk)).content.decode()
    assert "metric_42" in plan_page and url(Charge, "change", rows[Charge].pk) in plan_page  # its charges, inline
    assert f"{url(Subscription, 'changelist')}?plan={plan.pk}" in plan_page
    assert reverse("plans:plan_detail", args=[plan.pk]) in plan_page
    metric_page = support_client.get(url(BillableMetric, "change", metric.pk)).content.decode()
    assert url(Plan, "change", plan.pk) in metric_page  # the plans charging it
    assert reverse("plans:metric_edit", args=[metric.pk]) in metric_page
    period = InvoiceSubscriptionFactory(subscription=subscription)
    page = support_client.get(url(Subscription, "change", subscription.pk)).content.decode()
    assert reverse("admin:customers_customer_change", args=[subscription.customer_id]) in page
    assert url(Plan, "change", plan.pk) in page
    assert url(Invoice, "change", period.invoice_id) in page  # the invoices that billed it, inline
    assert reverse("customers:tab", args=[subscription.customer_id, "subscriptions"]) in page
    add_on = AddOn.objects.create(
        organization=plan.organization, code="setup", name="Setup", amount_cents=100, amount_currency="EUR"
    )
    add_on_page = support_client.get(url(AddOn, "change", add_on.pk)).content.decode()
    assert reverse("plans:add_on_edit", args=[add_on.pk]) in add_on_page


def test_a_linked_list_of_one_plans_subscriptions(support_client, rows, organization):
    other_plan = PlanFactory(organization=organization)
    SubscriptionFactory(customer=CustomerFactory(organization=organization), plan=other_plan)
    response = support_client.get(url(Subscription, "changelist"), {"plan": rows[Plan].pk})
    assert listed(response) == [rows[Subscription]]


def _changelist_queries(client, model) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url(model, "changelist"))
    return len(queries.captured_queries), len(listed(response))


def test_changelists_cost_the_same_queries_for_2_and_20_rows(support_client, organization):
    for index in range(2):
        catalogue(organization, f"{index}")
    with_two = {model: _changelist_queries(support_client, model) for model in MODELS}
    for index in range(2, 20):
        catalogue(organization, f"{index}")
    for model in MODELS:
        queries, shown = _changelist_queries(support_client, model)
        assert (queries, shown) == (with_two[model][0], 20), model
        assert with_two[model][1] == 2


def test_the_plan_page_costs_the_same_queries_for_2_and_20_charges(support_client, rows):
    plan = rows[Plan]
    ChargeFactory(plan=plan)
    page = url(Plan, "change", plan.pk)
    with CaptureQueriesContext(connection) as few:
        assert support_client.get(page).status_code == 200
    for _ in range(18):
        ChargeFactory(plan=plan)
    with CaptureQueriesContext(connection) as many:
        response = support_client.get(page)
    assert response.content.decode().count("Metric ") >= 20
    assert len(many.captured_queries) == len(few.captured_queries)


# Actions: the services' writes ---------------------------------------------------------------------


def _act(client, model, action: str, objects) -> str:
    response = client.post(
        url(model, "changelist"), {"action": action, "_selected_action": [str(obj.pk) for obj in objects]}, follow=True
    )
    assert response.status_code == 200
    return " | ".join(str(message) for message in response.context["messages"])


def test_terminate_subscriptions_bills_an_active_one_and_refuses_an_ended_one(support_client, organization):
    customer = CustomerFactory(organization=organization, external_id="acme_42", timezone="UTC")
    started = datetime(2026, 3, 1, tzinfo=UTC)
    active = SubscriptionFactory(customer=customer, external_id="sub_live", subscription_at=started)
    ended = SubscriptionFactory(customer=customer, external_id="sub_ended", status="terminated", terminated_at=started)
    with time_machine.travel(NOW, tick=False):
        text = _act(support_client, Subscription, "terminate", [active, ended])
    assert "1 subscription(s) ended." in text
    assert "Subscription sub_ended: This subscription has already ended." in text
    active.refresh_from_db()
    assert active.status == "terminated" and active.terminated_at == NOW
    assert Invoice.objects.filter(invoice_subscriptions__subscription=active).exists()  # billed at once
    ended.refresh_from_db()
    assert ended.terminated_at == started  # left as it was


def test_delete_metric_refuses_a_charged_one(support_client, rows, organization):
    unused = BillableMetricFactory(organization=organization, code="unused")
    text = _act(support_client, BillableMetric, "soft_delete", [rows[BillableMetric], unused])
    assert "1 billable metric(s) deleted." in text
    assert "metric_42" in text and "This metric is charged in a plan" in text
    assert BillableMetric.objects.get(pk=unused.pk).deleted_at is not None
    assert BillableMetric.objects.get(pk=rows[BillableMetric].pk).deleted_at is None


def test_delete_plan_ends_its_live_subscriptions_first(support_client, rows):
    plan, subscription = rows[Plan], rows[Subscription]
    with time_machine.travel(NOW, tick=False):
        text = _act(support_client, Plan, "soft_delete", [plan])
    assert "1 plan(s) deleted." in text
    assert Plan.objects.get(pk=plan.pk).deleted_at == NOW
    assert Subscription.objects.get(pk=subscription.pk).status == "terminated"
    assert Charge.objects.get(pk=rows[Charge].pk).deleted_at == NOW
