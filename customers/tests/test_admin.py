"""The customer admin writes metadata through the customer services, under the same rules as the API."""

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from customers.models import METADATA_MAX_ROWS, Customer
from customers.tests.factories import CustomerFactory, CustomerMetadataFactory
from organizations.models import User
from plans.tests.factories import SubscriptionFactory


@pytest.fixture
def support_client(db, client):
    client.force_login(User.objects.create_superuser("support@example.test", "support-pass"))
    return client


def form_values(form) -> dict[str, str]:
    """What a browser would post for an unchanged form: checked boxes only, None as empty."""
    data = {}
    for name in form.fields:
        value = form[name].value()
        if isinstance(value, bool):
            if value:
                data[form.add_prefix(name)] = "on"
        else:
            data[form.add_prefix(name)] = "" if value is None else str(value)
    return data


def admin_page_data(client, url: str) -> tuple[dict[str, str], str]:
    """The customer form and its metadata inline as the page shows them, and the inline's prefix."""
    response = client.get(url)
    assert response.status_code == 200
    data = form_values(response.context["adminform"].form)
    formset = response.context["inline_admin_formsets"][0].formset
    data.update(form_values(formset.management_form))
    for form in formset.forms:
        data.update(form_values(form))
    return data, formset.prefix


def add_row(data: dict[str, str], prefix: str, key: str, value: str) -> None:
    index = int(data[f"{prefix}-TOTAL_FORMS"])
    data.update({f"{prefix}-{index}-key": key, f"{prefix}-{index}-value": value})
    data[f"{prefix}-TOTAL_FORMS"] = str(index + 1)


def test_admin_metadata_edits_keep_ids_delete_and_add_rows(support_client, organization):
    customer = CustomerFactory(organization=organization)
    renamed = CustomerMetadataFactory(customer=customer, key="crm", value="v1")
    removed = CustomerMetadataFactory(customer=customer, key="old", value="v2")
    url = reverse("admin:customers_customer_change", args=[customer.pk])
    data, prefix = admin_page_data(support_client, url)
    rows = {data[f"{prefix}-{i}-key"]: i for i in range(2)}
    data[f"{prefix}-{rows['crm']}-key"] = "crm_id"
    data[f"{prefix}-{rows['old']}-DELETE"] = "on"
    add_row(data, prefix, "segment", "enterprise")

    response = support_client.post(url, data)

    assert response.status_code == 302, response.content.decode()[:2000]
    stored = {item.key: item for item in customer.metadata.all()}
    assert set(stored) == {"crm_id", "segment"}
    assert stored["crm_id"].id == renamed.id and stored["crm_id"].value == "v1"
    assert not customer.metadata.filter(id=removed.id).exists()
    history = LogEntry.objects.get(object_id=str(customer.pk)).get_change_message()
    assert "segment" in history and "old" in history


def test_admin_swaps_the_keys_of_two_metadata_rows(support_client, organization):
    customer = CustomerFactory(organization=organization)
    first = CustomerMetadataFactory(customer=customer, key="a", value="1")
    second = CustomerMetadataFactory(customer=customer, key="b", value="2")
    url = reverse("admin:customers_customer_change", args=[customer.pk])
    data, prefix = admin_page_data(support_client, url)
    rows = {data[f"{prefix}-{i}-key"]: i for i in range(2)}
    data[f"{prefix}-{rows['a']}-key"], data[f"{prefix}-{rows['b']}-key"] = "b", "a"

    response = support_client.post(url, data)

    assert response.status_code == 302, response.content.decode()[:2000]
    stored = {item.id: (item.key, item.value) for item in customer.metadata.all()}
    assert stored == {first.id: ("b", "1"), second.id: ("a", "2")}


def test_admin_refuses_two_metadata_rows_with_one_key(support_client, organization):
    customer = CustomerFactory(organization=organization)
    CustomerMetadataFactory(customer=customer, key="crm", value="1")
    url = reverse("admin:customers_customer_change", args=[customer.pk])
    data, prefix = admin_page_data(support_client, url)
    add_row(data, prefix, "crm", "2")

    response = support_client.post(url, data)

    assert response.status_code == 200
    assert [(item.key, item.value) for item in customer.metadata.all()] == [("crm", "1")]


def test_admin_refuses_more_metadata_rows_than_the_api_allows(support_client, organization):
    customer = CustomerFactory(organization=organization)
    for index in range(METADATA_MAX_ROWS):
        CustomerMetadataFactory(customer=customer, key=f"key{index}")
    url = reverse("admin:customers_customer_change", args=[customer.pk])
    data, prefix = admin_page_data(support_client, url)
    add_row(data, prefix, "one_too_many", "value")

    response = support_client.post(url, data)

    assert response.status_code == 200
    assert f"A customer can have at most {METADATA_MAX_ROWS} metadata rows." in response.content.decode()
    assert customer.metadata.count() == METADATA_MAX_ROWS
    assert not customer.metadata.filter(key="one_too_many").exists()


def test_admin_adds_a_customer_with_metadata(support_client, organization):
    data, prefix = admin_page_data(support_client, reverse("admin:customers_customer_add"))
    data.update(organization=str(organization.pk), external_id="from-admin", name="From Admin")
    add_row(data, prefix, "crm", "42")

    response = support_client.post(reverse("admin:customers_customer_add"), data)

    assert response.status_code == 302, response.content.decode()[:2000]
    customer = Customer.live.get(organization=organization, external_id="from-admin")
    assert [(item.key, item.value) for item in customer.metadata.all()] == [("crm", "42")]


def test_admin_refuses_a_locked_external_id_change_with_a_sentence(support_client, organization):
    customer = CustomerFactory(organization=organization, external_id="locked-1")
    SubscriptionFactory(customer=customer)
    url = reverse("admin:customers_customer_change", args=[customer.pk])
    data, _ = admin_page_data(support_client, url)
    data["external_id"] = "renamed-1"

    response = support_client.post(url, data)

    assert response.status_code == 200
    assert "The external ID cannot change" in response.content.decode()
    customer.refresh_from_db()
    assert customer.external_id == "locked-1"


def test_admin_says_why_the_external_id_is_locked_as_the_staff_form_does(support_client, organization):
    customer = CustomerFactory(organization=organization, external_id="locked-2")
    SubscriptionFactory(customer=customer, status="terminated")
    url = reverse("admin:customers_customer_change", args=[customer.pk])
    data, _ = admin_page_data(support_client, url)
    data["external_id"] = "renamed-2"

    response = support_client.post(url, data)

    assert response.status_code == 200
    assert "this customer already has a subscription" in response.content.decode()
    customer.refresh_from_db()
    assert customer.external_id == "locked-2"
