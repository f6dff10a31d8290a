"""Lago's Python client (1.55.0) reads the five analytics endpoints: it parses our answers, and the
values are the selectors' (analytics/tests/dataset.py holds those to the invoices themselves)."""

from datetime import UTC, date, datetime

import pytest
import time_machine
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError

from analytics import selectors
from analytics.tests import dataset
from organizations.services import create_api_key
from organizations.tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db(transaction=True)

TODAY = date(2026, 3, 20)


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(datetime(2026, 3, 20, 9, tzinfo=UTC), tick=True):
        yield


@pytest.fixture
def data() -> dataset.DataSet:
    return dataset.build(OrganizationFactory(name="Analytics Co"), TODAY)


@pytest.fixture
def lago(live_server, data) -> Client:
    _, raw_key = create_api_key(organization=data.organization)
    return Client(api_key=raw_key, api_url=live_server.url)


def month(value: date) -> str:
    return f"{value:%Y-%m}-01T00:00:00.000Z"


def test_gross_revenues(lago, data):
    found = lago.gross_revenues.find_all({"currency": "EUR", "months": 12})
    expected = selectors.gross_revenue(organization=data.organization, today=TODAY, currency="EUR", months=12)
    assert [(row.month, row.currency, row.amount_cents, row.invoices_count) for row in found["gross_revenues"]] == [
        (month(row.month), row.currency, row.amount_cents, row.invoices_count) for row in expected
    ]
    assert [row.amount_cents for row in found["gross_revenues"]] == [42000, 6000, 11500]

    gamma = lago.gross_revenues.find_all({"external_customer_id": "gamma"})["gross_revenues"]
    assert [(row.month, row.currency, row.amount_cents) for row in gamma] == [
        ("2026-02-01T00:00:00.000Z", "USD", 114000)
    ]


def test_mrrs(lago, data):
    found = lago.mrrs.find_all({"months": 12})
    expected = selectors.mrr(organization=data.organization, today=TODAY, months=12)
    assert [(row.month, row.currency, row.amount_cents) for row in found["mrrs"]] == [
        (month(row.month), row.currency, row.amount_cents) for row in expected
    ]
    assert ("2026-02-01T00:00:00.000Z", "EUR", 23000) in [
        (row.month, row.currency, row.amount_cents) for row in found["mrrs"]
    ]


def test_invoiced_usages(lago, data):
    found = lago.invoiced_usages.find_all({"currency": "eur"})
    expected = selectors.invoiced_usage(organization=data.organization, today=TODAY, currency="EUR")
    assert [(row.month, row.code, row.currency, row.amount_cents) for row in found["invoiced_usages"]] == [
        (month(row.month), row.code, row.currency, row.amount_cents) for row in expected
    ]
    assert len(expected) == 3


def test_overdue_balances(lago, data):
    found = lago.overdue_balances.find_all({"external_customer_id": "beta", "months": 3})
    expected = selectors.overdue_balance(
        organization=data.organization, today=TODAY, external_customer_id="beta", months=3
    )
    assert [(row.month, row.amount_cents, row.lago_invoice_ids) for row in found["overdue_balances"]] == [
        (month(row.month), row.amount_cents, row.lago_invoice_ids) for row in expected
    ]
    assert [row.lago_invoice_ids for row in found["overdue_balances"]] == [
        [str(data.invoices["C"].pk)],
        [str(data.invoices["W4"].pk)],
    ]


def test_invoice_collections(lago, data):
    found = lago.invoice_collections.find_all()
    expected = selectors.invoice_collection(organization=data.organization, today=TODAY)
    assert [
        (row.month, row.payment_status, row.currency, row.invoices_count, row.amount_cents)
        for row in found["invoice_collections"]
    ] == [
        (month(row.month), row.payment_status, row.currency, row.invoices_count, row.amount_cents) for row in expected
    ]
    assert {row.payment_status for row in found["invoice_collections"]} == {"pending", "succeeded", "failed"}


def test_errors(lago):
    with pytest.raises(LagoApiError) as missing:
        lago.gross_revenues.find_all({"external_customer_id": "nobody"})
    assert missing.value.status_code == 404 and missing.value.response["code"] == "customer_not_found"

    with pytest.raises(LagoApiError) as refused:
        lago.mrrs.find_all({"currency": "EURO"})
    assert refused.value.status_code == 422
    assert refused.value.response["error_details"] == {"currency": ["value_is_invalid"]}

    with pytest.raises(LagoApiError) as refused:
        lago.overdue_balances.find_all({"months": "zero"})
    assert refused.value.status_code == 422
    assert refused.value.response["error_details"] == {"months": ["value_is_invalid"]}

    with pytest.raises(LagoApiError) as unauthorized:
        Client(api_key="wrong", api_url=lago.base_api_url.removesuffix("api/v1/")).mrrs.find_all()
    assert unauthorized.value.status_code == 401
