"""What staff and API callers may do to an invoice once it exists: finalize or refresh a draft,
void a finalized invoice, record its payment status.

Every rule lives here, so that the API and the staff pages refuse the same things with the same
codes (Lago's 405 codes, reference/lago-api.md §1.4 and §2.9).
"""

from django.db import transaction
from django.utils import timezone

from billing.errors import NotAllowed, ValidationFailed
from invoicing.coupon_discounts import return_coupons
from invoicing.credit_notes import return_applied_credit
from invoicing.models import Invoice, InvoiceStatus, PaymentStatus
from invoicing.prepaid_credits import cancel_credit_purchase, record_credit_payment
from invoicing.services import emit_invoice, finalize_invoice, refresh_invoice
from invoicing.wallet_payments import return_prepaid_credits


def _locked(invoice: Invoice) -> Invoice:
    """The invoice row, locked until the end of the caller's transaction, as it is now."""
    return Invoice.objects.select_for_update().get(pk=invoice.pk)


@transaction.atomic
def finalize_draft(*, invoice: Invoice, at=None) -> Invoice:
    """Recompute a draft and give it its number. Anything but a draft is refused."""
    if _locked(invoice).status != InvoiceStatus.DRAFT:
        raise NotAllowed("invalid_type_or_status")
    return finalize_invoice(invoice=invoice, at=at)


@transaction.atomic
def refresh_draft(*, invoice: Invoice, at=None) -> Invoice:
    """Recompute a draft's fees from the current events. Anything but a draft is refused."""
    if _locked(invoice).status != InvoiceStatus.DRAFT:
        raise NotAllowed("invalid_type_or_status")
    return refresh_invoice(invoice=invoice, at=at)


@transaction.atomic
def void_invoice(*, invoice: Invoice) -> Invoice:
    """A finalized invoice becomes `voided`: it keeps its number and amounts, and nothing is due."""
    invoice = _locked(invoice)
    if invoice.status != InvoiceStatus.FINALIZED:
        raise NotAllowed("not_voidable")
    invoice.status = InvoiceStatus.VOIDED
    invoice.voided_at = timezone.now()
    invoice.save(update_fields=["status", "voided_at", "updated_at"])
    # What it had taken from coupons, credit notes and the wallet is the customer's again.
    return_coupons(invoice)
    return_applied_credit(invoice)
    return_prepaid_credits(invoice)
    cancel_credit_purchase(invoice)
    emit_invoice(invoice, "invoice.voided")
    return invoice


@transaction.atomic
def update_invoice(*, invoice: Invoice, payment_status: str | None = None) -> Invoice:
    """Record the payment status (`pending`, `succeeded`, `failed`). A voided invoice is frozen."""
    if payment_status is not None and payment_status not in PaymentStatus.values:
        raise ValidationFailed({"payment_status": ["value_is_invalid"]})
    invoice = _locked(invoice)
    if invoice.status == InvoiceStatus.VOIDED:
        raise NotAllowed("update_on_voided_invoice")
    if payment_status is not None and payment_status != invoice.payment_status:
        invoice.payment_status = payment_status
        invoice.save(update_fields=["payment_status", "updated_at"])
        record_credit_payment(invoice, payment_status)
        emit_invoice(invoice, "invoice.payment_status_updated")
    return invoice


def total_due_amount_cents(invoice: Invoice) -> int:
    """What the customer still owes: the total until the payment succeeds; nothing once paid, and
    nothing on a voided invoice."""
    if invoice.payment_status == PaymentStatus.SUCCEEDED or invoice.status == InvoiceStatus.VOIDED:
        return 0
    return invoice.total_amount_cents
