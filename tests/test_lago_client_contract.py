"""Lago's own Python client (lago-python-client 1.55.0) drives our API over HTTP.

If the client raises, parses wrongly or needs a workaround, our API is wrong, not the test.
"""

import pytest
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import Customer as LagoCustomer

from customers.models import Customer
from organizations.services import create_api_key
from organizations.tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def lago(live_server):
    organization = OrganizationFactory(name="Contract Co", default_timezone="Europe/Paris")
    _, raw_key = create_api_key(organization=organization)
    return Client(api_key=raw_key, api_url=live_server.url)


def test_create_returns_a_customer_response(lago):
    customer = lago.customers.create(
        LagoCustomer(
            external_id="cust_1",
            name="Acme",
            currency="EUR",
            country="FR",
            email="billing@acme.test",
            metadata=[{"key": "crm", "value": "42", "display_in_invoice": True}],
            billing_configuration={"invoice_grace_period": 2, "payment_provider": "stripe"},
        )
    )
    assert customer.external_id == "cust_1" and customer.lago_id
    assert customer.applicable_timezone == "Europe/Paris"
    assert customer.billing_configuration.invoice_grace_period == 2
    assert customer.billing_configuration.payment_provider == "stripe"
    [metadata] = customer.metadata.__root__
    assert (metadata.key, metadata.value, metadata.display_in_invoice) == ("crm", "42", True)


def test_upsert_updates_the_same_customer_and_keeps_omitted_fields(lago):
    first = lago.customers.create(LagoCustomer(external_id="cust_1", name="Acme", email="billing@acme.test"))
    second = lago.customers.create(LagoCustomer(external_id="cust_1", city="Lyon"))
    assert second.lago_id == first.lago_id
    assert (second.name, second.email, second.city) == ("Acme", "billing@acme.test", "Lyon")
    assert Customer.objects.count() == 1


def test_find_and_find_all_with_meta(lago):
    for index in range(3):
        lago.customers.create(LagoCustomer(external_id=f"cust_{index}", name=f"Customer {index}"))
    assert lago.customers.find("cust_1").name == "Customer 1"
    page = lago.customers.find_all({"per_page": 2, "page": 1})
    assert [c.external_id for c in page["customers"]] == ["cust_2", "cust_1"]
    assert page["meta"] == {"current_page": 1, "next_page": 2, "prev_page": None, "total_pages": 2, "total_count": 3}


def test_find_all_when_empty(lago):
    page = lago.customers.find_all()
    assert page["customers"] == [] and page["meta"]["total_count"] == 0


def test_destroy_returns_the_customer_then_find_raises_404(lago):
    created = lago.customers.create(LagoCustomer(external_id="cust_1", name="Acme"))
    destroyed = lago.customers.destroy("cust_1")
    assert destroyed.lago_id == created.lago_id
    with pytest.raises(LagoApiError) as exc:
        lago.customers.find("cust_1")
    assert exc.value.status_code == 404
    assert exc.value.response["code"] == "customer_not_found"


def test_recreate_after_destroy_gets_a_new_lago_id(lago):
    first = lago.customers.create(LagoCustomer(external_id="cust_1"))
    lago.customers.destroy("cust_1")
    second = lago.customers.create(LagoCustomer(external_id="cust_1"))
    assert second.lago_id != first.lago_id


def test_validation_errors_raise_lago_api_error_422(lago):
    with pytest.raises(LagoApiError) as exc:
        lago.customers.create(LagoCustomer(external_id="cust_1", currency="XYZ", timezone="Mars/Base"))
    assert exc.value.status_code == 422
    assert exc.value.response["error_details"] == {"timezone": ["invalid_timezone"], "currency": ["value_is_invalid"]}


def test_unknown_customer_raises_404(lago):
    with pytest.raises(LagoApiError) as exc:
        lago.customers.destroy("nobody")
    assert exc.value.status_code == 404


def test_wrong_key_raises_401(live_server):
    client = Client(api_key="not-a-key", api_url=live_server.url)
    with pytest.raises(LagoApiError) as exc:
        client.customers.find_all()
    assert exc.value.status_code == 401
    assert exc.value.response == {"status": 401, "error": "Unauthorized"}


def test_external_id_with_a_space_works_through_the_client(lago):
    # The client does not encode path parts; httpx turns the space into %20, which we decode.
    lago.customers.create(LagoCustomer(external_id="acme corp", name="Acme"))
    assert lago.customers.find("acme corp").external_id == "acme corp"
