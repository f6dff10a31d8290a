"""Lago's own Python client (lago-python-client 1.55.0) with Lago's remaining customer fields:
`firstname`, `lastname`, `customer_type`, `net_payment_term`, `finalize_zero_amount_invoice`,
`shipping_address` and `billing_configuration.document_locale`.

If the client raises, parses wrongly or needs a workaround, our API is wrong, not the test.
"""

from datetime import UTC, datetime

import pytest
import time_machine
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import Customer as LagoCustomer
from lago_python_client.models.customer import Address, CustomerBillingConfiguration

from invoicing.services import bill_due_period, due_periods
from organizations.services import create_api_key
from organizations.tests.factories import OrganizationFactory
from plans.tests.factories import BillableMetricFactory, ChargeFactory, PlanFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db(transaction=True)

SHIPPING = {
    "address_line1": "5 Dock Road",
    "address_line2": "Gate B",
    "city": "Rotterdam",
    "zipcode": "3011",
    "state": "South Holland",
    "country": "NL",
}


@pytest.fixture
def organization():
    return OrganizationFactory(name="Contract Co", net_payment_term=10)


@pytest.fixture
def lago(live_server, organization):
    _, raw_key = create_api_key(organization=organization)
    return Client(api_key=raw_key, api_url=live_server.url)


def full_customer(external_id: str = "cust_1") -> LagoCustomer:
    return LagoCustomer(
        external_id=external_id,
        name="Analytical Engines",
        firstname="Ada",
        lastname="Lovelace",
        customer_type="individual",
        net_payment_term=30,
        finalize_zero_amount_invoice="skip",
        shipping_address=Address(**SHIPPING),
        billing_configuration=CustomerBillingConfiguration(document_locale="fr", payment_provider="stripe"),
    )


def assert_full(customer) -> None:
    assert (customer.firstname, customer.lastname, customer.customer_type) == ("Ada", "Lovelace", "individual")
    assert (customer.net_payment_term, customer.finalize_zero_amount_invoice) == (30, "skip")
    assert customer.shipping_address.dict() == SHIPPING
    assert customer.billing_configuration.document_locale == "fr"
    assert customer.billing_configuration.payment_provider == "stripe"


def test_create_with_every_new_field_then_read_them_back(lago):
    assert_full(lago.customers.create(full_customer()))
    assert_full(lago.customers.find("cust_1"))
    [listed] = lago.customers.find_all()["customers"]
    assert_full(listed)


def test_an_upsert_with_part_of_the_shipping_address_keeps_the_rest(lago):
    lago.customers.create(full_customer())
    updated = lago.customers.create(LagoCustomer(external_id="cust_1", shipping_address=Address(city="Delft")))
    assert updated.shipping_address.dict() == {**SHIPPING, "city": "Delft"}
    found = lago.customers.find("cust_1")
    assert found.shipping_address.dict() == {**SHIPPING, "city": "Delft"}
    # Nor did it touch any other new field.
    assert (found.firstname, found.net_payment_term, found.finalize_zero_amount_invoice) == ("Ada", 30, "skip")
    assert found.billing_configuration.document_locale == "fr"


def test_a_bare_customer_parses_with_lagos_defaults(lago):
    customer = lago.customers.create(LagoCustomer(external_id="bare"))
    assert (customer.firstname, customer.lastname, customer.customer_type, customer.net_payment_term) == (
        None,
        None,
        None,
        None,
    )
    assert customer.finalize_zero_amount_invoice == "inherit"
    assert customer.shipping_address.dict() == dict.fromkeys(SHIPPING)
    assert customer.billing_configuration.document_locale is None


@pytest.mark.parametrize(
    ("fields", "details"),
    [
        ({"shipping_address": Address(country="ZZ")}, {"shipping_country": ["not_a_valid_country_code"]}),
        ({"shipping_address": Address(city="x" * 256)}, {"shipping_city": ["value_is_too_long"]}),
        ({"customer_type": "robot"}, {"customer_type": ["value_is_invalid"]}),
        ({"net_payment_term": 366}, {"net_payment_term": ["value_is_out_of_range"]}),
        ({"finalize_zero_amount_invoice": "never"}, {"finalize_zero_amount_invoice": ["invalid_value"]}),
        (
            {"billing_configuration": CustomerBillingConfiguration(document_locale="xx")},
            {"document_locale": ["value_is_invalid"]},
        ),
        ({"lastname": "x" * 256}, {"lastname": ["value_is_too_long"]}),
    ],
)
def test_bad_values_are_422_naming_the_field(lago, fields, details):
    lago.customers.create(full_customer())
    with pytest.raises(LagoApiError) as exc:
        lago.customers.create(LagoCustomer(external_id="cust_1", **fields))
    assert exc.value.status_code == 422
    assert exc.value.response["code"] == "validation_errors"
    assert exc.value.response["error_details"] == details
    assert_full(lago.customers.find("cust_1"))  # nothing changed


def test_the_destroyed_customer_parses_with_its_new_fields(lago):
    lago.customers.create(full_customer())
    assert_full(lago.customers.destroy("cust_1"))


def test_a_closed_zero_amount_invoice_parses_and_keeps_a_provisional_number(lago, organization):
    lago.customers.create(full_customer())
    customer = organization.customers.get(external_id="cust_1")
    plan = PlanFactory(organization=organization, amount_cents=0, amount_currency="EUR")
    metric = BillableMetricFactory(organization=organization, aggregation_type="count_agg", field_name=None)
    ChargeFactory(plan=plan, billable_metric=metric, properties={"amount": "0.5"})
    started = datetime(2026, 1, 10, tzinfo=UTC)
    SubscriptionFactory(customer=customer, plan=plan, subscription_at=started, started_at=started)
    billed_at = datetime(2026, 2, 1, 0, 30, tzinfo=UTC)
    with time_machine.travel(billed_at, tick=False):
        [due] = due_periods(at=billed_at)
        closed = bill_due_period(subscription_id=due.subscription_id, period_start=due.period_start, at=billed_at)
    invoice = lago.invoices.find(str(closed.pk))
    assert (invoice.status, invoice.total_amount_cents, invoice.fees_amount_cents) == ("closed", 0, 0)
    assert invoice.number.endswith("-DRAFT")
    assert invoice.net_payment_term == 30  # the customer's term, set through the client
    assert invoice.customer.finalize_zero_amount_invoice == "skip"
