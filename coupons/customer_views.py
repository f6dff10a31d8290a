"""Staff pages for a customer's coupons: Actions → Apply a coupon, the Coupons section of the
customer's Overview tab, and terminating an applied coupon. Every rule is `coupons.services`'."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from billing.errors import NotAllowed, NotFound, ValidationFailed
from billing.money import from_minor_units
from billing.staff import staff_page
from coupons.customer_forms import ApplyCouponForm, describe_terms
from coupons.models import AppliedCoupon, AppliedCouponStatus, CouponFrequency
from coupons.selectors import applicable_coupons, customer_applied_coupons, get_applied_coupon
from coupons.services import apply_coupon, terminate_applied_coupon
from customers.models import Customer
from customers.selectors import get_customer


def what_is_left(applied: AppliedCoupon) -> str:
    """What an applied coupon can still take off this customer's invoices."""
    if applied.status == AppliedCouponStatus.TERMINATED:
        return "—"  # the status says why
    if applied.amount_cents_remaining is not None:
        left = from_minor_units(applied.amount_cents_remaining, applied.amount_currency)
        return f"{left:,} {applied.amount_currency} left"
    if applied.frequency == CouponFrequency.RECURRING:
        periods = applied.frequency_duration_remaining
        return f"{periods} of {applied.frequency_duration} periods left"
    if applied.frequency == CouponFrequency.FOREVER:
        return "No end"
    return "The next invoice"


def customer_coupons_section(customer: Customer) -> dict:
    """The customer's applied coupons, active first, each with its terms, what is left of it and the
    invoices it reduced: three queries whatever their number."""
    applied_coupons = list(customer_applied_coupons(customer=customer))
    for applied in applied_coupons:
        applied.terms_text = describe_terms(applied)
        applied.left_text = what_is_left(applied)
        applied.credit_list = list(applied.credits.all())
    return {"applied_coupons": applied_coupons}


@require_http_methods(["GET", "POST"])
@staff_page
def customer_apply_coupon(request, customer_id):
    """Actions → Apply a coupon. Choosing a coupon reloads its terms (an HTMX fragment), which staff
    may override for this customer."""
    customer = get_customer(organization=request.organization, customer_id=customer_id)
    options = {
        "customer": customer,
        "coupons": applicable_coupons(organization=request.organization),
        "terms_url": reverse("customers:apply_coupon", args=[customer.pk]),
    }
    if request.method == "POST":
        form = ApplyCouponForm(request.POST, **options)
    else:
        form = ApplyCouponForm(initial={"coupon": request.GET.get("coupon")}, **options)
    if request.method == "POST" and form.is_valid():
        coupon = form.cleaned_data["coupon"]
        try:
            apply_coupon(customer=customer, coupon=coupon, overrides=form.overrides())
        except (ValidationFailed, NotAllowed, NotFound) as exc:  # NotFound: terminated or deleted meanwhile
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Coupon {coupon.name} applied.")
            return redirect("customers:detail", customer.pk)
    template = "coupons/customer_apply.html"
    if request.htmx and request.htmx.target == "coupon-terms":
        template += "#coupon-terms"
    return render(request, template, {"customer": customer, "form": form})


@require_POST
@staff_page
def customer_terminate_coupon(request, customer_id, applied_coupon_id):
    customer = get_customer(organization=request.organization, customer_id=customer_id)
    applied = get_applied_coupon(customer=customer, applied_coupon_id=applied_coupon_id)
    if applied.status == AppliedCouponStatus.TERMINATED:
        # The service is idempotent; saying "terminated" again would report a change not made.
        messages.error(request, f"Coupon {applied.coupon.name} was already terminated.")
    else:
        terminate_applied_coupon(applied_coupon=applied)
        messages.success(request, f"Coupon {applied.coupon.name} terminated: it no longer reduces invoices.")
    return redirect("customers:detail", customer.pk)
