"""Lago's v1 invoice endpoints (reference/lago-api.md §2.9, spec/API-SCOPE.md "Invoicing").

Shapes only: bodies are read by billing.api.input.read_input, the rules (what may be finalized,
refreshed, voided or updated) live in `invoicing.lifecycle`, and the reads in `invoicing.selectors`.
This module holds the fee's one writer, `fee_payload`, which credit notes embed too.
"""

from datetime import timedelta

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from billing.api.fields import DATETIME_FORMAT
from billing.api.input import Choice, LagoInput, read_input
from billing.api.pagination import paginate
from billing.api.schema import PAGINATION_PARAMETERS, PaginationMeta, errors
from billing.api.views import LagoApiView
from billing.errors import ValidationFailed
from billing.money import from_minor_units
from customers.api import CustomerOutput, customer_payload
from invoicing.api import decimal_string
from invoicing.lifecycle import finalize_draft, refresh_draft, total_due_amount_cents, update_invoice, void_invoice
from invoicing.models import FeeType, InvoiceStatus, InvoiceType, PaymentStatus
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
    its billable metric (the charge's display name first)."""
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
    else:
        # No fee of ours bills anything else yet (Lago's add-on and credit fees): the fee names itself.
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
    them, so that many fees cost no query; the fee's subscription (with its plan) and charge (with its
    metric) must be loaded."""
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
        "sub_total_excluding_taxes_amount_cents": fee.amount_cents,
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
    sub_total_excluding_taxes_amount_cents = serializers.IntegerField()
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
    payment_due_date = serializers.DateField(source="issuing_date")
    net_payment_term = constant(serializers.IntegerField, 0)
    invoice_type = serializers.CharField()
    status = serializers.CharField()
    payment_status = serializers.CharField()
    payment_dispute_lost_at = constant(serializers.CharField, None)
    payment_overdue = constant(serializers.BooleanField, False)
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
    credits = empty_list()
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


InvoiceUpdateBody = inline_serializer("InvoiceUpdateBody", {"invoice": InvoiceUpdateInput()})


def _choices(params, name: str, allowed: list[str], plural: str | None = None) -> list[str]:
    """A filter given once (`status=draft`) or, as Lago also takes, as a list (`statuses[]=…`)."""
    names = [name, f"{name}[]"] + ([f"{plural}[]"] if plural else [])
    values = [value for key in names for value in params.getlist(key) if value != ""]
    if any(value not in allowed for value in values):
        raise ValidationFailed({name: ["value_is_invalid"]})
    return values


def _invoice_response(organization, invoice) -> Response:
    """Re-read the invoice with everything the single invoice shows, exactly as GET does."""
    invoice = get_invoice(organization=organization, invoice_id=invoice.pk)
    return Response({"invoice": InvoiceDetailOutput(invoice).data})


class InvoicesApi(LagoApiView):
    @extend_schema(
        operation_id="list_invoices",
        parameters=[
            *PAGINATION_PARAMETERS,
            OpenApiParameter("external_customer_id", str, description="The live customer with this external id."),
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


class InvoiceApi(LagoApiView):
    resource = "invoice"

    @extend_schema(operation_id="get_invoice", responses={200: InvoiceEnvelope, **errors(401, 404)})
    def get(self, request, lago_id: str):
        return Response(
            {"invoice": InvoiceDetailOutput(get_invoice(organization=self.organization, invoice_id=lago_id)).data}
        )

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
