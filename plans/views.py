"""Staff pages for billable metrics and plans. The UI addresses both by internal id."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from billing.errors import NotAllowed, NotFound, ValidationFailed
from billing.staff import staff_page
from billing.staff_errors import error_message
from invoicing.subscriptions import delete_plan
from plans.forms import (
    BillableMetricForm,
    ChargeFormSet,
    PlanForm,
    charge_initial,
    format_amount,
)
from plans.models import SubscriptionStatus
from plans.pricing_display import describe_pricing
from plans.selectors import (
    billable_metrics_by_name,
    get_billable_metric_by_id,
    get_plan_by_id,
    list_billable_metrics,
    list_plans,
    live_subscription_counts,
    plans_charging,
)
from plans.services import (
    create_billable_metric,
    create_plan,
    delete_billable_metric,
    update_billable_metric,
    update_plan,
)

PER_PAGE = 20


def _redirect(request, url):
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _page(request, queryset):
    paginator = Paginator(queryset, PER_PAGE)
    return paginator.get_page(request.GET.get("page")), paginator.count


# Billable metrics ---------------------------------------------------------------------------


def _get_metric(request, metric_id):
    return get_billable_metric_by_id(organization=request.organization, metric_id=metric_id)


@require_GET
@staff_page
def metric_list(request):
    page, total = _page(request, list_billable_metrics(organization=request.organization))
    return render(request, "plans/metric_list.html", {"page": page, "total_count": total})


def _metric_form_page(request, *, metric=None):
    form = BillableMetricForm(request.POST or None, metric=metric)
    creating = metric is None
    if request.method == "POST" and form.is_valid():
        try:
            if creating:
                create_billable_metric(organization=request.organization, data=form.service_data())
            else:
                update_billable_metric(metric=metric, data=form.service_data())
        except ValidationFailed as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, "Billable metric created." if creating else "Billable metric saved.")
            return _redirect(request, reverse("plans:metric_list"))
    return render(request, "plans/metric_form.html", {"form": form, "metric": metric})


@require_http_methods(["GET", "POST"])
@staff_page
def metric_create(request):
    return _metric_form_page(request)


@require_http_methods(["GET", "POST"])
@staff_page
def metric_edit(request, metric_id):
    return _metric_form_page(request, metric=_get_metric(request, metric_id))


@require_http_methods(["GET", "POST"])
@staff_page
def metric_delete(request, metric_id):
    metric = _get_metric(request, metric_id)
    error = None
    if request.method == "POST":
        try:
            delete_billable_metric(metric=metric)
        except NotAllowed as exc:
            error = error_message(exc, resource="billable_metric")
        else:
            messages.success(request, f"Billable metric {metric.name} deleted.")
            return _redirect(request, reverse("plans:metric_list"))
    context = {"metric": metric, "plans": list(plans_charging(metric=metric)), "error": error}
    return render(request, "plans/metric_delete.html", context, status=409 if error else 200)


# Plans ----------------------------------------------------------------------------------------


def _get_plan(request, plan_id):
    return get_plan_by_id(organization=request.organization, plan_id=plan_id)


@require_GET
@staff_page
def plan_list(request):
    page, total = _page(request, list_plans(organization=request.organization))
    for plan in page.object_list:
        plan.amount_display = format_amount(plan.amount_cents, plan.amount_currency)
    return render(request, "plans/plan_list.html", {"page": page, "total_count": total})


def _plan_form_page(request, *, plan=None):
    creating = plan is None
    if creating:
        form = PlanForm(
            request.POST or None,
            initial={"amount_currency": request.organization.default_currency, "interval": "monthly"},
        )
        charges_initial = []
    else:
        form = PlanForm(request.POST or None, plan=plan)
        charges_initial = [charge_initial(charge) for charge in plan.live_charges]
    metrics = list(billable_metrics_by_name(organization=request.organization))
    formset = ChargeFormSet(request.POST or None, initial=charges_initial, prefix="charges", metrics=metrics)
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        data = {**form.service_data(), "charges": formset.service_rows()}
        try:
            if creating:
                plan = create_plan(organization=request.organization, data=data)
            else:
                plan = update_plan(plan=plan, data=data)
        except (ValidationFailed, NotFound) as exc:  # NotFound: a chosen metric was deleted meanwhile
            form.add_service_errors(exc)
        else:
            messages.success(request, "Plan created." if creating else "Plan saved.")
            return _redirect(request, reverse("plans:plan_detail", args=[plan.pk]))
    context = {
        "form": form,
        "formset": formset,
        "plan": plan,
        "metrics": metrics,
        # The editor labels prices with the currency chosen above it (the script follows changes).
        "currency": form["amount_currency"].value() or "",
    }
    return render(request, "plans/plan_form.html", context)


@require_http_methods(["GET", "POST"])
@staff_page
def plan_create(request):
    return _plan_form_page(request)


@require_http_methods(["GET", "POST"])
@staff_page
def plan_edit(request, plan_id):
    return _plan_form_page(request, plan=_get_plan(request, plan_id))


@require_GET
@staff_page
def plan_detail(request, plan_id):
    plan = _get_plan(request, plan_id)
    charges = [
        {
            "charge": charge,
            "pricing": describe_pricing(
                charge_model=charge.charge_model, properties=charge.properties, currency=plan.amount_currency
            ),
        }
        for charge in plan.live_charges
    ]
    context = {
        "plan": plan,
        "charges": charges,
        "amount": format_amount(plan.amount_cents, plan.amount_currency),
        "live_subscriptions": sum(live_subscription_counts(plan=plan).values()),
    }
    return render(request, "plans/plan_detail.html", context)


@require_http_methods(["GET", "POST"])
@staff_page
def plan_delete(request, plan_id):
    plan = _get_plan(request, plan_id)
    if request.method == "POST":
        delete_plan(plan=plan)
        messages.success(request, f"Plan {plan.name} deleted.")
        return _redirect(request, reverse("plans:plan_list"))
    counts = live_subscription_counts(plan=plan)
    context = {
        "plan": plan,
        "active_count": counts[SubscriptionStatus.ACTIVE],
        "pending_count": counts[SubscriptionStatus.PENDING],
    }
    return render(request, "plans/plan_delete.html", context)
