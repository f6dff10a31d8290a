"""Lago's v1 credit note endpoints (reference/lago-api.md §2.10). Shapes only; rules live in
`invoicing.credit_notes`."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from billing.api.fields import DATETIME_FORMAT, reject_unsupported
from billing.api.pagination import paginate
from billing.api.schema import PAGINATION_PARAMETERS, PaginationMeta, errors
from billing.api.views import LagoApiView
from billing.errors import ValidationFailed
from customers.api import CustomerOutput
from invoicing.api import decimal_string
from invoicing.credit_notes import (
    Estimate,
    create_credit_note,
    estimate_credit_note,
    get_credit_note,
    get_invoice_for_credit,
    list_credit_notes,
    update_refund_status,
    void_credit_note,
)

CREDIT_NOTE_FIELDS = {"invoice_id", "reason", "description", "credit_amount_cents", "refund_amount_cents", "items"}
# Lago options we don't offer; accepted only with their neutral value.
CREDIT_NOTE_DEFAULTS = {"offset_amount_cents": 0, "metadata": {}}
ITEM_FIELDS = {"fee_id", "amount_cents"}
ESTIMATE_FIELDS = {"invoice_id", "items"}
UPDATE_FIELDS = {"refund_status"}


# Input (documentation; the services check values and answer with Lago's codes) ---------------


class CreditNoteItemInput(serializers.Serializer):
    fee_id = serializers.UUIDField()
    amount_cents = serializers.IntegerField(min_value=0)


class CreditNoteInput(serializers.Serializer):
    invoice_id = serializers.UUIDField()
    reason = serializers.ChoiceField(
        choices=[
            "duplicated_charge",
            "product_unsatisfactory",
            "order_change",
            "order_cancellation",
            "fraudulent_charge",
            "other",
        ]
    )
    description = serializers.CharField(required=False, allow_null=True)
    credit_amount_cents = serializers.IntegerField(required=False, min_value=0)
    refund_amount_cents = serializers.IntegerField(required=False, min_value=0)
    items = CreditNoteItemInput(many=True)


class CreditNoteEstimateInput(serializers.Serializer):
    invoice_id = serializers.UUIDField()
    items = CreditNoteItemInput(many=True)


class CreditNoteUpdateInput(serializers.Serializer):
    # A plain string in the schema: the same choice set as an invoice's payment_status.
    refund_status = serializers.CharField(help_text="pending, succeeded or failed")


def _items(payload: dict):
    items = payload.get("items")
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict):
                reject_unsupported(item, ITEM_FIELDS)
    return items


def _invoice(organization, payload: dict):
    if payload.get("invoice_id") in (None, ""):
        raise ValidationFailed({"invoice_id": ["value_is_mandatory"]})
    return get_invoice_for_credit(organization=organization, invoice_id=payload["invoice_id"])


# Output ---------------------------------------------------------------------------------------


def _precise(cents: int) -> str:
    """Lago's `precise_*_amount_cents`: the integer amount as a decimal string, "1000.0"."""
    return f"{cents}.0"


def fee_payload(fee, customer) -> dict:
    """The fee a credit note item gives back on (a subset of Lago's FeeSerializer)."""
    subscription = fee.subscription
    charge = fee.charge
    if charge is not None:
        item = {
            "type": "charge",
            "code": charge.billable_metric.code,
            "name": charge.billable_metric.name,
            "invoice_display_name": charge.invoice_display_name,
            "lago_item_id": str(charge.billable_metric_id),
            "item_type": "BillableMetric",
        }
    else:
        item = {
            "type": fee.fee_type,
            "code": subscription.external_id if subscription else None,
            "name": fee.description,
            "invoice_display_name": fee.description,
            "lago_item_id": str(subscription.pk) if subscription else None,
            "item_type": "Subscription" if subscription else None,
        }
    return {
        "lago_id": str(fee.pk),
        "lago_charge_id": str(fee.charge_id) if fee.charge_id else None,
        "lago_invoice_id": str(fee.invoice_id),
        "lago_subscription_id": str(fee.subscription_id) if fee.subscription_id else None,
        "external_subscription_id": subscription.external_id if subscription else None,
        "lago_customer_id": str(customer.pk),
        "external_customer_id": customer.external_id,
        "item": item,
        "amount_cents": fee.amount_cents,
        "amount_currency": fee.currency,
        "taxes_amount_cents": 0,
        "taxes_rate": 0.0,
        "total_amount_cents": fee.amount_cents,
        "total_amount_currency": fee.currency,
        "units": decimal_string(fee.units),
        "events_count": fee.events_count,
        "description": fee.description,
        "from_date": fee.from_datetime.strftime(DATETIME_FORMAT) if fee.from_datetime else None,
        "to_date": fee.to_datetime.strftime(DATETIME_FORMAT) if fee.to_datetime else None,
        "created_at": fee.created_at.strftime(DATETIME_FORMAT),
    }


def credit_note_payload(note) -> dict:
    customer = note.customer
    return {
        "lago_id": str(note.pk),
        "billing_entity_code": "default",
        "sequential_id": note.sequential_id,
        "number": note.number,
        "lago_invoice_id": str(note.invoice_id),
        "invoice_number": note.invoice.number,
        "purchase_order_number": None,
        "issuing_date": note.issuing_date.isoformat(),
        "status": note.status,
        "credit_status": note.credit_status,
        "refund_status": note.refund_status,
        "reason": note.reason,
        "description": note.description,
        "currency": note.currency,
        "total_amount_cents": note.total_amount_cents,
        "precise_total_amount_cents": _precise(note.total_amount_cents),
        "taxes_amount_cents": note.taxes_amount_cents,
        "precise_taxes_amount_cents": _precise(note.taxes_amount_cents),
        "taxes_rate": 0.0,
        "sub_total_excluding_taxes_amount_cents": note.total_amount_cents - note.taxes_amount_cents,
        "balance_amount_cents": note.balance_amount_cents,
        "credit_amount_cents": note.credit_amount_cents,
        "refund_amount_cents": note.refund_amount_cents,
        "offset_amount_cents": 0,
        "coupons_adjustment_amount_cents": 0,
        "created_at": note.created_at.strftime(DATETIME_FORMAT),
        "updated_at": note.updated_at.strftime(DATETIME_FORMAT),
        "refunded_at": note.refunded_at.strftime(DATETIME_FORMAT) if note.refunded_at else None,
        "voided_at": note.voided_at.strftime(DATETIME_FORMAT) if note.voided_at else None,
        "file_url": None,
        "xml_url": None,
        "self_billed": False,
        "customer": CustomerOutput(customer).data,
        "items": [
            {
                "lago_id": str(item.pk),
                "amount_cents": item.amount_cents,
                "precise_amount_cents": _precise(item.amount_cents),
                "amount_currency": note.currency,
                "fee": fee_payload(item.fee, customer),
            }
            # In the invoice's fee order.
            for item in sorted(
                note.items.all(), key=lambda item: (item.fee.created_at, item.fee.fee_type, item.fee.description)
            )
        ],
        "applied_taxes": [],
        "error_details": [],
    }


def estimate_payload(estimate: Estimate) -> dict:
    invoice = estimate.invoice
    return {
        "lago_invoice_id": str(invoice.pk),
        "invoice_number": invoice.number,
        "currency": invoice.currency,
        "taxes_amount_cents": 0,
        "precise_taxes_amount_cents": "0.0",
        "taxes_rate": 0.0,
        "sub_total_excluding_taxes_amount_cents": sum(amount for _, amount in estimate.items),
        "max_creditable_amount_cents": estimate.max_creditable_amount_cents,
        "max_refundable_amount_cents": estimate.max_refundable_amount_cents,
        "max_offsettable_amount_cents": 0,
        "coupons_adjustment_amount_cents": 0,
        "items": [{"lago_fee_id": str(fee_id), "amount_cents": amount} for fee_id, amount in estimate.items],
        "applied_taxes": [],
    }


class CreditNoteItemOutput(serializers.Serializer):
    lago_id = serializers.UUIDField()
    amount_cents = serializers.IntegerField()
    precise_amount_cents = serializers.CharField()
    amount_currency = serializers.CharField()
    fee = serializers.DictField()


class CreditNoteOutput(serializers.Serializer):
    """Documents `credit_note_payload`."""

    lago_id = serializers.UUIDField()
    billing_entity_code = serializers.CharField()
    sequential_id = serializers.IntegerField()
    number = serializers.CharField()
    lago_invoice_id = serializers.UUIDField()
    invoice_number = serializers.CharField()
    purchase_order_number = serializers.CharField(allow_null=True)
    issuing_date = serializers.DateField()
    status = serializers.ChoiceField(choices=["finalized", "voided"])
    credit_status = serializers.ChoiceField(choices=["available", "consumed", "voided"], allow_null=True)
    refund_status = serializers.CharField(allow_null=True, help_text="pending, succeeded, failed, or null")
    reason = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    currency = serializers.CharField()
    total_amount_cents = serializers.IntegerField()
    precise_total_amount_cents = serializers.CharField()
    taxes_amount_cents = serializers.IntegerField()
    precise_taxes_amount_cents = serializers.CharField()
    taxes_rate = serializers.FloatField()
    sub_total_excluding_taxes_amount_cents = serializers.IntegerField()
    balance_amount_cents = serializers.IntegerField()
    credit_amount_cents = serializers.IntegerField()
    refund_amount_cents = serializers.IntegerField()
    offset_amount_cents = serializers.IntegerField()
    coupons_adjustment_amount_cents = serializers.IntegerField()
    created_at = serializers.CharField()
    updated_at = serializers.CharField()
    refunded_at = serializers.CharField(allow_null=True)
    voided_at = serializers.CharField(allow_null=True)
    file_url = serializers.CharField(allow_null=True)
    xml_url = serializers.CharField(allow_null=True)
    self_billed = serializers.BooleanField()
    customer = CustomerOutput()
    items = CreditNoteItemOutput(many=True)
    applied_taxes = serializers.ListField(child=serializers.DictField())
    error_details = serializers.ListField(child=serializers.DictField())


class EstimatedItemOutput(serializers.Serializer):
    lago_fee_id = serializers.UUIDField()
    amount_cents = serializers.IntegerField()


class EstimatedCreditNoteOutput(serializers.Serializer):
    """Documents `estimate_payload`."""

    lago_invoice_id = serializers.UUIDField()
    invoice_number = serializers.CharField()
    currency = serializers.CharField()
    taxes_amount_cents = serializers.IntegerField()
    precise_taxes_amount_cents = serializers.CharField()
    taxes_rate = serializers.FloatField()
    sub_total_excluding_taxes_amount_cents = serializers.IntegerField()
    max_creditable_amount_cents = serializers.IntegerField()
    max_refundable_amount_cents = serializers.IntegerField()
    max_offsettable_amount_cents = serializers.IntegerField()
    coupons_adjustment_amount_cents = serializers.IntegerField()
    items = EstimatedItemOutput(many=True)
    applied_taxes = serializers.ListField(child=serializers.DictField())


CreditNoteEnvelope = inline_serializer("CreditNoteEnvelope", {"credit_note": CreditNoteOutput()})
CreditNoteListEnvelope = inline_serializer(
    "CreditNoteListEnvelope", {"credit_notes": CreditNoteOutput(many=True), "meta": PaginationMeta()}
)
EstimatedCreditNoteEnvelope = inline_serializer(
    "EstimatedCreditNoteEnvelope", {"estimated_credit_note": EstimatedCreditNoteOutput()}
)
CreditNoteBody = inline_serializer("CreditNoteBody", {"credit_note": CreditNoteInput()})
CreditNoteEstimateBody = inline_serializer("CreditNoteEstimateBody", {"credit_note": CreditNoteEstimateInput()})
CreditNoteUpdateBody = inline_serializer("CreditNoteUpdateBody", {"credit_note": CreditNoteUpdateInput()})


# Views ----------------------------------------------------------------------------------------


class CreditNotesApi(LagoApiView):
    resource = "credit_note"

    @extend_schema(
        operation_id="list_credit_notes",
        parameters=[
            *PAGINATION_PARAMETERS,
            OpenApiParameter("external_customer_id", str),
            OpenApiParameter("invoice_id", str),
            OpenApiParameter("credit_status", str, enum=["available", "consumed", "voided"]),
            OpenApiParameter("refund_status", str, enum=["pending", "succeeded", "failed"]),
            OpenApiParameter("reason", str),
        ],
        responses={200: CreditNoteListEnvelope, **errors(401, 422)},
    )
    def get(self, request):
        params = request.query_params
        queryset = list_credit_notes(
            organization=self.organization,
            external_customer_id=params.get("external_customer_id"),
            invoice_id=params.get("invoice_id"),
            credit_status=params.get("credit_status"),
            refund_status=params.get("refund_status"),
            reason=params.get("reason"),
        )
        page = paginate(queryset, params)
        return Response({"credit_notes": [credit_note_payload(note) for note in page.items], "meta": page.meta})

    @extend_schema(
        operation_id="create_credit_note",
        request=CreditNoteBody,
        responses={200: CreditNoteEnvelope, **errors(400, 401, 404, 405, 422)},
    )
    def post(self, request):
        payload = dict(self.root_payload("credit_note"))
        if payload.get("metadata") in (None, {}):
            payload.pop("metadata", None)
        reject_unsupported(payload, CREDIT_NOTE_FIELDS, CREDIT_NOTE_DEFAULTS)
        invoice = _invoice(self.organization, payload)
        note = create_credit_note(
            invoice=invoice,
            reason=payload.get("reason"),
            description=payload.get("description"),
            credit_amount_cents=payload.get("credit_amount_cents"),
            refund_amount_cents=payload.get("refund_amount_cents"),
            items=_items(payload),
        )
        return Response(
            {"credit_note": credit_note_payload(get_credit_note(organization=self.organization, lago_id=note.pk))}
        )


class CreditNoteEstimateApi(LagoApiView):
    resource = "credit_note"

    @extend_schema(
        operation_id="estimate_credit_note",
        request=CreditNoteEstimateBody,
        responses={200: EstimatedCreditNoteEnvelope, **errors(400, 401, 404, 405, 422)},
    )
    def post(self, request):
        payload = self.root_payload("credit_note")
        reject_unsupported(payload, ESTIMATE_FIELDS)
        invoice = _invoice(self.organization, payload)
        estimate = estimate_credit_note(invoice=invoice, items=_items(payload))
        return Response({"estimated_credit_note": estimate_payload(estimate)})


class CreditNoteApi(LagoApiView):
    resource = "credit_note"

    @extend_schema(operation_id="get_credit_note", responses={200: CreditNoteEnvelope, **errors(401, 404)})
    def get(self, request, lago_id: str):
        return Response(
            {"credit_note": credit_note_payload(get_credit_note(organization=self.organization, lago_id=lago_id))}
        )

    @extend_schema(
        operation_id="update_credit_note",
        request=CreditNoteUpdateBody,
        responses={200: CreditNoteEnvelope, **errors(400, 401, 404, 422)},
    )
    def put(self, request, lago_id: str):
        note = get_credit_note(organization=self.organization, lago_id=lago_id)
        payload = dict(self.root_payload("credit_note"))
        if payload.get("metadata") in (None, {}):
            payload.pop("metadata", None)
        reject_unsupported(payload, UPDATE_FIELDS)
        update_refund_status(credit_note=note, refund_status=payload.get("refund_status"))
        return Response(
            {"credit_note": credit_note_payload(get_credit_note(organization=self.organization, lago_id=lago_id))}
        )


class CreditNoteVoidApi(LagoApiView):
    resource = "credit_note"

    @extend_schema(
        operation_id="void_credit_note", request=None, responses={200: CreditNoteEnvelope, **errors(401, 404, 405)}
    )
    def put(self, request, lago_id: str):
        note = get_credit_note(organization=self.organization, lago_id=lago_id)
        void_credit_note(credit_note=note)
        return Response(
            {"credit_note": credit_note_payload(get_credit_note(organization=self.organization, lago_id=lago_id))}
        )
