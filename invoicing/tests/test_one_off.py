"""One-off invoices of add-ons: finalized when made, priced in the invoice's currency."""

from decimal import Decimal

import pytest

from billing.errors import ValidationFailed
from customers.tests.factories import CustomerFactory
from invoicing.models import Invoice
from invoicing.one_off import create_one_off_invoice
from plans.services import create_add_on


@pytest.fixture
def customer(organization):
    create_add_on(
        organization=organization,
        data={"code": "setup", "name": "Setup", "amount_cents": 10000, "amount_currency": "USD"},
    )
    return CustomerFactory(organization=organization, currency="EUR")


def test_an_add_on_priced_in_another_currency_is_refused_without_a_unit_amount(customer):
    with pytest.raises(ValidationFailed) as refused:
        create_one_off_invoice(customer=customer, fees=[{"add_on_code": "setup"}])
    assert refused.value.details == {"currency": ["currencies_does_not_match"]}
    assert not Invoice.objects.exists()


def test_with_its_unit_amount_given_it_is_billed_in_the_customers_currency(customer):
    invoice = create_one_off_invoice(
        customer=customer, fees=[{"add_on_code": "setup", "unit_amount_cents": 9000, "units": Decimal("1.5")}]
    )
    [fee] = invoice.fees.all()
    assert (invoice.currency, invoice.status, invoice.invoice_type) == ("EUR", "finalized", "one_off")
    assert (fee.amount_cents, fee.unit_amount_cents, fee.currency) == (13500, 9000, "EUR")
    assert invoice.number is not None and invoice.total_amount_cents == 13500
