"""Logging in lands on the dashboard, end to end in headless Chromium: the figures and charts of a known
data set (analytics/tests/dataset.py), each chart an image with a title and a description and its
values in a table, and the currency picker. Screenshots go to /tmp/shots/dashboard/<test name>/.

The clock is not pinned here: the browser's cookies follow the real one. The data set is dated from
today, and its figures are computed from its rows by dataset.py, not read from the selectors.
"""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from analytics.selectors import last_months
from analytics.tests import dataset
from conftest import STAFF_PASSWORD
from tests.conftest import Shots

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


@pytest.fixture
def shot(page, request) -> Shots:
    return Shots(page, f"dashboard/{request.node.name}")


def money(cents: int, currency: str) -> str:
    return f"{cents / 100:,.2f} {currency}"


def figures(cents: int) -> str:
    return f"{cents / 100:,.2f}"


def log_in(page: Page, email: str) -> None:
    page.goto("/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_log_in_and_read_the_dashboard(page, shot, organization, staff_user):
    today = timezone.now().date()
    data = dataset.build(organization, today)
    months = last_months(today, 12)

    log_in(page, staff_user.email)
    expect(page).to_have_url(re.compile(r"^http://[^/]+/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard")).to_have_class("active")
    shot("dashboard-eur")

    # The cards, in the organization's default currency.
    mrr = dataset.expected_mrr(data, months=12)
    outstanding, outstanding_count, overdue, overdue_count = dataset.expected_receivables(data, "EUR")
    expect(page.get_by_test_id("mrr")).to_have_text(money(mrr.get((months[-1], "EUR"), 0), "EUR"))
    expect(page.get_by_test_id("outstanding")).to_have_text(money(outstanding, "EUR"))
    expect(page.get_by_test_id("overdue")).to_have_text(money(overdue, "EUR"))
    expect(page.get_by_text(f"{outstanding_count} invoices not paid yet")).to_be_visible()
    expect(page.get_by_text(f"{overdue_count} invoices past the due date")).to_be_visible()

    # Each chart is one image named by its title, and its values are in a table beside it.
    revenue_chart = page.get_by_role("img", name=re.compile(r"^Gross revenue per month in EUR"))
    expect(revenue_chart).to_be_visible()
    expect(revenue_chart.locator("rect.bar")).to_have_count(12)
    revenue = dataset.expected_gross_revenue(data, months=12)
    revenue_table = page.get_by_role("table", name="Gross revenue per month, in EUR")
    expect(revenue_table.get_by_role("columnheader")).to_have_text(["Month", *[f"{month:%b %Y}" for month in months]])
    expect(
        revenue_table.get_by_role("row", name=re.compile(r"^Gross revenue \(EUR\)")).get_by_role("cell")
    ).to_have_text([figures(revenue.get((month, "EUR"), (0, 0))[0]) for month in months])
    expect(revenue_table.get_by_role("row", name=re.compile(r"^Invoices")).get_by_role("cell")).to_have_text(
        [str(revenue.get((month, "EUR"), (0, 0))[1]) for month in months]
    )
    mrr_table = page.get_by_role("table", name="MRR per month, in EUR")
    expect(page.get_by_role("img", name=re.compile(r"^MRR per month in EUR"))).to_be_visible()
    expect(mrr_table.get_by_role("row", name=re.compile(r"^MRR \(EUR\)")).get_by_role("cell")).to_have_text(
        [figures(mrr.get((month, "EUR"), 0)) for month in months]
    )
    usage_table = page.get_by_role("table", name=re.compile(r"^Invoiced usage per billable metric"))
    expect(page.get_by_role("img", name=re.compile(r"^Invoiced usage per billable metric in EUR"))).to_be_visible()
    expect(usage_table.get_by_role("row", name=re.compile(r"^API calls"))).to_contain_text("40.00 EUR")
    expect(usage_table.get_by_role("row", name=re.compile(r"^Storage"))).to_contain_text("5.00 EUR")

    # The newest invoices link to their pages.
    newest = page.get_by_role("region", name="Newest invoices")
    expect(newest.get_by_role("row")).to_have_count(6)  # a header and five invoices
    page.get_by_role("region", name="Newest invoices").scroll_into_view_if_needed()
    shot("dashboard-eur-bottom")

    # Another currency: the figures change in place, the address says which.
    page.get_by_label("Currency").select_option("USD")
    expect(page).to_have_url(re.compile(r"/\?currency=USD$"))
    expect(page.get_by_role("img", name=re.compile(r"^Gross revenue per month in USD"))).to_be_visible()
    expect(page.get_by_test_id("outstanding")).to_have_text("0.00 USD")
    usd_table = page.get_by_role("table", name="Gross revenue per month, in USD")
    expect(usd_table.get_by_role("row", name=re.compile(r"^Gross revenue \(USD\)")).get_by_role("cell")).to_have_text(
        [figures(revenue.get((month, "USD"), (0, 0))[0]) for month in months]
    )
    page.evaluate("window.scrollTo(0, 0)")
    shot("dashboard-usd")

    # From the home page, the side menu leads on (what the other browser tests do after logging in).
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Customers").click()
    expect(page).to_have_url(re.compile(r"/customers/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Customers")


def test_a_bad_currency_in_the_address(page, shot, organization, staff_user):
    log_in(page, staff_user.email)
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    page.goto("/?currency=EURO")
    expect(page.get_by_role("alert")).to_have_text("That is not a currency: the figures are in the default currency.")
    expect(page.get_by_label("Currency")).to_have_value("EUR")
    shot("bad-currency")
