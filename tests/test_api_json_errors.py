"""JSON everywhere under /api/: an unknown path is Lago's 404 and a wrong method Lago's 405, both as
JSON, and Django's own error pages turn into JSON there too. Never an HTML page, which Lago's clients
would report as a decode error (a 500) instead of the real status."""

import pytest
from django.core.exceptions import SuspiciousOperation
from django.test import Client
from lago_python_client.client import Client as LagoClient
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models.billable_metric import (
    BillableMetricEvaluateExpression,
    BillableMetricEvaluateExpressionEvent,
)

from customers.api import CustomersApi
from organizations.services import create_api_key
from organizations.tests.factories import OrganizationFactory

NOT_FOUND = {"status": 404, "error": "Not Found", "code": "resource_not_found"}
METHOD_NOT_ALLOWED = {"status": 405, "error": "Method Not Allowed", "code": "method_not_allowed"}

UNKNOWN_PATHS = [
    "/api",
    "/api/",
    "/api/foo",
    "/api/v2/customers",
    "/api/v1",
    "/api/v1/",
    "/api/v1/unknown",
    "/api/v1/taxes/vat",
    "/api/v1/invoices/8f0b7a52-7a3e-4c56-9d5e-2f4f0c1c0a11/lose_dispute",
    "/api/schema/",
    "/api/docs/redoc.js",
]


def assert_json(response, status: int, body: dict) -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json", response["Content-Type"]
    assert response.json() == body


@pytest.mark.parametrize("path", UNKNOWN_PATHS)
@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
def test_an_unknown_path_under_api_is_lagos_json_404(api, method, path):
    assert_json(getattr(api.client, method)(path, headers=api.headers), 404, NOT_FOUND)


@pytest.mark.parametrize("path", ["/api/v2/customers", "/api"])
def test_an_unknown_path_needs_no_key_to_be_a_404(client, path):
    assert_json(client.get(path), 404, NOT_FOUND)


def test_paths_outside_the_api_keep_djangos_pages(client):
    response = client.get("/apiary")
    assert response.status_code == 404 and "application/json" not in response["Content-Type"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("patch", "/api/v1/customers", "GET, POST"),
        ("delete", "/api/v1/invoices", "GET"),
        ("post", "/api/v1/customers/cust_1", "GET, PUT, DELETE"),
        ("get", "/api/v1/credit_notes/estimate", "POST"),
        ("put", "/api/v1/events", "POST"),
        ("post", "/api/v1/billable_metrics/calls", "GET, PUT, DELETE"),
    ],
)
def test_a_wrong_method_is_lagos_json_405(api, method, path, allowed):
    response = getattr(api.client, method)(path, headers=api.headers)
    assert_json(response, 405, METHOD_NOT_ALLOWED)
    assert {name.strip() for name in response["Allow"].split(",")} >= {name.strip() for name in allowed.split(",")}


def test_a_wrong_method_without_a_key_is_a_401_first(client):
    # The key is checked before anything else, as for every endpoint.
    assert_json(client.patch("/api/v1/customers"), 401, {"status": 401, "error": "Unauthorized"})


def test_the_schema_and_the_docs_still_answer(client):
    assert client.get("/api/schema").status_code == 200
    schema = client.get("/api/schema", {"format": "json"})
    assert schema.status_code == 200 and schema.json()["openapi"].startswith("3.")
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and docs["Content-Type"].startswith("text/html")


def test_the_schema_and_the_docs_answer_their_errors_in_json(client):
    assert_json(client.post("/api/schema"), 405, METHOD_NOT_ALLOWED)
    assert_json(client.delete("/api/docs"), 405, METHOD_NOT_ALLOWED)
    assert_json(client.get("/api/schema", {"format": "xml"}), 404, NOT_FOUND)


@pytest.fixture
def crashing_customers_list(monkeypatch):
    """Makes GET /api/v1/customers fail the way a bug would, with `exception`."""

    def crash_with(exception: Exception) -> Client:
        def get(self, request):
            raise exception

        monkeypatch.setattr(CustomersApi, "get", get)
        return Client(raise_request_exception=False)

    return crash_with


def test_a_server_error_under_api_is_json(api, crashing_customers_list):
    client = crashing_customers_list(RuntimeError("a bug"))
    response = client.get("/api/v1/customers", headers=api.headers)
    assert_json(response, 500, {"status": 500, "error": "Internal Server Error"})


def test_djangos_bad_request_under_api_is_json(api, crashing_customers_list):
    client = crashing_customers_list(SuspiciousOperation("a strange request"))
    response = client.get("/api/v1/customers", headers=api.headers)
    assert_json(response, 400, {"status": 400, "error": "Bad Request"})


# Contract: lago-python-client 1.55.0 ----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_lagos_client_gets_a_clean_error_from_an_unknown_path_or_a_wrong_method(live_server):
    _, raw_key = create_api_key(organization=OrganizationFactory(name="Paths Co"))

    # A client pointed at a wrong base URL (here, another API version) reaches no endpoint.
    misplaced = LagoClient(api_key=raw_key, api_url=f"{live_server.url}/api/v2/")
    with pytest.raises(LagoApiError) as exc:
        misplaced.customers.find("cust_1")
    assert exc.value.status_code == 404 and exc.value.response == NOT_FOUND

    lago = LagoClient(api_key=raw_key, api_url=live_server.url)
    # A resource we don't serve (taxes).
    with pytest.raises(LagoApiError) as exc:
        lago.taxes.find("vat")
    assert exc.value.status_code == 404 and exc.value.response == NOT_FOUND
    # The client posts to a path whose resource only takes GET, PUT and DELETE.
    with pytest.raises(LagoApiError) as exc:
        lago.billable_metrics.evaluate_expression(
            BillableMetricEvaluateExpression(
                expression="event.properties.units * 2",
                event=BillableMetricEvaluateExpressionEvent(code="calls", properties={"units": 1}),
            )
        )
    assert exc.value.status_code == 405 and exc.value.response == METHOD_NOT_ALLOWED
