"""The home dashboard: the figures of the data set, one currency at a time, charts a screen reader can
read, the currency picker, and the home page itself."""

import re
from datetime import UTC, date, datetime

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.urls import resolve, reverse

from analytics.tests import dataset
from conftest import STAFF_PASSWORD
from organizations.tests.factories import UserFactory

TODAY = date(2026, 3, 20)


@pytest.fixture(autouse=True)
def pinned_clock():
    with time_machine.travel(datetime(2026, 3, 20, 9, tzinfo=UTC), tick=False):
        yield


@pytest.fixture
def data(organization) -> dataset.DataSet:
    return dataset.build(organization, TODAY)


def text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def test_the_home_page_is_the_dashboard(staff_client):
    assert resolve("/").view_name == "analytics:dashboard"
    assert reverse(settings.LOGIN_REDIRECT_URL) == "/"
    response = staff_client.get("/")
    assert response.status_code == 200
    assert "<h1>Dashboard</h1>" in response.content.decode()


def test_logging_in_lands_on_the_dashboard(staff_user):
    response = Client().post("/login/", {"username": staff_user.email, "password": STAFF_PASSWORD}, follow=True)
    assert response.redirect_chain == [("/", 302)]
    assert "<h1>Dashboard</h1>" in response.content.decode()


def test_a_visitor_is_sent_to_log_in(db):
    response = Client().get("/")
    assert (response.status_code, response["Location"]) == (302, "/login/?next=/")


def test_the_side_menu_starts_with_the_dashboard(staff_client):
    page = staff_client.get(reverse("customers:list")).content.decode()
    links = re.findall(r'<li><a href="([^"]+)"', page)
    assert links[0] == "/"
    home = staff_client.get("/").content.decode()
    assert '<a href="/" class="active">Dashboard</a>' in home


def test_the_figures_in_the_default_currency(staff_client, data):
    response = staff_client.get("/")
    page = response.content.decode()
    assert response["Vary"].count("HX-Request") == 1
    # MRR in March: C's third (100.00) and B's monthly fee (100.00); gross revenue in March: B.
    assert re.search(r'data-testid="mrr">200\.00 EUR<', page)
    assert re.search(r'data-testid="gross-revenue">115\.00 EUR<', page)
    outstanding, _, overdue, _ = dataset.expected_receivables(data, "EUR")
    assert re.search(rf'data-testid="outstanding">{outstanding / 100:,.2f} EUR<', page)
    assert re.search(rf'data-testid="overdue">{overdue / 100:,.2f} EUR<', page)
    assert "3 invoices not paid yet" in text(response) and "2 invoices past the due date" in text(response)


def _table_row(page: str, table: str, header: str) -> list[str]:
    """The cells of one row of a table of the page, by its data-testid and the row's header."""
    body = page.split(f'data-testid="{table}"', 1)[1].split("</table>", 1)[0]
    row = re.search(rf"<th scope=\"row\">{re.escape(header)}</th>(.*?)</tr>", body, re.S).group(1)
    return re.findall(r'<td class="num">([^<]*)</td>', row)


def test_each_chart_has_its_values_in_a_table(staff_client, data):
    page = staff_client.get("/").content.decode()
    months = [date(2025, month, 1) for month in range(4, 13)] + [date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]

    revenue = dataset.expected_gross_revenue(data, months=12)
    assert _table_row(page, "revenue-table", "Gross revenue (EUR)") == [
        f"{revenue.get((month, 'EUR'), (0, 0))[0] / 100:,.2f}" for month in months
    ]
    assert _table_row(page, "revenue-table", "Invoices") == [
        str(revenue.get((month, "EUR"), (0, 0))[1]) for month in months
    ]
    mrr = dataset.expected_mrr(data, months=12)
    assert _table_row(page, "mrr-table", "MRR (EUR)") == [
        f"{mrr.get((month, 'EUR'), 0) / 100:,.2f}" for month in months
    ]

    # Every chart is one image with a title and a description, and a bar per value with its own title.
    for chart in ("revenue-chart", "mrr-chart", "usage-chart"):
        svg = page.split(f'data-testid="{chart}"', 1)[1].split("</svg>", 1)[0]
        assert 'role="img"' in page.split(f'data-testid="{chart}"', 1)[0].rsplit("<svg", 1)[1]
        assert "<title id=" in svg and "<desc id=" in svg
    revenue_svg = page.split('data-testid="revenue-chart"', 1)[1].split("</svg>", 1)[0]
    assert revenue_svg.count('class="bar"') == 12
    assert "<title>January 2026: 420.00 EUR</title>" in revenue_svg
    assert "Highest in January 2026: 420.00 EUR" in revenue_svg


def test_invoiced_usage_per_metric(staff_client, data):
    page = staff_client.get("/").content.decode()
    table = page.split('data-testid="usage-table"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(
        r'<th scope="row">([^<]+)<div.*?</th><td class="num">([^<]+)</td><td class="num">([^<]+)</td>', table
    )
    assert rows == [("API calls", "40.00 EUR", "89%"), ("Storage", "5.00 EUR", "11%")]


def test_another_currency(staff_client, data):
    response = staff_client.get("/", {"currency": "usd"})
    page = response.content.decode()
    assert '<option value="USD" selected>USD</option>' in page
    # Gamma's yearly fee in arrears, issued in February, counts back from February: a twelfth of it
    # each month until then, nothing in March. Nothing is owed in USD.
    assert _table_row(page, "mrr-table", "MRR (USD)")[-3:] == ["100.00", "100.00", "0.00"]
    assert re.search(r'data-testid="mrr">0\.00 USD<', page)
    assert re.search(r'data-testid="outstanding">0\.00 USD<', page)
    assert _table_row(page, "revenue-table", "Gross revenue (USD)")[-2] == "1,140.00"


def test_a_currency_nothing_was_billed_in_shows_zeros(staff_client, data):
    page = staff_client.get("/", {"currency": "GBP"}).content.decode()
    assert '<option value="GBP" selected>GBP</option>' in page
    assert re.search(r'data-testid="mrr">0\.00 GBP<', page)
    assert "No usage invoiced in GBP" in page


def test_a_bad_currency_is_said_next_to_the_picker(staff_client, data):
    response = staff_client.get("/", {"currency": "EURO"})
    assert response.status_code == 200
    page = response.content.decode()
    assert 'aria-describedby="currency-error"' in page
    assert re.search(r'<p id="currency-error" class="field-error" role="alert">That is not a currency', page)
    assert '<option value="EUR" selected>EUR</option>' in page


def test_a_change_of_currency_swaps_the_figures_only(staff_client, data):
    response = staff_client.get("/", {"currency": "USD"}, headers={"HX-Request": "true"})
    page = response.content.decode()
    assert page.lstrip().startswith('<div id="figures"')
    assert "<html" not in page and 'id="dashboard-currency"' not in page
    assert _table_row(page, "revenue-table", "Gross revenue (USD)")[-2] == "1,140.00"
    # The picker's message, outside the figures, is cleared out of band.
    assert '<p id="currency-error" class="field-error" role="alert" hx-swap-oob="true" hidden>' in page


def test_newest_invoices(staff_client, data):
    page = staff_client.get("/").content.decode()
    # Newest first, as the invoice list orders them (the clock stands still: then by id).
    newest = sorted(data.invoices.values(), key=lambda invoice: (-invoice.created_at.timestamp(), invoice.pk))[:5]
    section = page.split('id="invoices-heading"', 1)[1]
    shown = re.findall(r'href="/invoices/([0-9a-f-]+)/"', section)
    assert shown == [str(invoice.pk) for invoice in newest]


def test_an_empty_organization(staff_client):
    page = staff_client.get("/").content.decode()
    assert "No usage invoiced in EUR" in page and "No invoices yet" in page
    assert "Nothing in these 12 months." in page
    assert re.search(r'data-testid="mrr">0\.00 EUR<', page)


def test_a_staff_member_sees_only_their_organization(other_organization, data):
    client = Client()
    client.force_login(UserFactory(organization=other_organization))
    page = client.get("/").content.decode()
    assert "Alpha Corp" not in page and re.search(r'data-testid="mrr">0\.00 EUR<', page)
