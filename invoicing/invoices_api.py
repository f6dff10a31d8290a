"""Lago's v1 invoice endpoints (reference/lago-api.md §2.9, spec/API-SCOPE.md "Invoicing").

Shapes only: bodies are read by billing.api.input.read_input, the rules (what may be finalized,
refreshed, voided or updated) live in `invoicing.lifecycle`, and the reads in `invoicing.selectors`.
This module holds the fee's one writer, `fee_payload`, which credit notes embed too.
"""

from datetime import timedelta
from decimal import Decimal

from django.db.models import Prefetch, prefetch_related_objects
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from billing.api.fields import DATETIME_FORMAT
from billing.api.input import Choice, Integer, LagoInput, Number, many, read_input
from billing.api.pagination import paginate
from billing.api.schema import EXTERNAL_CUSTOMER_ID_FILTER, PAGINATION_PARAMETERS, PaginationMeta, errors
from billing.api.views import LagoApiView
from billing.errors import NotFound, ValidationFailed
from billing.money import from_minor_units
from coupons.api import CreditOutput, coupon_credit_payload
from customers.api import CustomerOutput, customer_payload
from customers.selectors import get_customer_by_external_id
from invoicing.api import decimal_string
from invoicing.lifecycle import finalize_draft, refresh_draft, total_due_amount_cents, update_invoice, void_invoice
from invoicing.models import CouponCredit, FeeType, Invoice, InvoiceStatus, InvoiceType, PaymentStatus
from invoicing.one_off import create_one_off_invoice
from invoicing.selectors import covered_periods, get_invoice, invoice_number, list_invoices, with_customer_metadata
from invoicing.subscriptions_api import SubscriptionOutput

ONE_SECOND = timedelta(seconds=1)


def constant(field_class: type[serializers.Field], value, **kwargs) -> serializers.Field:
    """A field Lago always sends that holds one value here (no taxes, no PDF, no payment terms)."""

    class Constant(field_class):
        def to_representation(self, instance):
            return value

    return Constant(read_only=True, source="*", allow_null=value is None, **kwargs)


def empty_list() -> serializers.Field:
    return constant(serializers.ListField, [], child=serializers.DictField())


# Lago's invoice numbers never change version here: 4 is the version of today's invoices.
VERSION_NUMBER = 4


def _datetime(value) -> str | None:
    return value.strftime(DATETIME_FORMAT) if value is not None else None


def _last_second(value) -> str | None:
    """Lago's inclusive end of a range (`…T23:59:59Z`) from our exclusive one."""
    return _datetime(value - ONE_SECOND) if value is not None else None


# Output ---------------------------------------------------------------------------------------


def fee_item(fee) -> dict:
    """What a fee bills for, as Lago's fee `item` names it: a subscription fee its plan, a charge fee
    its billable metric (the charge's display name first), an add-on fee its add-on."""
    if fee.fee_type == FeeType.SUBSCRIPTION and fee.subscription is not None:
        plan = fee.subscription.plan
        named = {
            "code": plan.code,
            "name": plan.name,
            "description": plan.description,
            "invoice_display_name": plan.invoice_display_name or plan.name,
            "lago_item_id": str(fee.subscription_id),
            "item_type": "Subscription",
        }
    elif fee.fee_type == FeeType.CHARGE and fee.charge is not None:
        metric = fee.charge.billable_metric
        named = {
            "code": metric.code,
            "name": metric.name,
            "description": metric.description,
            "invoice_display_name": fee.charge.invoice_display_name or metric.name,
            "lago_item_id": str(metric.pk),
            "item_type": "BillableMetric",
        }
    elif fee.fee_type == FeeType.ADD_ON and fee.add_on is not None:
        add_on = fee.add_on
        named = {
            "code": add_on.code,
            "name": add_on.name,
            "description": add_on.description,
            "invoice_display_name": fee.invoice_display_name or add_on.invoice_display_name or add_on.name,
            "lago_item_id": str(add_on.pk),
            "item_type": "AddOn",
        }
    else:
        # Any other fee (a credit fee selling prepaid credits) names itself.
        named = {
            "code": fee.fee_type,
            "name": fee.description,
            "description": None,
            "invoice_display_name": fee.description,
            "lago_item_id": str(fee.pk),
            "item_type": fee.fee_type,
        }
    return {
        "type": fee.fee_type,
        **named,
        "filters": None,
        "filter_invoice_display_name": None,
        "grouped_by": {},
    }


def fee_payload(fee, *, invoice, customer) -> dict:
    """Lago's fee object (`V1::FeeSerializer`, the fields we can fill): the one writer of a fee, in an
    invoice and in a credit note's items. `invoice` and `customer` are the fee's, as the caller holds
    them, so that many fees cost no query; the fee's subscription (with its plan), charge (with its
    metric) and add-on must be loaded. The fee's share of the invoice's coupons is Lago's
    `precise_coupons_amount_cents`, and comes off its subtotal as in Lago's Fee model."""
    subscription = fee.subscription
    return {
        "lago_id": str(fee.pk),
        "lago_invoice_id": str(fee.invoice_id),
        "lago_charge_id": str(fee.charge_id) if fee.charge_id else None,
        "lago_subscription_id": str(fee.subscription_id) if fee.subscription_id else None,
        "external_subscription_id": subscription.external_id if subscription is not None else None,
        "lago_customer_id": str(customer.pk),
        "external_customer_id": customer.external_id,
        "item": fee_item(fee),
        "pay_in_advance": bool(
            fee.fee_type == FeeType.SUBSCRIPTION and subscription is not None and subscription.plan.pay_in_advance
        ),
        "invoiceable": True,
        "amount_cents": fee.amount_cents,
        "amount_currency": fee.currency,
        "precise_amount": decimal_string(from_minor_units(fee.amount_cents, fee.currency)),
        "taxes_amount_cents": 0,
        "taxes_rate": 0.0,
        "precise_coupons_amount_cents": decimal_string(Decimal(fee.coupons_amount_cents)),
        "sub_total_excluding_taxes_amount_cents": fee.amount_cents - fee.coupons_amount_cents,
        "total_amount_cents": fee.amount_cents,
        "total_amount_currency": fee.currency,
        "units": decimal_string(fee.units),
        "total_aggregated_units": decimal_string(fee.units),
        "description": fee.description,
        "events_count": fee.events_count,
        "payment_status": invoice.payment_status,
        "created_at": _datetime(fee.created_at),
        "from_date": _datetime(fee.from_datetime),
        "to_date": _last_second(fee.to_datetime),
        "self_billed": False,
        "applied_taxes": [],
    }


class FeeItemOutput(serializers.Serializer):
    type = serializers.CharField()
    code = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    invoice_display_name = serializers.CharField()
    lago_item_id = serializers.CharField()
    item_type = serializers.CharField()
    filters = serializers.DictField(allow_null=True)
    filter_invoice_display_name = serializers.CharField(allow_null=True)
    grouped_by = serializers.DictField()


# Documents `fee_payload`, the fee's one writer; a test holds them to each other.
class FeeOutput(serializers.Serializer):
    lago_id = serializers.UUIDField()
    lago_invoice_id = serializers.UUIDField()
    lago_charge_id = serializers.UUIDField(allow_null=True)
    lago_subscription_id = serializers.UUIDField(allow_null=True)
    external_subscription_id = serializers.CharField(allow_null=True)
    lago_customer_id = serializers.UUIDField()
    external_customer_id = serializers.CharField()
    item = FeeItemOutput()
    pay_in_advance = serializers.BooleanField()
    invoiceable = serializers.BooleanField()
    amount_cents = serializers.IntegerField()
    amount_currency = serializers.CharField()
    precise_amount = serializers.CharField(help_text='The amount in major units, exact: "10.5".')
    taxes_amount_cents = serializers.IntegerField()
    taxes_rate = serializers.FloatField()
    precise_coupons_amount_cents = serializers.CharField(
        help_text="The fee's share of the invoice's coupons, in minor units as a decimal string: \"250.0\"."
    )
    sub_total_excluding_taxes_amount_cents = serializers.IntegerField(help_text="The amount less its coupons.")
    total_amount_cents = serializers.IntegerField()
    total_amount_currency = serializers.CharField()
    units = serializers.CharField()
    total_aggregated_units = serializers.CharField()
    description = serializers.CharField()
    events_count = serializers.IntegerField()
    payment_status = serializers.CharField()
    created_at = serializers.CharField()
    from_date = serializers.CharField(allow_null=True)
    to_date = serializers.CharField(allow_null=True)
    self_billed = serializers.BooleanField()
    applied_taxes = serializers.ListField(child=serializers.DictField())


class BillingPeriodOutput(serializers.Serializer):
    lago_subscription_id = serializers.CharField()
    external_subscription_id = serializers.CharField()
    lago_plan_id = serializers.CharField()
    subscription_from_datetime = serializers.CharField()
    subscription_to_datetime = serializers.CharField()
    charges_from_datetime = serializers.CharField()
    charges_to_datetime = serializers.CharField()
    fixed_charges_from_datetime = serializers.CharField(allow_null=True)
    fixed_charges_to_datetime = serializers.CharField(allow_null=True)
    invoicing_reason = serializers.CharField()


def billing_period(link) -> dict:
    period = covered_periods(link)
    subscription = period["subscription"]
    return {
        "lago_subscription_id": str(subscription.pk),
        "external_subscription_id": subscription.external_id,
        "lago_plan_id": str(subscription.plan_id),
        "subscription_from_datetime": _datetime(period["subscription_start"]),
        "subscription_to_datetime": _last_second(period["subscription_end"]),
        "charges_from_datetime": _datetime(period["charges_start"]),
        "charges_to_datetime": _last_second(period["charges_end"]),
        "fixed_charges_from_datetime": None,
        "fixed_charges_to_datetime": None,
        "invoicing_reason": link.invoicing_reason,
    }


class InvoiceOutput(serializers.Serializer):
    """Lago's `V1::InvoiceSerializer` as the list shows it: the invoice, its customer, metadata."""

    lago_id = serializers.UUIDField(source="id")
    billing_entity_code = constant(serializers.CharField, "default")
    sequential_id = serializers.IntegerField(allow_null=True)
    number = serializers.SerializerMethodField()
    purchase_order_number = constant(serializers.CharField, None)
    issuing_date = serializers.DateField()
    payment_due_date = serializers.DateField()
    net_payment_term = serializers.IntegerField()
    invoice_type = serializers.CharField()
    status = serializers.CharField()
    payment_status = serializers.CharField()
    payment_dispute_lost_at = constant(serializers.CharField, None)
    payment_overdue = serializers.SerializerMethodField()
    currency = serializers.CharField()
    fees_amount_cents = serializers.IntegerField()
    taxes_amount_cents = serializers.IntegerField()
    progressive_billing_credit_amount_cents = constant(serializers.IntegerField, 0)
    coupons_amount_cents = serializers.IntegerField()
    credit_notes_amount_cents = serializers.IntegerField()
    sub_total_excluding_taxes_amount_cents = serializers.SerializerMethodField()
    sub_total_including_taxes_amount_cents = serializers.SerializerMethodField()
    total_amount_cents = serializers.IntegerField()
    total_due_amount_cents = serializers.SerializerMethodField()
    total_paid_amount_cents = serializers.SerializerMethodField()
    total_offsetted_credit_note_amount_cents = constant(serializers.IntegerField, 0)
    prepaid_credit_amount_cents = serializers.IntegerField()
    prepaid_granted_credit_amount_cents = constant(serializers.IntegerField, None)
    prepaid_purchased_credit_amount_cents = constant(serializers.IntegerField, None)
    file_url = constant(serializers.CharField, None)
    xml_url = constant(serializers.CharField, None)
    web_url = constant(serializers.CharField, None)
    version_number = constant(serializers.IntegerField, VERSION_NUMBER)
    self_billed = constant(serializers.BooleanField, False)
    created_at = serializers.DateTimeField(format=DATETIME_FORMAT)
    updated_at = serializers.DateTimeField(format=DATETIME_FORMAT)
    voided_at = serializers.DateTimeField(format=DATETIME_FORMAT, allow_null=True)
    customer = serializers.SerializerMethodField()
    metadata = empty_list()
    applied_taxes = empty_list()

    @extend_schema_field(CustomerOutput)
    def get_customer(self, invoice) -> dict:
        return customer_payload(invoice.customer)

    def get_number(self, invoice) -> str:
        return invoice_number(invoice)

    def get_payment_overdue(self, invoice) -> bool:
        return invoice.is_overdue(timezone.now().date())

    def get_sub_total_excluding_taxes_amount_cents(self, invoice) -> int:
        return invoice.fees_amount_cents - invoice.coupons_amount_cents

    def get_sub_total_including_taxes_amount_cents(self, invoice) -> int:
        return invoice.fees_amount_cents - invoice.coupons_amount_cents + invoice.taxes_amount_cents

    def get_total_due_amount_cents(self, invoice) -> int:
        return total_due_amount_cents(invoice)

    def get_total_paid_amount_cents(self, invoice) -> int:
        return invoice.total_amount_cents if invoice.payment_status == PaymentStatus.SUCCEEDED else 0


class InvoiceDetailOutput(InvoiceOutput):
    """The single invoice (show and actions): also its subscriptions, billing periods and fees."""

    subscriptions = serializers.SerializerMethodField()
    billing_periods = serializers.SerializerMethodField()
    fees = serializers.SerializerMethodField()
    credits = serializers.SerializerMethodField()
    error_details = empty_list()
    applied_invoice_custom_sections = empty_list()

    @extend_schema_field(SubscriptionOutput(many=True))
    def get_subscriptions(self, invoice) -> list:
        subscriptions = {link.subscription_id: link.subscription for link in invoice.invoice_subscriptions.all()}
        return SubscriptionOutput(list(subscriptions.values()), many=True).data

    @extend_schema_field(BillingPeriodOutput(many=True))
    def get_billing_periods(self, invoice) -> list:
        return [billing_period(link) for link in invoice.invoice_subscriptions.all()]

    @extend_schema_field(FeeOutput(many=True))
    def get_fees(self, invoice) -> list:
        return [fee_payload(fee, invoice=invoice, customer=invoice.customer) for fee in invoice.fees.all()]

    @extend_schema_field(CreditOutput(many=True))
    def get_credits(self, invoice) -> list:
        # What each applied coupon took: their sum is the invoice's coupons_amount_cents.
        return [
            coupon_credit_payload(credit, coupon=credit.applied_coupon.coupon, invoice=invoice)
            for credit in invoice.coupon_credits.all()
        ]


InvoiceEnvelope = inline_serializer("InvoiceEnvelope", {"invoice": InvoiceDetailOutput()})
InvoiceListEnvelope = inline_serializer(
    "InvoiceListEnvelope", {"invoices": InvoiceOutput(many=True), "meta": PaginationMeta()}
)


class InvoiceUpdateInput(LagoInput):
    # Invoice metadata has nowhere to be stored yet: refused rather than silently dropped.
    unsupported = {"metadata": []}

    payment_status = Choice(choices=PaymentStatus.values, required=False, allow_null=True)


class InvoiceVoidInput(LagoInput):
    """Lago's void options (a credit note for what was paid) are not offered: `generate_credit_note`,
    `refund_amount` and `credit_amount` are accepted only with their neutral value (false, 0, 0)."""

    unsupported = {"generate_credit_note": False, "refund_amount": 0, "credit_amount": 0}


class OneOffFeeInput(LagoInput):
    # Taxes are not modelled, and a one-off fee covers no period of ours.
    unsupported = {"tax_codes": [], "from_datetime": None, "to_datetime": None}

    # The add-on is the service's to find: absent or unknown, it is Lago's 404 add_on_not_found.
    add_on_code = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    units = Number(required=False, allow_null=True, help_text="Defaults to 1.")
    unit_amount_cents = Integer(required=False, allow_null=True, help_text="Defaults to the add-on's amount.")
    description = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    invoice_display_name = serializers.CharField(required=False, allow_null=True, allow_blank=True)


class OneOffInvoiceInput(LagoInput):
    # Lago options we don't offer: one billing entity, no purchase orders, payment or custom sections.
    unsupported = {
        "billing_entity_code": "default",
        "purchase_order_number": None,
        "skip_psp": False,
        "payment_method": None,
        "invoice_custom_section": None,
    }

    external_customer_id = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    currency = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    fees = many(OneOffFeeInput(), required=False, allow_null=True)


InvoiceUpdateBody = inline_serializer("InvoiceUpdateBody", {"invoice": InvoiceUpdateInput()})
OneOffInvoiceBody = inline_serializer("OneOffInvoiceBody", {"invoice": OneOffInvoiceInput()})


def _choices(params, name: str, allowed: list[str], plural: str | None = None) -> list[str]:
    """A filter given once (`status=draft`) or, as Lago also takes, as a list (`statuses[]=…`)."""
    names = [name, f"{name}[]"] + ([f"{plural}[]"] if plural else [])
    values = [value for key in names for value in params.getlist(key) if value != ""]
    if any(value not in allowed for value in values):
        raise ValidationFailed({name: ["value_is_invalid"]})
    return values


COUPON_CREDITS = Prefetch(
    "coupon_credits",
    queryset=CouponCredit.objects.select_related("applied_coupon__coupon").order_by("created_at", "id"),
)


def detailed_invoice(organization, invoice_id) -> Invoice:
    """One invoice with everything the single invoice shows, in a fixed number of queries: the
    selector's details, plus the coupons that reduced it."""
    invoice = get_invoice(organization=organization, invoice_id=invoice_id)
    prefetch_related_objects([invoice], COUPON_CREDITS)
    return invoice


def _invoice_response(organization, invoice) -> Response:
    """Re-read the invoice with everything the single invoice shows, exactly as GET does."""
    return Response({"invoice": InvoiceDetailOutput(detailed_invoice(organization, invoice.pk)).data})


class InvoicesApi(LagoApiView):
    @extend_schema(
        operation_id="list_invoices",
        parameters=[
            *PAGINATION_PARAMETERS,
            EXTERNAL_CUSTOMER_ID_FILTER,
            OpenApiParameter("status", str, enum=InvoiceStatus.values),
            OpenApiParameter("payment_status", str, enum=PaymentStatus.values),
            OpenApiParameter("invoice_type", str, enum=InvoiceType.values),
        ],
        responses={200: InvoiceListEnvelope, **errors(401, 422)},
    )
    def get(self, request):
        params = request.query_params
        queryset = list_invoices(
            organization=self.organization,
            external_customer_id=params.get("external_customer_id") or None,
            statuses=_choices(params, "status", InvoiceStatus.values, "statuses"),
            payment_statuses=_choices(params, "payment_status", PaymentStatus.values, "payment_statuses"),
            invoice_types=_choices(params, "invoice_type", InvoiceType.values),
        )
        page = paginate(with_customer_metadata(queryset), params)
        return Response({"invoices": InvoiceOutput(page.items, many=True).data, "meta": page.meta})

    @extend_schema(
        operation_id="create_one_off_invoice",
        description=(
            "A finalized `one_off` invoice of add-ons. Each fee names an add-on; its units default to 1 and "
            "its unit amount to the add-on's. The currency defaults to the customer's."
        ),
        request=OneOffInvoiceBody,
        responses={200: InvoiceEnvelope, **errors(400, 401, 404, 422)},
    )
    def post(self, request):
        data = read_input(self.root_payload("invoice"), OneOffInvoiceInput)
        external_customer_id = data.get("external_customer_id")
        if not external_customer_id:
            raise NotFound("customer")
        customer = get_customer_by_external_id(organization=self.organization, external_id=external_customer_id)
        # A blank currency means the customer's, as an absent one does.
        currency = data.get("currency") or None
        invoice = create_one_off_invoice(customer=customer, fees=data.get("fees"), currency=currency)
        return _invoice_response(self.organization, invoice)


class InvoiceApi(LagoApiView):
    resource = "invoice"

    @extend_schema(operation_id="get_invoice", responses={200: InvoiceEnvelope, **errors(401, 404)})
    def get(self, request, lago_id: str):
        return Response({"invoice": InvoiceDetailOutput(detailed_invoice(self.organization, lago_id)).data})

    @extend_schema(
        operation_id="update_invoice",
        request=InvoiceUpdateBody,
        responses={200: InvoiceEnvelope, **errors(400, 401, 404, 405, 422)},
    )
    def put(self, request, lago_id: str):
        invoice = get_invoice(organization=self.organization, invoice_id=lago_id)
        data = read_input(self.root_payload("invoice"), InvoiceUpdateInput)
        invoice = update_invoice(invoice=invoice, payment_status=data.get("payment_status"))
        return _invoice_response(self.organization, invoice)


class InvoiceFinalizeApi(LagoApiView):
    resource = "invoice"

    @extend_schema(
        operation_id="finalize_invoice", request=None, responses={200: InvoiceEnvelope, **errors(401, 404, 405)}
    )
    def put(self, request, lago_id: str):
        invoice = get_invoice(organization=self.organization, invoice_id=lago_id)
        return _invoice_response(self.organization, finalize_draft(invoice=invoice))


class InvoiceRefreshApi(LagoApiView):
    resource = "invoice"

    @extend_schema(
        operation_id="refresh_invoice", request=None, responses={200: InvoiceEnvelope, **errors(401, 404, 405)}
    )
    def put(self, request, lago_id: str):
        invoice = get_invoice(organization=self.organization, invoice_id=lago_id)
        return _invoice_response(self.organization, refresh_draft(invoice=invoice))


class InvoiceVoidApi(LagoApiView):
    resource = "invoice"

    @extend_schema(
        operation_id="void_invoice",
        description=(
            "Lago's void options are not offered: `generate_credit_note`, `refund_amount` and `credit_amount`, "
            "top-level keys of an optional body, are accepted only with their neutral value (false, 0, 0)."
        ),
        request=InvoiceVoidInput,
        responses={200: InvoiceEnvelope, **errors(401, 404, 405, 422)},
    )
    def post(self, request, lago_id: str):
        invoice = get_invoice(organization=self.organization, invoice_id=lago_id)
        # The options sit at the top level, without a root key; Lago's client posts no body at all.
        read_input(request.data if request.body else {}, InvoiceVoidInput)
        return _invoice_response(self.organization, void_invoice(invoice=invoice))
