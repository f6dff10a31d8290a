"""Staff pages for billable metrics and plans. The UI addresses both by internal id."""

import json

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from billing.errors import NotAllowed, NotFound, ValidationFailed
from billing.staff import staff_page
from invoicing.subscriptions import delete_plan
from plans.forms import (
    CHARGE_MODEL_LABELS,
    METRIC_MESSAGES,
    PLAN_MESSAGES,
    BillableMetricForm,
    ChargeFormSet,
    PlanForm,
    add_domain_errors,
    charge_initial,
    format_amount,
    message_for,
    properties_examples,
)
from plans.models import LIVE_SUBSCRIPTION_STATUSES
from plans.selectors import list_billable_metrics, list_plans
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


def _get(queryset, pk):
    # The selectors look metrics and plans up by code (the API's key); staff URLs carry the id.
    obj = queryset.filter(pk=pk).first()
    if obj is None:
        raise Http404
    return obj


def _page(request, queryset):
    paginator = Paginator(queryset, PER_PAGE)
    return paginator.get_page(request.GET.get("page")), paginator.count


# Billable metrics ---------------------------------------------------------------------------


def _get_metric(request, metric_id):
    return _get(list_billable_metrics(organization=request.organization), metric_id)


def _metric_plans(metric):
    """Live plans with a live charge on this metric (they block deletion)."""
    return list(
        {
            charge.plan
            for charge in metric.charges.filter(deleted_at__isnull=True, plan__deleted_at__isnull=True).select_related(
                "plan"
            )
        }
    )


@require_GET
@staff_page
def metric_list(request):
    page, total = _page(request, list_billable_metrics(organization=request.organization))
    return render(request, "plans/metric_list.html", {"page": page, "total_count": total})


def _metric_form_page(request, *, metric=None):
    lock_reason = None
    if metric is not None and metric.charges.filter(deleted_at__isnull=True).exists():
        lock_reason = METRIC_MESSAGES["value_is_not_editable"]
    initial = BillableMetricForm.initial_for(metric) if metric else {}
    form = BillableMetricForm(request.POST or None, initial=initial, lock_reason=lock_reason)
    creating = metric is None
    if request.method == "POST" and form.is_valid():
        try:
            if creating:
                create_billable_metric(organization=request.organization, data=form.service_data())
            else:
                update_billable_metric(metric=metric, data=form.service_data())
        except ValidationFailed as exc:
            for message in add_domain_errors(form, exc.details, METRIC_MESSAGES):
                form.add_error(None, message)
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
        except NotAllowed:
            error = "This metric is charged in a plan: remove the charge from the plans below first."
        else:
            messages.success(request, f"Billable metric {metric.name} deleted.")
            return _redirect(request, reverse("plans:metric_list"))
    context = {"metric": metric, "plans": _metric_plans(metric), "error": error}
    return render(request, "plans/metric_delete.html", context, status=409 if error else 200)


# Plans ----------------------------------------------------------------------------------------


def _get_plan(request, plan_id):
    return _get(list_plans(organization=request.organization), plan_id)


@require_GET
@staff_page
def plan_list(request):
    page, total = _page(request, list_plans(organization=request.organization))
    for plan in page.object_list:
        plan.amount_display = format_amount(plan.amount_cents, plan.amount_currency)
    return render(request, "plans/plan_list.html", {"page": page, "total_count": total})


def _plan_form_page(request, *, plan=None):
    creating = plan is None
    lock_reason = None
    if plan is not None and plan.subscriptions.exists():
        lock_reason = PLAN_MESSAGES["value_is_not_editable"]
    if creating:
        initial = {"amount_currency": request.organization.default_currency, "interval": "monthly"}
        charges_initial = []
    else:
        initial = PlanForm.initial_for(plan)
        charges_initial = [charge_initial(charge) for charge in plan.live_charges]
    metrics = list(list_billable_metrics(organization=request.organization).order_by("name", "code"))
    form = PlanForm(request.POST or None, initial=initial, lock_reason=lock_reason)
    formset = ChargeFormSet(request.POST or None, initial=charges_initial, prefix="charges", metrics=metrics)
    charge_errors: list[str] = []
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        data = {**form.service_data(), "charges": formset.service_rows()}
        try:
            if creating:
                plan = create_plan(organization=request.organization, data=data)
            else:
                plan = update_plan(plan=plan, data=data)
        except ValidationFailed as exc:
            charge_errors = _charge_errors(form, formset, exc.details)
        except NotFound:
            # A metric chosen in a row was deleted meanwhile.
            charge_errors = ["A chosen billable metric no longer exists: choose another one."]
        else:
            messages.success(request, "Plan created." if creating else "Plan saved.")
            return _redirect(request, reverse("plans:plan_detail", args=[plan.pk]))
    context = {
        "form": form,
        "formset": formset,
        "charge_errors": charge_errors,
        "plan": plan,
        "metrics": metrics,
        "examples": properties_examples(),
    }
    return render(request, "plans/plan_form.html", context)


def _charge_errors(form, formset, details):
    """Plan fields go next to their field; charge errors go on the rows they concern when known."""
    plan_details = {field: codes for field, codes in details.items() if field in PLAN_FIELDS}
    charge_details = {field: codes for field, codes in details.items() if field not in PLAN_FIELDS}
    other = add_domain_errors(form, plan_details, PLAN_MESSAGES)
    for field, codes in charge_details.items():
        for code in codes:
            message = message_for(code, PLAN_MESSAGES)
            rows = []
            if code == "invalid_aggregation_type_or_charge_model":
                rows = [
                    row
                    for row in formset.live_forms()
                    if row.cleaned_data["charge_model"] == "percentage"
                    and row.metrics[row.cleaned_data["billable_metric_id"]].aggregation_type == "latest_agg"
                ]
                for row in rows:
                    row.add_error("charge_model", message)
            elif field == "invoice_display_name":
                message = f"Name on invoices: {message}"
            if not rows:
                other.append(message)
    return other


PLAN_FIELDS = {*PlanForm.base_fields, "amount_cents"}


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
            "model": CHARGE_MODEL_LABELS.get(charge.charge_model, charge.charge_model),
            "properties": json.dumps(charge.properties, indent=2),
        }
        for charge in plan.live_charges
    ]
    context = {
        "plan": plan,
        "charges": charges,
        "amount": format_amount(plan.amount_cents, plan.amount_currency),
        "live_subscriptions": plan.subscriptions.filter(status__in=LIVE_SUBSCRIPTION_STATUSES).count(),
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
    subscriptions = plan.subscriptions.filter(status__in=LIVE_SUBSCRIPTION_STATUSES)
    context = {
        "plan": plan,
        "active_count": subscriptions.filter(status="active").count(),
        "pending_count": subscriptions.filter(status="pending").count(),
    }
    return render(request, "plans/plan_delete.html", context)
