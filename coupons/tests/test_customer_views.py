"""A customer's coupons in the staff UI: Actions → Apply a coupon (the coupon's terms or overridden
ones, refusals worded next to their field), the Coupons section of the Overview tab, terminating an
applied coupon, and the coupons an invoice's pages show."""

import re
from decimal import Decimal
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from coupons.models import AppliedCoupon
from coupons.services import apply_coupon, create_coupon, terminate_coupon
from customers.tests.factories import CustomerFactory
from invoicing.models import CouponCredit
from invoicing.tests.factories import FeeFactory, InvoiceFactory
from plans.tests.factories import PlanFactory


def make_coupon(organization, code: str = "welcome", **terms):
    """A coupon of 10.00 EUR off, once, unless `terms` say otherwise."""
    data = {
        "name": code.replace("_", " ").title(),
        "code": code,
        "coupon_type": "fixed_amount",
        "amount_cents": 1000,
        "amount_currency": "EUR",
        "frequency": "once",
        "expiration": "no_expiration",
        **terms,
    }
    if "percentage_rate" in terms:
        data.update(coupon_type="percentage", amount_cents=None, amount_currency=None)
    return create_coupon(organization=organization, data=data)


@pytest.fixture
def customer(organization):
    return CustomerFactory(organization=organization, name="Wayne", external_id="cus_wayne", currency="EUR")


def apply_url(customer) -> str:
    return reverse("customers:apply_coupon", args=[customer.pk])


def terminate_url(customer, applied) -> str:
    return reverse("customers:terminate_coupon", args=[customer.pk, applied.pk])


def field_error(html: str, field: str) -> str:
    """The error sentence shown inside the container of the form field `field`."""
    match = re.search(
        rf'<div class="field has-error">\s*<label for="id_{field}">.*?<div class="field-error"[^>]*>(.*?)</div>',
        html,
        re.S,
    )
    return unescape(match.group(1)) if match else ""


def form_error(html: str) -> str:
    match = re.search(r'<div class="form-error" role="alert">(.*?)</div>', html, re.S)
    return unescape(match.group(1)) if match else ""


def test_the_pages_require_login_and_stay_in_the_organization(client, staff_client, customer, other_organization):
    applied = apply_coupon(customer=customer, coupon=make_coupon(customer.organization))
    response = client.get(apply_url(customer))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    theirs = CustomerFactory(organization=other_organization)
    assert staff_client.get(apply_url(theirs)).status_code == 404
    # An applied coupon is reached through its own customer only.
    neighbour = CustomerFactory(organization=customer.organization)
    assert staff_client.post(terminate_url(neighbour, applied)).status_code == 404
    assert AppliedCoupon.objects.get().status == "active"


def test_the_actions_menu_offers_apply_a_coupon(staff_client, customer):
    html = staff_client.get(reverse("customers:detail", args=[customer.pk])).content.decode()
    assert f'href="{apply_url(customer)}">Apply a coupon</a>' in html


def test_the_form_offers_the_active_coupons_only(staff_client, organization, customer, other_organization):
    make_coupon(organization, "welcome")
    terminate_coupon(coupon=make_coupon(organization, "old_deal"))
    make_coupon(other_organization, "elsewhere")
    html = staff_client.get(apply_url(customer)).content.decode()
    assert "Welcome (welcome) · 10.00 EUR off, once" in html
    assert "old_deal" not in html and "elsewhere" not in html
    assert "Choose a coupon to see its terms" in html


def test_choosing_a_coupon_loads_the_overrides_that_fit_it(staff_client, organization, customer):
    fixed = make_coupon(organization, "fixed", frequency="recurring", frequency_duration=3)
    percent = make_coupon(organization, "percent", percentage_rate=Decimal("12.5"))
    headers = {"HX-Request": "true", "HX-Target": "coupon-terms"}
    html = staff_client.get(apply_url(customer), {"coupon": fixed.pk}, headers=headers).content.decode()
    assert html.lstrip().startswith('<div id="coupon-terms"') and "<nav" not in html
    assert 'name="amount"' in html and 'name="amount_currency"' in html and 'name="percentage_rate"' not in html
    assert "10.00 EUR off, recurring for 3 billing periods" in html and "Empty: the coupon&#x27;s 3." in html
    html = staff_client.get(apply_url(customer), {"coupon": percent.pk}, headers=headers).content.decode()
    assert 'name="percentage_rate"' in html and 'name="amount"' not in html
    assert "12.5% off, once" in html


def test_apply_a_coupon_on_its_own_terms(staff_client, organization, customer):
    coupon = make_coupon(organization)
    response = staff_client.post(apply_url(customer), {"coupon": coupon.pk}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("customers:detail", args=[customer.pk])
    applied = AppliedCoupon.objects.get()
    assert (applied.customer, applied.coupon, applied.amount_cents, applied.amount_cents_remaining) == (
        customer,
        coupon,
        1000,
        1000,
    )
    html = response.content.decode()
    assert "Coupon Welcome applied." in html
    # The Overview tab's Coupons section says what is left of it.
    assert "10.00 EUR off, once" in html and "10.00 EUR left" in html and "No invoice yet" in html


def test_apply_a_coupon_with_overridden_terms(staff_client, organization, customer):
    coupon = make_coupon(organization)
    data = {"coupon": coupon.pk, "amount": "12.50", "frequency": "recurring", "frequency_duration": "3"}
    response = staff_client.post(apply_url(customer), data)
    assert response.status_code == 302
    applied = AppliedCoupon.objects.get()
    assert (applied.amount_cents, applied.amount_currency, applied.frequency) == (1250, "EUR", "recurring")
    assert (applied.frequency_duration, applied.frequency_duration_remaining, applied.amount_cents_remaining) == (
        3,
        3,
        None,
    )
    html = staff_client.get(reverse("customers:detail", args=[customer.pk])).content.decode()
    assert "12.50 EUR off, recurring for 3 billing periods" in html and "3 of 3 periods left" in html


def test_a_percentage_is_read_exactly(staff_client, organization, customer):
    coupon = make_coupon(organization, "percent", percentage_rate=Decimal(10), frequency="forever")
    response = staff_client.post(apply_url(customer), {"coupon": coupon.pk, "percentage_rate": "12.345"})
    assert response.status_code == 302
    assert AppliedCoupon.objects.get().percentage_rate == Decimal("12.345")


def test_a_value_posted_for_an_override_that_does_not_fit_is_not_read(staff_client, organization, customer):
    coupon = make_coupon(organization)
    response = staff_client.post(apply_url(customer), {"coupon": coupon.pk, "percentage_rate": "50"})
    assert response.status_code == 302
    assert (AppliedCoupon.objects.get().percentage_rate, AppliedCoupon.objects.get().amount_cents) == (None, 1000)


@pytest.mark.parametrize(
    ("data", "field", "sentence"),
    [
        ({"amount": "1.234"}, "amount", "EUR amounts have at most 2 decimals."),
        ({"amount": "-5"}, "amount", "Enter an amount above 0, such as 10.00."),
        ({"amount": "10" + "0" * 15}, "amount", "This amount is too large."),
        ({"frequency": "recurring"}, "frequency_duration", "A recurring coupon needs a number of billing periods."),
        (
            {"frequency": "recurring", "frequency_duration": "0"},
            "frequency_duration",
            "Enter a number of billing periods from 1 to 10,000.",
        ),
        (
            {"amount_currency": "USD"},
            "amount_currency",
            "The customer is billed in another currency: choose the customer's currency for this amount.",
        ),
    ],
)
def test_refusals_read_as_sentences_next_to_their_field(staff_client, organization, customer, data, field, sentence):
    coupon = make_coupon(organization)
    response = staff_client.post(apply_url(customer), {"coupon": coupon.pk, **data})
    assert response.status_code == 200
    assert field_error(response.content.decode(), field) == sentence
    assert not AppliedCoupon.objects.exists()


def test_a_percentage_out_of_range_is_refused(staff_client, organization, customer):
    coupon = make_coupon(organization, "percent", percentage_rate=Decimal(10))
    response = staff_client.post(apply_url(customer), {"coupon": coupon.pk, "percentage_rate": "150"})
    assert field_error(response.content.decode(), "percentage_rate").startswith("Enter a percentage above 0")
    assert not AppliedCoupon.objects.exists()


def test_a_coupon_in_another_currency_applies_in_the_customers(staff_client, organization, customer):
    coupon = make_coupon(organization, "dollars", amount_currency="USD")
    response = staff_client.post(apply_url(customer), {"coupon": coupon.pk, "amount_currency": "EUR"})
    assert response.status_code == 302
    assert AppliedCoupon.objects.get().amount_currency == "EUR"


def test_a_non_reusable_coupon_applies_once(staff_client, organization, customer):
    coupon = make_coupon(organization, reusable=False)
    apply_coupon(customer=customer, coupon=coupon)
    response = staff_client.post(apply_url(customer), {"coupon": coupon.pk})
    assert field_error(response.content.decode(), "coupon") == (
        "This coupon applies once per customer, and this customer already had it."
    )
    assert AppliedCoupon.objects.count() == 1


def test_overlapping_limited_coupons_are_refused_above_the_form(staff_client, organization, customer):
    plan = PlanFactory(organization=organization, code="startup")
    apply_coupon(customer=customer, coupon=make_coupon(organization, "first", plan_codes=["startup"]))
    second = make_coupon(organization, "second", plan_codes=[plan.code])
    response = staff_client.post(apply_url(customer), {"coupon": second.pk})
    assert form_error(response.content.decode()).startswith("Another active coupon of this customer already covers")
    assert AppliedCoupon.objects.count() == 1


def test_a_coupon_terminated_meanwhile_is_refused(staff_client, organization, customer):
    coupon = make_coupon(organization)
    terminate_coupon(coupon=coupon)
    response = staff_client.post(apply_url(customer), {"coupon": coupon.pk})
    assert field_error(response.content.decode(), "coupon") == (
        "This coupon was terminated or deleted meanwhile: choose another one."
    )
    assert not AppliedCoupon.objects.exists()


def test_terminate_an_applied_coupon(staff_client, organization, customer):
    applied = apply_coupon(customer=customer, coupon=make_coupon(organization))
    response = staff_client.post(terminate_url(customer, applied), follow=True)
    html = response.content.decode()
    assert "Coupon Welcome terminated: it no longer reduces invoices." in html
    applied.refresh_from_db()
    assert applied.status == "terminated" and applied.terminated_at is not None
    assert ">Terminated</span>" in html and f'action="{terminate_url(customer, applied)}"' not in html
    # Terminating it again changes nothing and does not claim it did.
    again = staff_client.post(terminate_url(customer, applied), follow=True).content.decode()
    assert "Coupon Welcome was already terminated." in again


def test_applying_a_coupon_locks_the_external_id(staff_client, organization, customer):
    staff_client.post(apply_url(customer), {"coupon": make_coupon(organization).pk})
    html = staff_client.get(reverse("customers:edit", args=[customer.pk])).content.decode()
    assert re.search(r'name="external_id"[^>]*readonly', html) and "already has a coupon" in html


def coupon_credit(applied, amount_cents: int):
    """An invoice of the customer finalized with `amount_cents` taken by `applied`."""
    invoice = InvoiceFactory(organization=applied.organization, customer=applied.customer, status="finalized")
    FeeFactory(invoice=invoice, amount_cents=5000, coupons_amount_cents=amount_cents)
    invoice.fees_amount_cents = 5000
    invoice.coupons_amount_cents = amount_cents
    invoice.total_amount_cents = 5000 - amount_cents
    invoice.save()
    CouponCredit.objects.create(invoice=invoice, applied_coupon=applied, amount_cents=amount_cents)
    return invoice


def test_the_overview_costs_a_fixed_number_of_queries(staff_client, organization, customer):
    url = reverse("customers:detail", args=[customer.pk])
    coupon_credit(apply_coupon(customer=customer, coupon=make_coupon(organization, "c0")), 100)
    with CaptureQueriesContext(connection) as few:
        staff_client.get(url)
    for n in range(1, 6):
        applied = apply_coupon(customer=customer, coupon=make_coupon(organization, f"c{n}", frequency="forever"))
        coupon_credit(applied, 100)
        coupon_credit(applied, 200)
    with CaptureQueriesContext(connection) as many:
        html = staff_client.get(url).content.decode()
    assert len(many.captured_queries) == len(few.captured_queries)
    assert html.count("−1.00 EUR") == 6 and html.count("−2.00 EUR") == 5


def test_the_invoice_pages_name_each_coupon_and_its_amount(staff_client, organization, customer):
    applied = apply_coupon(customer=customer, coupon=make_coupon(organization, "spring_sale"))
    invoice = coupon_credit(applied, 700)
    for name in ("invoicing:detail", "invoicing:print"):
        html = staff_client.get(reverse(name, args=[invoice.pk])).content.decode()
        assert re.search(r"Spring Sale \(coupon\)</th><td[^>]*>−7.00 EUR", html), name
        assert "43.00 EUR" in html  # the total after the coupon
    assert "coupons −7.00 EUR" in staff_client.get(reverse("invoicing:detail", args=[invoice.pk])).content.decode()
