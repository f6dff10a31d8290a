"""Lago's remaining customer fields in the staff form, driven end to end in headless Chromium: first
and last name, customer type, a shipping address, the invoicing settings; saved, then seen on the
customer page and in the edit form.

Each step leaves a full-page screenshot in /tmp/shots/<test name>/ for a human to look at.
"""

import re

import pytest
from playwright.sync_api import expect

from conftest import STAFF_PASSWORD
from customers.models import Customer

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

CUSTOMER_URL = re.compile(r"/customers/([0-9a-f-]{36})/$")


def open_new_customer_form(page, shot) -> None:
    """Log in straight to the form (wherever the login lands by default)."""
    page.goto("/login/?next=/customers/new/")
    page.get_by_label("Email").fill("staff@acme.test")
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/customers/new/$"))
    expect(page.get_by_role("heading", name="Add a customer")).to_be_visible()
    shot("empty-form")


def test_create_a_customer_with_a_shipping_address_and_invoicing_settings(page, shot, staff_user):
    open_new_customer_form(page, shot)

    page.get_by_role("textbox", name="Name", exact=True).fill("Analytical Engines")
    page.get_by_label("External ID").fill("cus_ada_001")
    page.get_by_label("First name").fill("Ada")
    page.get_by_label("Last name").fill("Lovelace")
    page.get_by_label("Customer type").select_option("individual")
    # The billing address, by id: the shipping address below has the same labels.
    page.locator("#id_address_line1").fill("12 St James's Square")
    page.locator("#id_city").fill("London")
    page.locator("#id_country").select_option(label="United Kingdom")

    shipping = page.locator("#shipping-address")
    expect(shipping.get_by_label("City")).to_have_count(0)
    shot("before-shipping-address")
    shipping.get_by_role("link", name="Add a shipping address").click()
    expect(shipping.get_by_label("Address line 1")).to_be_visible()
    # Only the shipping region was swapped in: what was typed above is still there.
    expect(page.get_by_label("First name")).to_have_value("Ada")
    expect(page.locator("#id_city")).to_have_value("London")

    shipping.get_by_label("Address line 1").fill("5 Dock Road")
    shipping.get_by_label("Address line 2").fill("Gate B")
    shipping.get_by_label("Zip code").fill("3011")
    shipping.get_by_label("City").fill("Rotterdam")
    shipping.get_by_label("State").fill("South Holland")
    shipping.get_by_label("Country").select_option(label="Netherlands")

    page.get_by_label("Net payment term (days)").fill("30")
    page.get_by_label("Document language").select_option("fr")
    page.get_by_label("Zero-amount invoices").select_option("skip")
    shot("filled-form")

    page.get_by_role("button", name="Create customer").click()
    expect(page).to_have_url(CUSTOMER_URL)
    details = page.locator("aside.details")
    expect(details).to_contain_text("Analytical Engines")
    shot("customer-page")

    def detail(term: str):
        return details.locator("dt", has_text=re.compile(rf"^{term}$")).locator("xpath=following-sibling::dd[1]")

    expect(detail("First name")).to_have_text("Ada")
    expect(detail("Last name")).to_have_text("Lovelace")
    expect(detail("Customer type")).to_have_text("Individual")
    expect(detail("Billing address")).to_contain_text("12 St James's Square")
    shipping_address = detail("Shipping address")
    for text in ("5 Dock Road", "Gate B", "3011 Rotterdam, South Holland", "Netherlands (NL)"):
        expect(shipping_address).to_contain_text(text)
    expect(detail("Net payment term")).to_have_text("30 days")
    expect(detail("Document language")).to_have_text("French (fr)")
    expect(detail("Zero-amount invoices")).to_have_text("Closed without a number")

    customer = Customer.live.get(organization=staff_user.organization, external_id="cus_ada_001")
    assert (customer.firstname, customer.lastname, customer.customer_type) == ("Ada", "Lovelace", "individual")
    assert (customer.address_line1, customer.city, customer.country) == ("12 St James's Square", "London", "GB")
    assert customer.shipping_address == {
        "address_line1": "5 Dock Road",
        "address_line2": "Gate B",
        "city": "Rotterdam",
        "zipcode": "3011",
        "state": "South Holland",
        "country": "NL",
    }
    assert (customer.net_payment_term, customer.document_locale, customer.finalize_zero_amount_invoice) == (
        30,
        "fr",
        "skip",
    )

    # The edit form shows the shipping address the customer has, without asking.
    page.goto(f"/customers/{customer.pk}/edit/")
    shipping = page.locator("#shipping-address")
    expect(shipping.get_by_label("City")).to_have_value("Rotterdam")
    expect(shipping.get_by_label("Country")).to_have_value("NL")
    expect(page.get_by_label("Net payment term (days)")).to_have_value("30")
    expect(page.get_by_label("Zero-amount invoices")).to_have_value("skip")
    shot("edit-form")
    shipping.get_by_label("City").fill("Delft")
    page.get_by_role("button", name="Save customer").click()
    expect(page).to_have_url(CUSTOMER_URL)
    expect(detail("Shipping address")).to_contain_text("3011 Delft, South Holland")
    customer.refresh_from_db()
    assert (customer.shipping_city, customer.shipping_address_line1) == ("Delft", "5 Dock Road")
    assert customer.city == "London"
