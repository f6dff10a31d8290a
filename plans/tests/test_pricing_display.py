"""A charge's pricing in words on the plan page: tiers as rows, amounts with the plan's currency."""

import re
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from plans.pricing_display import describe_pricing, format_price
from plans.tests.test_views import make_metric, make_plan


@pytest.mark.parametrize(
    ("value", "currency", "shown"),
    [
        ("0.1", "USD", "0.10 USD"),
        ("0.0015", "USD", "0.0015 USD"),
        ("1234.5", "EUR", "1,234.50 EUR"),
        ("0", "USD", "0.00 USD"),
        ("5", "JPY", "5 JPY"),
        ("0.5", "JPY", "0.5 JPY"),
        ("1", "KWD", "1.000 KWD"),
        ("1e3", "USD", "1,000.00 USD"),
    ],
)
def test_an_amount_shows_its_currency_digits_and_every_digit_it_has(value, currency, shown):
    assert format_price(value, currency) == shown


def test_graduated_tiers_read_as_rows():
    pricing = describe_pricing(
        charge_model="graduated",
        properties={
            "graduated_ranges": [
                {"from_value": 0, "to_value": 100, "per_unit_amount": "0.1", "flat_amount": "1"},
                {"from_value": 101, "to_value": 10000, "per_unit_amount": "0.05", "flat_amount": "0"},
                {"from_value": 10001, "to_value": None, "per_unit_amount": "0.01", "flat_amount": "0"},
            ]
        },
        currency="USD",
    )
    assert pricing.label == "Graduated" and not pricing.terms
    assert [str(tier) for tier in pricing.tiers] == [
        "0 – 100 units: 0.10 USD per unit, 1.00 USD flat",
        "101 – 10,000 units: 0.05 USD per unit, 0.00 USD flat",
        "10,001 units and above: 0.01 USD per unit, 0.00 USD flat",
    ]


@pytest.mark.parametrize(
    ("model", "properties", "terms"),
    [
        ("standard", {"amount": "0.5"}, [("Price", "0.50 EUR per unit")]),
        (
            "standard",
            {"amount": "2", "pricing_group_keys": ["region", "country"]},
            [("Price", "2.00 EUR per unit"), ("Pricing group keys", "region, country")],
        ),
        (
            "package",
            {"amount": "10", "package_size": 1000, "free_units": 100},
            [("Price", "10.00 EUR per package of 1,000 units"), ("Free units", "100 per period")],
        ),
        (
            "package",
            {"amount": "0.2", "package_size": 1, "free_units": 0},
            [("Price", "0.20 EUR per package of 1 unit"), ("Free units", "None")],
        ),
        ("percentage", {"rate": "1.5"}, [("Rate", "1.5% of the amount")]),
        (
            "percentage",
            {
                "rate": "2",
                "fixed_amount": "0.25",
                "free_units_per_events": 5,
                "free_units_per_total_aggregation": "1500",
                "per_transaction_min_amount": "1",
                "per_transaction_max_amount": "12.5",
            },
            [
                ("Rate", "2% of the amount"),
                ("Fixed fee", "0.25 EUR per transaction"),
                ("Free transactions", "The first 5 of each period"),
                ("Free amount", "1,500 per period"),
                ("Minimum per transaction", "1.00 EUR"),
                ("Maximum per transaction", "12.50 EUR"),
            ],
        ),
        # A zero fee and a zero free amount mean none (as the pricing reads them).
        (
            "percentage",
            {"rate": "2", "fixed_amount": "0", "free_units_per_total_aggregation": "0"},
            [("Rate", "2% of the amount")],
        ),
    ],
)
def test_other_models_read_as_terms(model, properties, terms):
    pricing = describe_pricing(charge_model=model, properties=properties, currency="EUR")
    assert pricing.terms == terms and not pricing.tiers


def test_unexpected_properties_still_show_something():
    assert describe_pricing(charge_model="standard", properties=None, currency="USD").terms == [("Price", "— per unit")]
    assert describe_pricing(charge_model="volume", properties={"volume_ranges": "x"}, currency="USD").tiers == []


# The plan page ------------------------------------------------------------------------------------


def table_rows(html: str, kind: str) -> list[list[str]]:
    """The text of each row of each pricing table of `kind` ("tiers" or "terms"), cells in order."""
    rows = []
    for table in re.findall(rf'<table class="table pricing-table {kind}-pricing">(.*?)</table>', html, re.S):
        for row in re.findall(r"<tbody>.*", table, re.S)[0].split("<tr>")[1:]:
            rows.append([unescape(cell).strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)])
    return rows


def test_the_plan_page_shows_each_charges_pricing_as_tables(staff_client, organization):
    calls = make_metric(organization, "calls", name="API calls")
    volume = {
        "volume_ranges": [
            {"from_value": 0, "to_value": 100, "per_unit_amount": "0.1", "flat_amount": "1"},
            {"from_value": 101, "to_value": None, "per_unit_amount": "0.08", "flat_amount": "0"},
        ]
    }
    plan = make_plan(
        organization,
        amount_currency="USD",
        charges=[
            {"billable_metric_id": str(calls.pk), "charge_model": "volume", "properties": volume},
            {"billable_metric_id": str(calls.pk), "charge_model": "standard", "properties": {"amount": "0.005"}},
        ],
    )
    html = staff_client.get(reverse("plans:plan_detail", args=[plan.pk])).content.decode()
    assert table_rows(html, "tiers") == [
        ["0 – 100 units", "0.10 USD per unit", "1.00 USD flat"],
        ["101 units and above", "0.08 USD per unit", "0.00 USD flat"],
    ]
    assert table_rows(html, "terms") == [["Price", "0.005 USD per unit"]]
    assert "All units at the price of the one tier the total falls in" in html
    assert "volume_ranges" not in html and "<pre" not in html


def test_the_plan_page_costs_the_same_queries_whatever_its_charges(staff_client, organization):
    metrics = [make_metric(organization, f"metric_{index}") for index in range(5)]
    ladder = {
        "graduated_ranges": [
            {"from_value": 0, "to_value": 10, "per_unit_amount": "1", "flat_amount": "0"},
            {"from_value": 11, "to_value": None, "per_unit_amount": "0.5", "flat_amount": "0"},
        ]
    }

    def plan_with(count: int):
        charges = [
            {"billable_metric_id": str(metric.pk), "charge_model": "graduated", "properties": ladder}
            for metric in metrics[:count]
        ]
        return make_plan(organization, code=f"plan_{count}", charges=charges)

    small, large = plan_with(1), plan_with(5)
    with CaptureQueriesContext(connection) as one_charge:
        assert staff_client.get(reverse("plans:plan_detail", args=[small.pk])).status_code == 200
    with CaptureQueriesContext(connection) as five_charges:
        response = staff_client.get(reverse("plans:plan_detail", args=[large.pk]))
    assert len(table_rows(response.content.decode(), "tiers")) == 10
    assert len(five_charges.captured_queries) == len(one_charge.captured_queries)
