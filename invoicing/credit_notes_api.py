"""Lago's v1 credit note endpoints (reference/lago-api.md §2.10). Bodies are read by
billing.api.input.read_input; the rules live in `invoicing.credit_notes`."""

from django.db.models import prefetch_related_objects
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from billing.api.fields import DATETIME_FORMAT
from billing.api.input import Choice, Integer, LagoInput, many, read_input
from billing.api.pagination import paginate
from billing.api.schema import EXTERNAL_CUSTOMER_ID_FILTER, PAGINATION_PARAMETERS, PaginationMeta, errors
from billing.api.views import LagoApiView
from customers.api import CustomerOutput, customer_payload
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
from invoicing.invoices_api import FeeOutput, fee_payload
from invoicing.models import CreditNoteReason

# Input ----------------------------------------------------------------------------------------


class CreditNoteItemInput(LagoInput):
    # Text, not a UUID field: an unknown or malformed fee is the service's 404 `fee_not_found`.
    fee_id = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    amount_cents = Integer(required=False, allow_null=True)


class CreditNoteInput(LagoInput):
    unsupported = {"offset_amount_cents": 0, "metadata": {}}

    # The view finds the invoice before the service runs, so the body must name one. Text, not a
    # UUID field: an unknown or malformed id is a 404 `invoice_not_found`.
    invoice_id = serializers.CharField()
    reason = Choice(choices=CreditNoteReason.values, required=False, allow_null=True)
    description = serializers.CharField(required=False, allow_null=True, allow_blank=True, trim_whitespace=False)
    credit_amount_cents = Integer(required=False, allow_null=True)
    refund_amount_cents = Integer(required=False, allow_null=True)
    items = many(CreditNoteItemInput(), required=False, allow_null=True)


class CreditNoteEstimateInput(LagoInput):
    invoice_id = serializers.CharField()
    items = many(CreditNoteItemInput(), required=False, allow_null=True)


class CreditNoteUpdateInput(LagoInput):
    unsupported = {"metadata": {}}

    # A plain string in the schema: the same choice set as an invoice's payment_status.
    refund_status = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, help_text="pending, succeeded or failed"
    )


# Output ---------------------------------------------------------------------------------------


def _precise(cents: int) -> str:
    """Lago's `precise_*_amount_cents`: the integer amount as a decimal string, "1000.0"."""
    return f"{cents}.0"


def _with_plans(notes: list) -> list:
    """The plans of the notes' subscription fees, which a fee's item names, in one query.
    (`invoicing.credit_notes.with_credit_note_relations` loads the rest.)"""
    prefetch_related_objects(notes, "items__fee__subscription__plan")
    return notes


def credit_note_payload(note) -> dict:
    """Lago's credit note object: its one writer. The customer and the fees inside are written by
    theirs (`customer_payload`, `fee_payload`)."""
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
        "customer": customer_payload(customer),
        "items": [
            {
                "lago_id": str(item.pk),
                "amount_cents": item.amount_cents,
                "precise_amount_cents": _precise(item.amount_cents),
                "amount_currency": note.currency,
                # A credit note gives back on fees of its own invoice.
                "fee": fee_payload(item.fee, invoice=note.invoice, customer=customer),
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
    fee = FeeOutput()


# Documents `credit_note_payload`, the credit note's one writer.
class CreditNoteOutput(serializers.Serializer):
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


# Documents `estimate_payload`.
class EstimatedCreditNoteOutput(serializers.Serializer):
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


def _credit_note_response(organization, lago_id) -> Response:
    """The note (re-)read with everything it shows, as GET answers it."""
    [note] = _with_plans([get_credit_note(organization=organization, lago_id=lago_id)])
    return Response({"credit_note": credit_note_payload(note)})


class CreditNotesApi(LagoApiView):
    resource = "credit_note"

    @extend_schema(
        operation_id="list_credit_notes",
        parameters=[
            *PAGINATION_PARAMETERS,
            EXTERNAL_CUSTOMER_ID_FILTER,
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
        notes = _with_plans(page.items)
        return Response({"credit_notes": [credit_note_payload(note) for note in notes], "meta": page.meta})

    @extend_schema(
        operation_id="create_credit_note",
        request=CreditNoteBody,
        responses={200: CreditNoteEnvelope, **errors(400, 401, 404, 405, 422)},
    )
    def post(self, request):
        data = read_input(self.root_payload("credit_note"), CreditNoteInput)
        note = create_credit_note(
            invoice=get_invoice_for_credit(organization=self.organization, invoice_id=data["invoice_id"]),
            reason=data.get("reason"),
            description=data.get("description"),
            credit_amount_cents=data.get("credit_amount_cents"),
            refund_amount_cents=data.get("refund_amount_cents"),
            items=data.get("items"),
        )
        return _credit_note_response(self.organization, note.pk)


class CreditNoteEstimateApi(LagoApiView):
    resource = "credit_note"

    @extend_schema(
        operation_id="estimate_credit_note",
        request=CreditNoteEstimateBody,
        responses={200: EstimatedCreditNoteEnvelope, **errors(400, 401, 404, 405, 422)},
    )
    def post(self, request):
        data = read_input(self.root_payload("credit_note"), CreditNoteEstimateInput)
        invoice = get_invoice_for_credit(organization=self.organization, invoice_id=data["invoice_id"])
        estimate = estimate_credit_note(invoice=invoice, items=data.get("items"))
        return Response({"estimated_credit_note": estimate_payload(estimate)})


class CreditNoteApi(LagoApiView):
    resource = "credit_note"

    @extend_schema(operation_id="get_credit_note", responses={200: CreditNoteEnvelope, **errors(401, 404)})
    def get(self, request, lago_id: str):
        return _credit_note_response(self.organization, lago_id)

    @extend_schema(
        operation_id="update_credit_note",
        request=CreditNoteUpdateBody,
        responses={200: CreditNoteEnvelope, **errors(400, 401, 404, 422)},
    )
    def put(self, request, lago_id: str):
        note = get_credit_note(organization=self.organization, lago_id=lago_id)
        data = read_input(self.root_payload("credit_note"), CreditNoteUpdateInput)
        update_refund_status(credit_note=note, refund_status=data.get("refund_status"))
        return _credit_note_response(self.organization, lago_id)


class CreditNoteVoidApi(LagoApiView):
    resource = "credit_note"

    @extend_schema(
        operation_id="void_credit_note", request=None, responses={200: CreditNoteEnvelope, **errors(401, 404, 405)}
    )
    def put(self, request, lago_id: str):
        note = get_credit_note(organization=self.organization, lago_id=lago_id)
        void_credit_note(credit_note=note)
        return _credit_note_response(self.organization, lago_id)
