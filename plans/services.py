"""Writes for billable metrics, plans with their charges, and subscriptions."""

import uuid
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.currencies import is_currency
from billing.errors import NotAllowed, NotFound, ValidationFailed
from billing.text import is_storable
from customers.models import Customer
from customers.services import create_customer
from events.models import UsageRollup
from invoicing.services import bill_subscription_start, bill_termination
from organizations.models import Organization
from plans.charge_models import CHARGE_MODELS, validate_properties
from plans.models import (
    AGGREGATIONS_WITH_FIELD,
    AggregationType,
    BillableMetric,
    BillingTime,
    Charge,
    Plan,
    PlanInterval,
    Subscription,
    SubscriptionStatus,
)

CODE_MAX_LENGTH = 255


def _text(value: Any, *, required: bool, max_length: int = 255) -> tuple[str | None, str | None]:
    """(cleaned value, Lago error code) for a text input."""
    if value is None or value == "":
        return None, ("value_is_mandatory" if required else None)
    if not isinstance(value, str) or not is_storable(value):
        return None, "value_is_invalid"
    if required and not value.strip():
        return None, "value_is_mandatory"
    if len(value) > max_length:
        return None, "value_is_too_long"
    return value, None


def _collect(errors: dict[str, list[str]], field: str, code: str | None) -> None:
    if code:
        errors.setdefault(field, []).append(code)


# Billable metrics ---------------------------------------------------------------------------


def _clean_metric(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for field, required in (("code", True), ("name", True), ("description", False), ("field_name", False)):
        if field in data or (required and not partial):
            value, error = _text(
                data.get(field), required=required, max_length=CODE_MAX_LENGTH if field != "description" else 10_000
            )
            _collect(errors, field, error)
            cleaned[field] = value
    if "aggregation_type" in data or not partial:
        aggregation = data.get("aggregation_type")
        if aggregation not in AggregationType.values:
            _collect(errors, "aggregation_type", "value_is_invalid")
        cleaned["aggregation_type"] = aggregation
    if errors:
        raise ValidationFailed(errors)
    return cleaned


def _check_metric_field(metric: BillableMetric) -> None:
    if metric.aggregation_type == AggregationType.COUNT:
        metric.field_name = None  # Lago forces it to null: count reads no property
    elif metric.aggregation_type in AGGREGATIONS_WITH_FIELD and not metric.field_name:
        raise ValidationFailed({"field_name": ["value_is_mandatory"]})


def _save_unique(instance, code_field: str = "code") -> None:
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError:
        raise ValidationFailed({code_field: ["value_already_exist"]}) from None


def _metric_charged(metric: BillableMetric) -> bool:
    """Whether a live plan prices this metric."""
    return metric.charges.filter(deleted_at__isnull=True, plan__deleted_at__isnull=True).exists()


@transaction.atomic
def create_billable_metric(*, organization: Organization, data: dict[str, Any]) -> BillableMetric:
    fields = _clean_metric(data, partial=False)
    metric = BillableMetric(organization=organization, **fields)
    _check_metric_field(metric)
    if BillableMetric.objects.filter(organization=organization, code=metric.code, deleted_at__isnull=True).exists():
        raise ValidationFailed({"code": ["value_already_exist"]})
    _save_unique(metric)
    return metric


@transaction.atomic
def update_billable_metric(*, metric: BillableMetric, data: dict[str, Any]) -> BillableMetric:
    fields = _clean_metric(data, partial=True)
    # Events were matched and rolled up under these; changing them would rewrite past usage.
    locked = _metric_charged(metric) or UsageRollup.objects.filter(billable_metric=metric).exists()
    for field in ("code", "aggregation_type", "field_name"):
        if locked and field in fields and fields[field] != getattr(metric, field):
            raise ValidationFailed({field: ["value_is_not_editable"]})
    for field, value in fields.items():
        setattr(metric, field, value)
    _check_metric_field(metric)
    _save_unique(metric)
    return metric


@transaction.atomic
def delete_billable_metric(*, metric: BillableMetric) -> BillableMetric:
    if _metric_charged(metric):
        raise NotAllowed("billable_metric_in_use")
    metric.deleted_at = timezone.now()
    metric.save(update_fields=["deleted_at", "updated_at"])
    return metric


# Plans and charges --------------------------------------------------------------------------


def _clean_plan(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for field, required in (("code", True), ("name", True), ("invoice_display_name", False), ("description", False)):
        if field in data or (required and not partial):
            value, error = _text(
                data.get(field), required=required, max_length=255 if field != "description" else 10_000
            )
            _collect(errors, field, error)
            cleaned[field] = value
    if "interval" in data or not partial:
        if data.get("interval") not in PlanInterval.values:
            _collect(errors, "interval", "value_is_invalid")
        cleaned["interval"] = data.get("interval")
    if "amount_cents" in data or not partial:
        amount = data.get("amount_cents")
        if isinstance(amount, bool) or not isinstance(amount, int):
            _collect(errors, "amount_cents", "value_is_mandatory" if amount is None else "value_is_invalid")
        elif not 0 <= amount < 10**15:
            _collect(errors, "amount_cents", "value_is_out_of_range")
        cleaned["amount_cents"] = amount
    if "amount_currency" in data or not partial:
        currency = data.get("amount_currency")
        if not isinstance(currency, str) or not is_currency(currency):
            _collect(errors, "amount_currency", "value_is_invalid")
        cleaned["amount_currency"] = currency
    if "pay_in_advance" in data:
        if not isinstance(data["pay_in_advance"], bool):
            _collect(errors, "pay_in_advance", "value_is_invalid")
        cleaned["pay_in_advance"] = data["pay_in_advance"]
    if "trial_period" in data:
        trial = data["trial_period"]
        trial = 0 if trial is None else trial
        if isinstance(trial, float) and trial.is_integer():
            trial = int(trial)
        if isinstance(trial, bool) or not isinstance(trial, int) or not 0 <= trial <= 3650:
            _collect(errors, "trial_period", "value_is_invalid")
        cleaned["trial_period"] = trial
    if errors:
        raise ValidationFailed(errors)
    return cleaned


def _clean_charges(organization: Organization, charges: Any) -> list[dict[str, Any]]:
    if not isinstance(charges, list) or not all(isinstance(item, dict) for item in charges):
        raise ValidationFailed({"charges": ["value_is_invalid"]})
    metric_ids = {str(item.get("billable_metric_id")) for item in charges}
    metrics = {
        str(metric.pk): metric
        for metric in BillableMetric.objects.filter(
            organization=organization, deleted_at__isnull=True, pk__in=[i for i in metric_ids if _is_uuid(i)]
        )
    }
    if metric_ids - set(metrics):
        raise NotFound("billable_metrics")
    errors: dict[str, list[str]] = {}
    cleaned = []
    for item in charges:
        charge_model = item.get("charge_model")
        if charge_model not in CHARGE_MODELS:
            _collect(errors, "charge_model", "value_is_invalid")
            continue
        metric = metrics[str(item["billable_metric_id"])]
        if charge_model == "percentage" and metric.aggregation_type == AggregationType.LATEST:
            _collect(errors, "charge_model", "invalid_aggregation_type_or_charge_model")
            continue
        properties, property_errors = validate_properties(charge_model, item.get("properties"))
        for field, codes in property_errors.items():
            for code in codes:
                _collect(errors, field, code)
        display, error = _text(item.get("invoice_display_name"), required=False)
        _collect(errors, "invoice_display_name", error)
        cleaned.append(
            {
                "id": item.get("id"),
                "billable_metric": metric,
                "charge_model": charge_model,
                "properties": properties,
                "invoice_display_name": display,
            }
        )
    if errors:
        raise ValidationFailed(errors)
    return cleaned


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _replace_charges(plan: Plan, charges: list[dict[str, Any]]) -> None:
    """Make the plan's live charges exactly `charges`; a charge keeps its id when sent with it."""
    existing = {str(charge.pk): charge for charge in plan.charges.filter(deleted_at__isnull=True)}
    kept: set[str] = set()
    for item in charges:
        charge = existing.get(str(item["id"])) if item["id"] else None
        if charge is None or charge.billable_metric_id != item["billable_metric"].pk:
            charge = Charge(plan=plan, billable_metric=item["billable_metric"])
        charge.charge_model = item["charge_model"]
        charge.properties = item["properties"]
        charge.invoice_display_name = item["invoice_display_name"]
        charge.save()
        kept.add(str(charge.pk))
    plan.charges.filter(deleted_at__isnull=True).exclude(pk__in=kept).update(deleted_at=timezone.now())


@transaction.atomic
def create_plan(*, organization: Organization, data: dict[str, Any]) -> Plan:
    fields = _clean_plan(data, partial=False)
    charges = _clean_charges(organization, data.get("charges") or [])
    if Plan.objects.filter(organization=organization, code=fields["code"], deleted_at__isnull=True).exists():
        raise ValidationFailed({"code": ["value_already_exist"]})
    plan = Plan(organization=organization, **fields)
    _save_unique(plan)
    _replace_charges(plan, charges)
    return plan


@transaction.atomic
def update_plan(*, plan: Plan, data: dict[str, Any]) -> Plan:
    """Write the fields present in `data`; replace the charges when `charges` is sent."""
    fields = _clean_plan(data, partial=True)
    has_subscriptions = plan.subscriptions.exists()
    for field in ("interval", "amount_currency"):
        # Billing periods and invoice currency of existing subscriptions depend on these.
        if has_subscriptions and field in fields and fields[field] != getattr(plan, field):
            raise ValidationFailed({field: ["value_is_not_editable"]})
    charges = _clean_charges(plan.organization, data["charges"] or []) if "charges" in data else None
    for field, value in fields.items():
        setattr(plan, field, value)
    _save_unique(plan)
    if charges is not None:
        _replace_charges(plan, charges)
    return plan


@transaction.atomic
def delete_plan(*, plan: Plan) -> Plan:
    """Soft-delete the plan and end its live subscriptions, as Lago does."""
    for subscription in plan.subscriptions.filter(status__in=[SubscriptionStatus.PENDING, SubscriptionStatus.ACTIVE]):
        terminate_subscription(subscription=subscription)
    now = timezone.now()
    plan.charges.filter(deleted_at__isnull=True).update(deleted_at=now)
    plan.deleted_at = now
    plan.save(update_fields=["deleted_at", "updated_at"])
    return plan


# Subscriptions ------------------------------------------------------------------------------


def _clean_subscription(data: dict[str, Any], now: datetime) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for field, required in (
        ("external_customer_id", True),
        ("plan_code", True),
        ("external_id", True),
        ("name", False),
    ):
        value, error = _text(data.get(field), required=required)
        _collect(errors, field, error)
        cleaned[field] = value.strip() if value and field == "external_id" else value
    billing_time = data.get("billing_time") or BillingTime.CALENDAR
    if billing_time not in BillingTime.values:
        _collect(errors, "billing_time", "value_is_invalid")
    cleaned["billing_time"] = billing_time
    subscription_at = data.get("subscription_at")
    if subscription_at is None:
        # To the second: an event stamped with the same Unix second as the start must count.
        subscription_at = now.replace(microsecond=0)
    elif not isinstance(subscription_at, datetime) or timezone.is_naive(subscription_at):
        _collect(errors, "subscription_at", "invalid_date")
    cleaned["subscription_at"] = subscription_at
    if errors:
        raise ValidationFailed(errors)
    return cleaned


@transaction.atomic
def create_subscription(*, organization: Organization, data: dict[str, Any]) -> tuple[Subscription, bool]:
    """Assign a plan to a customer (Lago's POST /subscriptions); return (subscription, created).

    An unknown customer is created on the fly, as Lago does. Posting the same subscription again
    returns the existing one.
    """
    now = timezone.now()
    fields = _clean_subscription(data, now)
    plan = Plan.objects.filter(organization=organization, code=fields["plan_code"], deleted_at__isnull=True).first()
    if plan is None:
        raise NotFound("plan")
    customer = (
        Customer.live.select_for_update(of=("self",))
        .filter(organization=organization, external_id=fields["external_customer_id"])
        .first()
    )
    if customer is None:
        customer = create_customer(organization=organization, data={"external_id": fields["external_customer_id"]})
    live = Subscription.objects.filter(
        organization=organization,
        external_id=fields["external_id"],
        status__in=[SubscriptionStatus.PENDING, SubscriptionStatus.ACTIVE],
    ).first()
    if live is not None:
        if live.customer_id == customer.pk and live.plan_id == plan.pk:
            return live, False
        # Lago treats a new plan on the same id as an upgrade or downgrade; we don't offer it yet.
        raise ValidationFailed({"external_id": ["value_already_exist"]})
    if customer.currency is None:
        customer.currency = plan.amount_currency
        customer.save(update_fields=["currency", "updated_at"])
    elif customer.currency != plan.amount_currency:
        raise ValidationFailed({"currency": ["currencies_does_not_match"]})
    starts_now = fields["subscription_at"] <= now
    subscription = Subscription(
        organization=organization,
        customer=customer,
        plan=plan,
        external_id=fields["external_id"],
        name=fields["name"],
        billing_time=fields["billing_time"],
        subscription_at=fields["subscription_at"],
        status=SubscriptionStatus.ACTIVE if starts_now else SubscriptionStatus.PENDING,
        started_at=fields["subscription_at"] if starts_now else None,
    )
    _save_unique(subscription, code_field="external_id")
    if starts_now:
        # A plan paid in advance is invoiced when the subscription starts, in this transaction.
        bill_subscription_start(subscription=subscription)
    return subscription, True


@transaction.atomic
def terminate_subscription(*, subscription: Subscription) -> Subscription:
    """End a subscription now: an active one is terminated, a pending one canceled."""
    subscription = Subscription.objects.select_for_update(of=("self",)).get(pk=subscription.pk)
    now = timezone.now()
    if subscription.status == SubscriptionStatus.ACTIVE:
        subscription.status = SubscriptionStatus.TERMINATED
        subscription.terminated_at = now
    elif subscription.status == SubscriptionStatus.PENDING:
        subscription.status = SubscriptionStatus.CANCELED
        subscription.canceled_at = now
    else:
        raise NotFound("subscription")
    subscription.save(update_fields=["status", "terminated_at", "canceled_at", "updated_at"])
    if subscription.status == SubscriptionStatus.TERMINATED:
        # Billed at once, in this transaction: what is due in arrears up to now.
        bill_termination(subscription=subscription, at=now)
    return subscription


def activate_due_subscriptions(*, now: datetime | None = None) -> int:
    """Start the pending subscriptions whose start has come; return how many were started."""
    now = now or timezone.now()
    started = 0
    for subscription_id in Subscription.objects.filter(
        status=SubscriptionStatus.PENDING, subscription_at__lte=now
    ).values_list("pk", flat=True):
        with transaction.atomic():
            subscription = Subscription.objects.select_for_update().get(pk=subscription_id)
            if subscription.status != SubscriptionStatus.PENDING:
                continue
            subscription.status = SubscriptionStatus.ACTIVE
            subscription.started_at = subscription.subscription_at
            subscription.save(update_fields=["status", "started_at", "updated_at"])
            bill_subscription_start(subscription=subscription)
            started += 1
    return started
