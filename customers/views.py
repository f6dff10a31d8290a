"""Staff pages for customers: full pages on normal requests, fragments on HTMX requests."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django_countries import countries
from django_htmx.http import HttpResponseClientRedirect

from billing.errors import ValidationFailed
from billing.staff import staff_page
from customers.forms import CustomerForm, MetadataFormSet, add_domain_errors, metadata_rows
from customers.selectors import get_customer, list_customers
from customers.services import create_customer, external_id_lock_reason, update_customer

CUSTOMERS_PER_PAGE = 20
TABS = [("overview", "Overview")]


@require_GET
@staff_page
def customer_list(request):
    search = request.GET.get("q", "").strip()
    paginator = Paginator(list_customers(organization=request.organization, search=search), CUSTOMERS_PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    context = {"page": page, "search": search, "total_count": paginator.count}
    template = (
        "customers/list.html#customer-table"
        if request.htmx and request.htmx.target == "customer-table"
        else "customers/list.html"
    )
    return render(request, template, context)


def _form_page(request, *, customer=None):
    """The one form behind both "Add a customer" and "Edit customer"."""
    lock_reason = external_id_lock_reason(customer=customer) if customer else None
    if customer is not None:
        initial = {name: getattr(customer, name) or "" for name in CustomerForm.base_fields}
        metadata_initial = [
            {"id": str(item.id), "key": item.key, "value": item.value, "display_in_invoice": item.display_in_invoice}
            for item in customer.metadata.all()
        ]
    else:
        initial, metadata_initial = {}, []
    form = CustomerForm(request.POST or None, initial=initial, lock_reason=lock_reason)
    formset = MetadataFormSet(request.POST or None, initial=metadata_initial, prefix="metadata")
    metadata_errors: list[str] = []
    creating = customer is None
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        data = {**form.service_data(), "metadata": metadata_rows(formset)}
        try:
            if customer is None:
                customer = create_customer(organization=request.organization, data=data)
            else:
                customer = update_customer(customer=customer, data=data)
        except ValidationFailed as exc:
            metadata_errors = add_domain_errors(form, exc.details)
        else:
            messages.success(request, "Customer created." if creating else "Customer saved.")
            url = reverse("customers:detail", args=[customer.pk])
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    context = {"form": form, "formset": formset, "metadata_errors": metadata_errors, "customer": customer}
    return render(request, "customers/form.html", context)


@require_http_methods(["GET", "POST"])
@staff_page
def customer_create(request):
    return _form_page(request)


@require_http_methods(["GET", "POST"])
@staff_page
def customer_edit(request, customer_id):
    return _form_page(request, customer=get_customer(organization=request.organization, customer_id=customer_id))


@require_GET
@staff_page
def customer_detail(request, customer_id, tab="overview"):
    customer = get_customer(organization=request.organization, customer_id=customer_id)
    if tab not in dict(TABS):
        tab = "overview"
    context = {
        "customer": customer,
        "tabs": TABS,
        "tab": tab,
        "country_name": countries.name(customer.country) if customer.country else "",
        "emails": [address.strip() for address in (customer.email or "").split(",")],
    }
    if request.htmx and request.htmx.target == "tab-panel":
        return render(request, "customers/detail.html#tab-panel", context)
    return render(request, "customers/detail.html", context)
