"""Staff pages for deleting a customer (the seed's "Deleting a customer"): Actions → Delete customer,
a confirmation page that previews the cascade before the click, and the read-only page a deleted
customer keeps, reachable from its invoices, with the cascade's progress.

Every rule is `invoicing.customer_deletion`'s: these views show its preview and its record, and call
`delete_customer`; the cascade itself runs in a Celery task.
"""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from billing.errors import NotFound
from billing.staff import staff_page
from billing.staff_errors import error_message
from coupons.customer_forms import describe_terms
from coupons.customer_views import what_is_left
from customers.models import Customer
from customers.selectors import get_customer, only_deleted
from invoicing.customer_deletion import delete_customer, deletion_preview, deletion_steps
from invoicing.models import CustomerDeletion
from invoicing.numbering import draft_number
from invoicing.selectors import customer_credit_notes, customer_invoices

PROGRESS_TARGET = "deletion-progress"


def _deleted_customer(*, organization, customer_id) -> Customer:
    """A deleted customer of the organization, with the record of its cascade (if any)."""
    customer = (
        only_deleted(Customer.objects.filter(organization=organization, pk=customer_id))
        .select_related("organization", "deletion")
        .first()
    )
    if customer is None:
        raise NotFound("customer")
    return customer


@require_http_methods(["GET", "POST"])
@staff_page
def customer_delete(request, customer_id):
    """Actions → Delete customer: what the deletion will do to this customer, then the deletion."""
    try:
        customer = get_customer(organization=request.organization, customer_id=customer_id)
    except NotFound as exc:
        if request.method != "POST":
            raise
        # Deleted meanwhile (a second click, another member): said so, rather than a 404. Another
        # organization's customer or an unknown id stays a 404.
        _deleted_customer(organization=request.organization, customer_id=customer_id)
        messages.info(request, error_message(exc, resource="customer_deletion"))
        return redirect("customers:list")
    if request.method == "POST":
        try:
            delete_customer(customer=customer)
        except NotFound as exc:  # deleted by a concurrent request between the read and the lock
            messages.info(request, error_message(exc, resource="customer_deletion"))
        else:
            messages.success(
                request,
                f"Customer {customer} deleted. Its subscriptions, draft invoices, coupons and wallet are "
                "being closed; its invoices and credit notes stay under Invoices.",
            )
        return redirect("customers:list")
    preview = deletion_preview(customer=customer)
    for applied in preview.applied_coupons:
        applied.terms_text = describe_terms(applied)
        applied.left_text = what_is_left(applied)
    invoices = customer_invoices(customer=customer)
    context = {
        "customer": customer,
        "preview": preview,
        "terminated": [outcome for outcome in preview.subscriptions if outcome.action == "terminate"],
        "canceled": [outcome for outcome in preview.subscriptions if outcome.action == "cancel"],
        "draft_number": draft_number(request.organization),
        "kept_invoices_count": len(invoices["finalized"]),
        "kept_credit_notes_count": customer_credit_notes(customer=customer).count(),
    }
    with timezone.override(customer.applicable_timezone):
        return render(request, "customers/delete.html", context)


def deleted_customer_page(request, customer_id):
    """The read-only page of a deleted customer (called by the customer view, which found no live
    customer with this id): when it was deleted, the cascade's progress, its invoices and credit
    notes. An HTMX poll of the progress gets the progress alone, until the cascade has finished."""
    customer = _deleted_customer(organization=request.organization, customer_id=customer_id)
    try:
        deletion = customer.deletion
    except CustomerDeletion.DoesNotExist:
        deletion = None  # deleted before cascades were recorded: nothing to follow
    context = {
        "customer": customer,
        "deletion": deletion,
        "steps": deletion_steps(deletion) if deletion else [],
        "finished": deletion is None or deletion.finished_at is not None,
        "progress_url": reverse("customers:detail", args=[customer.pk]),
    }
    polled = request.htmx and request.htmx.target == PROGRESS_TARGET
    if request.htmx and not polled:
        # A fragment of the live customer's page (a tab) asked for after the deletion: the whole page.
        return HttpResponseClientRedirect(context["progress_url"])
    if not polled:
        context.update(
            **customer_invoices(customer=customer),
            credit_notes=list(customer_credit_notes(customer=customer)),
            draft_number=draft_number(request.organization),
        )
    with timezone.override(customer.applicable_timezone):
        response = render(request, "customers/deleted.html" + ("#deletion-progress" if polled else ""), context)
    if polled and context["finished"]:
        # The poll stops here; the page reloads once to list the invoices the cascade finalized.
        response["HX-Refresh"] = "true"
    return response
