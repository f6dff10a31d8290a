"""Assigning a plan from the customer view and watching its usage, end to end in headless Chromium.

Events go in through the real API (HTTP to the live server, Bearer key), the Usage tab is read in the
browser. Each step leaves a full-page screenshot in /tmp/shots/usage/<test name>/ for a human to look at.
"""

import json
import re
import urllib.request
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from customers.services import create_customer
from organizations.services import create_api_key
from plans.models import Subscription, SubscriptionStatus
from plans.services import create_billable_metric, create_plan
from tests.conftest import Shots, log_in

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

TIMEZONE = "Europe/Paris"
PLAN_LABEL = "Startup (startup, monthly)"


@pytest.fixture
def shot(page, request) -> Shots:  # this module's screenshots go under usage/
    return Shots(page, f"usage/{request.node.name}")


@pytest.fixture
def plan(organization):
    storage = create_billable_metric(
        organization=organization,
        data={"code": "storage_gb", "name": "Storage", "aggregation_type": "sum_agg", "field_name": "gb"},
    )
    calls = create_billable_metric(
        organization=organization,
        data={"code": "api_calls", "name": "API calls", "aggregation_type": "count_agg"},
    )
    return create_plan(
        organization=organization,
        data={
            "code": "startup",
            "name": "Startup",
            "interval": "monthly",
            "amount_cents": 4900,
            "amount_currency": "EUR",
            "pay_in_advance": False,
            "charges": [
                {
                    "billable_metric_id": str(storage.pk),
                    "charge_model": "standard",
                    "properties": {"amount": "0.5"},
                },
                {
                    "billable_metric_id": str(calls.pk),
                    "charge_model": "graduated",
                    "properties": {
                        "graduated_ranges": [
                            {"from_value": 0, "to_value": 10, "per_unit_amount": "1", "flat_amount": "0"},
                            {"from_value": 11, "to_value": None, "per_unit_amount": "0.5", "flat_amount": "2"},
                        ]
                    },
                },
            ],
        },
    )


@pytest.fixture
def customer(organization):
    return create_customer(
        organization=organization,
        data={"external_id": "cus_umbrella_001", "name": "Umbrella Corp", "currency": "EUR", "timezone": TIMEZONE},
    )


@pytest.fixture
def raw_api_key(organization) -> str:
    _, raw_key = create_api_key(organization=organization)
    return raw_key


def post_events(base_url: str, raw_key: str, events: list[dict]) -> list[dict]:
    """POST /api/v1/events/batch over real HTTP, as a client's backend does."""
    request = urllib.request.Request(
        f"{base_url}/api/v1/events/batch",
        data=json.dumps({"events": events}).encode(),
        headers={"Authorization": f"Bearer {raw_key}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        accepted = json.loads(response.read())["events"]
    assert len(accepted) == len(events)
    return accepted


def event(subscription_id: str, code: str, timestamp: float, **properties) -> dict:
    return {
        "transaction_id": f"tr_{uuid.uuid4().hex}",
        "external_subscription_id": subscription_id,
        "code": code,
        "timestamp": timestamp,
        "properties": properties,
    }


def open_customer(page: Page, customer, shot: Shots) -> None:
    page.goto(f"/customers/{customer.pk}/")
    expect(page.locator("header.customer-header").get_by_role("heading", name=customer.name)).to_be_visible()
    shot("customer-view")


def assign_plan(page: Page, customer, shot: Shots, *, external_id: str, start_date: str | None = None) -> None:
    """Actions → Assign a plan, fill the form, submit; ends on the Subscriptions tab."""
    page.get_by_text("Actions", exact=True).click()
    menu_item = page.get_by_role("menuitem", name="Assign a plan")
    expect(menu_item).to_be_visible()
    shot("actions-open")
    menu_item.click()

    expect(page).to_have_url(re.compile(rf"/customers/{customer.pk}/assign-plan/$"))
    expect(page.get_by_role("heading", name="Assign a plan")).to_be_visible()
    # Defaults: a generated external id, today in the customer's timezone, calendar billing.
    today = datetime.now(ZoneInfo(TIMEZONE)).date().isoformat()
    expect(page.get_by_label("Subscription external ID")).to_have_value(re.compile(r"^sub_[0-9a-f]{12}$"))
    expect(page.get_by_role("textbox", name="Start date")).to_have_value(today)
    expect(page.get_by_role("radio", name=re.compile(r"^Calendar"))).to_be_checked()
    expect(page.get_by_role("radio", name=re.compile(r"^Anniversary"))).not_to_be_checked()
    expect(page.locator("form.narrow-form")).to_contain_text(
        f"Billing periods follow the customer's timezone: {TIMEZONE}."
    )
    shot("assign-form-empty")

    page.get_by_label("Plan").select_option(label=PLAN_LABEL)
    page.get_by_label("Subscription external ID").fill(external_id)
    page.get_by_label("Subscription name").fill("Umbrella main")
    if start_date is not None:
        page.get_by_role("textbox", name="Start date").fill(start_date)
    shot("assign-form-filled")
    page.get_by_role("button", name="Assign plan").click()

    expect(page).to_have_url(re.compile(rf"/customers/{customer.pk}/subscriptions/$"))
    expect(page.get_by_role("tab", name="Subscriptions")).to_have_attribute("aria-selected", "true")


def subscription_row(page: Page, external_id: str):
    return page.get_by_role("tabpanel").locator("tbody tr").filter(has_text=external_id)


def open_usage_tab(page: Page, customer) -> None:
    page.get_by_role("tab", name="Usage").click()
    # The tab loads through HTMX and pushes its URL.
    expect(page).to_have_url(re.compile(rf"/customers/{customer.pk}/usage/$"))
    expect(page.get_by_role("tab", name="Usage")).to_have_attribute("aria-selected", "true")


def expect_charge(page: Page, code: str, *, units: str, amount: str) -> None:
    row = page.locator(f'tr[data-charge="{code}"]')
    expect(row).to_have_count(1)
    expect(row.locator('td[data-testid="units"]')).to_have_text(units)
    expect(row.locator('td[data-testid="amount"]')).to_have_text(amount)


def test_assign_plan_then_watch_usage_grow(page, shot, live_server, staff_user, customer, plan, raw_api_key):
    log_in(page, shot)
    open_customer(page, customer, shot)
    assign_plan(page, customer, shot, external_id="sub_umbrella_main")

    expect(page.get_by_text("Plan assigned.")).to_be_visible()
    row = subscription_row(page, "sub_umbrella_main")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Umbrella main")
    expect(row).to_contain_text("Startup")
    expect(row.locator(".status")).to_have_text("Active")
    expect(row).to_contain_text("Calendar")
    shot("subscriptions-tab")

    subscription = Subscription.objects.get(customer=customer, external_id="sub_umbrella_main")
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert subscription.plan_id == plan.pk and subscription.billing_time == "calendar"
    # Usage counts events from the start of the subscription on: stamp them just after it.
    start = subscription.started_at.timestamp() + 1

    # Storage, sum of "gb" priced 0.5 per unit (standard): 2 + 3 + 5 = 10 GB -> 10 x 0.50 = 5.00 EUR.
    # API calls, count, graduated: 12 calls -> first range 0..10: 10 x 1.00 = 10.00;
    #   second range 11..: 2 x 0.50 = 1.00 plus its flat 2.00 -> 13.00 EUR.
    # Total: 5.00 + 13.00 = 18.00 EUR.
    events = [event("sub_umbrella_main", "storage_gb", start + i, gb=gb) for i, gb in enumerate((2, 3, 5))]
    events += [event("sub_umbrella_main", "api_calls", start + 3 + i) for i in range(12)]
    post_events(live_server.url, raw_api_key, events)

    open_usage_tab(page, customer)
    expect(page.locator("#usage-subscription")).to_have_value(str(subscription.pk))
    expect(page.locator("#usage-subscription option:checked")).to_have_text("Umbrella main (sub_umbrella_main)")
    expect(page.get_by_test_id("usage-period")).to_contain_text(f"({TIMEZONE})")
    expect(page.get_by_test_id("usage-period")).to_have_text(re.compile(r"^From .+ to .+ \(Europe/Paris\)$"))
    expect(page.get_by_role("img", name="Events per day in this period")).to_be_visible()
    expect(page.locator("figure.chart rect.bar")).not_to_have_count(0)
    expect(page.locator("figure.chart figcaption")).to_have_text("Events per day (peak 15)")
    expect(page.get_by_test_id("usage-total")).to_have_text("18.00 EUR")
    expect_charge(page, "storage_gb", units="10", amount="5.00 EUR")
    expect_charge(page, "api_calls", units="12", amount="13.00 EUR")
    expect(page.locator("table.usage-table tfoot")).to_contain_text("18.00 EUR")
    shot("usage-tab")

    # One more call: 13 calls -> 10.00 + 3 x 0.50 + 2.00 = 13.50 EUR; total 5.00 + 13.50 = 18.50 EUR.
    post_events(live_server.url, raw_api_key, [event("sub_umbrella_main", "api_calls", start + 20)])
    # A full page load would wipe this marker; an HTMX swap keeps it.
    page.evaluate("window.__usageMarker = 'still here'")
    with page.expect_request(re.compile(rf"/customers/{customer.pk}/usage/\?subscription=")) as refresh:
        page.get_by_role("button", name="Refresh").click()
    assert refresh.value.headers.get("hx-request") == "true"
    expect(page.get_by_test_id("usage-total")).to_have_text("18.50 EUR")
    expect_charge(page, "api_calls", units="13", amount="13.50 EUR")
    expect_charge(page, "storage_gb", units="10", amount="5.00 EUR")
    expect(page.locator("figure.chart figcaption")).to_have_text("Events per day (peak 16)")
    assert page.evaluate("window.__usageMarker") == "still here"
    expect(page).to_have_url(re.compile(rf"/customers/{customer.pk}/usage/$"))
    shot("usage-tab-refreshed")


def test_usage_tab_explains_why_there_is_nothing_to_show(page, shot, staff_user, customer, plan):
    log_in(page, shot)
    open_customer(page, customer, shot)

    open_usage_tab(page, customer)
    panel = page.get_by_role("tabpanel")
    expect(panel.get_by_role("heading", name="No usage to show")).to_be_visible()
    expect(panel).to_contain_text("Usage is monitored once a plan is assigned")
    expect(panel.get_by_role("link", name="Assign a plan")).to_be_visible()
    expect(page.get_by_test_id("usage-total")).to_have_count(0)
    shot("usage-no-subscription")

    # A start date in the future (in the customer's timezone) makes the subscription pending.
    starts = datetime.now(ZoneInfo(TIMEZONE)).date() + timedelta(days=7)
    assign_plan(page, customer, shot, external_id="sub_umbrella_later", start_date=starts.isoformat())
    row = subscription_row(page, "sub_umbrella_later")
    expect(row.locator(".status")).to_have_text("Pending")
    expect(row).to_contain_text(f"{starts:%b} {starts.day}, {starts.year}")
    shot("subscriptions-tab-pending")

    subscription = Subscription.objects.get(customer=customer, external_id="sub_umbrella_later")
    assert subscription.status == SubscriptionStatus.PENDING
    # The day's local midnight in Paris.
    assert subscription.subscription_at == datetime.combine(starts, datetime.min.time(), tzinfo=ZoneInfo(TIMEZONE))

    open_usage_tab(page, customer)
    panel = page.get_by_role("tabpanel")
    expect(panel.get_by_role("heading", name="Not active yet")).to_be_visible()
    expect(panel).to_contain_text(
        f"Umbrella main (sub_umbrella_later) starts on {starts:%b} {starts.day}, {starts.year}"
    )
    expect(panel.get_by_role("heading", name="No usage to show")).to_have_count(0)
    expect(page.get_by_test_id("usage-total")).to_have_count(0)
    shot("usage-pending")
