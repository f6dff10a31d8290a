"""Lago's analytics endpoints: the selectors' figures in Lago's shapes, filters, errors, tenancy."""

from datetime import UTC, date, datetime

import pytest
import time_machine
from django.test import Client

from analytics import selectors
from analytics.tests import dataset

TODAY = date(2026, 3, 20)


@pytest.fixture(autouse=True)
def pinned_clock():
    with time_machine.travel(datetime(2026, 3, 20, 9, tzinfo=UTC), tick=False):
        yield


@pytest.fixture
def data(organization, other_organization) -> dataset.DataSet:
    return dataset.build(organization, TODAY, other=other_organization)


def _month(value: date) -> str:
    return f"{value:%Y-%m}-01T00:00:00.000Z"


def test_gross_revenue(api, data):
    response = api.get("/api/v1/analytics/gross_revenue", months=12)
    assert response.status_code == 200
    assert response.json() == {
        "gross_revenues": [
            {"month": "2026-01-01T00:00:00.000Z", "amount_cents": 42000, "currency": "EUR", "invoices_count": 2},
            {"month": "2026-02-01T00:00:00.000Z", "amount_cents": 6000, "currency": "EUR", "invoices_count": 4},
            {"month": "2026-02-01T00:00:00.000Z", "amount_cents": 114000, "currency": "USD", "invoices_count": 1},
            {"month": "2026-03-01T00:00:00.000Z", "amount_cents": 11500, "currency": "EUR", "invoices_count": 1},
        ]
    }


def test_each_endpoint_answers_its_selectors_figures(api, data):
    organization = data.organization
    cases = [
        ("gross_revenue", "gross_revenues", selectors.gross_revenue(organization=organization, today=TODAY)),
        ("mrr", "mrrs", selectors.mrr(organization=organization, today=TODAY)),
        ("invoiced_usage", "invoiced_usages", selectors.invoiced_usage(organization=organization, today=TODAY)),
        ("overdue_balance", "overdue_balances", selectors.overdue_balance(organization=organization, today=TODAY)),
        (
            "invoice_collection",
            "invoice_collections",
            selectors.invoice_collection(organization=organization, today=TODAY),
        ),
    ]
    for path, root_key, rows in cases:
        body = api.get(f"/api/v1/analytics/{path}").json()
        assert list(body) == [root_key]
        expected = [{**vars(row), "month": _month(row.month)} for row in rows]
        assert [dict(item) for item in body[root_key]] == expected, path
        assert expected, path  # the data set has something for each


def test_shapes_of_the_other_endpoints(api, data):
    [mrr] = api.get("/api/v1/analytics/mrr", currency="EUR", months=1).json()["mrrs"]
    assert mrr == {"month": "2026-03-01T00:00:00.000Z", "amount_cents": 20000, "currency": "EUR"}

    usages = api.get("/api/v1/analytics/invoiced_usage", months=1).json()["invoiced_usages"]
    assert usages == [
        {"month": "2026-03-01T00:00:00.000Z", "code": "api_calls", "currency": "EUR", "amount_cents": 1500}
    ]

    overdue = api.get("/api/v1/analytics/overdue_balance", currency="eur").json()["overdue_balances"]
    assert overdue == [
        {
            "month": "2026-01-01T00:00:00.000Z",
            "amount_cents": 30000,
            "currency": "EUR",
            "lago_invoice_ids": [str(data.invoices["C"].pk)],
        },
        {
            "month": "2026-02-01T00:00:00.000Z",
            "amount_cents": 2000,
            "currency": "EUR",
            "lago_invoice_ids": [str(data.invoices["W4"].pk)],
        },
    ]

    collections = api.get("/api/v1/analytics/invoice_collection", months=1).json()["invoice_collections"]
    assert collections == [
        {
            "month": "2026-03-01T00:00:00.000Z",
            "payment_status": "pending",
            "invoices_count": 1,
            "amount_cents": 11500,
            "currency": "EUR",
        }
    ]


def test_filters_by_customer(api, data):
    body = api.get("/api/v1/analytics/gross_revenue", external_customer_id="gamma").json()
    assert body == {
        "gross_revenues": [
            {"month": "2026-02-01T00:00:00.000Z", "amount_cents": 114000, "currency": "USD", "invoices_count": 1}
        ]
    }
    body = api.get("/api/v1/analytics/overdue_balance", external_customer_id="beta").json()
    assert [item["lago_invoice_ids"] for item in body["overdue_balances"]] == [
        [str(data.invoices["C"].pk)],
        [str(data.invoices["W4"].pk)],
    ]


def test_an_empty_organization_answers_empty_lists(api):
    for path, root_key in [
        ("gross_revenue", "gross_revenues"),
        ("mrr", "mrrs"),
        ("invoiced_usage", "invoiced_usages"),
        ("overdue_balance", "overdue_balances"),
        ("invoice_collection", "invoice_collections"),
    ]:
        response = api.get(f"/api/v1/analytics/{path}")
        assert (response.status_code, response.json()) == (200, {root_key: []})


@pytest.mark.parametrize("path", ["gross_revenue", "mrr", "invoiced_usage", "overdue_balance", "invoice_collection"])
@pytest.mark.parametrize(
    "params, details",
    [
        ({"currency": "EURO"}, {"currency": ["value_is_invalid"]}),
        ({"currency": "ZZZ"}, {"currency": ["value_is_invalid"]}),
        ({"months": "twelve"}, {"months": ["value_is_invalid"]}),
        ({"months": "1.5"}, {"months": ["value_is_invalid"]}),
        ({"months": "-1"}, {"months": ["value_is_invalid"]}),
        ({"months": "0"}, {"months": ["value_is_out_of_range"]}),
        ({"months": "9" * 5000}, {"months": ["value_is_out_of_range"]}),
        ({"currency": "EUR\x00"}, {"currency": ["value_is_invalid"]}),
    ],
)
def test_bad_filters_answer_422(api, path, params, details):
    response = api.get(f"/api/v1/analytics/{path}", **params)
    assert response.status_code == 422
    assert response.json() == {
        "status": 422,
        "error": "Unprocessable Entity",
        "code": "validation_errors",
        "error_details": details,
    }


@pytest.mark.parametrize("path", ["gross_revenue", "overdue_balance"])
def test_an_unknown_customer_answers_404(api, data, other_organization, path):
    response = api.get(f"/api/v1/analytics/{path}", external_customer_id="nobody")
    assert (response.status_code, response.json()) == (
        404,
        {"status": 404, "error": "Not Found", "code": "customer_not_found"},
    )


def test_another_organizations_customer_is_not_found(other_api, data):
    # The other organization has an "alpha" of its own, and no "beta": Acme's is not found.
    response = other_api.get("/api/v1/analytics/gross_revenue", external_customer_id="beta")
    assert response.status_code == 404
    mine = other_api.get("/api/v1/analytics/gross_revenue", external_customer_id="alpha").json()
    assert [item["amount_cents"] for item in mine["gross_revenues"]] == [77000]


@pytest.mark.parametrize("path", ["mrr", "invoiced_usage", "invoice_collection"])
def test_a_customer_filter_lago_does_not_offer_is_refused(api, data, path):
    response = api.get(f"/api/v1/analytics/{path}", external_customer_id="alpha")
    assert response.status_code == 422
    assert response.json()["error_details"] == {"external_customer_id": ["not_supported"]}


def test_another_organization_sees_none_of_it(other_api, data):
    body = other_api.get("/api/v1/analytics/gross_revenue").json()
    # Only its own invoice (770.00 in February, in dataset.build), none of Acme's.
    assert body == {
        "gross_revenues": [
            {"month": "2026-02-01T00:00:00.000Z", "amount_cents": 77000, "currency": "EUR", "invoices_count": 1}
        ]
    }


def test_without_a_key_answers_401(data):
    response = Client().get("/api/v1/analytics/mrr")
    assert (response.status_code, response.json()) == (401, {"status": 401, "error": "Unauthorized"})
