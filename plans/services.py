"""Writes for the catalogue: billable metrics, plans and their charges. Subscriptions, which bill, are
the lifecycle's (`invoicing.subscriptions`)."""

import uuid
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.currencies import is_currency
from billing.errors import NotAllowed, NotFound, ValidationFailed
from billing.text import add_error, clean_text
from organizations.models import Organization
from plans.charge_models import CHARGE_MODELS, validate_properties
from plans.models import (
    AGGREGATIONS_WITH_FIELD,
    LIVE_SUBSCRIPTION_STATUSES,
    AddOn,
    AggregationType,
    BillableMetric,
    Charge,
    Plan,
    PlanInterval,
)

CODE_MAX_LENGTH = 255


# Billable metrics ---------------------------------------------------------------------------


def _clean_metric(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for field, required in (("code", True), ("name", True), ("description", False), ("field_name", False)):
        if field in data or (required and not partial):
            value, error = clean_text(
                data.get(field), required=required, max_length=CODE_MAX_LENGTH if field != "description" else 10_000
            )
            add_error(errors, field, error)
            cleaned[field] = value
    if "aggregation_type" in data or not partial:
        aggregation = data.get("aggregation_type")
        if aggregation not in AggregationType.values:
            add_error(errors, "aggregation_type", "value_is_invalid")
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


# What `metric_is_locked` and `plan_is_locked` fix (the staff forms show these fields locked).
LOCKED_METRIC_FIELDS = ("code", "aggregation_type", "field_name")
LOCKED_PLAN_FIELDS = ("interval", "amount_currency")


def metric_is_locked(metric: BillableMetric) -> bool:
    """Whether the code, aggregation and field of a metric are fixed: a live plan prices it, or
    events were already counted under it (changing them would rewrite past usage). The staff form
    asks the same question before it offers those fields."""
    # Usage rollups reference metrics from the events app above; asked through the reverse relation.
    return _metric_charged(metric) or metric.usagerollup_set.exists()


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
    locked = metric_is_locked(metric)
    for field in LOCKED_METRIC_FIELDS:
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


def _clean_priced_item(
    data: dict[str, Any], *, partial: bool, errors: dict[str, list[str]], missing_currency: str = "value_is_invalid"
) -> dict[str, Any]:
    """The fields a plan and an add-on share: code, names, description, a price and its currency."""
    cleaned: dict[str, Any] = {}
    for field, required in (("code", True), ("name", True), ("invoice_display_name", False), ("description", False)):
        if field in data or (required and not partial):
            value, error = clean_text(
                data.get(field), required=required, max_length=255 if field != "description" else 10_000
            )
            add_error(errors, field, error)
            cleaned[field] = value
    if "amount_cents" in data or not partial:
        amount = data.get("amount_cents")
        if isinstance(amount, bool) or not isinstance(amount, int):
            add_error(errors, "amount_cents", "value_is_mandatory" if amount is None else "value_is_invalid")
        elif not 0 <= amount < 10**15:
            add_error(errors, "amount_cents", "value_is_out_of_range")
        cleaned["amount_cents"] = amount
    if "amount_currency" in data or not partial:
        currency = data.get("amount_currency")
        if currency is None:
            add_error(errors, "amount_currency", missing_currency)
        elif not isinstance(currency, str) or not is_currency(currency):
            add_error(errors, "amount_currency", "value_is_invalid")
        cleaned["amount_currency"] = currency
    return cleaned


def _clean_plan(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    cleaned = _clean_priced_item(data, partial=partial, errors=errors)
    if "interval" in data or not partial:
        if data.get("interval") not in PlanInterval.values:
            add_error(errors, "interval", "value_is_invalid")
        cleaned["interval"] = data.get("interval")
    if "pay_in_advance" in data:
        if not isinstance(data["pay_in_advance"], bool):
            add_error(errors, "pay_in_advance", "value_is_invalid")
        cleaned["pay_in_advance"] = data["pay_in_advance"]
    if "trial_period" in data:
        trial = data["trial_period"]
        trial = 0 if trial is None else trial
        if isinstance(trial, Decimal) and trial == trial.to_integral_value():
            trial = int(trial)
        if isinstance(trial, bool) or not isinstance(trial, int) or not 0 <= trial <= 3650:
            add_error(errors, "trial_period", "value_is_invalid")
        cleaned["trial_period"] = trial
    if errors:
        raise ValidationFailed(errors)
    return cleaned


def charge_model_fits_metric(charge_model: str, metric: BillableMetric) -> bool:
    """Whether the charge model can price the metric: a percentage of the latest value of a property
    means nothing. The staff form asks the same question on each charge row."""
    return not (charge_model == "percentage" and metric.aggregation_type == AggregationType.LATEST)


def plan_is_locked(plan: Plan) -> bool:
    """Whether the interval and currency of a plan are fixed: it has subscriptions (even ended ones),
    whose billing periods and invoices were computed with them. The staff form asks the same question
    before it offers those fields."""
    return plan.subscriptions.exists()


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
            add_error(errors, "charge_model", "value_is_invalid")
            continue
        metric = metrics[str(item["billable_metric_id"])]
        if not charge_model_fits_metric(charge_model, metric):
            add_error(errors, "charge_model", "invalid_aggregation_type_or_charge_model")
            continue
        properties, property_errors = validate_properties(charge_model, item.get("properties"))
        for field, codes in property_errors.items():
            for code in codes:
                add_error(errors, field, code)
        display, error = clean_text(item.get("invoice_display_name"), required=False)
        add_error(errors, "invoice_display_name", error)
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
    locked = plan_is_locked(plan)
    for field in LOCKED_PLAN_FIELDS:
        if locked and field in fields and fields[field] != getattr(plan, field):
            raise ValidationFailed({field: ["value_is_not_editable"]})
    charges = _clean_charges(plan.organization, data["charges"] or []) if "charges" in data else None
    for field, value in fields.items():
        setattr(plan, field, value)
    _save_unique(plan)
    if charges is not None:
        _replace_charges(plan, charges)
    return plan


@transaction.atomic
def retire_plan(*, plan: Plan) -> Plan:
    """Soft-delete a plan and its charges. Its live subscriptions are ended first by the lifecycle
    (`invoicing.subscriptions.delete_plan`); one still live refuses the deletion."""
    if plan.subscriptions.filter(status__in=LIVE_SUBSCRIPTION_STATUSES).exists():
        raise NotAllowed("plan_has_live_subscriptions")
    now = timezone.now()
    plan.charges.filter(deleted_at__isnull=True).update(deleted_at=now)
    plan.deleted_at = now
    plan.save(update_fields=["deleted_at", "updated_at"])
    return plan


# Add-ons ------------------------------------------------------------------------------------


def _clean_add_on(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    cleaned = _clean_priced_item(data, partial=partial, errors=errors, missing_currency="value_is_mandatory")
    if errors:
        raise ValidationFailed(errors)
    return cleaned


def create_add_on(*, organization: Organization, data: dict[str, Any]) -> AddOn:
    add_on = AddOn(organization=organization, **_clean_add_on(data, partial=False))
    _save_unique(add_on)
    return add_on


def update_add_on(*, add_on: AddOn, data: dict[str, Any]) -> AddOn:
    """Change an add-on. Invoices already issued keep their fees: a fee copies its amount."""
    for field, value in _clean_add_on(data, partial=True).items():
        setattr(add_on, field, value)
    _save_unique(add_on)
    return add_on


def delete_add_on(*, add_on: AddOn) -> AddOn:
    """Soft-delete (Lago's): its code is free again, issued invoices keep pointing at it."""
    if add_on.deleted_at is None:
        add_on.deleted_at = timezone.now()
        add_on.save(update_fields=["deleted_at", "updated_at"])
    return add_on
