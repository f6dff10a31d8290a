"""Writes for coupons and their applications to customers.

How a coupon reduces an invoice is billing's (`invoicing.coupon_discounts`); it records what an
invoice took through `record_use` and gives it back through `give_back`, both here, so that the
rules about what is left of an applied coupon live in one place.
"""

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from billing.currencies import is_currency
from billing.errors import NotAllowed, NotFound, ValidationFailed
from billing.text import add_error, clean_text
from coupons.models import (
    AppliedCoupon,
    AppliedCouponStatus,
    Coupon,
    CouponExpiration,
    CouponFrequency,
    CouponStatus,
    CouponType,
)
from customers.models import Customer
from organizations.models import Organization
from plans.models import BillableMetric, Plan

MAX_AMOUNT_CENTS = 10**15
# The fields that stay editable once a coupon has been applied (Lago's Coupons::UpdateService).
EDITABLE_WHEN_APPLIED = frozenset({"name", "description", "expiration", "expiration_at"})
TERMS = ("coupon_type", "amount_cents", "amount_currency", "percentage_rate", "frequency", "frequency_duration")


# Coupons ------------------------------------------------------------------------------------


def _clean_amount(errors: dict, field: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        add_error(errors, field, "value_is_invalid")
    elif not 0 < value < MAX_AMOUNT_CENTS:
        add_error(errors, field, "value_is_out_of_range")
    return value


def _clean_rate(errors: dict, field: str, value: Any) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        add_error(errors, field, "value_is_invalid")
        return None
    rate = Decimal(value)
    if not Decimal(0) < rate <= Decimal(100) or rate != rate.quantize(Decimal("0.00001")):
        add_error(errors, field, "value_is_invalid")
    return rate


def _clean_duration(errors: dict, field: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 10_000:
        add_error(errors, field, "value_is_invalid")
    return value


def _check_terms(errors: dict, terms: dict[str, Any]) -> None:
    """The terms of a coupon or of its application fit together (Lago's validators)."""
    if terms.get("coupon_type") == CouponType.FIXED_AMOUNT:
        if terms.get("amount_cents") is None:
            add_error(errors, "amount_cents", "value_is_mandatory")
        currency = terms.get("amount_currency")
        if currency is None:
            add_error(errors, "amount_currency", "value_is_mandatory")
        elif not isinstance(currency, str) or not is_currency(currency):
            add_error(errors, "amount_currency", "value_is_invalid")
    elif terms.get("coupon_type") == CouponType.PERCENTAGE:
        if terms.get("percentage_rate") is None:
            add_error(errors, "percentage_rate", "value_is_mandatory")
    if terms.get("frequency") == CouponFrequency.RECURRING and terms.get("frequency_duration") is None:
        add_error(errors, "frequency_duration", "value_is_mandatory")


def _clean_coupon(data: dict[str, Any], current: Coupon | None) -> dict[str, Any]:
    """Every field of `data`, checked; on create (`current` None) the mandatory ones too."""
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    creating = current is None
    for field, required, limit in (("name", True, 255), ("code", True, 255), ("description", False, 10_000)):
        if field in data or (required and creating):
            value, error = clean_text(data.get(field), required=required, max_length=limit)
            add_error(errors, field, error)
            cleaned[field] = value
    for field, choices in (
        ("coupon_type", CouponType),
        ("frequency", CouponFrequency),
        ("expiration", CouponExpiration),
    ):
        if field in data or creating:
            value = data.get(field)
            if value is None:
                add_error(errors, field, "value_is_mandatory")
            elif value not in choices.values:
                add_error(errors, field, "value_is_invalid")
            cleaned[field] = value
    if "amount_cents" in data:
        cleaned["amount_cents"] = _clean_amount(errors, "amount_cents", data["amount_cents"])
    if "amount_currency" in data:
        cleaned["amount_currency"] = data["amount_currency"]
    if "percentage_rate" in data:
        cleaned["percentage_rate"] = _clean_rate(errors, "percentage_rate", data["percentage_rate"])
    if "frequency_duration" in data:
        cleaned["frequency_duration"] = _clean_duration(errors, "frequency_duration", data["frequency_duration"])
    if "expiration_at" in data:
        value = data["expiration_at"]
        if value is not None and not isinstance(value, datetime):
            add_error(errors, "expiration_at", "value_is_invalid")
        cleaned["expiration_at"] = value
    if "reusable" in data:
        if not isinstance(data["reusable"], bool):
            add_error(errors, "reusable", "value_is_invalid")
        cleaned["reusable"] = data["reusable"]
    for field in ("plan_codes", "billable_metric_codes"):
        if field in data and data[field] is not None:
            codes = data[field]
            if not isinstance(codes, list) or not all(isinstance(code, str) for code in codes):
                add_error(errors, "applies_to", "value_is_invalid")
            else:
                cleaned[field] = list(dict.fromkeys(codes))
    if cleaned.get("plan_codes") and cleaned.get("billable_metric_codes"):
        add_error(errors, "applies_to", "only_plans_or_billable_metrics")
    if errors:
        raise ValidationFailed(errors)

    merged = {field: getattr(current, field) for field in (*TERMS, "expiration", "expiration_at")} if current else {}
    merged.update(cleaned)
    _check_terms(errors, merged)
    if merged.get("expiration") == CouponExpiration.TIME_LIMIT:
        if merged.get("expiration_at") is None:
            add_error(errors, "expiration_at", "value_is_mandatory")
        elif "expiration_at" in cleaned and merged["expiration_at"] <= timezone.now():
            add_error(errors, "expiration_at", "invalid_date")
    if errors:
        raise ValidationFailed(errors)
    # A coupon of one type keeps no leftover of the other (so a percentage has no amount).
    if merged.get("coupon_type") == CouponType.PERCENTAGE:
        cleaned.update(amount_cents=None, amount_currency=None)
    elif merged.get("coupon_type") == CouponType.FIXED_AMOUNT:
        cleaned["percentage_rate"] = None
    if merged.get("frequency") != CouponFrequency.RECURRING:
        cleaned["frequency_duration"] = None
    if merged.get("expiration") == CouponExpiration.NO_EXPIRATION:
        cleaned["expiration_at"] = None
    return cleaned


def _limits(organization: Organization, cleaned: dict[str, Any]) -> tuple[list[Plan], list[BillableMetric]] | None:
    """The plans and metrics a coupon is limited to; None when `cleaned` does not say."""
    if "plan_codes" not in cleaned and "billable_metric_codes" not in cleaned:
        return None
    plan_codes = cleaned.get("plan_codes") or []
    metric_codes = cleaned.get("billable_metric_codes") or []
    plans = list(Plan.objects.filter(organization=organization, deleted_at__isnull=True, code__in=plan_codes))
    if len(plans) != len(plan_codes):
        raise NotFound("plans")
    metrics = list(
        BillableMetric.objects.filter(organization=organization, deleted_at__isnull=True, code__in=metric_codes)
    )
    if len(metrics) != len(metric_codes):
        raise NotFound("billable_metrics")
    return plans, metrics


def _save_coupon(coupon: Coupon) -> None:
    try:
        with transaction.atomic():
            coupon.save()
    except IntegrityError:
        raise ValidationFailed({"code": ["value_already_exist"]}) from None


def coupon_is_applied(coupon: Coupon) -> bool:
    """Once applied, a coupon's terms and limits are frozen: only its name, description and
    expiration can change. The one predicate behind the API's refusal and the form's locked fields."""
    return coupon.pk is not None and coupon.applications.exists()


@transaction.atomic
def create_coupon(*, organization: Organization, data: dict[str, Any]) -> Coupon:
    cleaned = _clean_coupon(data, None)
    limits = _limits(organization, cleaned)
    fields = {key: value for key, value in cleaned.items() if key not in ("plan_codes", "billable_metric_codes")}
    coupon = Coupon(organization=organization, **fields)
    if limits:
        coupon.limited_plans, coupon.limited_billable_metrics = bool(limits[0]), bool(limits[1])
    _save_coupon(coupon)
    if limits:
        coupon.plans.set(limits[0])
        coupon.billable_metrics.set(limits[1])
    return coupon


@transaction.atomic
def update_coupon(*, coupon: Coupon, data: dict[str, Any]) -> Coupon:
    """Change a coupon. Once applied, changing anything but the name, description or expiration is
    refused (`coupon_is_applied`) rather than silently ignored, so a caller never believes a change
    took effect."""
    coupon = Coupon.objects.select_for_update().get(pk=coupon.pk)
    if coupon.status == CouponStatus.TERMINATED:
        raise NotAllowed("coupon_is_terminated")
    cleaned = _clean_coupon(data, coupon)
    if coupon_is_applied(coupon):
        current_plans = sorted(coupon.plans.values_list("code", flat=True))
        current_metrics = sorted(coupon.billable_metrics.values_list("code", flat=True))
        changed = [
            field
            for field, value in cleaned.items()
            if field not in EDITABLE_WHEN_APPLIED
            and (
                (field == "plan_codes" and sorted(value) != current_plans)
                or (field == "billable_metric_codes" and sorted(value) != current_metrics)
                or (field not in ("plan_codes", "billable_metric_codes") and getattr(coupon, field) != value)
            )
        ]
        if changed:
            raise ValidationFailed({field: ["coupon_is_applied"] for field in changed})
        cleaned = {field: value for field, value in cleaned.items() if field in EDITABLE_WHEN_APPLIED}
    limits = _limits(coupon.organization, cleaned)
    for field, value in cleaned.items():
        if field not in ("plan_codes", "billable_metric_codes"):
            setattr(coupon, field, value)
    if limits is not None:
        coupon.limited_plans, coupon.limited_billable_metrics = bool(limits[0]), bool(limits[1])
    _save_coupon(coupon)
    if limits is not None:
        coupon.plans.set(limits[0])
        coupon.billable_metrics.set(limits[1])
    return coupon


@transaction.atomic
def terminate_coupon(*, coupon: Coupon, at: datetime | None = None) -> Coupon:
    """No customer can receive the coupon any more; applications already made keep working.
    Idempotent."""
    coupon = Coupon.objects.select_for_update().get(pk=coupon.pk)
    if coupon.status != CouponStatus.TERMINATED:
        coupon.status = CouponStatus.TERMINATED
        coupon.terminated_at = at or timezone.now()
        coupon.save(update_fields=["status", "terminated_at", "updated_at"])
    return coupon


@transaction.atomic
def delete_coupon(*, coupon: Coupon) -> Coupon:
    """Terminate the coupon and every active application of it, and free its code (Lago's
    Coupons::DestroyService)."""
    coupon = terminate_coupon(coupon=coupon)
    moment = timezone.now()
    if coupon.deleted_at is None:
        coupon.deleted_at = moment
        coupon.save(update_fields=["deleted_at", "updated_at"])
    for applied_coupon in coupon.applications.filter(status=AppliedCouponStatus.ACTIVE):
        terminate_applied_coupon(applied_coupon=applied_coupon, at=moment)
    return coupon


def terminate_expired_coupons(*, at: datetime | None = None) -> int:
    """The clock: coupons past their expiration can no longer be applied. Returns how many ended."""
    at = at or timezone.now()
    ended = 0
    expired = Coupon.objects.filter(
        status=CouponStatus.ACTIVE, expiration=CouponExpiration.TIME_LIMIT, expiration_at__lte=at
    )
    for coupon in expired:
        terminate_coupon(coupon=coupon, at=coupon.expiration_at)
        ended += 1
    return ended


# Applied coupons ----------------------------------------------------------------------------


def _limited_to(coupon: Coupon) -> tuple[set, set]:
    return set(coupon.plans.values_list("pk", flat=True)), set(coupon.billable_metrics.values_list("pk", flat=True))


def _overlaps(customer: Customer, coupon: Coupon) -> bool:
    """Whether a limited coupon covers a plan or metric that another active limited coupon of the
    customer already covers (Lago's `plan_overlapping`)."""
    plans, metrics = _limited_to(coupon)
    if not plans and not metrics:
        return False
    others = Coupon.objects.filter(
        applications__customer=customer, applications__status=AppliedCouponStatus.ACTIVE
    ).exclude(pk=coupon.pk)
    return others.filter(Q(plans__in=plans) | Q(billable_metrics__in=metrics)).exists()


def _application_terms(coupon: Coupon, overrides: dict[str, Any]) -> dict[str, Any]:
    """The coupon's terms, with what staff or the API chose to override when applying it."""
    errors: dict[str, list[str]] = {}
    terms = {field: getattr(coupon, field) for field in TERMS}
    given = {field: value for field, value in overrides.items() if value is not None}
    unknown = set(given) - set(TERMS[1:])
    for field in unknown:
        add_error(errors, field, "value_is_invalid")
    if "amount_cents" in given:
        terms["amount_cents"] = _clean_amount(errors, "amount_cents", given["amount_cents"])
    if "amount_currency" in given:
        terms["amount_currency"] = given["amount_currency"]
    if "percentage_rate" in given:
        terms["percentage_rate"] = _clean_rate(errors, "percentage_rate", given["percentage_rate"])
    if "frequency" in given:
        if given["frequency"] not in CouponFrequency.values:
            add_error(errors, "frequency", "value_is_invalid")
        terms["frequency"] = given["frequency"]
    if "frequency_duration" in given:
        terms["frequency_duration"] = _clean_duration(errors, "frequency_duration", given["frequency_duration"])
    if terms["coupon_type"] == CouponType.FIXED_AMOUNT and "percentage_rate" in given:
        add_error(errors, "percentage_rate", "value_is_invalid")
    if terms["coupon_type"] == CouponType.PERCENTAGE:
        for field in ("amount_cents", "amount_currency"):
            if field in given:
                add_error(errors, field, "value_is_invalid")
    if not errors:
        _check_terms(errors, terms)
    if errors:
        raise ValidationFailed(errors)
    if terms["frequency"] != CouponFrequency.RECURRING:
        terms["frequency_duration"] = None
    return terms


@transaction.atomic
def apply_coupon(
    *, customer: Customer, coupon: Coupon, overrides: dict[str, Any] | None = None, at: datetime | None = None
) -> AppliedCoupon:
    """Give a coupon to a customer, on the coupon's terms or on overridden ones.

    Refused as in Lago: a terminated or deleted coupon (404 `coupon_not_found`), a non-reusable
    coupon the customer has ever had, a limited coupon overlapping another active limited coupon
    of the customer. Ours: a fixed amount in another currency than the customer's is refused here
    rather than skipped at billing; a customer without a currency takes the coupon's.
    """
    customer = Customer.objects.select_for_update(no_key=True).get(pk=customer.pk)  # one application at a time
    if customer.deleted_at is not None:
        raise NotFound("customer")
    if coupon.status != CouponStatus.ACTIVE or coupon.deleted_at is not None:
        raise NotFound("coupon")
    terms = _application_terms(coupon, overrides or {})
    if not coupon.reusable and AppliedCoupon.objects.filter(customer=customer, coupon=coupon).exists():
        raise ValidationFailed({"coupon": ["coupon_is_not_reusable"]})
    if _overlaps(customer, coupon):
        raise NotAllowed("plan_overlapping")
    if terms["coupon_type"] == CouponType.FIXED_AMOUNT:
        if customer.currency is None:
            customer.currency = terms["amount_currency"]
            customer.save(update_fields=["currency", "updated_at"])
        elif customer.currency != terms["amount_currency"]:
            raise ValidationFailed({"amount_currency": ["currencies_does_not_match"]})
    once_fixed = terms["coupon_type"] == CouponType.FIXED_AMOUNT and terms["frequency"] == CouponFrequency.ONCE
    return AppliedCoupon.objects.create(
        organization=customer.organization,
        coupon=coupon,
        customer=customer,
        amount_cents=terms["amount_cents"],
        amount_cents_remaining=terms["amount_cents"] if once_fixed else None,
        amount_currency=terms["amount_currency"],
        percentage_rate=terms["percentage_rate"],
        frequency=terms["frequency"],
        frequency_duration=terms["frequency_duration"],
        frequency_duration_remaining=terms["frequency_duration"],
        created_at=at or timezone.now(),
    )


@transaction.atomic
def terminate_applied_coupon(*, applied_coupon: AppliedCoupon, at: datetime | None = None) -> AppliedCoupon:
    """The customer's coupon stops reducing invoices. Idempotent."""
    applied_coupon = AppliedCoupon.objects.select_for_update().get(pk=applied_coupon.pk)
    if applied_coupon.status != AppliedCouponStatus.TERMINATED:
        applied_coupon.status = AppliedCouponStatus.TERMINATED
        applied_coupon.terminated_at = at or timezone.now()
        applied_coupon.save(update_fields=["status", "terminated_at", "updated_at"])
    return applied_coupon


# What invoices take and give back (called by billing, in the finalization's transaction) ------


def lock_active_applied_coupons(*, customer_id) -> list[AppliedCoupon]:
    """The customer's active applied coupons, oldest first, locked until the caller's transaction
    ends: two invoices of one customer finalized at once take turns, so nothing is used twice."""
    return list(
        AppliedCoupon.objects.select_for_update(of=("self",))
        .filter(customer_id=customer_id, status=AppliedCouponStatus.ACTIVE)
        .select_related("coupon")
        .order_by("created_at", "id")
    )


def record_use(*, applied_coupon: AppliedCoupon, amount_cents: int, new_period: bool, at: datetime) -> None:
    """An invoice took `amount_cents` of a locked applied coupon; `new_period` when it is the first
    invoice of a billing period the coupon reduces. A `once` fixed coupon ends when used up (a
    `once` percentage after its one invoice); a recurring one keeps reducing the invoices of its
    last period and ends when the next begins."""
    fields = ["updated_at"]
    used_up = applied_coupon.frequency == CouponFrequency.ONCE
    if applied_coupon.amount_cents_remaining is not None:
        applied_coupon.amount_cents_remaining -= amount_cents
        fields.append("amount_cents_remaining")
        used_up = applied_coupon.amount_cents_remaining == 0
    if used_up:
        applied_coupon.status = AppliedCouponStatus.TERMINATED
        applied_coupon.terminated_at = at
        fields += ["status", "terminated_at"]
    if new_period and applied_coupon.frequency_duration_remaining is not None:
        applied_coupon.frequency_duration_remaining -= 1
        fields.append("frequency_duration_remaining")
    if len(fields) > 1:  # a forever coupon has nothing to count: no write
        applied_coupon.save(update_fields=fields)


def end_used_up(*, applied_coupon: AppliedCoupon, at: datetime) -> None:
    """A recurring coupon with no period left meets an invoice of a new period: it is over."""
    applied_coupon.status = AppliedCouponStatus.TERMINATED
    applied_coupon.terminated_at = at
    applied_coupon.save(update_fields=["status", "terminated_at", "updated_at"])


def give_back(*, applied_coupon_id, amount_cents: int, period_returned: bool) -> AppliedCoupon:
    """A voided invoice returns what it took: a `once` coupon its amount, a recurring coupon its
    period (when no other invoice of that period used it). A coupon that had ended only because it
    was used up is active again, if its coupon still is."""
    applied_coupon = AppliedCoupon.objects.select_for_update().select_related("coupon").get(pk=applied_coupon_id)
    fields = ["updated_at"]
    used_up = applied_coupon.frequency == CouponFrequency.ONCE
    if applied_coupon.amount_cents_remaining is not None:
        used_up = applied_coupon.amount_cents_remaining == 0
        applied_coupon.amount_cents_remaining += amount_cents
        fields.append("amount_cents_remaining")
    if period_returned and applied_coupon.frequency_duration_remaining is not None:
        used_up = applied_coupon.frequency_duration_remaining == 0
        applied_coupon.frequency_duration_remaining += 1
        fields.append("frequency_duration_remaining")
    coupon = applied_coupon.coupon
    if (
        used_up
        and applied_coupon.status == AppliedCouponStatus.TERMINATED
        and coupon.status == CouponStatus.ACTIVE
        and coupon.deleted_at is None
    ):
        applied_coupon.status = AppliedCouponStatus.ACTIVE
        applied_coupon.terminated_at = None
        fields += ["status", "terminated_at"]
    applied_coupon.save(update_fields=fields)
    return applied_coupon
