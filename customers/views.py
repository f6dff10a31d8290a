"""Staff pages for customers: full pages on normal requests, fragments on HTMX requests."""

import uuid
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_countries import countries
from django_htmx.http import HttpResponseClientRedirect

from billing.errors import NotFound, ValidationFailed
from billing.staff import staff_page
from billing.staff_errors import error_message
from coupons.customer_views import customer_coupons_section
from customers.document_locales import ISO_639_1
from customers.forms import AssignPlanForm, CustomerForm, MetadataFormSet, metadata_rows
from customers.selectors import customers_to_page, get_customer
from customers.services import create_customer, update_customer
from invoicing.charts import daily_bar_chart
from invoicing.credit_note_views import customer_credit_notes_tab
from invoicing.customer_deletion_views import deleted_customer_page
from invoicing.numbering import draft_number
from invoicing.selectors import active_subscriptions_with_usage, customer_invoices
from invoicing.subscriptions import create_subscription, terminate_subscription
from invoicing.usage import current_usage, daily_events
from plans.billing_periods import local_midnight
from plans.models import SubscriptionStatus
from plans.selectors import customer_subscriptions, get_customer_subscription, list_plans, pending_subscriptions
from wallets.selectors import active_wallet
from wallets.views import customer_wallet_tab

CUSTOMERS_PER_PAGE = 20


class KnownCountPaginator(Paginator):
    """A paginator that takes the total from the caller when it is known more cheaply than COUNT(*)."""

    def __init__(self, object_list, per_page, *, count: int):
        super().__init__(object_list, per_page)
        self.__dict__["count"] = count  # fills Paginator's cached property


TABS = [
    ("overview", "Overview"),
    ("subscriptions", "Subscriptions"),
    ("wallet", "Wallet"),
    ("usage", "Usage"),
    ("invoices", "Invoices"),
    ("credit_notes", "Credit notes"),
]


@require_GET
@staff_page
def customer_list(request):
    search = request.GET.get("q", "").strip()
    customers, total = customers_to_page(organization=request.organization, search=search)
    paginator = KnownCountPaginator(customers, CUSTOMERS_PER_PAGE, count=total)
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
    metadata_initial = [
        {"id": str(item.id), "key": item.key, "value": item.value, "display_in_invoice": item.display_in_invoice}
        for item in (customer.metadata.all() if customer is not None else [])
    ]
    form = CustomerForm(request.POST or None, customer=customer, shipping_requested=request.GET.get("shipping") == "1")
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
            metadata_errors = form.add_service_errors(exc)
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
    try:
        customer = get_customer(organization=request.organization, customer_id=customer_id)
    except NotFound:
        # A deleted customer keeps a read-only page, reachable from its invoices (or a 404).
        return deleted_customer_page(request, customer_id)
    if tab not in dict(TABS):
        tab = "overview"
    context = {
        **TAB_CONTEXTS.get(tab, lambda request, customer: {})(request, customer),
        "customer": customer,
        "tabs": TABS,
        "tab": tab,
        "country_name": countries.name(customer.country) if customer.country else "",
        "shipping_country_name": countries.name(customer.shipping_country) if customer.shipping_country else "",
        "document_language": ISO_639_1.get(customer.document_locale or "", ""),
        "emails": [address.strip() for address in (customer.email or "").split(",")],
        # The Actions menu offers "Top up" instead of "Add a wallet" while one is active.
        "active_wallet": active_wallet(customer=customer),
    }
    template = "customers/detail.html"
    if request.htmx and request.htmx.target == "tab-panel":
        template += "#tab-panel"
    # The customer's own dates (start dates, usage periods) read in the customer's timezone.
    with timezone.override(customer.applicable_timezone):
        return render(request, template, context)


def _subscriptions_tab(request, customer) -> dict:
    return {"subscriptions": list(customer_subscriptions(customer=customer))}


def _overview_tab(request, customer) -> dict:
    return {**_subscriptions_tab(request, customer), **customer_coupons_section(customer)}


def _usage_tab(request, customer) -> dict:
    """The running period's usage of one active subscription: totals, charges and a daily chart."""
    subscriptions = list(active_subscriptions_with_usage(customer=customer))
    selected = next((s for s in subscriptions if str(s.pk) == request.GET.get("subscription")), None)
    selected = selected or (subscriptions[0] if subscriptions else None)
    context = {
        "active_subscriptions": subscriptions,
        "pending_subscriptions": list(pending_subscriptions(customer=customer)),
        "selected": selected,
    }
    if selected is not None:
        usage = current_usage(subscription=selected)
        context.update(usage=usage, chart=daily_bar_chart(daily_events(usage)))
    return context


def _invoices_tab(request, customer) -> dict:
    """The customer's drafts (still changing) apart from its finalized and voided invoices."""
    return {**customer_invoices(customer=customer), "draft_number": draft_number(customer.organization)}


TAB_CONTEXTS = {
    "overview": _overview_tab,
    "subscriptions": _subscriptions_tab,
    "wallet": customer_wallet_tab,
    "usage": _usage_tab,
    "invoices": _invoices_tab,
    "credit_notes": customer_credit_notes_tab,
}


@require_http_methods(["GET", "POST"])
@staff_page
def customer_assign_plan(request, customer_id):
    """Actions → Assign a plan: creates the subscription through the same service as the API."""
    customer = get_customer(organization=request.organization, customer_id=customer_id)
    tz = ZoneInfo(customer.applicable_timezone)
    today = timezone.now().astimezone(tz).date()
    initial = {"external_id": f"sub_{uuid.uuid4().hex[:12]}", "start_date": today, "billing_time": "calendar"}
    form = AssignPlanForm(request.POST or None, initial=initial, plans=list_plans(organization=request.organization))
    if request.method == "POST" and form.is_valid():
        start_date = form.cleaned_data["start_date"]
        data = {
            "external_customer_id": customer.external_id,
            "plan_code": form.cleaned_data["plan"].code,
            "external_id": form.cleaned_data["external_id"],
            "name": form.cleaned_data["name"],
            "billing_time": form.cleaned_data["billing_time"],
            # Today means now; another day starts at that day's local midnight.
            "subscription_at": None
            if start_date == today
            else local_midnight(start_date, customer.applicable_timezone),
        }
        try:
            create_subscription(organization=request.organization, data=data)
        except (ValidationFailed, NotFound) as exc:  # NotFound: the plan was deleted meanwhile
            form.add_service_errors(exc, customer=customer)
        else:
            messages.success(request, "Plan assigned.")
            return redirect("customers:tab", customer.pk, "subscriptions")
    return render(request, "customers/assign_plan.html", {"customer": customer, "form": form, "today": today})


@require_POST
@staff_page
def customer_terminate_subscription(request, customer_id, subscription_id):
    customer = get_customer(organization=request.organization, customer_id=customer_id)
    subscription = get_customer_subscription(customer=customer, subscription_id=subscription_id)
    try:
        ended = terminate_subscription(subscription=subscription)
    except NotFound as exc:
        messages.error(request, error_message(exc, resource="subscription"))
    else:
        terminated = ended.status == SubscriptionStatus.TERMINATED
        messages.success(request, "Subscription terminated." if terminated else "Subscription canceled.")
    return redirect("customers:tab", customer.pk, "subscriptions")
