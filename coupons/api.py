"""Lago's v1 endpoints for coupons and applied coupons (reference/lago-api.md §2.6).

Bodies are read by billing.api.input.read_input; every rule (terms that fit together, a coupon that
can no longer be applied, overlapping limits, currencies) is `coupons.services`'. Each object has
one writer, used wherever it appears (here, in invoices, in webhooks): `coupon_payload`,
`applied_coupon_payload` and `coupon_credit_payload`. The serializers only document them in the
OpenAPI schema; the tests hold the writers to them.
"""

import uuid
from datetime import UTC, datetime
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from billing.api.fields import DATETIME_FORMAT
from billing.api.input import Choice, DateTime, Integer, LagoInput, Number, read_input
from billing.api.pagination import paginate
from billing.api.schema import EXTERNAL_CUSTOMER_ID_FILTER, PAGINATION_PARAMETERS, PaginationMeta, errors
from billing.api.views import LagoApiView
from billing.errors import NotFound, ValidationFailed
from coupons.models import (
    AppliedCoupon,
    AppliedCouponStatus,
    Coupon,
    CouponExpiration,
    CouponFrequency,
    CouponType,
)
from coupons.selectors import get_applied_coupon, get_coupon, list_applied_coupons, list_coupons
from coupons.services import (
    apply_coupon,
    create_coupon,
    delete_coupon,
    terminate_applied_coupon,
    update_coupon,
)
from customers.selectors import get_customer_by_external_id
from invoicing.api import decimal_string
from organizations.models import Organization

# The terms a caller may override when applying a coupon (Lago's AppliedCoupons::CreateService).
OVERRIDES = ("amount_cents", "amount_currency", "percentage_rate", "frequency", "frequency_duration")


def _timestamp(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime(DATETIME_FORMAT) if value is not None else None


def _rate(value) -> str | None:
    """Lago stores the rate as a decimal and Rails writes decimals as strings ("12.5"); Lago's Python
    client reads the string into its float field (getlago/lago-go-client#83 documents the string)."""
    return decimal_string(value) if value is not None else None


# Output ---------------------------------------------------------------------------------------


def coupon_payload(coupon: Coupon) -> dict[str, Any]:
    """Lago's coupon object (`V1::CouponSerializer`). Reads `coupon.plans` and
    `coupon.billable_metrics`: prefetched by the selectors, or one query each."""
    plan_codes = sorted(plan.code for plan in coupon.plans.all())
    metric_codes = sorted(metric.code for metric in coupon.billable_metrics.all())
    return {
        "lago_id": str(coupon.pk),
        "name": coupon.name,
        "code": coupon.code,
        "description": coupon.description,
        "coupon_type": coupon.coupon_type,
        "amount_cents": coupon.amount_cents,
        "amount_currency": coupon.amount_currency,
        "percentage_rate": _rate(coupon.percentage_rate),
        "frequency": coupon.frequency,
        "frequency_duration": coupon.frequency_duration,
        "reusable": coupon.reusable,
        "limited_plans": bool(plan_codes),
        "limited_billable_metrics": bool(metric_codes),
        "plan_codes": plan_codes,
        "billable_metric_codes": metric_codes,
        "created_at": _timestamp(coupon.created_at),
        "expiration": coupon.expiration,
        "expiration_at": _timestamp(coupon.expiration_at),
        "terminated_at": _timestamp(coupon.terminated_at),
    }


def coupon_credit_payload(credit, *, coupon: Coupon, invoice) -> dict[str, Any]:
    """What an applied coupon took off one invoice: Lago's credit object of type coupon, in an
    applied coupon's `credits` and an invoice's. `credit` is an `invoicing.models.CouponCredit`;
    the amount is in the invoice's currency. Coupons reduce the subtotal, before taxes."""
    return {
        "lago_id": str(credit.pk),
        "amount_cents": credit.amount_cents,
        "amount_currency": invoice.currency,
        "before_taxes": True,
        "item": {
            "lago_item_id": str(coupon.pk),
            "type": "coupon",
            "code": coupon.code,
            "name": coupon.name,
            "description": coupon.description,
        },
        "invoice": {"lago_id": str(invoice.pk), "payment_status": invoice.payment_status},
    }


def applied_coupon_payload(applied: AppliedCoupon, *, credits: bool = False) -> dict[str, Any]:
    """Lago's applied coupon object (`V1::AppliedCouponSerializer`); with `credits` (as Lago's lists
    show it) each credit an invoice took, read from `applied.credits` with their invoices."""
    coupon = applied.coupon
    customer = applied.customer
    payload = {
        "lago_id": str(applied.pk),
        "lago_coupon_id": str(coupon.pk),
        "coupon_code": coupon.code,
        "coupon_name": coupon.name,
        "coupon_description": coupon.description,
        "coupon_status": coupon.status,
        "coupon_deleted_at": _timestamp(coupon.deleted_at),
        "lago_customer_id": str(customer.pk),
        "external_customer_id": customer.external_id,
        "status": applied.status,
        "amount_cents": applied.amount_cents,
        # Set for a `once` fixed amount only; null otherwise, as Lago shows it.
        "amount_cents_remaining": applied.amount_cents_remaining,
        "amount_currency": applied.amount_currency,
        "percentage_rate": _rate(applied.percentage_rate),
        "frequency": applied.frequency,
        "frequency_duration": applied.frequency_duration,
        "frequency_duration_remaining": applied.frequency_duration_remaining,
        "expiration_at": _timestamp(coupon.expiration_at),
        "created_at": _timestamp(applied.created_at),
        "terminated_at": _timestamp(applied.terminated_at),
    }
    if credits:
        payload["credits"] = [
            coupon_credit_payload(credit, coupon=coupon, invoice=credit.invoice) for credit in applied.credits.all()
        ]
    return payload


# Document the writers above; a test holds them to each other. (Comments rather than docstrings:
# drf-spectacular publishes a docstring as the schema's description.)
class CouponOutput(serializers.Serializer):
    lago_id = serializers.UUIDField()
    name = serializers.CharField()
    code = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    coupon_type = serializers.ChoiceField(choices=CouponType.values)
    amount_cents = serializers.IntegerField(allow_null=True)
    amount_currency = serializers.CharField(allow_null=True)
    percentage_rate = serializers.CharField(allow_null=True, help_text='A decimal string, as Lago writes it: "12.5".')
    frequency = serializers.ChoiceField(choices=CouponFrequency.values)
    frequency_duration = serializers.IntegerField(allow_null=True)
    reusable = serializers.BooleanField()
    limited_plans = serializers.BooleanField()
    limited_billable_metrics = serializers.BooleanField()
    plan_codes = serializers.ListField(child=serializers.CharField())
    billable_metric_codes = serializers.ListField(child=serializers.CharField())
    created_at = serializers.CharField()
    expiration = serializers.ChoiceField(choices=CouponExpiration.values)
    expiration_at = serializers.CharField(allow_null=True)
    terminated_at = serializers.CharField(allow_null=True)


class CreditItemOutput(serializers.Serializer):
    lago_item_id = serializers.UUIDField()
    type = serializers.CharField()
    code = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField(allow_null=True)


class CreditInvoiceOutput(serializers.Serializer):
    lago_id = serializers.UUIDField()
    payment_status = serializers.CharField()


class CreditOutput(serializers.Serializer):
    lago_id = serializers.UUIDField()
    amount_cents = serializers.IntegerField()
    amount_currency = serializers.CharField()
    before_taxes = serializers.BooleanField()
    item = CreditItemOutput()
    invoice = CreditInvoiceOutput()


class AppliedCouponOutput(serializers.Serializer):
    lago_id = serializers.UUIDField()
    lago_coupon_id = serializers.UUIDField()
    coupon_code = serializers.CharField()
    coupon_name = serializers.CharField()
    coupon_description = serializers.CharField(allow_null=True)
    coupon_status = serializers.CharField()
    coupon_deleted_at = serializers.CharField(allow_null=True)
    lago_customer_id = serializers.UUIDField()
    external_customer_id = serializers.CharField()
    status = serializers.CharField(help_text="active or terminated")
    amount_cents = serializers.IntegerField(allow_null=True)
    amount_cents_remaining = serializers.IntegerField(allow_null=True)
    amount_currency = serializers.CharField(allow_null=True)
    percentage_rate = serializers.CharField(allow_null=True, help_text='A decimal string, as Lago writes it: "12.5".')
    frequency = serializers.ChoiceField(choices=CouponFrequency.values)
    frequency_duration = serializers.IntegerField(allow_null=True)
    frequency_duration_remaining = serializers.IntegerField(allow_null=True)
    expiration_at = serializers.CharField(allow_null=True)
    created_at = serializers.CharField()
    terminated_at = serializers.CharField(allow_null=True)


class AppliedCouponWithCreditsOutput(AppliedCouponOutput):
    credits = CreditOutput(many=True)


# Input ----------------------------------------------------------------------------------------


def _text(**kwargs) -> serializers.CharField:
    return serializers.CharField(required=False, allow_null=True, allow_blank=True, **kwargs)


class AppliesToInput(LagoInput):
    plan_codes = serializers.ListField(child=serializers.CharField(), required=False, allow_null=True)
    billable_metric_codes = serializers.ListField(child=serializers.CharField(), required=False, allow_null=True)


class CouponInput(LagoInput):
    name = _text()
    code = _text()
    description = _text()
    coupon_type = Choice(choices=CouponType.values, required=False, allow_null=True)
    amount_cents = Integer(required=False, allow_null=True)
    amount_currency = _text()
    percentage_rate = Number(required=False, allow_null=True)
    frequency = Choice(choices=CouponFrequency.values, required=False, allow_null=True)
    frequency_duration = Integer(required=False, allow_null=True)
    expiration = Choice(choices=CouponExpiration.values, required=False, allow_null=True)
    expiration_at = DateTime(required=False, allow_null=True)
    reusable = serializers.BooleanField(required=False, allow_null=True)
    # Limits the coupon to plans or to billable metrics; replaces the limits when sent.
    applies_to = AppliesToInput(required=False, allow_null=True)


class AppliedCouponInput(LagoInput):
    # Both name rows the view looks up: absent or unknown, they are Lago's 404s.
    external_customer_id = _text()
    coupon_code = _text()
    amount_cents = Integer(required=False, allow_null=True)
    amount_currency = _text()
    percentage_rate = Number(required=False, allow_null=True)
    frequency = Choice(choices=CouponFrequency.values, required=False, allow_null=True)
    frequency_duration = Integer(required=False, allow_null=True)


def _coupon_data(payload: dict) -> dict[str, Any]:
    """The body under `coupon`, in the service's terms: `applies_to` flattened to `plan_codes` and
    `billable_metric_codes`, as sent (an absent key keeps the current limits)."""
    data = read_input(payload, CouponInput)
    applies_to = data.pop("applies_to", None) or {}
    for key in ("plan_codes", "billable_metric_codes"):
        if key in applies_to:
            data[key] = applies_to[key]
    if data.get("expiration_at") is not None:
        try:
            # An offset that pushes the date past year 9999 (or before year 1) in UTC cannot be stored.
            data["expiration_at"] = data["expiration_at"].astimezone(UTC)
        except OverflowError:
            raise ValidationFailed({"expiration_at": ["invalid_date"]}) from None
    return data


CouponEnvelope = inline_serializer("CouponEnvelope", {"coupon": CouponOutput()})
CouponBody = inline_serializer("CouponBody", {"coupon": CouponInput()})
CouponListEnvelope = inline_serializer(
    "CouponListEnvelope", {"coupons": CouponOutput(many=True), "meta": PaginationMeta()}
)
AppliedCouponEnvelope = inline_serializer("AppliedCouponEnvelope", {"applied_coupon": AppliedCouponOutput()})
AppliedCouponBody = inline_serializer("AppliedCouponBody", {"applied_coupon": AppliedCouponInput()})
AppliedCouponListEnvelope = inline_serializer(
    "AppliedCouponListEnvelope",
    {"applied_coupons": AppliedCouponWithCreditsOutput(many=True), "meta": PaginationMeta()},
)
APPLIED_COUPON_FILTERS = [
    OpenApiParameter("status", str, enum=AppliedCouponStatus.values),
    OpenApiParameter("coupon_code[]", str, many=True, description="Only the applications of these coupons."),
]


def _coupon_response(coupon: Coupon) -> Response:
    return Response({"coupon": coupon_payload(coupon)})


def _applied_coupons_page(request: Request, organization: Organization, external_customer_id: str | None) -> Response:
    """One page of applied coupons, each with its credits, filtered as Lago's index filters them."""
    params = request.query_params
    status = params.get("status") or None
    if status is not None and status not in AppliedCouponStatus.values:
        raise ValidationFailed({"status": ["value_is_invalid"]})
    codes = [code for key in ("coupon_code", "coupon_code[]") for code in params.getlist(key) if code != ""]
    # PostgreSQL text cannot hold NUL (the view's own check sees only the last value of a list).
    if any("\x00" in code for code in codes):
        raise ValidationFailed({"coupon_code": ["value_is_invalid"]})
    queryset = list_applied_coupons(
        organization=organization,
        external_customer_id=external_customer_id,
        status=status,
        coupon_codes=codes or None,
    )
    page = paginate(queryset, params)
    return Response(
        {"applied_coupons": [applied_coupon_payload(item, credits=True) for item in page.items], "meta": page.meta}
    )


# Views: coupons -------------------------------------------------------------------------------


class CouponsApi(LagoApiView):
    @extend_schema(
        operation_id="list_coupons",
        parameters=PAGINATION_PARAMETERS,
        responses={200: CouponListEnvelope, **errors(401, 422)},
    )
    def get(self, request):
        page = paginate(list_coupons(organization=self.organization), request.query_params)
        return Response({"coupons": [coupon_payload(coupon) for coupon in page.items], "meta": page.meta})

    @extend_schema(
        operation_id="create_coupon",
        request=CouponBody,
        responses={200: CouponEnvelope, **errors(400, 401, 404, 422)},
    )
    def post(self, request):
        data = _coupon_data(self.root_payload("coupon"))
        return _coupon_response(create_coupon(organization=self.organization, data=data))


class CouponApi(LagoApiView):
    resource = "coupon"

    @extend_schema(operation_id="get_coupon", responses={200: CouponEnvelope, **errors(401, 404)})
    def get(self, request, code: str):
        return _coupon_response(get_coupon(organization=self.organization, code=code))

    @extend_schema(
        operation_id="update_coupon",
        description="Once the coupon is applied, only its name, description and expiration may change.",
        request=CouponBody,
        responses={200: CouponEnvelope, **errors(400, 401, 404, 405, 422)},
    )
    def put(self, request, code: str):
        coupon = get_coupon(organization=self.organization, code=code)
        data = _coupon_data(self.root_payload("coupon"))
        return _coupon_response(update_coupon(coupon=coupon, data=data))

    @extend_schema(
        operation_id="delete_coupon",
        description="Deletes the coupon and terminates every active application of it.",
        responses={200: CouponEnvelope, **errors(401, 404)},
    )
    def delete(self, request, code: str):
        coupon = get_coupon(organization=self.organization, code=code)
        return _coupon_response(delete_coupon(coupon=coupon))


# Views: applied coupons -----------------------------------------------------------------------


class AppliedCouponsApi(LagoApiView):
    @extend_schema(
        operation_id="list_applied_coupons",
        parameters=[
            *PAGINATION_PARAMETERS,
            EXTERNAL_CUSTOMER_ID_FILTER,
            *APPLIED_COUPON_FILTERS,
        ],
        responses={200: AppliedCouponListEnvelope, **errors(401, 422)},
    )
    def get(self, request):
        external_customer_id = request.query_params.get("external_customer_id") or None
        return _applied_coupons_page(request, self.organization, external_customer_id)

    @extend_schema(
        operation_id="apply_coupon",
        request=AppliedCouponBody,
        responses={200: AppliedCouponEnvelope, **errors(400, 401, 404, 405, 422)},
    )
    def post(self, request):
        data = read_input(self.root_payload("applied_coupon"), AppliedCouponInput)
        # Lago looks the customer up first, then the coupon: each missing one is its own 404.
        external_customer_id = data.get("external_customer_id")
        if not external_customer_id:
            raise NotFound("customer")
        customer = get_customer_by_external_id(organization=self.organization, external_id=external_customer_id)
        coupon_code = data.get("coupon_code")
        if not coupon_code:
            raise NotFound("coupon")
        coupon = get_coupon(organization=self.organization, code=coupon_code)
        overrides = {field: data[field] for field in OVERRIDES if field in data}
        applied = apply_coupon(customer=customer, coupon=coupon, overrides=overrides)
        return Response({"applied_coupon": applied_coupon_payload(applied)})


class CustomerAppliedCouponsApi(LagoApiView):
    resource = "customer"

    @extend_schema(
        operation_id="list_customer_applied_coupons",
        parameters=[*PAGINATION_PARAMETERS, *APPLIED_COUPON_FILTERS],
        responses={200: AppliedCouponListEnvelope, **errors(401, 404, 422)},
    )
    def get(self, request, external_id: str):
        customer = get_customer_by_external_id(organization=self.organization, external_id=external_id)
        return _applied_coupons_page(request, self.organization, customer.external_id)


class CustomerAppliedCouponApi(LagoApiView):
    resource = "applied_coupon"

    @extend_schema(
        operation_id="terminate_customer_applied_coupon",
        description="Terminates the customer's applied coupon; terminating it again answers it unchanged.",
        responses={200: AppliedCouponEnvelope, **errors(401, 404)},
    )
    def delete(self, request, external_id: str, lago_id: str):
        customer = get_customer_by_external_id(organization=self.organization, external_id=external_id)
        try:
            applied_coupon_id = uuid.UUID(lago_id)
        except ValueError:
            raise NotFound("applied_coupon") from None
        applied = get_applied_coupon(customer=customer, applied_coupon_id=applied_coupon_id)
        return Response({"applied_coupon": applied_coupon_payload(terminate_applied_coupon(applied_coupon=applied))})
