"""The support admin for usage events and their rollups: read-only, found by the exact ids support pastes
(transaction id, event id, subscription or customer external id, metric code), filtered by organization,
in a number of queries that does not grow with the rows."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from customers.tests.factories import CustomerFactory
from events.models import Event, UsageRollup
from events.tests.factories import send_events
from organizations.models import User
from plans.tests.factories import BillableMetricFactory, SubscriptionFactory

MODELS = [Event, UsageRollup]
NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def pinned_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def support_client(db, client):
    client.force_login(User.objects.create_superuser("support@example.test", "support-pass"))
    return client


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def listed(response) -> list:
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def usage(organization, tag: str, events: int = 1):
    """`events` calls of a customer `acme_<tag>` on its subscription `sub_<tag>`, each in a quarter hour
    of its own (so one rollup each), through the ingestion service."""
    BillableMetricFactory(organization=organization, code=f"calls_{tag}", aggregation_type="count_agg", field_name=None)
    customer = CustomerFactory(organization=organization, external_id=f"acme_{tag}")
    subscription = SubscriptionFactory(
        customer=customer, external_id=f"sub_{tag}", subscription_at=NOW - timedelta(days=9)
    )
    times = [NOW - timedelta(minutes=15 * (index + 1)) for index in range(events)]
    send_events(subscription, [(f"calls_{tag}", at, {}) for at in times])
    return subscription


@pytest.fixture
def subscription(organization, other_organization):
    usage(other_organization, "other")
    return usage(organization, "42")


@pytest.fixture
def event(subscription) -> Event:
    return Event.objects.get(subscription=subscription)


@pytest.mark.parametrize(
    "term",
    [
        lambda event: event.transaction_id,
        lambda event: str(event.pk),
        lambda event: "sub_42",
        lambda event: "acme_42",
        lambda event: "calls_42",
        lambda event: str(event.subscription_id),
    ],
    ids=["transaction id", "event id", "subscription external id", "customer external id", "code", "subscription id"],
)
def test_a_pasted_id_finds_the_event_under_its_organization_filter(support_client, event, term, other_organization):
    found = support_client.get(
        url(Event, "changelist"), {"q": term(event), "organization__id__exact": event.organization_id}
    )
    assert listed(found) == [event]
    elsewhere = support_client.get(
        url(Event, "changelist"), {"q": term(event), "organization__id__exact": other_organization.pk}
    )
    assert listed(elsewhere) == []


@pytest.mark.parametrize("term", ["nothing-like-it", "99999999999999999999999", "tr_", "ACME_42", " "])
def test_the_event_search_compares_whole_values_and_never_fails(support_client, event, term):
    response = support_client.get(url(Event, "changelist"), {"q": term})
    expected = [event, Event.objects.exclude(pk=event.pk).get()] if not term.strip() else []
    assert sorted(listed(response), key=lambda row: row.pk) == sorted(expected, key=lambda row: row.pk)


def test_rollups_are_found_by_subscription_customer_or_code(support_client, subscription, other_organization):
    rollup = UsageRollup.objects.get(subscription=subscription)
    assert rollup.events_count == 1
    for term in ("sub_42", "acme_42", "calls_42"):
        filters = {"q": term, "subscription__organization__id__exact": subscription.organization_id}
        assert listed(support_client.get(url(UsageRollup, "changelist"), filters)) == [rollup]
        filters["subscription__organization__id__exact"] = other_organization.pk
        assert listed(support_client.get(url(UsageRollup, "changelist"), filters)) == []


def test_the_change_pages_open_read_only_and_link_the_subscription(support_client, event, subscription):
    rollup = UsageRollup.objects.get(subscription=subscription)
    for model, obj in ((Event, event), (UsageRollup, rollup)):
        response = support_client.get(url(model, "change", obj.pk))
        assert response.status_code == 200
        page = response.content.decode()
        assert 'name="_save"' not in page
        assert reverse("admin:plans_subscription_change", args=[subscription.pk]) in page
        assert support_client.post(url(model, "change", obj.pk), {}).status_code == 403
        assert support_client.get(url(model, "add")).status_code == 403
        assert support_client.post(url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    page = support_client.get(url(Event, "change", event.pk)).content.decode()
    assert reverse("admin:customers_customer_change", args=[subscription.customer_id]) in page
    assert reverse("customers:tab", args=[subscription.customer_id, "usage"]) in page


def test_the_subscription_page_links_its_events(support_client, subscription, event):
    page = support_client.get(reverse("admin:plans_subscription_change", args=[subscription.pk])).content.decode()
    link = f"{url(Event, 'changelist')}?subscription={subscription.pk}"
    assert link in page
    assert listed(support_client.get(url(Event, "changelist"), {"subscription": subscription.pk})) == [event]


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.__name__)
def test_changelists_cost_the_same_queries_for_2_and_20_rows(support_client, organization, model):
    subscription = usage(organization, "a", events=2)
    with CaptureQueriesContext(connection) as two:
        assert len(listed(support_client.get(url(model, "changelist")))) == 2
    usage(organization, "b", events=18)
    with CaptureQueriesContext(connection) as twenty:
        assert len(listed(support_client.get(url(model, "changelist")))) == 20
    assert len(twenty.captured_queries) == len(two.captured_queries)
    filtered = {"q": "acme_a", "organization__id__exact": organization.pk}
    if model is UsageRollup:
        filtered = {"q": "acme_a", "subscription__organization__id__exact": organization.pk}
    response = support_client.get(url(model, "changelist"), filtered)
    assert {row.subscription_id for row in listed(response)} == {subscription.pk}
