"""The customer services: upsert, validation, the external_id rule, soft delete."""

import threading

import pytest
from django.db import connection

from billing.errors import NotFound, ValidationFailed
from customers import services
from customers.models import Customer, CustomerMetadata
from customers.services import create_customer, soft_delete_customer, update_customer, upsert_customer
from customers.tests.factories import CustomerFactory
from plans.tests.factories import SubscriptionFactory


def test_upsert_creates_then_updates_instead_of_duplicating(organization):
    first, created = upsert_customer(organization=organization, data={"external_id": "c1", "name": "Acme"})
    second, created_again = upsert_customer(organization=organization, data={"external_id": "c1", "name": "Acme 2"})
    assert (created, created_again) == (True, False)
    assert first.pk == second.pk
    assert Customer.objects.filter(organization=organization, external_id="c1").count() == 1
    assert Customer.objects.get(pk=first.pk).name == "Acme 2"


def test_upsert_keeps_fields_it_did_not_receive(organization):
    upsert_customer(
        organization=organization,
        data={
            "external_id": "c1",
            "name": "Acme",
            "email": "billing@acme.test",
            "country": "FR",
            "payment_provider": "stripe",
            "metadata": [{"key": "crm", "value": "42", "display_in_invoice": True}],
        },
    )
    customer, _ = upsert_customer(organization=organization, data={"external_id": "c1", "city": "Paris"})
    customer.refresh_from_db()
    assert (customer.name, customer.email, customer.country, customer.city) == (
        "Acme",
        "billing@acme.test",
        "FR",
        "Paris",
    )
    assert customer.payment_provider == "stripe"
    assert list(customer.metadata.values_list("key", "value")) == [("crm", "42")]


def test_explicit_null_clears_a_field(organization):
    customer = create_customer(organization=organization, data={"external_id": "c1", "email": "a@acme.test"})
    update_customer(customer=customer, data={"email": None})
    customer.refresh_from_db()
    assert customer.email is None


def test_metadata_is_replaced_only_when_sent_and_keeps_ids_matched_by_key(organization):
    customer = create_customer(
        organization=organization,
        data={"external_id": "c1", "metadata": [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]},
    )
    kept_id = customer.metadata.get(key="a").id
    update_customer(customer=customer, data={"metadata": [{"key": "a", "value": "10"}, {"key": "c", "value": "3"}]})
    rows = {m.key: m for m in CustomerMetadata.objects.filter(customer=customer)}
    assert set(rows) == {"a", "c"}
    assert rows["a"].id == kept_id and rows["a"].value == "10"


def test_metadata_keys_can_be_swapped_between_rows(organization):
    customer = create_customer(
        organization=organization,
        data={"external_id": "c1", "metadata": [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]},
    )
    ids = {m.key: str(m.id) for m in customer.metadata.all()}
    update_customer(
        customer=customer,
        data={"metadata": [{"id": ids["a"], "key": "b", "value": "1"}, {"id": ids["b"], "key": "a", "value": "2"}]},
    )
    assert dict(customer.metadata.values_list("key", "value")) == {"b": "1", "a": "2"}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"timezone": "Mars/Olympus"}, {"timezone": ["invalid_timezone"]}),
        ({"country": "ZZ"}, {"country": ["not_a_valid_country_code"]}),
        ({"currency": "EURO"}, {"currency": ["value_is_invalid"]}),
        ({"email": "not-an-email"}, {"email": ["invalid_email_format"]}),
        ({"payment_provider": "paypal"}, {"payment_provider": ["value_is_invalid"]}),
        ({"name": "x" * 256}, {"name": ["value_is_too_long"]}),
        ({"invoice_grace_period": -1}, {"invoice_grace_period": ["value_is_out_of_range"]}),
        (
            {"metadata": [{"key": "a", "value": "1"}, {"key": "a", "value": "2"}]},
            {"metadata": ["duplicated_key"]},
        ),
        ({"metadata": [{"key": f"k{i}", "value": "v"} for i in range(6)]}, {"metadata": ["invalid_count"]}),
        ({"metadata": [{"key": "k" * 21, "value": "v"}]}, {"metadata": ["value_is_too_long"]}),
        ({"metadata": [{"key": "k", "value": ""}]}, {"metadata": ["value_is_mandatory"]}),
    ],
)
def test_invalid_input_is_refused_and_changes_nothing(organization, data, expected):
    customer = create_customer(organization=organization, data={"external_id": "c1", "name": "Before"})
    with pytest.raises(ValidationFailed) as exc:
        update_customer(customer=customer, data={"name": "After", **data})
    assert exc.value.details == expected
    customer.refresh_from_db()
    assert customer.name == "Before"


def test_missing_external_id_is_refused(organization):
    with pytest.raises(ValidationFailed) as exc:
        upsert_customer(organization=organization, data={"name": "No id"})
    assert exc.value.details == {"external_id": ["value_is_mandatory"]}
    assert not Customer.objects.exists()


def test_country_is_upper_cased(organization):
    customer = create_customer(organization=organization, data={"external_id": "c1", "country": "fr"})
    assert customer.country == "FR"


def test_external_id_can_change_while_nothing_is_assigned(organization):
    customer = create_customer(organization=organization, data={"external_id": "old"})
    assert services.external_id_lock_reason(customer=customer) is None
    update_customer(customer=customer, data={"external_id": "new"})
    customer.refresh_from_db()
    assert customer.external_id == "new"


def test_external_id_cannot_take_another_live_customers_id(organization):
    CustomerFactory(organization=organization, external_id="taken")
    customer = create_customer(organization=organization, data={"external_id": "mine"})
    with pytest.raises(ValidationFailed) as exc:
        update_customer(customer=customer, data={"external_id": "taken"})
    assert exc.value.details == {"external_id": ["value_already_exist"]}


@pytest.mark.parametrize("status", ["pending", "active", "terminated", "canceled"])
def test_rule_external_id_cannot_change_once_a_plan_is_assigned(organization, status):
    customer = CustomerFactory(organization=organization, external_id="locked", name="Before")
    SubscriptionFactory(customer=customer, status=status)
    assert "already has a subscription" in services.external_id_lock_reason(customer=customer)
    with pytest.raises(ValidationFailed) as exc:
        update_customer(customer=customer, data={"external_id": "renamed", "name": "After"})
    assert exc.value.details == {"external_id": ["value_is_not_editable"]}
    customer.refresh_from_db()
    assert (customer.external_id, customer.name) == ("locked", "Before")
    # Sending the same id is not a change, so other fields still update.
    update_customer(customer=customer, data={"external_id": "locked", "name": "After"})
    customer.refresh_from_db()
    assert customer.name == "After"


def test_rule_deleted_customer_external_id_can_be_reused(organization):
    old = create_customer(organization=organization, data={"external_id": "reused", "name": "Old"})
    soft_delete_customer(customer=old)
    new, created = upsert_customer(organization=organization, data={"external_id": "reused", "name": "New"})
    assert created and new.pk != old.pk
    old.refresh_from_db()
    assert old.deleted_at is not None and old.name == "Old"
    assert Customer.live.get(organization=organization, external_id="reused").pk == new.pk


def test_deleting_twice_is_not_found(organization):
    customer = CustomerFactory(organization=organization)
    soft_delete_customer(customer=customer)
    with pytest.raises(NotFound):
        soft_delete_customer(customer=customer)


def test_same_external_id_in_two_organizations_are_two_customers(organization, other_organization):
    a, _ = upsert_customer(organization=organization, data={"external_id": "shared"})
    b, _ = upsert_customer(organization=other_organization, data={"external_id": "shared"})
    assert a.pk != b.pk


@pytest.mark.django_db(transaction=True)
def test_concurrent_upserts_of_a_new_external_id_make_one_customer(organization):
    assert connection.vendor == "postgresql"
    workers = 8
    barrier = threading.Barrier(workers)
    results: list[tuple[str, bool]] = []
    failures: list[BaseException] = []

    def upsert(index: int) -> None:
        try:
            barrier.wait()
            customer, created = upsert_customer(
                organization=organization, data={"external_id": "race", "name": f"Writer {index}"}
            )
            results.append((str(customer.pk), created))
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=upsert, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert Customer.objects.filter(organization=organization, external_id="race").count() == 1
    assert len({pk for pk, _ in results}) == 1
    assert sum(created for _, created in results) == 1


@pytest.fixture(params=["postgresql", "portable"])
def upsert_path(request, monkeypatch):
    """Run a test through PostgreSQL's one-statement upsert and through the portable one (SQLite's)."""
    if request.param == "portable":
        monkeypatch.setattr(connection, "vendor", "sqlite")
    return request.param


def test_upsert_counts_new_customers_only(organization, upsert_path):
    upsert_customer(organization=organization, data={"external_id": "first"})
    assert organization.live_customer_count.live_count == 1
    customer, created = upsert_customer(organization=organization, data={"external_id": "c1", "name": "Acme"})
    assert created and customer.name == "Acme" and customer.organization == organization
    customer, created = upsert_customer(organization=organization, data={"external_id": "c1", "city": "Lyon"})
    assert not created and (customer.name, customer.city) == ("Acme", "Lyon")
    organization.live_customer_count.refresh_from_db()
    assert organization.live_customer_count.live_count == 2


def test_upsert_recounts_an_organization_without_counter(organization, upsert_path):
    CustomerFactory.create_batch(2, organization=organization)  # bypasses the services and the counter
    upsert_customer(organization=organization, data={"external_id": "c1"})
    assert organization.live_customer_count.live_count == 3


def test_upsert_returns_the_customer_as_stored_with_its_metadata_loaded(
    organization, upsert_path, django_assert_num_queries
):
    rows = [{"key": "b", "value": "2"}, {"key": "a", "value": "1", "display_in_invoice": True}]
    created, _ = upsert_customer(organization=organization, data={"external_id": "c1", "metadata": rows})
    kept, _ = upsert_customer(organization=organization, data={"external_id": "c1", "name": "Acme"})
    bare, _ = upsert_customer(organization=organization, data={"external_id": "c2"})
    stored = CustomerMetadata.objects.filter(customer__external_id="c1").order_by("created_at", "key")
    expected = [(item.id, item.key, item.value, item.display_in_invoice, item.created_at) for item in stored]
    with django_assert_num_queries(0):
        for customer in (created, kept):
            shown = [(m.id, m.key, m.value, m.display_in_invoice, m.created_at) for m in customer.metadata.all()]
            assert shown == expected
        assert list(bare.metadata.all()) == []
        assert kept.organization.name == organization.name
    fresh = Customer.objects.get(pk=kept.pk)
    assert [getattr(kept, f.attname) for f in Customer._meta.concrete_fields] == [
        getattr(fresh, f.attname) for f in Customer._meta.concrete_fields
    ]
