"""Reads shared by the staff pages and the API for coupons and applied coupons."""

from django.db.models import QuerySet

from billing.errors import NotFound
from billing.ids import as_uuid
from coupons.models import AppliedCoupon, Coupon
from customers.models import Customer
from customers.selectors import customers_named_by
from organizations.models import Organization


def list_coupons(*, organization: Organization, status: str | None = None) -> QuerySet[Coupon]:
    """Live (not deleted) coupons, newest first, with the plans and metrics they are limited to."""
    coupons = Coupon.objects.filter(organization=organization, deleted_at__isnull=True)
    if status:
        coupons = coupons.filter(status=status)
    return coupons.prefetch_related("plans", "billable_metrics").order_by("-created_at", "id")


def get_coupon(*, organization: Organization, code: str) -> Coupon:
    coupon = list_coupons(organization=organization).filter(code=code).first()
    if coupon is None:
        raise NotFound("coupon")
    return coupon


def get_coupon_by_id(*, organization: Organization, coupon_id) -> Coupon:
    coupon_id = as_uuid(coupon_id)
    coupon = list_coupons(organization=organization).filter(pk=coupon_id).first() if coupon_id else None
    if coupon is None:
        raise NotFound("coupon")
    return coupon


def applicable_coupons(*, organization: Organization) -> QuerySet[Coupon]:
    """The coupons staff may apply now (active, not deleted), by name."""
    return list_coupons(organization=organization, status="active").order_by("name", "code")


def _with_credits(queryset: QuerySet[AppliedCoupon]) -> QuerySet[AppliedCoupon]:
    """With the credits invoices took from each (`credits`, billing's rows, reached by name)."""
    return queryset.select_related("coupon", "customer").prefetch_related("credits__invoice")


def list_applied_coupons(
    *,
    organization: Organization,
    external_customer_id: str | None = None,
    status: str | None = None,
    coupon_codes: list[str] | None = None,
) -> QuerySet[AppliedCoupon]:
    """Applied coupons, newest first, each with the credits it gave invoices; `external_customer_id`
    as `customers_named_by` reads it (a deleted customer's stay listed by its id until a new
    customer takes it)."""
    applied = AppliedCoupon.objects.filter(organization=organization)
    if external_customer_id is not None:
        applied = applied.filter(
            customer__in=customers_named_by(organization=organization, external_id=external_customer_id)
        )
    if status:
        applied = applied.filter(status=status)
    if coupon_codes:
        applied = applied.filter(coupon__code__in=coupon_codes)
    return _with_credits(applied).order_by("-created_at", "id")


def customer_applied_coupons(*, customer: Customer) -> QuerySet[AppliedCoupon]:
    """A customer's applied coupons for its page: active ones first, then the newest."""
    return _with_credits(AppliedCoupon.objects.filter(customer=customer)).order_by("status", "-created_at", "id")


def get_applied_coupon(*, customer: Customer, applied_coupon_id) -> AppliedCoupon:
    applied_coupon_id = as_uuid(applied_coupon_id)
    applied = (
        _with_credits(AppliedCoupon.objects.filter(customer=customer, pk=applied_coupon_id)).first()
        if applied_coupon_id
        else None
    )
    if applied is None:
        raise NotFound("applied_coupon")
    return applied
