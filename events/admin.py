"""Admin for support: usage events and their quarter-hour rollups, read-only. Events arrive only
through the API (idempotent by transaction id) and the rollups move with them in the same
transaction, so nothing here writes.

The event table is the largest there is: its search compares whole values (a pasted transaction id,
subscription or customer external id, metric code or event id) instead of scanning for substrings,
and the list is ordered by id, the primary key."""

import uuid

from django.contrib import admin
from django.db.models import Q

from billing.admin_base import ReadOnlyAdmin, admin_link, links, pretty_json, staff_link
from events.models import Event, UsageRollup
from plans.models import Subscription

# A search term that is a number is also tried as an event id, if it fits the column (bigint).
_MAX_EVENT_ID = 2**63 - 1


def _subscriptions_named(term: str):
    """The subscriptions a pasted external id names: its own, or its customer's."""
    named = Q(external_id=term) | Q(customer__external_id=term)
    try:
        named |= Q(pk=uuid.UUID(term))
    except ValueError:
        pass
    return Subscription.objects.filter(named).values("pk")


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = [
        "transaction_id",
        "code",
        "subscription_external_id",
        "customer_external_id",
        "timestamp",
        "created_at",
        "organization",
        "id",
    ]
    list_filter = ["organization"]
    # Read by get_search_results below, which compares whole values.
    search_fields = ["=transaction_id", "=code", "=subscription__external_id", "=subscription__customer__external_id"]
    search_help_text = (
        "An exact transaction id, event id, metric code, or the external id of a subscription or customer."
    )
    list_select_related = ["subscription__customer", "organization"]
    ordering = ["-id"]
    fields = [
        "id",
        "organization",
        "transaction_id",
        "code",
        "subscription_link",
        "customer_link",
        "timestamp",
        "created_at",
        "event_properties",
        "related",
    ]

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        matches = Q(transaction_id=term) | Q(code=term) | Q(subscription__in=_subscriptions_named(term))
        if term.isdigit() and int(term) <= _MAX_EVENT_ID:
            matches |= Q(pk=int(term))
        return queryset.filter(matches), False

    @admin.display(description="subscription", ordering="subscription__external_id")
    def subscription_external_id(self, obj: Event) -> str:
        return obj.subscription.external_id

    @admin.display(description="customer", ordering="subscription__customer__external_id")
    def customer_external_id(self, obj: Event) -> str:
        return obj.subscription.customer.external_id

    @admin.display(description="subscription")
    def subscription_link(self, obj: Event) -> str:
        return admin_link(obj.subscription, obj.subscription.external_id)

    @admin.display(description="customer")
    def customer_link(self, obj: Event) -> str:
        return admin_link(obj.subscription.customer, obj.subscription.customer.external_id)

    @admin.display(description="properties")
    def event_properties(self, obj: Event) -> str:
        return pretty_json(obj.properties)

    @admin.display(description="see also")
    def related(self, obj: Event) -> str:
        return links(staff_link("customers:tab", obj.subscription.customer_id, "usage", text="Usage in the staff UI"))


@admin.register(UsageRollup)
class UsageRollupAdmin(ReadOnlyAdmin):
    list_display = [
        "bucket_start",
        "subscription_external_id",
        "metric_code",
        "events_count",
        "units_sum",
        "units_max",
        "latest_value",
        "organization",
    ]
    list_filter = ["subscription__organization"]
    search_fields = ["=subscription__external_id", "=subscription__customer__external_id", "=billable_metric__code"]
    search_help_text = "An exact external id of a subscription or customer, or a metric code."
    list_select_related = ["subscription__organization", "billable_metric"]
    ordering = ["-bucket_start", "-id"]
    fields = [
        "id",
        "organization",
        "subscription",
        "billable_metric",
        "bucket_start",
        "events_count",
        "units_sum",
        "units_max",
        "latest_value",
        "latest_timestamp",
    ]

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        matches = Q(billable_metric__code=term) | Q(subscription__in=_subscriptions_named(term))
        return queryset.filter(matches), False

    @admin.display(description="organization", ordering="subscription__organization__name")
    def organization(self, obj: UsageRollup) -> str:
        return str(obj.subscription.organization)

    @admin.display(description="subscription", ordering="subscription__external_id")
    def subscription_external_id(self, obj: UsageRollup) -> str:
        return obj.subscription.external_id

    @admin.display(description="metric", ordering="billable_metric__code")
    def metric_code(self, obj: UsageRollup) -> str:
        return obj.billable_metric.code
