"""Deleting a customer, driven end to end in headless Chromium against a live server: Actions →
Delete customer shows what the deletion will do, the red button deletes, the customer leaves the
list; its invoices stay under Invoices and lead to its read-only page, which follows the cascade
until it has finished.

No Celery worker runs here: the cascade's task is recorded instead of sent, and the test runs the
cascade itself (`run_customer_deletion`) against the live server's database, as the worker would.
Each step leaves a full-page screenshot in /tmp/shots/<test name>/ for a human to look at.
"""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from billing.jobs import task_named
from coupons.services import apply_coupon, create_coupon
from customers.models import Customer
from customers.services import create_customer
from invoicing import customer_deletion
from invoicing.customer_deletion import run_customer_deletion
from invoicing.models import CreditNote, CustomerDeletion, Invoice
from invoicing.prepaid_credits import TopUp, create_wallet
from invoicing.subscriptions import create_subscription
from plans.tests.factories import PlanFactory
from tests.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def choose_action(page: Page, name: str) -> None:
    page.get_by_text("Actions", exact=True).click()
    page.get_by_role("menuitem", name=name).click()


@pytest.fixture
def sent_tasks(monkeypatch) -> list:
    """The cascade's task, recorded instead of sent to a broker (the live server runs in this process)."""
    sent: list = []
    monkeypatch.setattr(task_named(customer_deletion.TASK), "delay", lambda *args: sent.append(args))
    return sent


@pytest.fixture
def customer(staff_user) -> Customer:
    """A customer with a plan paid in advance (its first period invoiced at once), a coupon and a wallet."""
    organization = staff_user.organization
    PlanFactory(organization=organization, name="Pro", code="pro", amount_cents=3100, pay_in_advance=True)
    customer = create_customer(
        organization=organization, data={"external_id": "cus_wayne", "name": "Wayne Enterprises", "currency": "EUR"}
    )
    create_subscription(
        organization=organization,
        data={"external_customer_id": "cus_wayne", "plan_code": "pro", "external_id": "sub_wayne_pro"},
    )
    welcome = create_coupon(
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
    apply_coupon(customer=customer, coupon=welcome)
    create_wallet(customer=customer, rate_amount=Decimal(1), name="Prepaid", top_up=TopUp(granted_credits=Decimal(40)))
    return customer


def test_delete_a_customer_then_follow_its_cascade_from_its_invoices(page, shot, customer, sent_tasks):
    start_invoice = Invoice.objects.get(customer=customer)
    log_in(page, shot)
    page.get_by_role("link", name="Wayne Enterprises").click()
    expect(page.get_by_role("heading", name="Wayne Enterprises")).to_be_visible()
    shot("customer-view")

    # Before the click: what the deletion will do to this customer.
    choose_action(page, "Delete customer")
    expect(page.get_by_role("heading", name="Delete Wayne Enterprises?")).to_be_visible()
    subscriptions = page.locator("#preview-subscriptions")
    expect(subscriptions).to_contain_text("1 active subscription terminated")
    expect(subscriptions.get_by_role("row", name=re.compile("sub_wayne_pro"))).to_contain_text("EUR")
    expect(page.locator("#preview-coupons")).to_contain_text("Welcome")
    expect(page.locator("#preview-wallet")).to_contain_text("The final invoices take what they can of it first")
    expect(page.locator("#preview-wallet")).to_contain_text("at most 40 credits (40.00 EUR)")
    expect(page.locator("#preview-kept")).to_contain_text("1 finalized or voided invoice")
    expect(page.get_by_text("Amounts are estimates")).to_be_visible()
    shot("preview")
    assert not CustomerDeletion.objects.exists()  # looking changes nothing

    page.get_by_role("button", name="Delete customer").click()
    expect(page).to_have_url(re.compile(r"/customers/$"))
    expect(page.get_by_role("status")).to_contain_text("Customer Wayne Enterprises deleted.")
    expect(page.locator("#customer-table")).not_to_contain_text("cus_wayne")
    shot("deleted-gone-from-the-list")
    deletion = CustomerDeletion.objects.get(customer=customer)
    assert sent_tasks == [(str(deletion.pk),)] and deletion.finished_at is None

    # Its invoice stays under Invoices and leads to the deleted customer's page, cascade pending.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Invoices").click()
    page.get_by_role("link", name=start_invoice.number).click()
    expect(page.get_by_text("deleted customer")).to_be_visible()
    page.get_by_role("link", name="Wayne Enterprises").click()
    expect(page).to_have_url(re.compile(rf"/customers/{customer.pk}/$"))
    expect(page.get_by_role("note")).to_contain_text("Deleted on")
    expect(page.get_by_text("Actions", exact=True)).to_have_count(0)
    progress = page.locator("#deletion-progress")
    expect(progress).to_contain_text("Deletion in progress")
    expect(progress.locator("li.pending")).to_have_count(4)
    shot("deleted-customer-cascade-pending")

    # The worker's part, run here: the open page follows it by itself (HTMX polling).
    run_customer_deletion(deletion_id=deletion.pk)
    expect(progress).to_contain_text("Deletion finished", timeout=15_000)
    expect(progress.locator("li.done")).to_have_count(4)
    expect(progress).not_to_have_attribute("hx-trigger", re.compile(".+"))
    credit_note = CreditNote.objects.get(customer=customer)  # the unused part of the period paid in advance
    expect(page.locator("#deleted-credit-notes")).to_contain_text(credit_note.number)
    shot("deleted-customer-cascade-finished")

    # Later, from Invoices again: the steps are done.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Invoices").click()
    page.get_by_role("link", name=start_invoice.number).click()
    page.get_by_role("link", name="Wayne Enterprises").click()
    expect(page.locator("#deletion-progress li.done")).to_have_count(4)
    for step in ("Subscriptions terminated or canceled", "Draft invoices finalized", "Coupons terminated"):
        expect(page.locator("#deletion-progress")).to_contain_text(step)
    expect(page.locator("#deletion-progress")).to_contain_text("Wallet terminated and its credits voided")
    shot("deleted-customer-from-invoices")
