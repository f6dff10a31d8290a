"""Lago's Python client (1.55.0) deletes a customer (issue 12): `customers.destroy` returns the
customer, `customers.find` then raises a 404, and the deleted customer's invoices and credit notes are
still found by their ids, before and after the cascade (run here as its task runs it).

If the client raises, parses wrongly or needs a workaround, our API is wrong, not the test.
"""

from datetime import date

import pytest
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import Customer as LagoCustomer
from lago_python_client.models import Event as LagoEvent
from lago_python_client.models import Subscription as LagoSubscription
from lago_python_client.models.credit_note import CreditNote as LagoCreditNote

from billing.jobs import task_named
from customers.models import Customer
from invoicing import customer_deletion
from invoicing.customer_deletion import run_customer_deletion
from invoicing.models import CreditNote, CustomerDeletion, Invoice
from invoicing.tests.factories import FeeFactory, InvoiceFactory
from organizations.services import create_api_key
from organizations.tests.factories import OrganizationFactory
from plans.tests.factories import BillableMetricFactory, ChargeFactory, PlanFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def org():
    return OrganizationFactory(name="Deletion Co")


@pytest.fixture
def lago(live_server, org):
    _, raw_key = create_api_key(organization=org)
    return Client(api_key=raw_key, api_url=live_server.url)


@pytest.fixture
def sent(monkeypatch):
    """The cascade's task, recorded instead of sent: no worker runs in unit tests, and another
    test's worker must not receive it. (The live server runs in this process.)"""
    messages = []
    monkeypatch.setattr(task_named(customer_deletion.TASK), "delay", lambda *args: messages.append(args))
    return messages


@pytest.fixture
def customer_with_history(lago, org):
    """Made through the client: a customer, an active subscription with usage, and a credit note on
    a finalized invoice (the invoice itself built as billing leaves one)."""
    metric = BillableMetricFactory(organization=org, code="calls", aggregation_type="count_agg", field_name=None)
    plan = PlanFactory(organization=org, code="startup", amount_cents=10000, amount_currency="EUR")
    ChargeFactory(plan=plan, billable_metric=metric, properties={"amount": "1"})
    created = lago.customers.create(
        LagoCustomer(external_id="cust_1", name="Acme", email="billing@acme.test", currency="EUR")
    )
    lago.subscriptions.create(LagoSubscription(external_customer_id="cust_1", plan_code="startup", external_id="sub_1"))
    lago.events.create(LagoEvent(transaction_id="tr_1", external_subscription_id="sub_1", code="calls"))
    customer = Customer.objects.get(pk=created.lago_id)
    invoice = InvoiceFactory(
        organization=org,
        customer=customer,
        status="finalized",
        currency="EUR",
        issuing_date=date(2026, 1, 31),
        fees_amount_cents=5000,
        total_amount_cents=5000,
    )
    fee = FeeFactory(invoice=invoice, description="Onboarding", amount_cents=5000)
    note = lago.credit_notes.create(credit_note(invoice.pk, fee.pk, 1500))
    return created, str(invoice.pk), str(fee.pk), note.lago_id


def credit_note(invoice_id, fee_id, amount: int) -> LagoCreditNote:
    return LagoCreditNote(
        invoice_id=str(invoice_id),
        reason="other",
        credit_amount_cents=amount,
        refund_amount_cents=0,
        items=[{"fee_id": str(fee_id), "amount_cents": amount}],
    )


def test_destroy_returns_the_customer_then_find_is_a_404(lago, customer_with_history, sent):
    created, _, _, _ = customer_with_history
    deleted = lago.customers.destroy("cust_1")
    assert (deleted.lago_id, deleted.external_id, deleted.name) == (created.lago_id, "cust_1", "Acme")
    assert deleted.email == "billing@acme.test" and deleted.currency == "EUR"
    assert len(sent) == 1  # the cascade's task, sent once the deletion committed

    with pytest.raises(LagoApiError) as missing:
        lago.customers.find("cust_1")
    assert missing.value.status_code == 404 and missing.value.response["code"] == "customer_not_found"
    with pytest.raises(LagoApiError) as again:
        lago.customers.destroy("cust_1")
    assert again.value.status_code == 404 and again.value.response["code"] == "customer_not_found"
    with pytest.raises(LagoApiError) as usage:
        lago.customers.current_usage("cust_1", "sub_1")
    assert usage.value.status_code == 404 and usage.value.response["code"] == "customer_not_found"
    with pytest.raises(LagoApiError) as event:
        lago.events.create(LagoEvent(transaction_id="tr_2", external_subscription_id="sub_1", code="calls"))
    assert event.value.status_code == 422
    assert event.value.response["error_details"] == {"external_subscription_id": ["customer_is_deleted"]}


def test_invoices_and_credit_notes_are_still_found_by_id(lago, customer_with_history, sent):
    created, invoice_id, fee_id, note_id = customer_with_history
    lago.customers.destroy("cust_1")
    # Before the cascade has run...
    invoice = lago.invoices.find(invoice_id)
    assert invoice.status == "finalized" and invoice.customer.lago_id == created.lago_id
    assert invoice.customer.name == "Acme"
    assert lago.credit_notes.find(note_id).lago_invoice_id == invoice_id

    # ...and after it: the subscription's termination invoice joins them.
    run_customer_deletion(deletion_id=CustomerDeletion.objects.get(customer_id=created.lago_id).pk)
    listed = lago.invoices.find_all({"external_customer_id": "cust_1"})["invoices"]
    expected = {str(pk) for pk in Invoice.objects.filter(customer_id=created.lago_id).values_list("pk", flat=True)}
    assert {item.lago_id for item in listed} == expected and len(expected) == 2
    for lago_id in expected:
        found = lago.invoices.find(lago_id)
        assert found.status == "finalized" and found.customer.external_id == "cust_1"
    notes = lago.credit_notes.find_all({"external_customer_id": "cust_1"})["credit_notes"]
    assert {item.lago_id for item in notes} == {
        str(pk) for pk in CreditNote.objects.filter(customer_id=created.lago_id).values_list("pk", flat=True)
    }
    found_note = lago.credit_notes.find(note_id)
    assert found_note.total_amount_cents == 1500 and found_note.customer.lago_id == created.lago_id

    # A new credit note on the deleted customer's invoice.
    more = lago.credit_notes.create(credit_note(invoice_id, fee_id, 500))
    assert lago.credit_notes.find(more.lago_id).lago_invoice_id == invoice_id

    # The id is free again: a new customer, which inherits nothing.
    again = lago.customers.create(LagoCustomer(external_id="cust_1", name="New Acme"))
    assert again.lago_id != created.lago_id
    assert lago.customers.find("cust_1").lago_id == again.lago_id
    assert lago.invoices.find_all({"external_customer_id": "cust_1"})["invoices"] == []
    assert lago.invoices.find(invoice_id).customer.lago_id == created.lago_id
