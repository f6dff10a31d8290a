"""Credit notes: money given back on a finalized invoice (reference/lago-api.md §2.10).

A credit note gives back part of an invoice's fees, as a credit (the customer's balance, used by
their next invoices when those are finalized) and/or a refund (to pay back; refunds only on a paid
invoice). The original invoice's totals never change. Never more is given back than what is left:
per fee (the fee minus what earlier credit notes took from it) and per invoice. The invoice row is
locked while a note is written, so that concurrent notes cannot together exceed what is left.

What "earlier credit notes took" means: every credit note counts, except one voided before any of it
was used (no refund, no credit consumed), which gives its items back in full. A note voided after
part of its credit was used keeps counting in full, since we cannot tell which fee the used part
came from, and counting it never lets an invoice be credited twice.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import F, Q, QuerySet, Sum
from django.utils import timezone

from billing.errors import NotAllowed, NotFound, ValidationFailed
from customers.models import Customer
from customers.selectors import customers_named_by
from invoicing.models import (
    CreditNote,
    CreditNoteApplication,
    CreditNoteItem,
    CreditNoteReason,
    CreditNoteStatus,
    CreditStatus,
    Fee,
    Invoice,
    InvoiceStatus,
    InvoiceType,
    PaymentStatus,
    RefundStatus,
)
from organizations.models import Organization
from webhooks.services import emit

# A note voided before any of it was used gives everything back; every other note counts.
RELEASED = Q(status=CreditNoteStatus.VOIDED, voided_amount_cents=F("total_amount_cents"))


# Lookups --------------------------------------------------------------------------------------


def _uuid_or_none(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def get_invoice_for_credit(*, organization: Organization, invoice_id) -> Invoice:
    """The invoice a credit note is asked for; another organization's invoice does not exist."""
    pk = _uuid_or_none(invoice_id)
    invoice = Invoice.objects.filter(organization=organization, pk=pk).first() if pk else None
    if invoice is None:
        raise NotFound("invoice")
    return invoice


def with_credit_note_relations(queryset: QuerySet[CreditNote]) -> QuerySet[CreditNote]:
    return queryset.select_related("invoice", "customer__organization").prefetch_related(
        "customer__metadata", "items__fee__subscription", "items__fee__charge__billable_metric", "items__fee__add_on"
    )


def get_credit_note(*, organization: Organization, lago_id) -> CreditNote:
    pk = _uuid_or_none(lago_id)
    note = (
        with_credit_note_relations(CreditNote.objects.filter(organization=organization, pk=pk)).first() if pk else None
    )
    if note is None:
        raise NotFound("credit_note")
    return note


def list_credit_notes(
    *,
    organization: Organization,
    external_customer_id: str | None = None,
    invoice_id: str | None = None,
    credit_status: str | None = None,
    refund_status: str | None = None,
    reason: str | None = None,
) -> QuerySet[CreditNote]:
    """Newest first. `external_customer_id` names the live customer with that id; when none is live,
    the deleted customers that had it, so that a deleted customer's notes stay listable
    (`customers_named_by`)."""
    queryset = CreditNote.objects.filter(organization=organization)
    if external_customer_id is not None:
        queryset = queryset.filter(
            customer__in=customers_named_by(organization=organization, external_id=external_customer_id)
        )
    if invoice_id is not None:
        pk = _uuid_or_none(invoice_id)
        queryset = queryset.filter(invoice_id=pk) if pk else queryset.none()
    for field, value, choices in (
        ("credit_status", credit_status, CreditStatus.values),
        ("refund_status", refund_status, RefundStatus.values),
        ("reason", reason, CreditNoteReason.values),
    ):
        if value is not None:
            if value not in choices:
                raise ValidationFailed({field: ["value_is_invalid"]})
            queryset = queryset.filter(**{field: value})
    return with_credit_note_relations(queryset.order_by("-created_at", "id"))


def customer_credit_balance_cents(*, customer: Customer, currency: str | None = None) -> int:
    """The customer's credit still to use: the balances of their available credit notes."""
    notes = CreditNote.objects.filter(customer=customer, credit_status=CreditStatus.AVAILABLE)
    if currency is not None:
        notes = notes.filter(currency=currency)
    return notes.aggregate(total=Sum("balance_amount_cents"))["total"] or 0


# What is left on an invoice -------------------------------------------------------------------


@dataclass(frozen=True)
class Remaining:
    """What can still be given back on one invoice, in minor units."""

    per_fee: dict  # fee id -> creditable amount left
    creditable: int  # in total (credit + refund)
    refundable: int  # of which may be refunded (0 unless paid)


def remaining_on(invoice: Invoice) -> Remaining:
    counted = CreditNote.objects.filter(invoice=invoice).exclude(RELEASED)
    taken_per_fee = dict(
        CreditNoteItem.objects.filter(credit_note__in=counted)
        .values("fee_id")
        .annotate(taken=Sum("amount_cents"))
        .values_list("fee_id", "taken")
    )
    # A fee's coupon share was never paid: only the rest of it can be given back.
    fees = Fee.objects.filter(invoice=invoice).values_list("pk", "amount_cents", "coupons_amount_cents")
    per_fee = {pk: max(amount - coupons - taken_per_fee.get(pk, 0), 0) for pk, amount, coupons in fees}
    totals = counted.aggregate(total=Sum("total_amount_cents"), refunded=Sum("refund_amount_cents"))
    # Credit notes never change the invoice: what was billed is its fees after coupons, with taxes.
    billed = invoice.fees_amount_cents - invoice.coupons_amount_cents + invoice.taxes_amount_cents
    creditable = max(billed - (totals["total"] or 0), 0)
    refundable = 0
    if is_refundable(invoice):
        # Only money actually paid comes back: the total after prepaid credits and credit notes used.
        refundable = min(max(invoice.total_amount_cents - (totals["refunded"] or 0), 0), creditable)
    return Remaining(per_fee=per_fee, creditable=creditable, refundable=refundable)


def is_creditable(invoice: Invoice) -> bool:
    """Whether credit notes may be issued on the invoice: only a finalized one (not a draft, not voided)."""
    return invoice.status == InvoiceStatus.FINALIZED


def is_refundable(invoice: Invoice) -> bool:
    """Whether part of a credit note may be refunded: only on an invoice the customer has paid."""
    return invoice.payment_status == PaymentStatus.SUCCEEDED


def _require_creditable(invoice: Invoice) -> None:
    if not is_creditable(invoice):
        raise NotAllowed("invalid_type_or_status")


def _amount(value, field: str) -> int:
    """An amount in minor units: an integer, never negative (booleans and floats are refused)."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed({field: ["value_is_invalid"]})
    if value < 0:
        raise ValidationFailed({field: ["value_is_out_of_range"]})
    return value


def _items_per_fee(invoice: Invoice, items, remaining: Remaining) -> dict:
    """Validate items against the invoice's fees; the amount asked per fee (a fee may appear twice)."""
    if not isinstance(items, list) or not items:
        raise ValidationFailed({"items": ["value_is_mandatory"]})
    asked: dict = {}
    for item in items:
        if not isinstance(item, dict):
            raise ValidationFailed({"items": ["value_is_invalid"]})
        fee_id = _uuid_or_none(item.get("fee_id"))
        if fee_id is None or fee_id not in remaining.per_fee:
            # Unknown, or a fee of another invoice: Lago answers 404 fee_not_found.
            raise NotFound("fee")
        if item.get("amount_cents") is None:
            raise ValidationFailed({"amount_cents": ["value_is_mandatory"]})
        asked[fee_id] = asked.get(fee_id, 0) + _amount(item.get("amount_cents"), "amount_cents")
    for fee_id, amount in asked.items():
        if amount > remaining.per_fee[fee_id]:
            raise ValidationFailed({"amount_cents": ["higher_than_remaining_fee_amount"]})
    return asked


# Estimate -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    invoice: Invoice
    items: list  # [(fee id, amount_cents)]
    max_creditable_amount_cents: int
    max_refundable_amount_cents: int


def estimate_credit_note(*, invoice: Invoice, items) -> Estimate:
    """What a credit note with these items could give back at most, as credit and as refund."""
    _require_creditable(invoice)
    remaining = remaining_on(invoice)
    asked = _items_per_fee(invoice, items, remaining)
    creditable = min(sum(asked.values()), remaining.creditable)
    return Estimate(
        invoice=invoice,
        items=list(asked.items()),
        max_creditable_amount_cents=creditable,
        max_refundable_amount_cents=min(creditable, remaining.refundable),
    )


# Create ---------------------------------------------------------------------------------------


@transaction.atomic
def create_credit_note(
    *,
    invoice: Invoice,
    reason,
    items,
    credit_amount_cents=0,
    refund_amount_cents=0,
    description=None,
    at: datetime | None = None,
) -> CreditNote:
    """Give back part of a finalized invoice's fees as credit and/or refund."""
    # The lock serializes credit notes per invoice: two at once cannot exceed what is left.
    invoice = Invoice.objects.select_for_update().select_related("customer__organization").get(pk=invoice.pk)
    _require_creditable(invoice)
    if reason in (None, ""):
        raise ValidationFailed({"reason": ["value_is_mandatory"]})
    if reason not in CreditNoteReason.values:
        raise ValidationFailed({"reason": ["value_is_invalid"]})
    if description is not None and not isinstance(description, str):
        raise ValidationFailed({"description": ["value_is_invalid"]})
    credit = _amount(credit_amount_cents, "credit_amount_cents")
    refund = _amount(refund_amount_cents, "refund_amount_cents")
    remaining = remaining_on(invoice)
    asked = _items_per_fee(invoice, items, remaining)
    total = credit + refund
    if total != sum(asked.values()):
        raise ValidationFailed({"base": ["does_not_match_item_amounts"]})
    if total <= 0:
        raise ValidationFailed({"base": ["total_amount_must_be_positive"]})
    if refund > 0 and not is_refundable(invoice):
        raise ValidationFailed({"refund_amount_cents": ["cannot_refund_unpaid_invoice"]})
    if refund > remaining.refundable:
        raise ValidationFailed({"refund_amount_cents": ["higher_than_remaining_invoice_amount"]})
    if credit > remaining.creditable:
        raise ValidationFailed({"credit_amount_cents": ["higher_than_remaining_invoice_amount"]})
    if total > remaining.creditable:
        raise ValidationFailed({"base": ["higher_than_remaining_invoice_amount"]})
    return write_credit_note(
        invoice=invoice,
        reason=reason,
        description=description,
        asked=asked,
        credit=credit,
        refund=refund,
        at=at or timezone.now(),
    )


def write_credit_note(*, invoice, reason, description, asked: dict, credit: int, refund: int, at) -> CreditNote:
    """Number and store a credit note already validated, the invoice row being locked."""
    customer = invoice.customer
    last = CreditNote.objects.filter(invoice=invoice).order_by("-sequential_id").values_list("sequential_id", flat=True)
    sequential_id = (last.first() or 0) + 1
    note = CreditNote.objects.create(
        organization_id=invoice.organization_id,
        customer=customer,
        invoice=invoice,
        sequential_id=sequential_id,
        number=f"{invoice.number}-CN{sequential_id:03d}",
        issuing_date=at.astimezone(ZoneInfo(customer.applicable_timezone)).date(),
        reason=reason,
        description=description,
        credit_status=CreditStatus.AVAILABLE if credit > 0 else None,
        refund_status=RefundStatus.PENDING if refund > 0 else None,
        currency=invoice.currency,
        credit_amount_cents=credit,
        refund_amount_cents=refund,
        balance_amount_cents=credit,
        total_amount_cents=credit + refund,
        created_at=at,
    )
    CreditNoteItem.objects.bulk_create(
        [
            CreditNoteItem(credit_note=note, fee_id=fee_id, amount_cents=amount, created_at=at)
            for fee_id, amount in asked.items()
            if amount > 0
        ]
    )
    emit(
        organization_id=note.organization_id,
        webhook_type="credit_note.created",
        object_type="credit_note",
        object_id=note.pk,
    )
    return note


# Update and void ------------------------------------------------------------------------------


@transaction.atomic
def update_refund_status(*, credit_note: CreditNote, refund_status) -> CreditNote:
    """Record how the refund went (Lago's `PUT /credit_notes/:id`)."""
    note = CreditNote.objects.select_for_update().get(pk=credit_note.pk)
    if refund_status in (None, ""):
        raise ValidationFailed({"refund_status": ["value_is_mandatory"]})
    if refund_status not in RefundStatus.values:
        raise ValidationFailed({"refund_status": ["value_is_invalid"]})
    if note.refund_amount_cents == 0:
        raise ValidationFailed({"refund_status": ["no_refund_amount"]})
    note.refund_status = refund_status
    note.refunded_at = timezone.now() if refund_status == RefundStatus.SUCCEEDED else None
    note.save(update_fields=["refund_status", "refunded_at", "updated_at"])
    return note


@transaction.atomic
def void_credit_note(*, credit_note: CreditNote) -> CreditNote:
    """Void the credit still available: the balance drops to 0 and can no longer be used."""
    note = CreditNote.objects.select_for_update().get(pk=credit_note.pk)
    if note.credit_status != CreditStatus.AVAILABLE:
        # Already voided, fully consumed, or a refund only: nothing to void.
        raise NotAllowed("not_voidable")
    note.voided_amount_cents = note.balance_amount_cents
    note.balance_amount_cents = 0
    note.credit_status = CreditStatus.VOIDED
    note.status = CreditNoteStatus.VOIDED
    note.voided_at = timezone.now()
    note.save(
        update_fields=[
            "voided_amount_cents",
            "balance_amount_cents",
            "credit_status",
            "status",
            "voided_at",
            "updated_at",
        ]
    )
    return note


# Using credit on the next invoices ------------------------------------------------------------


def apply_credit_notes(invoice: Invoice) -> int:
    """Use the customer's available credit-note balances (oldest first) to reduce an invoice being
    finalized; return the amount used. Call inside the finalization's transaction, the invoice locked
    and still a draft: a finalized invoice is never finalized again, so credit is applied once.

    The credit notes are locked in a fixed order, so two invoices of one customer finalized at once
    never use the same balance twice. The invoice's amounts change in memory: the caller saves it.
    """
    if invoice.invoice_type == InvoiceType.CREDIT or invoice.total_amount_cents <= 0:
        return 0
    notes = (
        CreditNote.objects.select_for_update()
        .filter(
            customer_id=invoice.customer_id,
            currency=invoice.currency,
            credit_status=CreditStatus.AVAILABLE,
            balance_amount_cents__gt=0,
        )
        .exclude(invoice_id=invoice.pk)
        .order_by("created_at", "id")
    )
    left = invoice.total_amount_cents
    used = 0
    for note in notes:
        amount = min(note.balance_amount_cents, left)
        note.balance_amount_cents -= amount
        if note.balance_amount_cents == 0:
            note.credit_status = CreditStatus.CONSUMED
        note.save(update_fields=["balance_amount_cents", "credit_status", "updated_at"])
        CreditNoteApplication.objects.create(credit_note=note, invoice=invoice, amount_cents=amount)
        used += amount
        left -= amount
        if left == 0:
            break
    invoice.credit_notes_amount_cents += used
    invoice.total_amount_cents -= used  # saved by the caller, with the rest of the finalization
    return used


def return_applied_credit(invoice: Invoice) -> int:
    """Give back to their credit notes the balances a voided invoice had used; return the amount.

    The applications are removed, so that each note's balance stays its credit minus what live
    invoices used (Lago re-credits on void too). A note voided since keeps nothing back.
    """
    returned = 0
    applications = CreditNoteApplication.objects.filter(invoice=invoice).order_by("credit_note__created_at", "id")
    for application in applications.select_related("credit_note"):
        note = CreditNote.objects.select_for_update().get(pk=application.credit_note_id)
        if note.status != CreditNoteStatus.VOIDED:
            note.balance_amount_cents += application.amount_cents
            note.credit_status = CreditStatus.AVAILABLE
            note.save(update_fields=["balance_amount_cents", "credit_status", "updated_at"])
            returned += application.amount_cents
        application.delete()
    return returned
