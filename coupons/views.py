"""Staff pages for coupons: list, create, edit, terminate, delete. The UI addresses coupons by internal id."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from billing.errors import NotAllowed, NotFound, ValidationFailed
from billing.money import canonical_decimal
from billing.staff import staff_page
from billing.templatetags.money import money
from coupons.forms import CouponForm
from coupons.models import AppliedCouponStatus, Coupon, CouponFrequency, CouponStatus, CouponType
from coupons.selectors import get_coupon_by_id, list_coupons
from coupons.services import create_coupon, delete_coupon, terminate_coupon, update_coupon
from plans.selectors import billable_metrics_by_name, list_plans

PER_PAGE = 20
STATUS_FILTERS = [("", "All"), (CouponStatus.ACTIVE, "Active"), (CouponStatus.TERMINATED, "Terminated")]


def _get_coupon(request, coupon_id) -> Coupon:
    return get_coupon_by_id(organization=request.organization, coupon_id=coupon_id)


def _value(coupon: Coupon) -> str:
    """What the coupon takes off: "10.00 EUR" or "12.5%"."""
    if coupon.coupon_type == CouponType.PERCENTAGE:
        return f"{canonical_decimal(coupon.percentage_rate)}%"
    return money(coupon.amount_cents, coupon.amount_currency)


def _frequency(coupon: Coupon) -> str:
    if coupon.frequency == CouponFrequency.RECURRING:
        periods = coupon.frequency_duration
        return f"Recurring, {periods} billing period{'s' if periods != 1 else ''}"
    return coupon.get_frequency_display()


def _limits(coupon: Coupon) -> str:
    """What the coupon applies to, from the prefetched plans and metrics."""
    plans = [plan.name for plan in coupon.plans.all()]
    metrics = [metric.name for metric in coupon.billable_metrics.all()]
    if plans:
        return "Plans: " + ", ".join(plans)
    if metrics:
        return "Billable metrics: " + ", ".join(metrics)
    return "All plans and usage"


@require_GET
@staff_page
def coupon_list(request):
    status = request.GET.get("status", "")
    if status not in CouponStatus.values:
        status = ""
    coupons = list_coupons(organization=request.organization, status=status or None)
    page = Paginator(coupons, PER_PAGE).get_page(request.GET.get("page"))
    for coupon in page.object_list:
        coupon.value_display = _value(coupon)
        coupon.frequency_display = _frequency(coupon)
        coupon.limits_display = _limits(coupon)
    context = {"page": page, "status": status, "status_filters": STATUS_FILTERS}
    template = "coupons/coupon_list.html"
    if request.htmx and request.htmx.target == "coupon-table":
        template += "#coupon-table"
    return render(request, template, context)


def _coupon_form_page(request, *, coupon: Coupon | None = None):
    creating = coupon is None
    form = CouponForm(
        request.POST or None,
        organization=request.organization,
        # Newest plans first would bury the one looked for: choices read by name.
        plans=list_plans(organization=request.organization).prefetch_related(None).order_by("name", "code"),
        metrics=billable_metrics_by_name(organization=request.organization),
        coupon=coupon,
    )
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            if creating:
                create_coupon(organization=request.organization, data=form.service_data())
            else:
                update_coupon(coupon=coupon, data=form.service_data())
        except (ValidationFailed, NotFound, NotAllowed) as exc:
            form.add_service_errors(exc)
            status = 409 if isinstance(exc, NotAllowed) else 200
        else:
            messages.success(request, "Coupon created." if creating else "Coupon saved.")
            return redirect(reverse("coupons:list"))
    return render(request, "coupons/coupon_form.html", {"form": form, "coupon": coupon}, status=status)


@require_http_methods(["GET", "POST"])
@staff_page
def coupon_create(request):
    return _coupon_form_page(request)


@require_http_methods(["GET", "POST"])
@staff_page
def coupon_edit(request, coupon_id):
    return _coupon_form_page(request, coupon=_get_coupon(request, coupon_id))


def _active_applications(coupon: Coupon) -> int:
    return coupon.applications.filter(status=AppliedCouponStatus.ACTIVE).count()


@require_http_methods(["GET", "POST"])
@staff_page
def coupon_terminate(request, coupon_id):
    coupon = _get_coupon(request, coupon_id)
    if request.method == "POST":
        terminate_coupon(coupon=coupon)
        messages.success(request, f"Coupon {coupon.name} terminated.")
        return redirect(reverse("coupons:list"))
    context = {"coupon": coupon, "active_count": _active_applications(coupon)}
    return render(request, "coupons/coupon_terminate.html", context)


@require_http_methods(["GET", "POST"])
@staff_page
def coupon_delete(request, coupon_id):
    coupon = _get_coupon(request, coupon_id)
    if request.method == "POST":
        delete_coupon(coupon=coupon)
        messages.success(request, f"Coupon {coupon.name} deleted.")
        return redirect(reverse("coupons:list"))
    context = {"coupon": coupon, "active_count": _active_applications(coupon)}
    return render(request, "coupons/coupon_delete.html", context)
