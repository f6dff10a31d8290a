"""Staff pages for credit notes: issue one from a finalized invoice, see one, void it, and record how
its refund went. Every rule lives in `invoicing.credit_notes`; these views only translate."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from billing.errors import NotAllowed, NotFound, ValidationFailed
from billing.staff import staff_page
from billing.staff_errors import error_message, sentence, sentences
from invoicing.credit_note_forms import CreditNoteForm
from invoicing.credit_notes import (
    create_credit_note,
    customer_credit_balance_cents,
    estimate_credit_note,
    get_credit_note,
    is_creditable,
    remaining_on,
    update_refund_status,
    void_credit_note,
)
from invoicing.models import CreditNote, RefundStatus
from invoicing.selectors import customer_credit_notes, get_invoice, invoice_number


def _back(request, default: str) -> str:
    """Where to go after an action: the page it was made from, when it is one of ours."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False):
        return target
    return default


# Issue ----------------------------------------------------------------------------------------


def _estimate(form: CreditNoteForm, data) -> dict:
    """What the typed amounts give back at most, as the service estimates it."""
    items, errors = form.parsed_items(data)
    result = {"remaining": form.remaining, "currency": form.currency, "errors": [], "estimate": None, "total": 0}
    if errors:
        result["errors"] = ["Fix the amounts to see the estimate."]
        return result
    result["total"] = sum(items.values())
    if not items:
        return result
    try:
        estimate = estimate_credit_note(
            invoice=form.invoice,
            items=[{"fee_id": str(fee_id), "amount_cents": cents} for fee_id, cents in items.items()],
        )
    except (ValidationFailed, NotAllowed, NotFound) as exc:
        result["errors"] = [item.text for item in sentences(exc, resource="credit_note")]
    else:
        result["estimate"] = estimate
    return result


@require_http_methods(["GET", "POST"])
@staff_page
def credit_note_create(request, invoice_id):
    invoice = get_invoice(organization=request.organization, invoice_id=invoice_id)
    invoice_url = reverse("invoicing:detail", args=[invoice.pk])
    if not is_creditable(invoice):
        messages.error(request, sentence("invalid_type_or_status", resource="credit_note"))
        return redirect(invoice_url)
    remaining = remaining_on(invoice)
    fees = list(invoice.fees.all())
    estimating = request.method == "POST" and request.POST.get("action") == "estimate"
    if estimating:
        # Only the amounts are read: an unbound form shows them back without judging the other fields.
        form = CreditNoteForm(initial=request.POST.dict(), invoice=invoice, fees=fees, remaining=remaining)
    else:
        form = CreditNoteForm(request.POST or None, invoice=invoice, fees=fees, remaining=remaining)
    if request.method == "POST" and not estimating and form.is_valid():
        try:
            note = create_credit_note(invoice=invoice, **form.service_kwargs())
        except (ValidationFailed, NotFound, NotAllowed) as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Credit note {note.number} issued.")
            return redirect(invoice_url)
    context = {
        "invoice": invoice,
        "number": invoice_number(invoice),
        "form": form,
        "estimate": _estimate(form, request.POST),
    }
    template = "invoicing/credit_note_form.html"
    if estimating and request.htmx:
        template += "#estimate"
    with timezone.override(invoice.customer.applicable_timezone):
        return render(request, template, context)


# One credit note ------------------------------------------------------------------------------


@require_http_methods(["GET"])
@staff_page
def credit_note_detail(request, credit_note_id):
    note = get_credit_note(organization=request.organization, lago_id=credit_note_id)
    context = {
        "note": note,
        "invoice": note.invoice,
        "items": list(note.items.all()),
        "refund_statuses": RefundStatus.choices,
    }
    with timezone.override(note.customer.applicable_timezone):
        return render(request, "invoicing/credit_note_detail.html", context)


def _note(request, credit_note_id) -> CreditNote:
    return get_credit_note(organization=request.organization, lago_id=credit_note_id)


@require_POST
@staff_page
def credit_note_void(request, credit_note_id):
    note = _note(request, credit_note_id)
    try:
        void_credit_note(credit_note=note)
    except NotAllowed as exc:
        messages.error(request, error_message(exc, resource="credit_note"))
    else:
        messages.success(request, f"Credit note {note.number} voided: its remaining credit can no longer be used.")
    return redirect(_back(request, reverse("invoicing:credit_note_detail", args=[note.pk])))


@require_POST
@staff_page
def credit_note_refund_status(request, credit_note_id):
    note = _note(request, credit_note_id)
    status = request.POST.get("refund_status", "")
    try:
        update_refund_status(credit_note=note, refund_status=status)
    except ValidationFailed as exc:
        messages.error(request, error_message(exc, resource="credit_note"))
    else:
        messages.success(request, f"Refund marked {RefundStatus(status).label.lower()}.")
    return redirect("invoicing:credit_note_detail", note.pk)


# The customer's Credit notes tab --------------------------------------------------------------


def customer_credit_notes_tab(request, customer) -> dict:
    """The customer's credit balance still to use (per currency) and all their credit notes, newest
    first, in a fixed number of queries."""
    notes = list(customer_credit_notes(customer=customer))
    currencies = sorted({note.currency for note in notes}) or ([customer.currency] if customer.currency else [])
    return {
        "credit_notes": notes,
        "credit_balances": [
            (currency, customer_credit_balance_cents(customer=customer, currency=currency)) for currency in currencies
        ],
        "credit_notes_back": reverse("customers:tab", args=[customer.pk, "credit_notes"]),
    }
