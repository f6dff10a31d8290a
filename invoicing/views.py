"""Staff pages for invoices: the list, an invoice with its actions, and a printable page."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_countries import countries

from billing.errors import NotAllowed
from billing.staff import staff_page
from billing.staff_errors import error_message
from invoicing.credit_notes import is_creditable, is_refundable
from invoicing.lifecycle import finalize_draft, refresh_draft, total_due_amount_cents, void_invoice
from invoicing.models import InvoiceStatus
from invoicing.numbering import draft_number
from invoicing.selectors import (
    ONE_SECOND,
    billing_details,
    covered_periods,
    get_invoice,
    invoice_coupon_credits,
    invoice_credit_notes,
    invoice_number,
    list_invoices,
)

INVOICES_PER_PAGE = 20
STATUS_FILTERS = [("", "All"), *InvoiceStatus.choices]


@require_GET
@staff_page
def invoice_list(request):
    status = request.GET.get("status", "")
    if status not in InvoiceStatus.values:
        status = ""
    search = request.GET.get("q", "").strip()
    invoices = list_invoices(organization=request.organization, statuses=[status] if status else None, search=search)
    page = Paginator(invoices, INVOICES_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "status": status,
        "search": search,
        "status_filters": STATUS_FILTERS,
        "draft_number": draft_number(request.organization),
    }
    template = "invoicing/list.html"
    if request.htmx and request.htmx.target == "invoice-table":
        template += "#invoice-table"
    return render(request, template, context)


def _invoice_context(invoice) -> dict:
    fees = list(invoice.fees.all())
    for fee in fees:
        # Ranges are stored half-open; a page shows the last second covered, as Lago does.
        fee.to_last = fee.to_datetime - ONE_SECOND if fee.to_datetime else None
    return {
        "invoice": invoice,
        "number": invoice_number(invoice),
        "fees": fees,
        "periods": [covered_periods(link) for link in invoice.invoice_subscriptions.all()],
        "coupon_credits": list(invoice_coupon_credits(invoice=invoice)),
        "sub_total": invoice.fees_amount_cents - invoice.coupons_amount_cents,
        "total_due": total_due_amount_cents(invoice),
    }


@require_GET
@staff_page
def invoice_detail(request, invoice_id):
    invoice = get_invoice(organization=request.organization, invoice_id=invoice_id)
    # A draft has no credit note: the page shows the card from finalization on.
    credit_notes = list(invoice_credit_notes(invoice=invoice)) if invoice.status != InvoiceStatus.DRAFT else []
    context = {
        **_invoice_context(invoice),
        "credit_notes": credit_notes,
        # The service's own predicates decide what the page offers.
        "creditable": is_creditable(invoice),
        "refundable": is_refundable(invoice),
    }
    # Periods and fee ranges read in the customer's timezone, as the customer's Usage tab shows them.
    with timezone.override(invoice.customer.applicable_timezone):
        return render(request, "invoicing/detail.html", context)


@require_GET
@staff_page
def invoice_print(request, invoice_id):
    invoice = get_invoice(organization=request.organization, invoice_id=invoice_id)
    details = billing_details(invoice)
    context = {
        **_invoice_context(invoice),
        "billing": details,
        "country_name": countries.name(details["country"]) if details.get("country") else "",
    }
    with timezone.override(invoice.customer.applicable_timezone):
        return render(request, "invoicing/print.html", context)


def _act(request, invoice_id, action, done: str):
    invoice = get_invoice(organization=request.organization, invoice_id=invoice_id)
    try:
        action(invoice=invoice)
    except NotAllowed as exc:
        messages.error(request, error_message(exc, resource="invoice"))
    else:
        messages.success(request, done)
    return redirect("invoicing:detail", invoice.pk)


@require_POST
@staff_page
def invoice_finalize(request, invoice_id):
    return _act(request, invoice_id, finalize_draft, "Invoice finalized.")


@require_POST
@staff_page
def invoice_refresh(request, invoice_id):
    return _act(request, invoice_id, refresh_draft, "Invoice refreshed from the current events.")


@require_POST
@staff_page
def invoice_void(request, invoice_id):
    return _act(request, invoice_id, void_invoice, "Invoice voided.")
