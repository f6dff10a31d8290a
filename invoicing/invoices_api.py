"""Lago's v1 invoice endpoints (reference/lago-api.md §2.9, spec/API-SCOPE.md "Invoicing").

Shapes only: the rules (what may be finalized, refreshed, voided or updated) live in
`invoicing.lifecycle`, and the reads in `invoicing.selectors`.
"""

from datetime import timedelta
from decimal import Decimal

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from billing.api.fields import DATETIME_FORMAT, reject_unsupported
from billing.api.pagination import paginate
from billing.api.schema import PAGINATION_PARAMETERS, PaginationMeta, errors
from billing.api.views import LagoApiView
from billing.errors import ValidationFailed
from customers.api import CustomerOutput
from invoicing.api import decimal_string
from invoicing.lifecycle import finalize_draft, refresh_draft, total_due_amount_cents, update_invoice, void_invoice
from invoicing.models import FeeType, InvoiceStatus, InvoiceType, PaymentStatus
from invoicing.selectors import covered_periods, get_invoice, invoice_number, list_invoices, with_customer_metadata

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


def _fee_item(fee) -> dict:
    if fee.fee_type == FeeType.CHARGE and fee.charge is not None:
        metric = fee.charge.billable_metric
        return {
            "type": "charge",
            "code": metric.code,
            "name": metric.name,
            "description": metric.description,
            "invoice_display_name": fee.description,
            "lago_item_id": str(metric.pk),
            "item_type": "BillableMetric",
        }
    if fee.fee_type == FeeType.SUBSCRIPTION and fee.subscription is not None:
        plan = fee.subscription.plan
        return {
            "type": "subscription",
            "code": plan.code,
            "name": plan.name,
            "description": plan.description,
            "invoice_display_name": fee.description,
            "lago_item_id": str(fee.subscription_id),
            "item_type": "Subscription",
        }
    return {
        "type": fee.fee_type,
        "code": fee.fee_type,
        "name": fee.description,
        "description": None,
        "invoice_display_name": fee.description,
        "lago_item_id": str(fee.pk),
        "item_type": fee.fee_type,
    }


class FeeOutput(serializers.Serializer):
    """Lago's `V1::FeeSerializer`, the fields we can fill."""

    lago_id = serializers.UUIDField(source="id")
    lago_invoice_id = serializers.UUIDField(source="invoice_id")
    lago_charge_id = serializers.UUIDField(source="charge_id", allow_null=True)
    lago_subscription_id = serializers.UUIDField(source="subscription_id", allow_null=True)
    external_subscription_id = serializers.SerializerMethodField()
    lago_customer_id = serializers.UUIDField(source="invoice.customer_id")
    external_customer_id = serializers.CharField(source="invoice.customer.external_id")
    item = serializers.SerializerMethodField()
    pay_in_advance = serializers.SerializerMethodField()
    invoiceable = constant(serializers.BooleanField, True)
    amount_cents = serializers.IntegerField()
    amount_currency = serializers.CharField(source="currency")
    precise_amount = serializers.SerializerMethodField()
    taxes_amount_cents = constant(serializers.IntegerField, 0)
    taxes_rate = constant(serializers.FloatField, 0.0)
    sub_total_excluding_taxes_amount_cents = serializers.IntegerField(source="amount_cents")
    total_amount_cents = serializers.IntegerField(source="amount_cents")
    total_amount_currency = serializers.CharField(source="currency")
    units = serializers.SerializerMethodField()
    total_aggregated_units = serializers.SerializerMethodField()
    description = serializers.CharField()
    events_count = serializers.IntegerField()
    payment_status = serializers.CharField(source="invoice.payment_status")
    created_at = serializers.DateTimeField(format=DATETIME_FORMAT)
    from_date = serializers.SerializerMethodField()
    to_date = serializers.SerializerMethodField()
    self_billed = constant(serializers.BooleanField, False)
    applied_taxes = empty_list()

    def get_external_subscription_id(self, fee) -> str | None:
        return fee.subscription.external_id if fee.subscription is not None else None

    @extend_schema_field(FeeItemOutput())
    def get_item(self, fee) -> dict:
        return {**_fee_item(fee), "filters": None, "filter_invoice_display_name": None, "grouped_by": {}}

    def get_pay_in_advance(self, fee) -> bool:
        return bool(fee.fee_type == FeeType.SUBSCRIPTION and fee.subscription and fee.subscription.plan.pay_in_advance)

    def get_precise_amount(self, fee) -> str:
        return decimal_string(Decimal(fee.amount_cents) / 100)

    def get_units(self, fee) -> str:
        return decimal_string(fee.units)

    def get_total_aggregated_units(self, fee) -> str:
        return decimal_string(fee.units)

    def get_from_date(self, fee) -> str | None:
        return _datetime(fee.from_datetime)

    def get_to_date(self, fee) -> str | None:
        return _last_second(fee.to_datetime)


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


class BilledSubscriptionOutput(serializers.Serializer):
    lago_id = serializers.UUIDField(source="id")
    external_id = serializers.CharField()
    lago_customer_id = serializers.UUIDField(source="customer_id")
    external_customer_id = serializers.CharField(source="customer.external_id")
    name = serializers.CharField(allow_null=True)
    plan_code = serializers.CharField(source="plan.code")
    status = serializers.CharField()
    billing_time = serializers.CharField()
    subscription_at = serializers.DateTimeField(format=DATETIME_FORMAT)
    started_at = serializers.DateTimeField(format=DATETIME_FORMAT, allow_null=True)
    terminated_at = serializers.DateTimeField(format=DATETIME_FORMAT, allow_null=True)
    created_at = serializers.DateTimeField(format=DATETIME_FORMAT)


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
    customer = CustomerOutput()
    metadata = empty_list()
    applied_taxes = empty_list()

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

    @extend_schema_field(BilledSubscriptionOutput(many=True))
    def get_subscriptions(self, invoice) -> list:
        subscriptions = {link.subscription_id: link.subscription for link in invoice.invoice_subscriptions.all()}
        return BilledSubscriptionOutput(list(subscriptions.values()), many=True).data

    @extend_schema_field(BillingPeriodOutput(many=True))
    def get_billing_periods(self, invoice) -> list:
        return [billing_period(link) for link in invoice.invoice_subscriptions.all()]

    @extend_schema_field(FeeOutput(many=True))
    def get_fees(self, invoice) -> list:
        fees = list(invoice.fees.all())
        for fee in fees:
            fee.invoice = invoice  # the customer and payment status come from the invoice in hand
        return FeeOutput(fees, many=True).data


InvoiceEnvelope = inline_serializer("InvoiceEnvelope", {"invoice": InvoiceDetailOutput()})
InvoiceListEnvelope = inline_serializer(
    "InvoiceListEnvelope", {"invoices": InvoiceOutput(many=True), "meta": PaginationMeta()}
)


class InvoiceMetadataInput(serializers.Serializer):
    id = serializers.CharField(required=False, allow_null=True)
    key = serializers.CharField()
    value = serializers.CharField(allow_null=True)


class InvoiceUpdateInput(serializers.Serializer):
    payment_status = serializers.ChoiceField(choices=PaymentStatus.values, required=False, allow_null=True)
    metadata = InvoiceMetadataInput(many=True, required=False, allow_null=True)


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
        payload = self.root_payload("invoice")
        # Invoice metadata has nowhere to be stored yet: refused rather than silently dropped.
        reject_unsupported(payload, {"payment_status"}, {"metadata": []})
        serializer = InvoiceUpdateInput(data=payload)
        serializer.is_valid(raise_exception=True)
        invoice = update_invoice(invoice=invoice, payment_status=serializer.validated_data.get("payment_status"))
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


VOID_DEFAULTS = {"generate_credit_note": False, "refund_amount": 0, "credit_amount": 0}


class InvoiceVoidApi(LagoApiView):
    resource = "invoice"

    @extend_schema(
        operation_id="void_invoice",
        request=inline_serializer(
            "InvoiceVoidBody",
            {
                "generate_credit_note": serializers.BooleanField(required=False),
                "refund_amount": serializers.IntegerField(required=False),
                "credit_amount": serializers.IntegerField(required=False),
            },
        ),
        responses={200: InvoiceEnvelope, **errors(401, 404, 405, 422)},
    )
    def post(self, request, lago_id: str):
        invoice = get_invoice(organization=self.organization, invoice_id=lago_id)
        # Lago's void options (a credit note for what was paid) are not offered: only their defaults pass.
        # Lago's client posts no body at all; only a body that is there is read.
        body = request.data if request.body else {}
        if not isinstance(body, dict):
            raise ValidationFailed({"base": ["value_is_invalid"]})
        reject_unsupported(body, set(), VOID_DEFAULTS)
        return _invoice_response(self.organization, void_invoice(invoice=invoice))
