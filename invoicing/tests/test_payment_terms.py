"""An invoice is due its net payment term after its issuing date: the customer's term, else the
organization's; fixed on the invoice when it is made; overdue once that date passed unpaid."""

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from customers.tests.factories import CustomerFactory
from invoicing.lifecycle import update_invoice, void_invoice
from invoicing.tests.test_invoices_api import NOW, billed_invoice


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=True):
        yield


def test_the_customers_net_payment_term_sets_the_payment_due_date(organization):
    customer = CustomerFactory(organization=organization, net_payment_term=30)
    invoice = billed_invoice(organization, customer=customer)
    assert invoice.issuing_date == date(2026, 2, 1)
    assert (invoice.net_payment_term, invoice.payment_due_date) == (30, date(2026, 3, 3))


def test_without_a_term_of_its_own_the_customer_takes_the_organizations(organization):
    organization.net_payment_term = 15
    organization.save()
    invoice = billed_invoice(organization, customer=CustomerFactory(organization=organization))
    assert (invoice.net_payment_term, invoice.payment_due_date) == (15, date(2026, 2, 16))


def test_a_customer_term_of_zero_days_wins_over_the_organizations(organization):
    organization.net_payment_term = 15
    organization.save()
    invoice = billed_invoice(organization, customer=CustomerFactory(organization=organization, net_payment_term=0))
    assert (invoice.net_payment_term, invoice.payment_due_date) == (0, date(2026, 2, 1))


def test_a_later_change_of_the_term_keeps_the_due_date_of_invoices_already_made(organization):
    customer = CustomerFactory(organization=organization, net_payment_term=30)
    invoice = billed_invoice(organization, customer=customer)
    customer.net_payment_term = 60
    customer.save()
    invoice.refresh_from_db()
    assert (invoice.net_payment_term, invoice.payment_due_date) == (30, date(2026, 3, 3))


def test_the_api_shows_the_term_the_due_date_and_whether_it_is_overdue(organization, api):
    invoice = billed_invoice(organization, customer=CustomerFactory(organization=organization, net_payment_term=10))

    def shown() -> dict:
        answer = api.get(f"/api/v1/invoices/{invoice.pk}")
        assert answer.status_code == 200
        body = answer.json()["invoice"]
        return {key: body[key] for key in ("net_payment_term", "payment_due_date", "payment_overdue")}

    assert shown() == {"net_payment_term": 10, "payment_due_date": "2026-02-11", "payment_overdue": False}
    with time_machine.travel(datetime(2026, 2, 11, 23, 0, tzinfo=UTC)):
        assert shown()["payment_overdue"] is False  # due that day: not late yet
    with time_machine.travel(datetime(2026, 2, 12, 0, 30, tzinfo=UTC)):
        assert shown()["payment_overdue"] is True
        update_invoice(invoice=invoice, payment_status="succeeded")
        assert shown()["payment_overdue"] is False  # paid: never overdue


def test_a_voided_invoice_is_not_overdue(organization, api):
    invoice = billed_invoice(organization)
    void_invoice(invoice=invoice)
    with time_machine.travel(NOW + timedelta(days=40)):
        assert api.get(f"/api/v1/invoices/{invoice.pk}").json()["invoice"]["payment_overdue"] is False


def test_the_printable_invoice_shows_the_payment_due_date(organization, staff_client):
    invoice = billed_invoice(organization, customer=CustomerFactory(organization=organization, net_payment_term=30))
    page = staff_client.get(f"/invoices/{invoice.pk}/print/").content.decode()
    assert "Mar 3, 2026" in page and "(net 30 days)" in page
