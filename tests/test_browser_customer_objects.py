"""Coupons, add-ons and wallets assigned through the customer view's Actions menu, driven end to end
in headless Chromium against a live server; then the customer's External ID is locked.

Each step leaves a full-page screenshot in /tmp/shots/<test name>/ for a human to look at.
"""

import re

import pytest
from playwright.sync_api import Page, expect

from coupons.services import create_coupon
from customers.models import Customer
from customers.services import create_customer
from invoicing.models import Invoice
from plans.services import create_add_on
from tests.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def choose_action(page: Page, name: str) -> None:
    page.get_by_text("Actions", exact=True).click()
    page.get_by_role("menuitem", name=name).click()


def visible_fee_rows(page: Page):
    return page.locator("#fee-rows [data-row]:visible")


@pytest.fixture
def customer(staff_user) -> Customer:
    organization = staff_user.organization
    create_coupon(
        organization=organization,
        data={
            "name": "Welcome",
            "code": "welcome",
            "coupon_type": "fixed_amount",
            "amount_cents": 1000,
            "amount_currency": "EUR",
            "frequency": "once",
            "expiration": "no_expiration",
        },
    )
    create_add_on(
        organization=organization,
        data={"code": "setup", "name": "Setup", "amount_cents": 50000, "amount_currency": "EUR"},
    )
    return create_customer(
        organization=organization, data={"external_id": "cus_wayne", "name": "Wayne Enterprises", "currency": "EUR"}
    )


def test_apply_a_coupon_an_add_on_and_a_wallet_then_the_external_id_is_locked(page, shot, customer):
    log_in(page, shot)
    page.goto(f"/customers/{customer.pk}/")
    expect(page.get_by_role("heading", name="Wayne Enterprises")).to_be_visible()
    shot("customer-view")

    # A coupon, its amount overridden for this customer.
    choose_action(page, "Apply a coupon")
    expect(page.get_by_role("heading", name="Apply a coupon")).to_be_visible()
    expect(page.get_by_label("Amount")).to_have_count(0)
    page.get_by_label("Coupon").select_option(label="Welcome (welcome) · 10.00 EUR off, once")
    # Choosing the coupon loads the terms that fit it (an HTMX fragment).
    expect(page.locator("#coupon-terms")).to_contain_text("10.00 EUR off, once")
    page.get_by_label("Amount").fill("12.50")
    shot("apply-coupon")
    page.get_by_role("button", name="Apply coupon").click()
    expect(page).to_have_url(re.compile(rf"/customers/{customer.pk}/$"))
    expect(page.get_by_role("status")).to_contain_text("Coupon Welcome applied.")
    coupons = page.locator("#applied-coupons")
    expect(coupons).to_contain_text("12.50 EUR off, once")
    expect(coupons).to_contain_text("12.50 EUR left")
    shot("coupon-applied")

    # An add-on: a row added and removed again in the browser, then invoiced at once.
    choose_action(page, "Apply an add-on")
    expect(page.get_by_role("heading", name="Apply an add-on")).to_be_visible()
    first = visible_fee_rows(page).nth(0)
    first.get_by_label("Add-on").select_option(label="Setup · 500.00 EUR")
    first.get_by_label("Units").fill("2")
    first.get_by_label("Description").fill("Onboarding days")
    page.get_by_role("button", name="Add another add-on").click()
    expect(visible_fee_rows(page)).to_have_count(2)
    visible_fee_rows(page).nth(1).get_by_role("button", name="Remove row").click()
    expect(visible_fee_rows(page)).to_have_count(1)
    shot("apply-add-on")
    page.get_by_role("button", name="Apply and invoice").click()
    invoice = Invoice.objects.get(customer=customer)
    expect(page).to_have_url(re.compile(rf"/invoices/{invoice.pk}/$"))
    expect(page.get_by_role("status")).to_contain_text(f"Add-ons invoiced on {invoice.number}.")
    expect(page.locator("h1")).to_contain_text("One-off invoice")
    expect(page.locator("table.usage-table")).to_contain_text("Onboarding days")
    expect(page.locator("table.usage-table")).to_contain_text("1,000.00 EUR")
    shot("add-on-invoice")
    # The customer's Invoices tab lists it.
    page.get_by_role("link", name="Wayne Enterprises").click()
    expect(page.get_by_role("tab", name="Invoices")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_role("tabpanel")).to_contain_text(invoice.number)
    shot("invoices-tab")

    # A wallet with granted credits; the Actions menu then offers a top-up.
    choose_action(page, "Add a wallet")
    expect(page.get_by_role("heading", name="Add a wallet")).to_be_visible()
    page.get_by_label("Name").fill("Prepaid")
    page.get_by_label("Value of one credit").fill("0.5")
    page.get_by_label("Granted credits").fill("40")
    shot("add-wallet")
    page.get_by_role("button", name="Add wallet").click()
    expect(page).to_have_url(re.compile(rf"/customers/{customer.pk}/wallet/$"))
    panel = page.get_by_role("tabpanel")
    expect(panel).to_contain_text("40 credits")
    expect(panel).to_contain_text("20.00 EUR")
    expect(panel).to_contain_text("1 credit = 0.5 EUR")
    expect(page.locator("#wallet-transactions")).to_contain_text("Granted")
    shot("wallet-tab")
    choose_action(page, "Top up")
    page.get_by_label("Granted credits").fill("10")
    page.get_by_role("button", name="Top up").click()
    expect(page.get_by_role("status")).to_contain_text("Wallet topped up.")
    expect(page.get_by_role("tabpanel")).to_contain_text("50 credits")
    shot("wallet-topped-up")

    # Objects are assigned: the External ID is locked, and the form says why.
    choose_action(page, "Edit customer")
    external_id = page.get_by_label("External ID")
    expect(external_id).to_have_value("cus_wayne")
    expect(external_id).to_have_attribute("readonly", "")
    expect(page.locator("div.field").filter(has=page.locator("#id_external_id"))).to_contain_text(
        "The external ID cannot change: this customer already has a coupon"
    )
    shot("edit-customer-locked")
