"""Actions → Apply an add-on: one or more add-ons invoiced at once on a finalized one-off invoice, the
refusals worded next to their field, and the invoice in the customer's Invoices tab."""

import re
from decimal import Decimal
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from customers.tests.factories import CustomerFactory
from invoicing.models import Invoice
from plans.services import create_add_on, delete_add_on


@pytest.fixture
def customer(organization):
    return CustomerFactory(organization=organization, name="Wayne", external_id="cus_wayne", currency="EUR")


def add_on(organization, code: str = "setup", amount_cents: int = 50000, currency: str = "EUR", **fields):
    data = {"code": code, "name": code.replace("_", " ").title(), "amount_cents": amount_cents}
    return create_add_on(organization=organization, data={**data, "amount_currency": currency, **fields})


def apply_url(customer) -> str:
    return reverse("customers:apply_add_on", args=[customer.pk])


def rows(*fees, currency: str | None = None) -> dict:
    """What the browser posts: the management form and one row per fee."""
    data = {"fees-TOTAL_FORMS": str(len(fees)), "fees-INITIAL_FORMS": "0", "fees-MIN_NUM_FORMS": "1"}
    data["fees-MAX_NUM_FORMS"] = "20"
    for index, fee in enumerate(fees):
        row = {"add_on": "", "units": "", "unit_amount": "", "description": "", **fee}
        data.update({f"fees-{index}-{key}": value for key, value in row.items()})
    if currency is not None:
        data["currency"] = currency
    return data


def field_error(html: str, field: str) -> str:
    match = re.search(
        rf'<div class="field has-error">\s*<label for="id_{field}">.*?<div class="field-error"[^>]*>(.*?)</div>',
        html,
        re.S,
    )
    return unescape(match.group(1)) if match else ""


def form_errors(html: str) -> list[str]:
    return [unescape(text) for text in re.findall(r'<div class="form-error" role="alert">(.*?)</div>', html, re.S)]


def test_the_page_requires_login_and_stays_in_the_organization(client, staff_client, other_organization):
    theirs = CustomerFactory(organization=other_organization)
    response = client.get(apply_url(theirs))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert staff_client.get(apply_url(theirs)).status_code == 404
    assert staff_client.post(apply_url(theirs), rows({"add_on": "setup"})).status_code == 404


def test_the_actions_menu_offers_apply_an_add_on(staff_client, customer):
    html = staff_client.get(reverse("customers:detail", args=[customer.pk])).content.decode()
    assert f'href="{apply_url(customer)}">Apply an add-on</a>' in html


def test_the_form_offers_the_live_add_ons_with_their_price(staff_client, organization, customer):
    add_on(organization, "setup")
    delete_add_on(add_on=add_on(organization, "retired"))
    html = staff_client.get(apply_url(customer)).content.decode()
    assert "Setup · 500.00 EUR" in html and "Retired" not in html
    assert "invoiced at once" in html and 'id="fee-row-template"' in html


def test_without_add_ons_the_page_says_where_to_create_them(staff_client, customer):
    assert "There is no add-on yet" in staff_client.get(apply_url(customer)).content.decode()


def test_apply_an_add_on_at_its_price(staff_client, organization, customer):
    add_on(organization, "setup", invoice_display_name="Setup fee")
    response = staff_client.post(apply_url(customer), rows({"add_on": "setup"}), follow=True)
    invoice = Invoice.objects.get()
    assert response.redirect_chain[-1][0] == reverse("invoicing:detail", args=[invoice.pk])
    assert (invoice.invoice_type, invoice.status, invoice.currency, invoice.total_amount_cents) == (
        "one_off",
        "finalized",
        "EUR",
        50000,
    )
    fee = invoice.fees.get()
    assert (fee.add_on.code, fee.units, fee.unit_amount_cents, fee.description) == ("setup", 1, 50000, "Setup fee")
    html = response.content.decode()
    assert f"Add-ons invoiced on {invoice.number}." in html and "One-off invoice</span>" in html
    # The customer's Invoices tab lists it.
    tab = staff_client.get(reverse("customers:tab", args=[customer.pk, "invoices"])).content.decode()
    assert invoice.number in tab


def test_apply_several_add_ons_with_units_amounts_and_descriptions(staff_client, organization, customer):
    add_on(organization, "setup")
    add_on(organization, "training", amount_cents=10000)
    data = rows(
        {"add_on": "setup", "unit_amount": "99.90", "description": "Onboarding"},
        {"add_on": "training", "units": "2.5"},
    )
    assert staff_client.post(apply_url(customer), data).status_code == 302
    fees = Invoice.objects.get().fees.order_by("amount_cents")
    assert [(fee.description, fee.units, fee.unit_amount_cents, fee.amount_cents) for fee in fees] == [
        ("Onboarding", Decimal(1), 9990, 9990),
        ("Training", Decimal("2.5"), 10000, 25000),
    ]
    assert Invoice.objects.get().total_amount_cents == 34990


def test_a_removed_or_empty_added_row_is_not_invoiced(staff_client, organization, customer):
    add_on(organization, "setup")
    data = rows({"add_on": "setup"}, {"add_on": "setup", "DELETE": "on"}, {})
    assert staff_client.post(apply_url(customer), data).status_code == 302
    assert Invoice.objects.get().fees.count() == 1


@pytest.mark.parametrize(
    ("fee", "field", "sentence"),
    [
        ({"units": "0"}, "fees-0-units", "Enter a number of units above 0."),
        ({"units": "many"}, "fees-0-units", "Enter a number, such as 12.50."),
        ({"unit_amount": "1.234"}, "fees-0-unit_amount", "EUR amounts have at most 2 decimals."),
        ({"unit_amount": "-1"}, "fees-0-unit_amount", "Enter an amount of 0 or more, such as 49.99."),
        ({"units": "1000000", "unit_amount": "1000000000"}, "fees-0-units", "Units × unit amount is too large."),
        ({"add_on": "nope"}, "fees-0-add_on", "An add-on was deleted meanwhile: choose another one."),
    ],
)
def test_refusals_read_as_sentences_next_to_their_field(staff_client, organization, customer, fee, field, sentence):
    add_on(organization, "setup")
    response = staff_client.post(apply_url(customer), rows({"add_on": "setup", **fee}))
    assert response.status_code == 200
    assert field_error(response.content.decode(), field) == sentence
    assert not Invoice.objects.exists()


def test_with_several_rows_a_refusal_the_service_does_not_place_goes_above_them(staff_client, organization, customer):
    add_on(organization, "setup")
    response = staff_client.post(apply_url(customer), rows({"add_on": "setup"}, {"add_on": "setup", "units": "0"}))
    assert form_errors(response.content.decode()) == ["Units: Enter a number of units above 0."]
    assert not Invoice.objects.exists()


def test_at_least_one_add_on(staff_client, organization, customer):
    add_on(organization, "setup")
    response = staff_client.post(apply_url(customer), rows({"add_on": "setup", "DELETE": "on"}))
    assert form_errors(response.content.decode()) == ["Choose at least one add-on."]
    assert not Invoice.objects.exists()


def test_an_add_on_priced_in_another_currency_needs_a_unit_amount(staff_client, organization, customer):
    add_on(organization, "support", amount_cents=10000, currency="USD")
    response = staff_client.post(apply_url(customer), rows({"add_on": "support"}))
    assert field_error(response.content.decode(), "fees-0-unit_amount") == (
        "This add-on is priced in USD and the invoice is in EUR: enter its unit amount in EUR."
    )
    assert not Invoice.objects.exists()
    assert staff_client.post(apply_url(customer), rows({"add_on": "support", "unit_amount": "92"})).status_code == 302
    assert Invoice.objects.get().total_amount_cents == 9200


def test_a_customer_without_currency_chooses_the_invoices(staff_client, organization):
    customer = CustomerFactory(organization=organization, currency=None)
    add_on(organization, "setup", currency="USD")
    html = staff_client.get(apply_url(customer)).content.decode()
    assert 'name="currency"' in html
    response = staff_client.post(apply_url(customer), rows({"add_on": "setup"}))
    assert field_error(response.content.decode(), "currency") == "This field is required."
    assert staff_client.post(apply_url(customer), rows({"add_on": "setup"}, currency="USD")).status_code == 302
    customer.refresh_from_db()
    assert Invoice.objects.get().currency == "USD" and customer.currency == "USD"


def test_the_page_costs_a_fixed_number_of_queries(staff_client, organization, customer):
    add_on(organization, "a0")
    with CaptureQueriesContext(connection) as few:
        staff_client.post(apply_url(customer), rows({"add_on": "a0", "units": "0"}))
    for n in range(1, 10):
        add_on(organization, f"a{n}")
    with CaptureQueriesContext(connection) as many:
        staff_client.post(apply_url(customer), rows(*[{"add_on": f"a{n}", "units": "0"} for n in range(10)]))
    assert len(many.captured_queries) == len(few.captured_queries)


def test_applying_an_add_on_locks_the_external_id(staff_client, organization, customer):
    add_on(organization, "setup")
    staff_client.post(apply_url(customer), rows({"add_on": "setup"}))
    html = staff_client.get(reverse("customers:edit", args=[customer.pk])).content.decode()
    assert re.search(r'name="external_id"[^>]*readonly', html) and "already has an invoice" in html
