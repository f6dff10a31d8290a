"""Add-ons through Lago's v1 endpoints: shapes, refusals (a clear 4xx that changes nothing), soft
deletion, tenancy."""

import json
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from plans.add_ons_api import AddOnOutput, add_on_payload
from plans.models import AddOn

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
ADD_ONS = "/api/v1/add_ons"


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def add_on_body(**fields) -> dict:
    return {
        "add_on": {
            "name": "Setup fee",
            "code": "setup",
            "amount_cents": 50000,
            "amount_currency": "EUR",
            **fields,
        }
    }


def create(api, **fields) -> dict:
    response = api.post(ADD_ONS, add_on_body(**fields))
    assert response.status_code == 200, response.content
    return response.json()["add_on"]


def errors_of(response) -> dict:
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "validation_errors"
    return response.json()["error_details"]


def assert_not_found(response) -> None:
    assert response.status_code == 404, response.content
    assert response.json() == {"status": 404, "error": "Not Found", "code": "add_on_not_found"}


def test_create_in_lagos_shape(api):
    add_on = create(api, invoice_display_name="Onboarding", description="One-time setup", tax_codes=[])
    assert add_on == {
        "lago_id": str(AddOn.objects.get().pk),
        "name": "Setup fee",
        "invoice_display_name": "Onboarding",
        "code": "setup",
        "amount_cents": 50000,
        "amount_currency": "EUR",
        "created_at": "2026-03-20T12:00:00Z",
        "description": "One-time setup",
        "taxes": [],
    }


@pytest.mark.parametrize(
    ("fields", "details"),
    [
        ({"name": None}, {"name": ["value_is_mandatory"]}),
        ({"code": ""}, {"code": ["value_is_mandatory"]}),
        ({"amount_cents": None}, {"amount_cents": ["value_is_mandatory"]}),
        ({"amount_cents": -1}, {"amount_cents": ["value_is_out_of_range"]}),
        ({"amount_cents": "500"}, {"amount_cents": ["value_is_invalid"]}),
        ({"amount_cents": 5.5}, {"amount_cents": ["value_is_invalid"]}),
        ({"amount_currency": "EURO"}, {"amount_currency": ["value_is_invalid"]}),
        ({"amount_currency": None}, {"amount_currency": ["value_is_mandatory"]}),
        ({"tax_codes": ["vat"]}, {"tax_codes": ["not_supported"]}),
        ({"price": 5}, {"price": ["unknown_field"]}),
        ({"name": "x" * 256}, {"name": ["value_is_too_long"]}),
        ({"description": "nul\x00inside"}, {"description": ["value_is_invalid"]}),
    ],
)
def test_bad_bodies_are_422_and_create_nothing(api, fields, details):
    assert errors_of(api.post(ADD_ONS, add_on_body(**fields))) == details
    assert not AddOn.objects.exists()


def test_a_body_without_its_root_key_is_400(api):
    response = api.post(ADD_ONS, {"name": "Setup fee"})
    assert response.status_code == 400
    assert response.json()["error"] == "BadRequest: param is missing or the value is empty or invalid: add_on"
    assert not AddOn.objects.exists()


def test_codes_are_unique_among_live_add_ons(api):
    create(api)
    assert errors_of(api.post(ADD_ONS, add_on_body(name="Other"))) == {"code": ["value_already_exist"]}
    assert AddOn.objects.count() == 1


def test_get_list_and_meta(api, clock):
    assert api.get(ADD_ONS).json()["meta"]["total_count"] == 0
    for index in range(3):
        clock.shift(60)
        create(api, code=f"a{index}")
    assert api.get(f"{ADD_ONS}/a1").json()["add_on"]["code"] == "a1"
    page = api.get(ADD_ONS, page=2, per_page=2).json()
    assert [add_on["code"] for add_on in page["add_ons"]] == ["a0"]  # newest first
    assert page["meta"] == {"current_page": 2, "next_page": None, "prev_page": 1, "total_pages": 2, "total_count": 3}


def test_a_code_with_odd_characters_works_percent_encoded(api):
    create(api, code="setup/eu 1")
    response = api.get(f"{ADD_ONS}/{quote('setup/eu 1', safe='')}")
    assert response.status_code == 200 and response.json()["add_on"]["code"] == "setup/eu 1"


def test_update_changes_only_what_it_is_sent(api):
    create(api, description="One-time setup")
    response = api.put(f"{ADD_ONS}/setup", {"add_on": {"amount_cents": 60000, "code": "setup_v2"}})
    assert response.status_code == 200, response.content
    add_on = response.json()["add_on"]
    assert (add_on["code"], add_on["amount_cents"], add_on["name"]) == ("setup_v2", 60000, "Setup fee")
    assert add_on["description"] == "One-time setup"
    assert_not_found(api.get(f"{ADD_ONS}/setup"))


def test_a_refused_update_changes_nothing(api):
    create(api)
    create(api, code="other")
    assert errors_of(api.put(f"{ADD_ONS}/setup", {"add_on": {"code": "other"}})) == {"code": ["value_already_exist"]}
    assert errors_of(api.put(f"{ADD_ONS}/setup", {"add_on": {"amount_cents": None}})) == {
        "amount_cents": ["value_is_mandatory"]
    }
    assert AddOn.objects.get(code="setup").amount_cents == 50000


def test_delete_is_soft_and_frees_the_code(api):
    created = create(api)
    response = api.delete(f"{ADD_ONS}/setup")
    assert response.status_code == 200 and response.json()["add_on"]["lago_id"] == created["lago_id"]
    assert AddOn.objects.get(pk=created["lago_id"]).deleted_at == NOW
    assert_not_found(api.get(f"{ADD_ONS}/setup"))
    assert_not_found(api.delete(f"{ADD_ONS}/setup"))
    assert api.get(ADD_ONS).json()["add_ons"] == []
    assert create(api)["lago_id"] != created["lago_id"]


def test_unknown_add_ons_are_404(api):
    for response in (
        api.get(f"{ADD_ONS}/nope"),
        api.put(f"{ADD_ONS}/nope", add_on_body()),
        api.delete(f"{ADD_ONS}/nope"),
        api.get(f"{ADD_ONS}/nul%00"),
    ):
        assert_not_found(response)


def test_another_organizations_add_on_is_404(api, other_api):
    create(api)
    assert_not_found(other_api.get(f"{ADD_ONS}/setup"))
    assert_not_found(other_api.put(f"{ADD_ONS}/setup", add_on_body(name="Mine")))
    assert_not_found(other_api.delete(f"{ADD_ONS}/setup"))
    assert other_api.get(ADD_ONS).json()["add_ons"] == []
    assert AddOn.objects.get().name == "Setup fee" and AddOn.objects.get().deleted_at is None


def test_every_endpoint_needs_a_key(client):
    for method, path in (("get", ADD_ONS), ("post", ADD_ONS), ("get", f"{ADD_ONS}/x"), ("delete", f"{ADD_ONS}/x")):
        response = getattr(client, method)(path, content_type="application/json")
        assert response.status_code == 401 and response.json() == {"status": 401, "error": "Unauthorized"}


def test_listing_costs_a_fixed_number_of_queries(api):
    create(api, code="a0")
    with CaptureQueriesContext(connection) as one:
        api.get(ADD_ONS)
    for index in range(1, 6):
        create(api, code=f"a{index}")
    with CaptureQueriesContext(connection) as six:
        assert len(api.get(ADD_ONS).json()["add_ons"]) == 6
    assert len(six.captured_queries) == len(one.captured_queries)


def test_the_writer_writes_what_the_schema_documents(api, client):
    create(api)
    payload = add_on_payload(AddOn.objects.get())
    assert list(payload) == list(AddOnOutput().fields)
    json.dumps(payload)
    schema = client.get("/api/schema", {"format": "json"}).json()
    operations = {
        operation["operationId"]
        for path, item in schema["paths"].items()
        if path.startswith("/api/v1/add_ons")
        for operation in item.values()
    }
    assert operations == {"list_add_ons", "create_add_on", "get_add_on", "update_add_on", "delete_add_on"}
