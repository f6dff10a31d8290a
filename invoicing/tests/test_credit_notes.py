"""Credit notes: limits per fee and per invoice, refunds only when paid, void, estimate, use on the
next invoices, the termination credit note, and Lago's API (§2.10)."""

import threading
from datetime import UTC, date, datetime

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import CreditNote as CreditNoteInput
from lago_python_client.models.credit_note import CreditNoteEstimate, CreditNoteUpdate, Item, Items

from billing.errors import NotAllowed, ValidationFailed
from customers.tests.factories import CustomerFactory
from invoicing.credit_notes import (
    create_credit_note,
    customer_credit_balance_cents,
    estimate_credit_note,
    void_credit_note,
)
from invoicing.lifecycle import void_invoice
from invoicing.models import CreditNote, Invoice
from invoicing.services import bill_subscription
from invoicing.subscriptions import bill_subscription_start, bill_termination, terminate_subscription
from invoicing.tests.factories import CreditNoteFactory, FeeFactory, InvoiceFactory
from organizations.services import create_api_key
from organizations.tests.factories import OrganizationFactory
from plans.subscription_periods import period_of
from plans.tests.factories import PlanFactory, SubscriptionFactory

URL = "/api/v1/credit_notes"


def make_invoice(organization, *, fees=(6000, 4000), status="finalized", payment_status="pending", customer=None):
    """A finalized invoice with one fee per amount, as billing leaves it."""
    invoice = InvoiceFactory(
        organization=organization,
        customer=customer or CustomerFactory(organization=organization, timezone="UTC"),
        status=status,
        payment_status=payment_status,
        issuing_date=date(2026, 1, 31),
        fees_amount_cents=sum(fees),
        total_amount_cents=sum(fees),
    )
    for index, amount in enumerate(fees):
        FeeFactory(invoice=invoice, description=f"Fee {index}", amount_cents=amount)
    return invoice


def fee_ids(invoice) -> list[str]:
    return [str(pk) for pk in invoice.fees.order_by("-amount_cents").values_list("pk", flat=True)]


def body(invoice, items, credit=None, refund=0, **extra) -> dict:
    total = sum(amount for _, amount in items)
    return {
        "credit_note": {
            "invoice_id": str(invoice.pk),
            "reason": "other",
            "credit_amount_cents": total - refund if credit is None else credit,
            "refund_amount_cents": refund,
            "items": [{"fee_id": fee_id, "amount_cents": amount} for fee_id, amount in items],
            **extra,
        }
    }


def errors_of(response) -> dict:
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "validation_errors"
    return response.json()["error_details"]


# Create and limits ----------------------------------------------------------------------------


def test_credit_note_on_a_finalized_invoice(organization, api):
    invoice = make_invoice(organization)
    fee_a, _ = fee_ids(invoice)
    response = api.post(URL, body(invoice, [(fee_a, 1500)], description="Duplicated line"))
    assert response.status_code == 200, response.content
    note = response.json()["credit_note"]
    assert note["number"] == f"{invoice.number}-CN001" and note["sequential_id"] == 1
    assert note["lago_invoice_id"] == str(invoice.pk) and note["invoice_number"] == invoice.number
    assert (note["credit_amount_cents"], note["refund_amount_cents"], note["total_amount_cents"]) == (1500, 0, 1500)
    assert note["balance_amount_cents"] == 1500 and note["credit_status"] == "available"
    assert note["refund_status"] is None and note["reason"] == "other" and note["description"] == "Duplicated line"
    assert note["taxes_amount_cents"] == 0 and note["taxes_rate"] == 0.0 and note["currency"] == "EUR"
    assert note["customer"]["external_id"] == invoice.customer.external_id
    [item] = note["items"]
    assert item["amount_cents"] == 1500 and item["fee"]["lago_id"] == fee_a and item["fee"]["amount_cents"] == 6000
    # The original invoice is not changed: the credit goes to the customer's balance.
    invoice.refresh_from_db()
    assert invoice.total_amount_cents == 10000 and invoice.credit_notes_amount_cents == 0
    assert customer_credit_balance_cents(customer=invoice.customer) == 1500
    second = api.post(URL, body(invoice, [(fee_a, 100)]))
    assert second.json()["credit_note"]["number"] == f"{invoice.number}-CN002"


def test_never_more_than_what_is_left_on_a_fee(organization, api):
    invoice = make_invoice(organization)
    fee_a, fee_b = fee_ids(invoice)
    assert errors_of(api.post(URL, body(invoice, [(fee_a, 6001)]))) == {
        "amount_cents": ["higher_than_remaining_fee_amount"]
    }
    # The same fee twice in one note counts once, in total.
    assert errors_of(api.post(URL, body(invoice, [(fee_a, 3001), (fee_a, 3000)]))) == {
        "amount_cents": ["higher_than_remaining_fee_amount"]
    }
    assert api.post(URL, body(invoice, [(fee_a, 4000)])).status_code == 200
    assert errors_of(api.post(URL, body(invoice, [(fee_a, 2001)]))) == {
        "amount_cents": ["higher_than_remaining_fee_amount"]
    }
    assert api.post(URL, body(invoice, [(fee_a, 2000), (fee_b, 4000)])).status_code == 200
    assert errors_of(api.post(URL, body(invoice, [(fee_b, 1)]))) == {
        "amount_cents": ["higher_than_remaining_fee_amount"]
    }
    assert CreditNote.objects.filter(invoice=invoice).count() == 2


def test_never_more_than_what_is_left_on_the_invoice(organization, api):
    # A coupon took 1,000 off: 9,000 was billed, so 9,000 at most comes back.
    invoice = make_invoice(organization, payment_status="succeeded")
    Invoice.objects.filter(pk=invoice.pk).update(coupons_amount_cents=1000, total_amount_cents=9000)
    fee_a, fee_b = fee_ids(invoice)
    assert errors_of(api.post(URL, body(invoice, [(fee_a, 6000), (fee_b, 4000)]))) == {
        "credit_amount_cents": ["higher_than_remaining_invoice_amount"]
    }
    assert errors_of(api.post(URL, body(invoice, [(fee_a, 6000), (fee_b, 4000)], refund=5000))) == {
        "base": ["higher_than_remaining_invoice_amount"]
    }
    assert api.post(URL, body(invoice, [(fee_a, 6000), (fee_b, 3000)], refund=5000)).status_code == 200
    assert errors_of(api.post(URL, body(invoice, [(fee_b, 1)]))) == {
        "credit_amount_cents": ["higher_than_remaining_invoice_amount"]
    }


def test_amounts_must_match_the_items_and_be_positive(organization, api):
    invoice = make_invoice(organization)
    fee_a, _ = fee_ids(invoice)
    assert errors_of(api.post(URL, body(invoice, [(fee_a, 1000)], credit=900))) == {
        "base": ["does_not_match_item_amounts"]
    }
    assert errors_of(api.post(URL, body(invoice, [(fee_a, 0)]))) == {"base": ["total_amount_must_be_positive"]}
    assert errors_of(api.post(URL, body(invoice, [(fee_a, -5)], credit=0))) == {
        "amount_cents": ["value_is_out_of_range"]
    }
    assert errors_of(api.post(URL, body(invoice, [(fee_a, 10.5)], credit=10))) == {"amount_cents": ["value_is_invalid"]}
    assert errors_of(api.post(URL, body(invoice, [(fee_a, 10)], credit="10"))) == {
        "credit_amount_cents": ["value_is_invalid"]
    }
    assert not CreditNote.objects.exists()


def test_refund_only_on_a_paid_invoice(organization, api):
    invoice = make_invoice(organization)
    fee_a, fee_b = fee_ids(invoice)
    assert errors_of(api.post(URL, body(invoice, [(fee_a, 1000)], refund=1000))) == {
        "refund_amount_cents": ["cannot_refund_unpaid_invoice"]
    }
    Invoice.objects.filter(pk=invoice.pk).update(payment_status="succeeded")
    response = api.post(URL, body(invoice, [(fee_a, 1000), (fee_b, 500)], refund=1000))
    assert response.status_code == 200, response.content
    note = response.json()["credit_note"]
    assert (note["credit_amount_cents"], note["refund_amount_cents"], note["total_amount_cents"]) == (500, 1000, 1500)
    assert note["refund_status"] == "pending" and note["balance_amount_cents"] == 500
    updated = api.put(f"{URL}/{note['lago_id']}", {"credit_note": {"refund_status": "succeeded"}})
    assert updated.status_code == 200 and updated.json()["credit_note"]["refund_status"] == "succeeded"
    assert updated.json()["credit_note"]["refunded_at"] is not None
    bad = api.put(f"{URL}/{note['lago_id']}", {"credit_note": {"refund_status": "refunded"}})
    assert errors_of(bad) == {"refund_status": ["value_is_invalid"]}


def test_refund_never_more_than_what_was_paid(organization, api):
    # 2,500 of the 10,000 were paid with earlier credit: only 7,500 of money can come back.
    invoice = make_invoice(organization, payment_status="succeeded")
    Invoice.objects.filter(pk=invoice.pk).update(credit_notes_amount_cents=2500, total_amount_cents=7500)
    fee_a, fee_b = fee_ids(invoice)
    assert errors_of(api.post(URL, body(invoice, [(fee_a, 6000), (fee_b, 2000)], refund=8000))) == {
        "refund_amount_cents": ["higher_than_remaining_invoice_amount"]
    }
    assert api.post(URL, body(invoice, [(fee_a, 6000), (fee_b, 4000)], refund=7500)).status_code == 200


@pytest.mark.parametrize("status", ["draft", "voided"])
def test_only_finalized_invoices_take_credit_notes(organization, api, status):
    invoice = make_invoice(organization, status=status)
    fee_a, _ = fee_ids(invoice)
    response = api.post(URL, body(invoice, [(fee_a, 1000)]))
    assert response.status_code == 405
    assert response.json() == {"status": 405, "error": "Method Not Allowed", "code": "invalid_type_or_status"}
    estimate = api.post(f"{URL}/estimate", {"credit_note": {"invoice_id": str(invoice.pk), "items": []}})
    assert estimate.status_code == 405


def test_bad_bodies_are_clear_4xx(organization, api):
    invoice = make_invoice(organization)
    fee_a, _ = fee_ids(invoice)
    assert api.post(URL, {"invoice_id": str(invoice.pk)}).status_code == 400
    assert errors_of(api.post(URL, body(invoice, [(fee_a, 10)], reason="because"))) == {"reason": ["value_is_invalid"]}
    assert errors_of(api.post(URL, body(invoice, [(fee_a, 10)], reason=None))) == {"reason": ["value_is_mandatory"]}
    assert errors_of(api.post(URL, body(invoice, [(fee_a, 10)], colour="red"))) == {"colour": ["unknown_field"]}
    assert errors_of(api.post(URL, body(invoice, [(fee_a, 10)], offset_amount_cents=5))) == {
        "offset_amount_cents": ["not_supported"]
    }
    assert api.post(URL, body(invoice, [(fee_a, 10)], offset_amount_cents=0, metadata=None)).status_code == 200
    assert errors_of(api.post(URL, body(invoice, [], credit=10))) == {"items": ["value_is_mandatory"]}
    assert errors_of(api.post(URL, {"credit_note": {"reason": "other", "items": []}})) == {
        "invoice_id": ["value_is_mandatory"]
    }
    unknown_fee = api.post(URL, body(invoice, [("8f0b7a52-7a3e-4c56-9d5e-2f4f0c1c0a11", 10)]))
    assert unknown_fee.status_code == 404 and unknown_fee.json()["code"] == "fee_not_found"
    unknown_invoice = api.post(URL, {"credit_note": {**body(invoice, [(fee_a, 10)])["credit_note"], "invoice_id": "x"}})
    assert unknown_invoice.status_code == 404 and unknown_invoice.json()["code"] == "invoice_not_found"
    assert api.get(f"{URL}/not-a-uuid").json()["code"] == "credit_note_not_found"


def test_a_fee_of_another_invoice_is_not_found(organization, api):
    invoice = make_invoice(organization)
    other = make_invoice(organization, customer=invoice.customer)
    response = api.post(URL, body(invoice, [(fee_ids(other)[0], 100)]))
    assert response.status_code == 404 and response.json()["code"] == "fee_not_found"


# Concurrency ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_credit_notes_never_exceed_what_is_left(organization):
    invoice = make_invoice(organization, fees=(10000,))
    [fee_id] = fee_ids(invoice)
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def credit(amount):
        try:
            barrier.wait()
            create_credit_note(
                invoice=invoice,
                reason="other",
                items=[{"fee_id": fee_id, "amount_cents": amount}],
                credit_amount_cents=amount,
            )
            outcomes.append("ok")
        except ValidationFailed as exc:
            outcomes.append(exc.details["amount_cents"][0])
        finally:
            connection.close()

    threads = [threading.Thread(target=credit, args=(4000,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["higher_than_remaining_fee_amount"] * 2 + ["ok"] * 2
    notes = CreditNote.objects.filter(invoice=invoice)
    assert sum(note.total_amount_cents for note in notes) == 8000
    assert sorted(note.sequential_id for note in notes) == [1, 2]


def test_the_database_refuses_a_total_that_is_not_credit_plus_refund(organization):
    invoice = make_invoice(organization)
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditNoteFactory(invoice=invoice, credit_amount_cents=100, balance_amount_cents=100, total_amount_cents=150)


# Void -----------------------------------------------------------------------------------------


def test_void_drops_the_balance_and_gives_the_fee_back(organization, api):
    invoice = make_invoice(organization)
    fee_a, _ = fee_ids(invoice)
    note = api.post(URL, body(invoice, [(fee_a, 6000)])).json()["credit_note"]
    assert errors_of(api.post(URL, body(invoice, [(fee_a, 1)]))) == {
        "amount_cents": ["higher_than_remaining_fee_amount"]
    }
    response = api.put(f"{URL}/{note['lago_id']}/void")
    assert response.status_code == 200, response.content
    voided = response.json()["credit_note"]
    assert voided["credit_status"] == "voided" and voided["balance_amount_cents"] == 0
    assert voided["status"] == "voided" and voided["voided_at"] is not None
    assert customer_credit_balance_cents(customer=invoice.customer) == 0
    again = api.put(f"{URL}/{note['lago_id']}/void")
    assert again.status_code == 405 and again.json()["code"] == "not_voidable"
    # Nothing of it was used: the fee can be credited again.
    assert api.post(URL, body(invoice, [(fee_a, 6000)])).status_code == 200


def test_a_refund_only_note_has_nothing_to_void(organization):
    invoice = make_invoice(organization, payment_status="succeeded")
    fee_a, _ = fee_ids(invoice)
    note = create_credit_note(
        invoice=invoice, reason="other", items=[{"fee_id": fee_a, "amount_cents": 100}], refund_amount_cents=100
    )
    assert note.credit_status is None and note.refund_status == "pending"
    with pytest.raises(NotAllowed) as exc:
        void_credit_note(credit_note=note)
    assert exc.value.code == "not_voidable"


# Estimate -------------------------------------------------------------------------------------


def test_estimate(organization, api):
    invoice = make_invoice(organization)
    fee_a, fee_b = fee_ids(invoice)
    api.post(URL, body(invoice, [(fee_a, 5000)]))
    items = [{"fee_id": fee_a, "amount_cents": 1000}, {"fee_id": fee_b, "amount_cents": 4000}]
    response = api.post(f"{URL}/estimate", {"credit_note": {"invoice_id": str(invoice.pk), "items": items}})
    assert response.status_code == 200, response.content
    estimate = response.json()["estimated_credit_note"]
    assert estimate["lago_invoice_id"] == str(invoice.pk) and estimate["invoice_number"] == invoice.number
    assert estimate["max_creditable_amount_cents"] == 5000
    assert estimate["max_refundable_amount_cents"] == 0  # not paid
    assert estimate["max_offsettable_amount_cents"] == 0 and estimate["taxes_rate"] == 0.0
    assert estimate["items"] == [
        {"lago_fee_id": fee_a, "amount_cents": 1000},
        {"lago_fee_id": fee_b, "amount_cents": 4000},
    ]
    assert estimate["applied_taxes"] == []
    too_much = [{"fee_id": fee_a, "amount_cents": 1001}]
    response = api.post(f"{URL}/estimate", {"credit_note": {"invoice_id": str(invoice.pk), "items": too_much}})
    assert errors_of(response) == {"amount_cents": ["higher_than_remaining_fee_amount"]}
    Invoice.objects.filter(pk=invoice.pk).update(payment_status="succeeded")
    paid = estimate_credit_note(invoice=Invoice.objects.get(pk=invoice.pk), items=items)
    assert paid.max_creditable_amount_cents == 5000 and paid.max_refundable_amount_cents == 5000


# List, get, tenancy ---------------------------------------------------------------------------


def test_list_and_filters(organization, api):
    first = make_invoice(organization)
    second = make_invoice(organization)
    api.post(URL, body(first, [(fee_ids(first)[0], 100)]))
    api.post(URL, body(second, [(fee_ids(second)[0], 200)]))
    listed = api.get(URL).json()
    assert [note["total_amount_cents"] for note in listed["credit_notes"]] == [200, 100]  # newest first
    assert listed["meta"]["total_count"] == 2 and listed["meta"]["current_page"] == 1
    by_customer = api.get(URL, external_customer_id=first.customer.external_id).json()["credit_notes"]
    assert [note["lago_invoice_id"] for note in by_customer] == [str(first.pk)]
    by_invoice = api.get(URL, invoice_id=str(second.pk)).json()["credit_notes"]
    assert [note["lago_invoice_id"] for note in by_invoice] == [str(second.pk)]
    assert api.get(URL, invoice_id="nope").json()["meta"]["total_count"] == 0
    assert errors_of(api.get(URL, credit_status="gone")) == {"credit_status": ["value_is_invalid"]}
    one = api.get(f"{URL}/{by_invoice[0]['lago_id']}")
    assert one.status_code == 200 and one.json()["credit_note"]["total_amount_cents"] == 200


def test_another_organizations_credit_notes_are_not_found(organization, api, other_api):
    invoice = make_invoice(organization)
    fee_a, _ = fee_ids(invoice)
    note = api.post(URL, body(invoice, [(fee_a, 100)])).json()["credit_note"]
    for response in (
        other_api.get(f"{URL}/{note['lago_id']}"),
        other_api.put(f"{URL}/{note['lago_id']}/void"),
        other_api.put(f"{URL}/{note['lago_id']}", {"credit_note": {"refund_status": "succeeded"}}),
    ):
        assert response.status_code == 404 and response.json()["code"] == "credit_note_not_found"
    created = other_api.post(URL, body(invoice, [(fee_a, 100)]))
    assert created.status_code == 404 and created.json()["code"] == "invoice_not_found"
    estimate = other_api.post(f"{URL}/estimate", {"credit_note": {"invoice_id": str(invoice.pk), "items": []}})
    assert estimate.status_code == 404
    assert other_api.get(URL).json()["credit_notes"] == []
    assert CreditNote.objects.get().credit_status == "available"


def test_without_an_api_key_is_401(client):
    for response in (
        client.get(URL),
        client.post(URL, {}, content_type="application/json"),
        client.post(f"{URL}/estimate", {}, content_type="application/json"),
    ):
        assert response.status_code == 401
        assert response.json() == {"status": 401, "error": "Unauthorized"}


# Credit used by the next invoices -------------------------------------------------------------


def test_credit_reduces_the_customers_next_invoices_oldest_first(organization):
    customer = CustomerFactory(organization=organization, timezone="UTC")
    old = make_invoice(organization, customer=customer)
    fee_a, fee_b = fee_ids(old)
    first = create_credit_note(
        invoice=old, reason="other", items=[{"fee_id": fee_a, "amount_cents": 6000}], credit_amount_cents=6000
    )
    second = create_credit_note(
        invoice=old, reason="other", items=[{"fee_id": fee_b, "amount_cents": 4000}], credit_amount_cents=4000
    )
    plan = PlanFactory(organization=organization, amount_cents=8000)
    jan = datetime(2026, 1, 1, tzinfo=UTC)
    subscription = SubscriptionFactory(customer=customer, plan=plan, subscription_at=jan, started_at=jan)
    january = period_of(subscription, jan)
    invoice = bill_subscription(subscription=subscription, reason="subscription_periodic", period=january, at=jan)
    assert invoice.status == "finalized"
    assert (invoice.fees_amount_cents, invoice.credit_notes_amount_cents, invoice.total_amount_cents) == (8000, 8000, 0)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.credit_status, first.balance_amount_cents) == ("consumed", 0)
    assert (second.credit_status, second.balance_amount_cents) == ("available", 2000)
    assert customer_credit_balance_cents(customer=customer) == 2000
    with pytest.raises(NotAllowed):
        void_credit_note(credit_note=first)  # consumed
    # A note voided after part of it was used keeps counting against its invoice.
    void_credit_note(credit_note=second)
    with pytest.raises(ValidationFailed):
        create_credit_note(
            invoice=old, reason="other", items=[{"fee_id": fee_b, "amount_cents": 1}], credit_amount_cents=1
        )


def test_voiding_an_invoice_gives_back_the_credit_it_used(organization):
    customer = CustomerFactory(organization=organization, timezone="UTC")
    old = make_invoice(organization, customer=customer)
    fee_a, _ = fee_ids(old)
    note = create_credit_note(
        invoice=old, reason="other", items=[{"fee_id": fee_a, "amount_cents": 6000}], credit_amount_cents=6000
    )
    plan = PlanFactory(organization=organization, amount_cents=8000)
    jan = datetime(2026, 1, 1, tzinfo=UTC)
    subscription = SubscriptionFactory(customer=customer, plan=plan, subscription_at=jan, started_at=jan)
    invoice = bill_subscription(
        subscription=subscription, reason="subscription_periodic", period=period_of(subscription, jan), at=jan
    )
    assert invoice.credit_notes_amount_cents == 6000 and customer_credit_balance_cents(customer=customer) == 0
    void_invoice(invoice=invoice)
    note.refresh_from_db()
    assert (note.credit_status, note.balance_amount_cents) == ("available", 6000)
    assert customer_credit_balance_cents(customer=customer) == 6000


# Termination ----------------------------------------------------------------------------------


@pytest.fixture
def advance_subscription(organization):
    customer = CustomerFactory(organization=organization, external_id="cust_adv", timezone="UTC")
    plan = PlanFactory(organization=organization, amount_cents=1001, pay_in_advance=True)
    april = datetime(2026, 4, 1, tzinfo=UTC)
    subscription = SubscriptionFactory(customer=customer, plan=plan, subscription_at=april, started_at=april)
    with time_machine.travel(april, tick=False):
        bill_subscription_start(subscription=subscription)
    return subscription


def test_termination_credits_the_unused_part_of_a_fee_paid_in_advance(advance_subscription, api):
    start_invoice = Invoice.objects.get(invoice_subscriptions__invoicing_reason="subscription_starting")
    assert start_invoice.status == "finalized" and start_invoice.fees_amount_cents == 1001
    with time_machine.travel(datetime(2026, 4, 15, 12, tzinfo=UTC), tick=False):
        terminate_subscription(subscription=advance_subscription)
    note = CreditNote.objects.get()
    assert note.invoice_id == start_invoice.pk and note.reason == "order_cancellation"
    assert (note.credit_amount_cents, note.refund_amount_cents, note.total_amount_cents) == (501, 0, 501)
    assert note.refund_status is None and note.issuing_date == date(2026, 4, 15)
    # The termination invoice bills no base fee (paid in advance) and no usage: the credit stays.
    termination = Invoice.objects.get(invoice_subscriptions__invoicing_reason="subscription_terminating")
    assert termination.total_amount_cents == 0
    assert note.credit_status == "available" and note.balance_amount_cents == 501
    found = api.get(URL, external_customer_id="cust_adv").json()["credit_notes"]
    assert [item["total_amount_cents"] for item in found] == [501]
    # A retried termination credits nothing more.
    bill_termination(subscription=advance_subscription, at=datetime(2026, 4, 15, 12, tzinfo=UTC))
    assert CreditNote.objects.count() == 1


def test_termination_deducts_what_was_already_credited_on_the_fee(advance_subscription):
    start_invoice = Invoice.objects.get()
    fee = start_invoice.fees.get()
    create_credit_note(
        invoice=start_invoice, reason="other", items=[{"fee_id": fee.pk, "amount_cents": 300}], credit_amount_cents=300
    )
    with time_machine.travel(datetime(2026, 4, 15, 12, tzinfo=UTC), tick=False):
        terminate_subscription(subscription=advance_subscription)
    termination_note = CreditNote.objects.get(reason="order_cancellation")
    assert termination_note.total_amount_cents == 501 - 300


def test_termination_finalizes_a_draft_in_advance_invoice_first(organization):
    organization.invoice_grace_period_days = 3
    organization.save()
    customer = CustomerFactory(organization=organization, timezone="UTC")
    plan = PlanFactory(organization=organization, amount_cents=3000, pay_in_advance=True)
    april = datetime(2026, 4, 1, tzinfo=UTC)
    subscription = SubscriptionFactory(customer=customer, plan=plan, subscription_at=april, started_at=april)
    with time_machine.travel(april, tick=False):
        start_invoice = bill_subscription_start(subscription=subscription)
    assert start_invoice.status == "draft"
    with time_machine.travel(datetime(2026, 4, 2, 9, tzinfo=UTC), tick=False):
        terminate_subscription(subscription=subscription)
    start_invoice.refresh_from_db()
    assert start_invoice.status == "finalized" and start_invoice.number
    note = CreditNote.objects.get()
    assert note.invoice_id == start_invoice.pk
    assert note.total_amount_cents == 2800  # 28 of 30 April days unused
    assert note.number == f"{start_invoice.number}-CN001"


def test_a_plan_paid_in_arrears_gets_no_termination_credit_note(organization):
    customer = CustomerFactory(organization=organization, timezone="UTC")
    plan = PlanFactory(organization=organization, amount_cents=3000, pay_in_advance=False)
    april = datetime(2026, 4, 1, tzinfo=UTC)
    subscription = SubscriptionFactory(customer=customer, plan=plan, subscription_at=april, started_at=april)
    with time_machine.travel(datetime(2026, 4, 10, tzinfo=UTC), tick=False):
        terminate_subscription(subscription=subscription)
    assert not CreditNote.objects.exists()
    assert Invoice.objects.get().fees_amount_cents == 900  # 9 of 30 days, in arrears


# Contract: lago-python-client 1.55.0 ----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_lago_python_client_drives_credit_notes(live_server):
    organization = OrganizationFactory(name="Credit Co")
    _, raw_key = create_api_key(organization=organization)
    lago = Client(api_key=raw_key, api_url=live_server.url)
    invoice = make_invoice(organization, payment_status="succeeded")
    fee_a, fee_b = fee_ids(invoice)

    estimate = lago.credit_notes.estimate(
        CreditNoteEstimate(invoice_id=str(invoice.pk), items=Items(__root__=[Item(fee_id=fee_a, amount_cents=2500)]))
    )
    assert estimate.max_creditable_amount_cents == 2500 and estimate.max_refundable_amount_cents == 2500
    assert estimate.items.__root__[0].lago_fee_id == fee_a and estimate.invoice_number == invoice.number

    created = lago.credit_notes.create(
        CreditNoteInput(
            invoice_id=str(invoice.pk),
            reason="duplicated_charge",
            credit_amount_cents=1500,
            refund_amount_cents=1000,
            items=Items(__root__=[Item(fee_id=fee_a, amount_cents=2000), Item(fee_id=fee_b, amount_cents=500)]),
        )
    )
    assert created.number == f"{invoice.number}-CN001" and created.total_amount_cents == 2500
    assert created.balance_amount_cents == 1500 and created.refund_status == "pending"
    assert created.credit_status == "available" and created.taxes_rate == 0.0
    assert [item.amount_cents for item in created.items.__root__] == [2000, 500]
    assert created.customer.external_id == invoice.customer.external_id

    assert lago.credit_notes.find(created.lago_id).lago_invoice_id == str(invoice.pk)
    listed = lago.credit_notes.find_all({"external_customer_id": invoice.customer.external_id})
    assert [note.lago_id for note in listed["credit_notes"]] == [created.lago_id]
    assert listed["meta"]["total_count"] == 1

    updated = lago.credit_notes.update(CreditNoteUpdate(refund_status="succeeded"), created.lago_id)
    assert updated.refund_status == "succeeded"

    voided = lago.credit_notes.void(created.lago_id)
    assert voided.credit_status == "voided" and voided.balance_amount_cents == 0
    with pytest.raises(LagoApiError) as exc:
        lago.credit_notes.void(created.lago_id)
    assert exc.value.status_code == 405 and exc.value.response["code"] == "not_voidable"

    with pytest.raises(LagoApiError) as exc:
        lago.credit_notes.create(
            CreditNoteInput(
                invoice_id=str(invoice.pk),
                reason="other",
                credit_amount_cents=9000,
                items=Items(__root__=[Item(fee_id=fee_b, amount_cents=9000)]),
            )
        )
    assert exc.value.status_code == 422
    assert exc.value.response["error_details"] == {"amount_cents": ["higher_than_remaining_fee_amount"]}
    with pytest.raises(LagoApiError) as exc:
        lago.credit_notes.find("8f0b7a52-7a3e-4c56-9d5e-2f4f0c1c0a11")
    assert exc.value.status_code == 404 and exc.value.response["code"] == "credit_note_not_found"
