"""Reads shared by the staff pages and the API for metrics, plans and subscriptions."""

from django.db.models import Case, Count, Prefetch, QuerySet, Value, When

from billing.errors import NotFound
from billing.ids import as_uuid
from customers.selectors import customers_named_by
from organizations.models import Organization
from plans.models import (
    LIVE_SUBSCRIPTION_STATUSES,
    AddOn,
    BillableMetric,
    Charge,
    Plan,
    Subscription,
    SubscriptionStatus,
)


def list_billable_metrics(*, organization: Organization) -> QuerySet[BillableMetric]:
    return BillableMetric.objects.filter(organization=organization, deleted_at__isnull=True).order_by(
        "-created_at", "id"
    )


def get_billable_metric(*, organization: Organization, code: str) -> BillableMetric:
    metric = list_billable_metrics(organization=organization).filter(code=code).first()
    if metric is None:
        raise NotFound("billable_metric")
    return metric


def get_billable_metric_by_id(*, organization: Organization, metric_id) -> BillableMetric:
    """A live metric by its internal id, as staff URLs address them (the API uses the code)."""
    metric = list_billable_metrics(organization=organization).filter(pk=metric_id).first()
    if metric is None:
        raise NotFound("billable_metric")
    return metric


def billable_metrics_by_name(*, organization: Organization) -> QuerySet[BillableMetric]:
    """The live metrics in the order a person looks for one in a list of choices."""
    return list_billable_metrics(organization=organization).order_by("name", "code")


def plans_charging(*, metric: BillableMetric) -> QuerySet[Plan]:
    """The live plans with a live charge on this metric, by name (they keep it from being deleted)."""
    return (
        Plan.objects.filter(
            organization_id=metric.organization_id,
            deleted_at__isnull=True,
            charges__billable_metric=metric,
            charges__deleted_at__isnull=True,
        )
        .distinct()
        .order_by("name", "id")
    )


def _with_charges(queryset: QuerySet[Plan]) -> QuerySet[Plan]:
    return queryset.prefetch_related(
        Prefetch(
            "charges",
            queryset=Charge.objects.filter(deleted_at__isnull=True).select_related("billable_metric"),
            to_attr="live_charges",
        )
    )


def list_plans(*, organization: Organization) -> QuerySet[Plan]:
    return _with_charges(Plan.objects.filter(organization=organization, deleted_at__isnull=True)).order_by(
        "-created_at", "id"
    )


def get_plan(*, organization: Organization, code: str) -> Plan:
    plan = list_plans(organization=organization).filter(code=code).first()
    if plan is None:
        raise NotFound("plan")
    return plan


def get_plan_by_id(*, organization: Organization, plan_id) -> Plan:
    """A live plan with its live charges, by its internal id, as staff URLs address them."""
    plan = list_plans(organization=organization).filter(pk=plan_id).first()
    if plan is None:
        raise NotFound("plan")
    return plan


def live_subscription_counts(*, plan: Plan) -> dict[str, int]:
    """How many of the plan's subscriptions are pending and active, in one query."""
    counts = dict(
        plan.subscriptions.filter(status__in=LIVE_SUBSCRIPTION_STATUSES)
        .values("status")
        .annotate(count=Count("id"))
        .values_list("status", "count")
        .order_by()
    )
    return {status: counts.get(status, 0) for status in LIVE_SUBSCRIPTION_STATUSES}


def plan_with_charges(*, plan_id) -> Plan:
    """A plan by id, deleted or not, with its live charges (as shown inside a subscription)."""
    return _with_charges(Plan.objects.filter(pk=plan_id)).get()


def list_subscriptions(
    *,
    organization: Organization,
    external_customer_id: str | None = None,
    plan_code: str | None = None,
    statuses: list[str] | None = None,
) -> QuerySet[Subscription]:
    queryset = Subscription.objects.filter(organization=organization).select_related("customer", "plan")
    if external_customer_id is not None:
        # The live customer with this id; while none holds it, the deleted customers that did.
        queryset = queryset.filter(
            customer__in=customers_named_by(organization=organization, external_id=external_customer_id)
        )
    if plan_code is not None:
        queryset = queryset.filter(plan__code=plan_code)
    queryset = queryset.filter(status__in=statuses or [SubscriptionStatus.ACTIVE])
    return queryset.order_by("-created_at", "id")


def get_subscription(*, organization: Organization, external_id: str, status: str | None = None) -> Subscription:
    """The subscription with this id and status (active by default); the newest if several ended."""
    subscription = (
        Subscription.objects.filter(
            organization=organization, external_id=external_id, status=status or SubscriptionStatus.ACTIVE
        )
        .select_related("customer__organization", "plan")
        .order_by("-created_at")
        .first()
    )
    if subscription is None:
        raise NotFound("subscription")
    return subscription


def get_subscription_by_id(*, subscription_id) -> Subscription:
    return Subscription.objects.select_related("customer__organization", "plan").get(pk=subscription_id)


def customer_subscriptions(*, customer) -> QuerySet[Subscription]:
    return (
        Subscription.objects.filter(customer=customer)
        .select_related("plan")
        .annotate(
            ended=Case(
                When(status__in=[SubscriptionStatus.ACTIVE, SubscriptionStatus.PENDING], then=Value(0)),
                default=Value(1),
            )
        )
        .order_by("ended", "-created_at")  # live ones first, newest first within each group
    )


def pending_subscriptions(*, customer) -> QuerySet[Subscription]:
    """The customer's subscriptions that start later, newest first."""
    return (
        Subscription.objects.filter(customer=customer, status=SubscriptionStatus.PENDING)
        .select_related("plan")
        .order_by("-created_at", "id")
    )


def get_customer_subscription(*, customer, subscription_id) -> Subscription:
    """One of the customer's subscriptions by its internal id, whatever its status."""
    subscription = Subscription.objects.filter(
        organization_id=customer.organization_id, customer=customer, pk=subscription_id
    ).first()
    if subscription is None:
        raise NotFound("subscription")
    return subscription


def list_add_ons(*, organization: Organization) -> QuerySet[AddOn]:
    return AddOn.objects.filter(organization=organization, deleted_at__isnull=True).order_by("-created_at", "id")


def get_add_on(*, organization: Organization, code: str) -> AddOn:
    add_on = list_add_ons(organization=organization).filter(code=code).first()
    if add_on is None:
        raise NotFound("add_on")
    return add_on


def get_add_on_by_id(*, organization: Organization, add_on_id) -> AddOn:
    add_on_id = as_uuid(add_on_id)
    add_on = list_add_ons(organization=organization).filter(pk=add_on_id).first() if add_on_id else None
    if add_on is None:
        raise NotFound("add_on")
    return add_on


def add_ons_by_name(*, organization: Organization) -> QuerySet[AddOn]:
    return list_add_ons(organization=organization).order_by("name", "code")
