"""The staff customer pages, driven end to end in headless Chromium against a live server.

Each step leaves a full-page screenshot in /tmp/shots/<test name>/ for a human to look at.
"""

import re

import pytest
from playwright.sync_api import Page, expect

from customers.models import Customer, CustomerMetadata
from customers.services import create_customer
from tests.conftest import Shots, log_in

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

CUSTOMER_URL = re.compile(r"/customers/[0-9a-f-]{36}/$")


def open_new_customer_form(page: Page, shot: Shots) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Customers").click()
    expect(page).to_have_url(re.compile(r"/customers/$"))
    shot("customer-list")
    page.get_by_role("link", name="Add a customer").first.click()
    expect(page).to_have_url(re.compile(r"/customers/new/$"))
    expect(page.get_by_role("heading", name="Add a customer")).to_be_visible()
    shot("empty-form")


def visible_metadata_rows(page: Page):
    return page.locator("#metadata-rows [data-row]:visible")


def add_metadata_row(page: Page, key: str, value: str, *, on_invoices: bool) -> None:
    rows = visible_metadata_rows(page)
    before = rows.count()
    page.get_by_role("button", name="Add metadata").click()
    expect(rows).to_have_count(before + 1)
    row = rows.nth(before)
    # app.js focuses the new row's Key input so that the user can type right away.
    expect(row.get_by_label("Key")).to_be_focused()
    row.get_by_label("Key").fill(key)
    row.get_by_label("Value").fill(value)
    if on_invoices:
        row.get_by_label("Display on invoices").check()


def field_container(page: Page, input_id: str):
    return page.locator("div.field").filter(has=page.locator(f"#{input_id}"))


def test_create_customer_with_billing_information_and_metadata(page, shot, staff_user):
    log_in(page, shot)
    open_new_customer_form(page, shot)

    page.get_by_role("textbox", name="Name", exact=True).fill("Wayne Enterprises")
    page.get_by_label("External ID").fill("cus_wayne_001")
    page.get_by_label("Currency").select_option("EUR")
    page.get_by_label("Legal name").fill("Wayne Enterprises SAS")
    page.get_by_label("Email", exact=True).fill("billing@wayne.test")
    page.get_by_label("Address line 1").fill("1007 Mountain Drive")
    page.get_by_label("Zip code").fill("75001")
    page.get_by_label("City").fill("Paris")
    page.get_by_label("Country").select_option(label="France")

    add_metadata_row(page, "crm_id", "CRM-42", on_invoices=True)
    add_metadata_row(page, "segment", "enterprise", on_invoices=False)
    add_metadata_row(page, "to_remove", "should vanish", on_invoices=True)
    expect(visible_metadata_rows(page)).to_have_count(3)
    shot("three-metadata-rows")

    visible_metadata_rows(page).nth(2).get_by_role("button", name="Remove metadata row").click()
    rows = visible_metadata_rows(page)
    expect(rows).to_have_count(2)
    expect(rows.nth(0).get_by_label("Key")).to_have_value("crm_id")
    expect(rows.nth(1).get_by_label("Key")).to_have_value("segment")
    shot("filled-form-after-remove")

    page.get_by_role("button", name="Create customer").click()
    expect(page).to_have_url(CUSTOMER_URL)
    shot("customer-view")

    header = page.locator("header.customer-header")
    expect(header.get_by_role("heading", name="Wayne Enterprises")).to_be_visible()
    expect(header).to_contain_text("cus_wayne_001")

    details = page.locator("aside.details")
    for text in (
        "Wayne Enterprises SAS",
        "billing@wayne.test",
        "1007 Mountain Drive",
        "75001 Paris",
        "FR",
        "EUR",
    ):
        expect(details).to_contain_text(text)

    metadata = details.locator("dl.metadata")
    expect(metadata.locator("dt")).to_have_text(["crm_id", "segment"])
    expect(metadata.locator("dd").nth(0)).to_contain_text("CRM-42")
    expect(metadata.locator("dd").nth(0).locator(".badge")).to_have_text("on invoices")
    expect(metadata.locator("dd").nth(1)).to_have_text("enterprise")
    expect(details).not_to_contain_text("to_remove")

    expect(page.get_by_role("tab", name="Overview")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_role("tabpanel")).to_contain_text("Billing timezone")

    customer = Customer.live.get(organization=staff_user.organization, external_id="cus_wayne_001")
    assert page.url.endswith(f"/customers/{customer.pk}/")
    assert (customer.name, customer.legal_name, customer.email) == (
        "Wayne Enterprises",
        "Wayne Enterprises SAS",
        "billing@wayne.test",
    )
    assert (customer.address_line1, customer.zipcode, customer.city, customer.country, customer.currency) == (
        "1007 Mountain Drive",
        "75001",
        "Paris",
        "FR",
        "EUR",
    )
    assert customer.address_line2 is None and customer.payment_provider is None
    rows = CustomerMetadata.objects.filter(customer=customer).order_by("key")
    assert [(row.key, row.value, row.display_in_invoice) for row in rows] == [
        ("crm_id", "CRM-42", True),
        ("segment", "enterprise", False),
    ]
    assert CustomerMetadata.objects.count() == 2


def test_missing_external_id_shows_the_error_next_to_the_field(page, shot, staff_user):
    log_in(page, shot)
    open_new_customer_form(page, shot)

    page.get_by_role("textbox", name="Name", exact=True).fill("Nameless Ltd")
    page.get_by_label("City").fill("Lyon")
    add_metadata_row(page, "crm_id", "CRM-7", on_invoices=True)
    page.get_by_role("button", name="Create customer").click()

    expect(page).to_have_url(re.compile(r"/customers/new/$"))
    external_id = field_container(page, "id_external_id")
    expect(external_id.get_by_role("alert")).to_have_text("This field is required.")
    expect(external_id).to_have_class(re.compile(r"\bhas-error\b"))
    # The only error on the page, and what was typed is still there.
    expect(page.locator(".field-error")).to_have_count(1)
    expect(page.get_by_role("textbox", name="Name", exact=True)).to_have_value("Nameless Ltd")
    expect(page.get_by_label("City")).to_have_value("Lyon")
    expect(visible_metadata_rows(page)).to_have_count(1)
    expect(visible_metadata_rows(page).get_by_label("Key")).to_have_value("crm_id")
    expect(visible_metadata_rows(page).get_by_label("Display on invoices")).to_be_checked()
    external_id.scroll_into_view_if_needed()
    shot("external-id-error")

    assert not Customer.objects.exists()
    assert not CustomerMetadata.objects.exists()


def test_edit_customer_from_the_actions_menu(page, shot, staff_user):
    customer = create_customer(
        organization=staff_user.organization,
        data={
            "external_id": "cus_stark_001",
            "name": "Stark Industries",
            "currency": "USD",
            "legal_name": "Stark Industries Inc.",
            "city": "Malibu",
            "country": "US",
            "metadata": [{"key": "crm_id", "value": "CRM-1", "display_in_invoice": True}],
        },
    )
    log_in(page, shot)
    page.goto(f"/customers/{customer.pk}/")
    expect(page.get_by_role("heading", name="Stark Industries")).to_be_visible()
    shot("customer-view")

    page.get_by_text("Actions", exact=True).click()
    edit = page.get_by_role("menuitem", name="Edit customer")
    expect(edit).to_be_visible()
    shot("actions-open")
    edit.click()

    expect(page).to_have_url(re.compile(rf"/customers/{customer.pk}/edit/$"))
    expect(page.get_by_role("heading", name="Edit customer")).to_be_visible()
    expect(page.get_by_role("textbox", name="Name", exact=True)).to_have_value("Stark Industries")
    expect(page.get_by_label("External ID")).to_have_value("cus_stark_001")
    expect(page.get_by_label("Currency")).to_have_value("USD")
    expect(page.get_by_label("Legal name")).to_have_value("Stark Industries Inc.")
    expect(page.get_by_label("City")).to_have_value("Malibu")
    expect(page.get_by_label("Country")).to_have_value("US")
    row = visible_metadata_rows(page)
    expect(row).to_have_count(1)
    expect(row.get_by_label("Key")).to_have_value("crm_id")
    expect(row.get_by_label("Value")).to_have_value("CRM-1")
    expect(row.get_by_label("Display on invoices")).to_be_checked()
    shot("edit-form-prefilled")

    page.get_by_role("textbox", name="Name", exact=True).fill("Stark Industries Europe")
    page.get_by_role("button", name="Save customer").click()

    expect(page).to_have_url(re.compile(rf"/customers/{customer.pk}/$"))
    expect(page.locator("header.customer-header").get_by_role("heading")).to_have_text("Stark Industries Europe")
    expect(page.locator("aside.details")).to_contain_text("Stark Industries Inc.")
    expect(page.locator("aside.details dl.metadata dt")).to_have_text(["crm_id"])
    shot("customer-view-renamed")

    customer.refresh_from_db()
    assert customer.name == "Stark Industries Europe"
    assert customer.external_id == "cus_stark_001"
    assert list(customer.metadata.values_list("key", "value", "display_in_invoice")) == [("crm_id", "CRM-1", True)]
