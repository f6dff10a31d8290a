"""The plan form's charge editor, end to end in headless Chromium: tiers added and removed in the page,
a refused tier shown in its cell, the plan page's pricing tables, and the form without script.

Each step leaves a full-page screenshot in /tmp/shots/charge_editor/<test name>/ for a human to look at.
"""

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from conftest import STAFF_PASSWORD
from plans.models import Plan
from plans.services import create_billable_metric, create_plan
from tests.conftest import Shots, log_in

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

PLAN_URL = re.compile(r"/plans/[0-9a-f-]{36}/$")
MODEL_SECTIONS = {
    "standard": "Standard pricing",
    "package": "Package pricing",
    "percentage": "Percentage pricing",
    "graduated": "Tiers (graduated and volume)",
    "volume": "Tiers (graduated and volume)",
}


@pytest.fixture
def shot(page, request) -> Shots:
    return Shots(page, f"charge_editor/{request.node.name}")


@pytest.fixture
def metric(organization):
    return create_billable_metric(
        organization=organization,
        data={"code": "api_calls", "name": "API calls", "aggregation_type": "count_agg"},
    )


def start_a_plan(page: Page, shot: Shots) -> Locator:
    """Open the new plan form, fill the plan's fields and add one charge on API calls."""
    log_in(page, shot)
    page.goto("/plans/new/")
    page.get_by_role("textbox", name="Name", exact=True).fill("Scale")
    page.get_by_role("textbox", name="Code", exact=True).fill("scale")
    page.get_by_role("textbox", name="Base amount").fill("99")
    page.get_by_role("combobox", name="Currency", exact=True).select_option("USD")
    page.get_by_role("button", name="Add a charge").click()
    charge = page.locator("[data-charge-editor]:visible")
    expect(charge).to_have_count(1)
    charge.get_by_label("Billable metric").select_option(label="API calls (api_calls)")
    return charge


def tier_rows(charge: Locator) -> Locator:
    return charge.locator("[data-tier]")


def fill_tier(row: Locator, *, to: str | None = None, per_unit: str | None = None, flat: str | None = None):
    for label, value in (("To units", to), ("Per unit amount", per_unit), ("Flat amount", flat)):
        if value is not None:
            row.get_by_label(label).fill(value)


def test_create_a_plan_with_a_graduated_charge(page, shot, staff_user, metric):
    charge = start_a_plan(page, shot)
    charge.get_by_label("Charge model").select_option("graduated")
    # Only the tiers show; the blank rows kept for a page without script are gone.
    expect(charge.get_by_role("group", name="Tiers (graduated and volume)")).to_be_visible()
    expect(charge.get_by_role("group", name="Standard pricing")).to_have_count(0)
    expect(charge.get_by_text("Graduated: each tier prices")).to_be_visible()
    expect(charge.get_by_text("Volume: all units")).to_be_hidden()
    rows = tier_rows(charge)
    expect(rows).to_have_count(1)
    expect(rows.nth(0).get_by_label("From units")).to_have_value("0")
    expect(charge.locator("th", has_text="Per unit amount")).to_contain_text("USD")
    shot("graduated-chosen")

    fill_tier(rows.nth(0), to="100", per_unit="0.10", flat="1")
    add = charge.get_by_role("button", name="Add tier")
    add.click()
    # A new tier starts one unit after the previous one ends, and the cursor waits for its price.
    expect(rows).to_have_count(2)
    expect(rows.nth(1).get_by_label("From units, tier 2")).to_have_value("101")
    expect(rows.nth(1).get_by_label("Per unit amount")).to_be_focused()
    fill_tier(rows.nth(1), to="1000", per_unit="0.05")
    add.click()
    expect(rows.nth(2).get_by_label("From units")).to_have_value("1001")
    fill_tier(rows.nth(2), to="5000", per_unit="0.03")
    add.click()
    expect(rows.nth(3).get_by_label("From units")).to_have_value("5001")
    fill_tier(rows.nth(3), per_unit="0.02")
    expect(rows).to_have_count(4)
    shot("four-tiers")

    charge.get_by_role("button", name="Remove tier 3").click()
    expect(rows).to_have_count(3)
    expect(rows.nth(2).get_by_label("From units, tier 3")).to_have_value("5001")
    expect(rows.nth(2).locator("[data-tier-number]")).to_have_text("3")
    # An overlapping start and a negative amount.
    rows.nth(2).get_by_label("From units").fill("900")
    rows.nth(1).get_by_label("Flat amount").fill("-1")
    shot("invalid-tiers")
    page.get_by_role("button", name="Create plan").click()

    expect(page).to_have_url(re.compile(r"/plans/new/$"))
    charge = page.locator("[data-charge-editor]:visible")
    rows = tier_rows(charge)
    expect(rows).to_have_count(3)
    start = rows.nth(2).locator('[data-cell="from_value"]')
    expect(start.get_by_role("alert")).to_have_text("Start at 1001, one unit after the previous tier ends.")
    expect(start.get_by_role("textbox")).to_have_value("900")
    expect(start.get_by_role("textbox")).to_have_attribute("aria-invalid", "true")
    flat = rows.nth(1).locator('[data-cell="flat_amount"]')
    expect(flat.get_by_role("alert")).to_have_text("Enter an amount of 0 or more, or leave empty for none.")
    expect(charge.locator(".field-error")).to_have_count(2)  # nothing else is blamed
    expect(charge.get_by_label("Charge model")).to_have_value("graduated")
    shot("errors-in-their-cells")
    assert not Plan.objects.exists()

    rows.nth(2).get_by_label("From units").fill("1001")
    rows.nth(1).get_by_label("Flat amount").fill("")
    shot("fixed")
    page.get_by_role("button", name="Create plan").click()

    expect(page).to_have_url(PLAN_URL)
    tiers = page.locator("table.tiers-pricing tbody tr")
    expect(tiers).to_have_count(3)
    expect(tiers.nth(0).locator("td")).to_have_text(["0 – 100 units", "0.10 USD per unit", "1.00 USD flat"])
    expect(tiers.nth(1).locator("td")).to_have_text(["101 – 1,000 units", "0.05 USD per unit", "0.00 USD flat"])
    expect(tiers.nth(2).locator("td")).to_have_text(["1,001 units and above", "0.02 USD per unit", "0.00 USD flat"])
    expect(page.locator(".charge-card")).not_to_contain_text("graduated_ranges")
    shot("plan-page")

    plan = Plan.objects.get(organization=staff_user.organization, code="scale")
    assert plan.charges.get().properties == {
        "graduated_ranges": [
            {"from_value": 0, "to_value": 100, "per_unit_amount": "0.1", "flat_amount": "1"},
            {"from_value": 101, "to_value": 1000, "per_unit_amount": "0.05", "flat_amount": "0"},
            {"from_value": 1001, "to_value": None, "per_unit_amount": "0.02", "flat_amount": "0"},
        ]
    }


def test_each_charge_model_shows_its_own_inputs(page, shot, staff_user, metric):
    charge = start_a_plan(page, shot)
    for model, section in MODEL_SECTIONS.items():
        charge.get_by_label("Charge model").select_option(model)
        expect(charge.get_by_role("group", name=section)).to_be_visible()
        expect(charge.locator("fieldset:visible")).to_have_count(1)
        expect(charge.locator("fieldset:not([disabled])")).to_have_count(1)  # the hidden ones are not posted
        charge.screenshot(path=shot.directory / f"editor-{model}.png")
    # The currency chosen for the plan labels the prices.
    page.get_by_role("combobox", name="Currency", exact=True).select_option("EUR")
    expect(charge.locator("th", has_text="Flat amount")).to_contain_text("EUR")

    charge.get_by_label("Charge model").select_option("percentage")
    charge.get_by_label("Rate (%)").fill("2.5")
    charge.get_by_label("Fixed fee per transaction").fill("0.30")
    charge.get_by_label("Minimum fee per transaction").fill("1")
    charge.get_by_label("Maximum fee per transaction").fill("0.5")
    page.get_by_role("button", name="Create plan").click()
    maximum = page.locator(".field").filter(has=page.get_by_label("Maximum fee per transaction"))
    expect(maximum.get_by_role("alert")).to_have_text("The maximum per transaction is below the minimum.")
    shot("percentage-error")
    maximum.get_by_label("Maximum fee per transaction").fill("5")
    page.get_by_role("button", name="Create plan").click()

    expect(page).to_have_url(PLAN_URL)
    terms = page.locator("table.terms-pricing tr")
    expect(terms).to_have_text(
        [
            "Rate 2.5% of the amount",
            "Fixed fee 0.30 EUR per transaction",
            "Minimum per transaction 1.00 EUR",
            "Maximum per transaction 5.00 EUR",
        ],
        use_inner_text=True,
    )
    shot("plan-page")
    assert Plan.objects.get().charges.get().properties == {
        "rate": "2.5",
        "fixed_amount": "0.3",
        "per_transaction_min_amount": "1",
        "per_transaction_max_amount": "5",
    }


def test_editing_a_plan_shows_each_charge_filled_in(page, shot, staff_user, metric, organization):
    charges = [
        ("standard", {"amount": "0.5"}),
        ("package", {"amount": "10", "package_size": 1000, "free_units": 100}),
        ("percentage", {"rate": "1.5", "fixed_amount": "0.2", "free_units_per_events": 3}),
        (
            "volume",
            {
                "volume_ranges": [
                    {"from_value": 0, "to_value": 100, "per_unit_amount": "2", "flat_amount": "1"},
                    {"from_value": 101, "to_value": None, "per_unit_amount": "1", "flat_amount": "0"},
                ]
            },
        ),
    ]
    plan = create_plan(
        organization=organization,
        data={
            "code": "team",
            "name": "Team",
            "interval": "monthly",
            "amount_cents": 2500,
            "amount_currency": "USD",
            "charges": [
                {"billable_metric_id": str(metric.pk), "charge_model": model, "properties": properties}
                for model, properties in charges
            ],
        },
    )
    log_in(page, shot)
    page.goto(f"/plans/{plan.pk}/")
    expect(page.locator(".charge-card")).to_have_count(4)
    expect(page.locator("table.terms-pricing").nth(1)).to_contain_text("10.00 USD per package of 1,000 units")
    shot("plan-page")

    page.goto(f"/plans/{plan.pk}/edit/")
    editors = page.locator("[data-charge-editor]:visible")
    expect(editors).to_have_count(4)
    expect(editors.nth(0).get_by_label("Price per unit")).to_have_value("0.5")
    expect(editors.nth(1).get_by_label("Units per package")).to_have_value("1000")
    expect(editors.nth(1).get_by_label("Free units")).to_have_value("100")
    expect(editors.nth(2).get_by_label("Free transactions")).to_have_value("3")
    volume = tier_rows(editors.nth(3))
    expect(volume).to_have_count(2)
    expect(volume.nth(1).get_by_label("From units")).to_have_value("101")
    expect(volume.nth(1).get_by_label("To units")).to_have_value("")
    shot("edit-form")

    volume.nth(0).get_by_label("Per unit amount").fill("1.5")
    page.get_by_role("button", name="Save plan").click()
    expect(page).to_have_url(PLAN_URL)
    expect(page.locator("table.tiers-pricing tbody tr").nth(0)).to_contain_text("1.50 USD per unit")
    saved = [
        (c.charge_model, c.properties) for c in plan.charges.filter(deleted_at__isnull=True).order_by("created_at")
    ]
    charges[3][1]["volume_ranges"][0]["per_unit_amount"] = "1.5"
    assert saved == charges


def test_the_editor_works_without_script(chromium, live_server, staff_user, metric):
    context = chromium.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/login/")
        page.get_by_label("Email").fill(staff_user.email)
        page.get_by_label("Password").fill(STAFF_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        plan = create_plan(
            organization=staff_user.organization,
            data={
                "code": "basic",
                "name": "Basic",
                "interval": "monthly",
                "amount_cents": 0,
                "amount_currency": "USD",
                "charges": [
                    {"billable_metric_id": str(metric.pk), "charge_model": "standard", "properties": {"amount": "1"}}
                ],
            },
        )
        page.goto(f"{live_server.url}/plans/{plan.pk}/edit/")
        editor = page.locator("[data-charge-editor]").first
        # Every model's inputs show, and blank tier rows stand in for "Add tier".
        for section in set(MODEL_SECTIONS.values()):
            expect(editor.get_by_role("group", name=section)).to_be_visible()
        expect(editor.get_by_role("button", name="Add tier")).to_be_hidden()
        rows = editor.locator("[data-tier]")
        expect(rows).to_have_count(3)
        editor.get_by_label("Charge model").select_option("volume")
        rows.nth(0).get_by_label("To units").fill("10")
        rows.nth(0).get_by_label("Per unit amount").fill("1")
        rows.nth(1).get_by_label("From units").fill("11")
        rows.nth(1).get_by_label("Per unit amount").fill("0.5")
        shot = Shots(page, "charge_editor/test_the_editor_works_without_script")
        shot("every-section-shows")
        page.get_by_role("button", name="Save plan").click()
        expect(page).to_have_url(PLAN_URL)
        expect(page.locator("table.tiers-pricing tbody tr")).to_have_count(2)
        shot("plan-page")
    finally:
        context.close()
    assert plan.charges.get(deleted_at__isnull=True).properties == {
        "volume_ranges": [
            {"from_value": 0, "to_value": 10, "per_unit_amount": "1", "flat_amount": "0"},
            {"from_value": 11, "to_value": None, "per_unit_amount": "0.5", "flat_amount": "0"},
        ]
    }
