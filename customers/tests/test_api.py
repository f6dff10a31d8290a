"""Lago's v1 customer endpoints: shapes, errors, tenancy, encoded ids, query counts."""

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from django.utils import timezone

from customers.api import (
    BILLING_CONFIGURATION_FIELDS,
    OPTIONAL_TEXT_FIELDS,
    SHIPPING_ADDRESS_FIELDS,
    BillingConfigurationInput,
    CustomerInput,
    CustomerOutput,
    ShippingAddressInput,
    customer_payload,
)
from customers.models import SHIPPING_ADDRESS_KEYS, Customer
from customers.selectors import get_customer_by_external_id
from customers.services import create_customer, recount_live_customers
from customers.tests.factories import CustomerFactory, CustomerMetadataFactory
from plans.tests.factories import SubscriptionFactory

ENDPOINTS = [
    ("get", "/api/v1/customers"),
    ("post", "/api/v1/customers"),
    ("get", "/api/v1/customers/c1"),
    ("put", "/api/v1/customers/c1"),
    ("delete", "/api/v1/customers/c1"),
]


def url(external_id: str) -> str:
    return "/api/v1/customers/" + quote(external_id, safe="")


def body(**fields) -> dict:
    return {"customer": fields}


def test_create_returns_lago_shape(api):
    response = api.post(
        "/api/v1/customers",
        body(
            external_id="c1",
            name="Acme",
            currency="EUR",
            timezone="Europe/Paris",
            country="fr",
            email="billing@acme.test",
            billing_configuration={
                "invoice_grace_period": 3,
                "payment_provider": "stripe",
                "provider_customer_id": "cus_1",
            },
            metadata=[{"key": "crm", "value": "42", "display_in_invoice": True}],
        ),
    )
    assert response.status_code == 200, response.content
    customer = response.json()["customer"]
    for field in ("lago_id", "external_id", "created_at", "updated_at", "applicable_timezone"):
        assert customer[field]
    assert customer["created_at"].endswith("Z") and len(customer["created_at"]) == 20
    assert customer["country"] == "FR"
    assert customer["applicable_timezone"] == "Europe/Paris"
    assert customer["billing_configuration"] == {
        "invoice_grace_period": 3,
        "payment_provider": "stripe",
        "provider_customer_id": "cus_1",
        "document_locale": None,
    }
    [metadata] = customer["metadata"]
    assert metadata["key"] == "crm" and metadata["display_in_invoice"] is True and metadata["lago_id"]
    assert customer["taxes"] == []


def test_applicable_timezone_falls_back_to_the_organization(api, organization):
    organization.default_timezone = "Asia/Tokyo"
    organization.save()
    customer = api.post("/api/v1/customers", body(external_id="c1")).json()["customer"]
    assert customer["timezone"] is None and customer["applicable_timezone"] == "Asia/Tokyo"


def test_upsert_updates_and_keeps_omitted_fields_at_every_level(api):
    api.post(
        "/api/v1/customers",
        body(
            external_id="c1",
            name="Acme",
            email="a@acme.test",
            billing_configuration={"payment_provider": "adyen", "invoice_grace_period": 2},
            metadata=[{"key": "crm", "value": "42"}],
        ),
    )
    response = api.post(
        "/api/v1/customers", body(external_id="c1", city="Lyon", billing_configuration={"invoice_grace_period": 5})
    )
    customer = response.json()["customer"]
    assert (customer["name"], customer["email"], customer["city"]) == ("Acme", "a@acme.test", "Lyon")
    assert customer["billing_configuration"]["payment_provider"] == "adyen"
    assert customer["billing_configuration"]["invoice_grace_period"] == 5
    assert [m["key"] for m in customer["metadata"]] == ["crm"]
    assert Customer.objects.count() == 1


def test_two_metadata_rows_claiming_one_stored_row_are_a_422_and_change_nothing(api):
    stored = api.post("/api/v1/customers", body(external_id="c1", metadata=[{"key": "k", "value": "v"}]))
    row_id = stored.json()["customer"]["metadata"][0]["lago_id"]
    rows = [{"id": row_id, "key": "a", "value": "1"}, {"id": row_id, "key": "b", "value": "2"}]
    response = api.post("/api/v1/customers", body(external_id="c1", metadata=rows))
    assert response.status_code == 422
    assert response.json()["error_details"] == {"metadata": ["duplicated_id"]}
    assert [m["key"] for m in api.get("/api/v1/customers/c1").json()["customer"]["metadata"]] == ["k"]


def test_explicit_null_clears(api):
    api.post("/api/v1/customers", body(external_id="c1", email="a@acme.test", metadata=[{"key": "k", "value": "v"}]))
    customer = api.post("/api/v1/customers", body(external_id="c1", email=None, metadata=[])).json()["customer"]
    assert customer["email"] is None and customer["metadata"] == []


@pytest.mark.parametrize(
    ("fields", "details"),
    [
        ({"name": "No id"}, {"external_id": ["value_is_mandatory"]}),
        ({"external_id": ""}, {"external_id": ["value_is_mandatory"]}),
        ({"external_id": None}, {"external_id": ["value_is_mandatory"]}),
        ({"external_id": "c1", "timezone": "Nowhere/City"}, {"timezone": ["invalid_timezone"]}),
        ({"external_id": "c1", "country": "XX"}, {"country": ["not_a_valid_country_code"]}),
        ({"external_id": "c1", "currency": "ABC"}, {"currency": ["value_is_invalid"]}),
        (
            {"external_id": "c1", "metadata": [{"key": "a", "value": "1"}, {"key": "a", "value": "2"}]},
            {"metadata": ["duplicated_key"]},
        ),
        ({"external_id": "c1", "metadata": "nope"}, {"metadata": ["value_is_invalid"]}),
        (
            {"external_id": "c1", "billing_configuration": {"invoice_grace_period": "x"}},
            {"invoice_grace_period": ["value_is_invalid"]},
        ),
        ({"external_id": "c1", "nickname": "Ace"}, {"nickname": ["unknown_field"]}),
        ({"external_id": "c1", "billing_configuration": {"sync": True}}, {"sync": ["unknown_field"]}),
    ],
)
def test_validation_errors_in_lago_shape_and_nothing_saved(api, fields, details):
    response = api.post("/api/v1/customers", {"customer": fields})
    assert response.status_code == 422
    assert response.json() == {
        "status": 422,
        "error": "Unprocessable Entity",
        "code": "validation_errors",
        "error_details": details,
    }
    assert not Customer.objects.exists()


@pytest.mark.parametrize("payload", [{}, {"customer": {}}, {"customer": "c1"}, [], {"client": {"external_id": "c1"}}])
def test_missing_root_key_is_a_400(api, payload):
    response = api.post("/api/v1/customers", payload)
    assert response.status_code == 400
    assert response.json() == {
        "status": 400,
        "error": "BadRequest: param is missing or the value is empty or invalid: customer",
    }


def test_malformed_json_is_a_400(api):
    response = api.client.post(
        "/api/v1/customers", data="{not json", content_type="application/json", headers=api.headers
    )
    assert response.status_code == 400
    assert response.json()["status"] == 400


def test_get_unknown_is_a_404(api):
    response = api.get("/api/v1/customers/nobody")
    assert response.status_code == 404
    assert response.json() == {"status": 404, "error": "Not Found", "code": "customer_not_found"}


@pytest.mark.parametrize("method,path", ENDPOINTS)
@pytest.mark.parametrize("header", [None, "Bearer wrong-key", "Bearer", "Token a b"])
def test_every_endpoint_needs_a_valid_key(client, organization, method, path, header):
    CustomerFactory(organization=organization, external_id="c1")
    headers = {"Authorization": header} if header else {}
    kwargs = {} if method == "get" else {"data": "{}", "content_type": "application/json"}
    response = getattr(client, method)(path, headers=headers, **kwargs)
    assert response.status_code == 401
    assert response.json() == {"status": 401, "error": "Unauthorized"}
    assert Customer.live.filter(external_id="c1").exists()


def test_revoked_key_is_refused(api, organization):
    organization.api_keys.update(revoked_at=timezone.now())
    assert api.get("/api/v1/customers").status_code == 401


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_another_organizations_customer_is_a_404(api, other_organization, method):
    theirs = CustomerFactory(organization=other_organization, external_id="theirs", name="Theirs")
    response = getattr(api, method)(url("theirs"), *([body(name="Mine now")] if method == "put" else []))
    assert response.status_code == 404
    assert response.json()["code"] == "customer_not_found"
    theirs.refresh_from_db()
    assert theirs.name == "Theirs" and theirs.deleted_at is None


def test_list_and_upsert_never_touch_another_organization(api, other_organization):
    CustomerFactory(organization=other_organization, external_id="shared", name="Theirs")
    api.post("/api/v1/customers", body(external_id="shared", name="Mine"))
    listed = api.get("/api/v1/customers").json()["customers"]
    assert [c["name"] for c in listed] == ["Mine"]
    assert Customer.objects.get(organization=other_organization).name == "Theirs"


@pytest.mark.parametrize("external_id", ["a/b", "with space", "ünïcødé-客户", "colon:id", "hash#id", "what?id", "100%"])
def test_percent_encoded_external_ids_work_everywhere(api, external_id):
    created = api.post("/api/v1/customers", body(external_id=external_id, name="Odd"))
    assert created.json()["customer"]["external_id"] == external_id
    found = api.get(url(external_id))
    assert found.status_code == 200 and found.json()["customer"]["external_id"] == external_id
    updated = api.put(url(external_id), body(name="Renamed"))
    assert updated.status_code == 200 and updated.json()["customer"]["name"] == "Renamed"
    deleted = api.delete(url(external_id))
    assert deleted.status_code == 200 and deleted.json()["customer"]["external_id"] == external_id
    assert api.get(url(external_id)).status_code == 404


def test_put_renames_while_free(api):
    api.post("/api/v1/customers", body(external_id="old"))
    response = api.put(url("old"), body(external_id="new", name="Renamed"))
    assert response.status_code == 200
    assert response.json()["customer"]["external_id"] == "new"
    assert api.get(url("old")).status_code == 404


def test_rule_put_refuses_a_locked_external_id(api, organization):
    customer = CustomerFactory(organization=organization, external_id="locked", name="Before")
    SubscriptionFactory(customer=customer)
    response = api.put(url("locked"), body(external_id="renamed", name="After"))
    assert response.status_code == 422
    assert response.json()["error_details"] == {"external_id": ["value_is_not_editable"]}
    customer.refresh_from_db()
    assert (customer.external_id, customer.name) == ("locked", "Before")


def test_put_to_a_taken_external_id_is_refused(api, organization):
    CustomerFactory(organization=organization, external_id="taken")
    api.post("/api/v1/customers", body(external_id="mine"))
    response = api.put(url("mine"), body(external_id="taken"))
    assert response.status_code == 422
    assert response.json()["error_details"] == {"external_id": ["value_already_exist"]}


def test_delete_answers_with_the_deleted_customer_and_its_metadata(api, monkeypatch):
    created = api.post(
        "/api/v1/customers", body(external_id="c1", name="Acme", metadata=[{"key": "crm", "value": "42"}])
    ).json()["customer"]
    deleted_at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    monkeypatch.setattr(timezone, "now", lambda: deleted_at)
    deleted = api.delete(url("c1")).json()["customer"]
    assert deleted["updated_at"].startswith("2030-01-02T03:04:05") and created["updated_at"] != deleted["updated_at"]
    assert [(item["key"], item["value"]) for item in deleted["metadata"]] == [("crm", "42")]
    assert Customer.objects.get(pk=created["lago_id"]).deleted_at == deleted_at


def test_delete_returns_the_customer_then_it_is_gone(api):
    created = api.post("/api/v1/customers", body(external_id="c1", name="Acme")).json()["customer"]
    response = api.delete(url("c1"))
    assert response.status_code == 200
    assert response.json()["customer"]["lago_id"] == created["lago_id"]
    assert api.get(url("c1")).status_code == 404
    assert api.delete(url("c1")).status_code == 404
    assert Customer.objects.get(pk=created["lago_id"]).deleted_at is not None


def test_external_id_is_reused_after_deletion_with_a_new_lago_id(api):
    first = api.post("/api/v1/customers", body(external_id="c1")).json()["customer"]["lago_id"]
    api.delete(url("c1"))
    second = api.post("/api/v1/customers", body(external_id="c1")).json()["customer"]["lago_id"]
    assert first != second
    assert [c["lago_id"] for c in api.get("/api/v1/customers").json()["customers"]] == [second]


def test_list_is_newest_first_with_lago_meta(api, organization):
    now = timezone.now()
    for index in range(5):
        CustomerFactory(organization=organization, external_id=f"c{index}", created_at=now - timedelta(minutes=index))
    response = api.get("/api/v1/customers", page=2, per_page=2)
    assert response.status_code == 200
    data = response.json()
    assert [c["external_id"] for c in data["customers"]] == ["c2", "c3"]
    assert data["meta"] == {"current_page": 2, "next_page": 3, "prev_page": 1, "total_pages": 3, "total_count": 5}


def test_list_defaults_to_100_per_page(api, organization):
    CustomerFactory.create_batch(101, organization=organization)
    data = api.get("/api/v1/customers").json()
    assert len(data["customers"]) == 100 and data["meta"]["total_pages"] == 2


def test_empty_list_meta_follows_lago(api):
    data = api.get("/api/v1/customers").json()
    assert data == {
        "customers": [],
        "meta": {"current_page": 0, "next_page": None, "prev_page": None, "total_pages": 0, "total_count": 0},
    }


def test_list_search_term(api, organization):
    CustomerFactory(organization=organization, external_id="acme-1", name="Acme", email="x@one.test")
    CustomerFactory(organization=organization, external_id="globex", name="Globex", email="billing@acme.test")
    CustomerFactory(organization=organization, external_id="initech", name="Initech", email="x@two.test")
    found = api.get("/api/v1/customers", search_term="ACME").json()["customers"]
    assert sorted(c["external_id"] for c in found) == ["acme-1", "globex"]


@pytest.mark.parametrize("params", [{"page": "abc"}, {"page": 0}, {"per_page": -1}, {"per_page": 100000}])
def test_bad_pagination_is_a_422(api, params):
    response = api.get("/api/v1/customers", **params)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_errors"


def test_list_costs_a_fixed_number_of_queries(api, organization, django_assert_num_queries):
    def seed(count):
        for customer in CustomerFactory.create_batch(count, organization=organization):
            CustomerMetadataFactory.create_batch(2, customer=customer)
        recount_live_customers(organization=organization)

    seed(3)
    # api key + live counter + page ids + page rows + metadata prefetch
    with django_assert_num_queries(5):
        assert len(api.get("/api/v1/customers").json()["customers"]) == 3
    seed(40)
    with django_assert_num_queries(5):
        assert len(api.get("/api/v1/customers", page=2, per_page=20).json()["customers"]) == 20
    with django_assert_num_queries(5):
        assert len(api.get("/api/v1/customers", search_term="cust").json()["customers"]) == 43


def test_live_customer_counter_follows_creations_and_deletions(api, organization):
    for index in range(3):
        api.post("/api/v1/customers", body(external_id=f"c{index}"))
    api.post("/api/v1/customers", body(external_id="c0", name="update, not a creation"))
    api.delete(url("c1"))
    assert organization.live_customer_count.live_count == 2
    assert api.get("/api/v1/customers").json()["meta"]["total_count"] == 2


def test_no_trailing_slash_redirects(api):
    for path in ("/api/v1/customers/", "/api/v1/nothing-here", "/api/v1/"):
        response = api.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"status": 404, "error": "Not Found", "code": "resource_not_found"}


def test_wrong_method_is_json(api):
    response = api.client.patch("/api/v1/customers", data="{}", content_type="application/json", headers=api.headers)
    assert response.status_code == 405
    assert response.json()["status"] == 405


def test_openapi_schema_and_docs_are_served(client):
    schema = client.get("/api/schema", {"format": "json"})
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/api/v1/customers", "/api/v1/customers/{external_id}"} <= set(paths)
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and b"redoc" in docs.content.lower()


def test_upsert_is_a_handful_of_statements(api, django_assert_num_queries):
    api.post("/api/v1/customers", body(external_id="first"))  # the organization's counter now exists
    # api key + upsert, which moves the counter in the same statement; a new customer has no metadata
    with django_assert_num_queries(2):
        assert api.post("/api/v1/customers", body(external_id="c1", name="Acme")).status_code == 200
    # api key + upsert + the metadata it keeps
    with django_assert_num_queries(3):
        assert api.post("/api/v1/customers", body(external_id="c1", city="Lyon")).status_code == 200
    # api key + savepoint + upsert + the metadata it replaces (none) + insert + read back + release
    rows = [{"key": "crm", "value": "42"}]
    with django_assert_num_queries(7):
        assert api.post("/api/v1/customers", body(external_id="c1", metadata=rows)).status_code == 200
    # the same metadata again: read, unchanged, nothing written
    with django_assert_num_queries(5):
        assert api.post("/api/v1/customers", body(external_id="c1", metadata=rows)).status_code == 200


@pytest.mark.parametrize("sort_below", [0, 10_000])
def test_search_results_are_newest_first_whichever_way_they_are_read(api, organization, monkeypatch, sort_below):
    monkeypatch.setattr("customers.selectors.SORT_MATCHES_BELOW", sort_below)
    now = timezone.now()
    for index in range(4):
        CustomerFactory(organization=organization, external_id=f"match-{index}", created_at=now - timedelta(days=index))
    CustomerFactory(organization=organization, external_id="other")
    found = api.get("/api/v1/customers", search_term="match").json()
    assert [c["external_id"] for c in found["customers"]] == ["match-0", "match-1", "match-2", "match-3"]
    assert found["meta"]["total_count"] == 4


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # Numbers become text, as DRF's CharField made them; the rules then apply to the text.
        ({"name": 7, "phone": 1.5, "zipcode": 75001}, {"name": "7", "phone": "1.5", "zipcode": "75001"}),
        ({"name": "", "city": None}, {"name": None, "city": None}),
        ({"billing_configuration": {"invoice_grace_period": "7"}}, {"invoice_grace_period": 7}),
        ({"billing_configuration": {"invoice_grace_period": "7.0"}}, {"invoice_grace_period": 7}),
        ({"billing_configuration": {"invoice_grace_period": 7.0}}, {"invoice_grace_period": 7}),
        ({"billing_configuration": {"invoice_grace_period": None}}, {"invoice_grace_period": None}),
        # The billing configuration's text is trimmed; the customer's is not.
        ({"billing_configuration": {"payment_provider": " stripe "}}, {"payment_provider": "stripe"}),
        ({"billing_configuration": {"provider_customer_id": "  "}}, {"provider_customer_id": None}),
        ({"name": " Acme "}, {"name": " Acme "}),
    ],
)
def test_json_types_are_read_as_the_schema_documents(api, fields, expected):
    response = api.post("/api/v1/customers", body(external_id="c1", **fields))
    assert response.status_code == 200, response.content
    customer = response.json()["customer"]
    shown = {**customer, **customer["billing_configuration"]}
    assert {field: shown[field] for field in expected} == expected


def test_a_number_is_a_valid_external_id(api):
    assert api.post("/api/v1/customers", body(external_id=42)).json()["customer"]["external_id"] == "42"


@pytest.mark.parametrize(
    ("fields", "details"),
    [
        ({"external_id": True}, {"external_id": ["value_is_invalid"]}),
        ({"external_id": ["c1"]}, {"external_id": ["value_is_invalid"]}),
        ({"external_id": "c\x00"}, {"external_id": ["value_is_invalid"]}),
        ({"external_id": "c1", "name": False}, {"name": ["value_is_invalid"]}),
        ({"external_id": "c1", "email": {"a": 1}}, {"email": ["value_is_invalid"]}),
        ({"external_id": "c1", "city": "\ud800"}, {"city": ["value_is_invalid"]}),
        ({"external_id": "c1", "billing_configuration": None}, {"billing_configuration": ["value_is_mandatory"]}),
        ({"external_id": "c1", "billing_configuration": "stripe"}, {"billing_configuration": ["value_is_invalid"]}),
        (
            {"external_id": "c1", "billing_configuration": {"invoice_grace_period": True}},
            {"invoice_grace_period": ["value_is_invalid"]},
        ),
        (
            {"external_id": "c1", "billing_configuration": {"invoice_grace_period": "7.5"}},
            {"invoice_grace_period": ["value_is_invalid"]},
        ),
        (
            {"external_id": "c1", "billing_configuration": {"invoice_grace_period": "1" * 1001}},
            {"invoice_grace_period": ["value_is_too_long"]},
        ),
        (
            {"external_id": "c1", "billing_configuration": {"payment_provider": 1}},
            {"payment_provider": ["value_is_invalid"]},
        ),
        # A metadata row that is not an object is reported under its index.
        (
            {"external_id": "c1", "metadata": [{"key": "k", "value": "v"}, 5, None]},
            {"1": ["value_is_invalid"], "2": ["value_is_mandatory"]},
        ),
        # Type errors are answered together, before any rule is checked (the country here).
        (
            {"name": True, "country": "XX", "billing_configuration": {"invoice_grace_period": "x"}, "metadata": {}},
            {
                "external_id": ["value_is_mandatory"],
                "name": ["value_is_invalid"],
                "invoice_grace_period": ["value_is_invalid"],
                "metadata": ["value_is_invalid"],
            },
        ),
    ],
)
def test_wrong_json_types_are_422s(api, fields, details):
    response = api.post("/api/v1/customers", {"customer": fields})
    assert response.status_code == 422
    assert response.json()["error_details"] == details
    assert not Customer.objects.exists()


@pytest.mark.parametrize(
    ("fields", "details"),
    [
        ({"external_id": None}, {"external_id": ["value_is_mandatory"]}),
        ({"external_id": ""}, {"external_id": ["value_is_mandatory"]}),
        ({"name": True}, {"name": ["value_is_invalid"]}),
    ],
)
def test_an_update_reads_json_types_the_same_way_without_requiring_the_external_id(api, organization, fields, details):
    CustomerFactory(organization=organization, external_id="c1", name="Before")
    response = api.put(url("c1"), body(**fields))
    assert response.status_code == 422
    assert response.json()["error_details"] == details
    assert api.put(url("c1"), body(name=7)).json()["customer"]["name"] == "7"


def test_the_input_reader_knows_every_documented_field():
    documented = list(CustomerInput._declared_fields)
    assert documented == [
        "external_id",
        *OPTIONAL_TEXT_FIELDS,
        "customer_type",
        "net_payment_term",
        "finalize_zero_amount_invoice",
        "shipping_address",
        "billing_configuration",
        "metadata",
    ]
    assert BILLING_CONFIGURATION_FIELDS == set(BillingConfigurationInput._declared_fields)
    assert SHIPPING_ADDRESS_FIELDS == set(ShippingAddressInput._declared_fields) == set(SHIPPING_ADDRESS_KEYS)


def test_the_customer_object_is_the_documented_one(organization):
    organization.default_timezone = "Asia/Tokyo"
    organization.save()
    create_customer(
        organization=organization,
        data={
            "external_id": "full",
            "name": "Acme",
            "timezone": "Europe/Paris",
            "currency": "EUR",
            "country": "FR",
            "legal_name": "Acme SA",
            "legal_number": "123",
            "tax_identification_number": "FR1",
            "email": "a@acme.test",
            "phone": "+33 1",
            "url": "https://acme.test",
            "address_line1": "1 rue",
            "address_line2": "bis",
            "zipcode": "75001",
            "city": "Paris",
            "state": "IDF",
            "payment_provider": "stripe",
            "provider_customer_id": "cus_1",
            "invoice_grace_period": 3,
            "firstname": "Ada",
            "lastname": "Lovelace",
            "customer_type": "company",
            "net_payment_term": 30,
            "document_locale": "fr",
            "finalize_zero_amount_invoice": "skip",
            "shipping_address_line1": "5 Dock Road",
            "shipping_city": "Rotterdam",
            "shipping_country": "NL",
            "metadata": [{"key": "b", "value": "2"}, {"key": "a", "value": "1", "display_in_invoice": True}],
        },
    )
    create_customer(organization=organization, data={"external_id": "bare"})
    for external_id in ("full", "bare"):
        customer = get_customer_by_external_id(organization=organization, external_id=external_id)
        # Same keys, values and order as the serializer the schema is generated from.
        assert json.dumps(customer_payload(customer)) == json.dumps(CustomerOutput(customer).data)
