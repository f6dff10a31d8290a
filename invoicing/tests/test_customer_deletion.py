"""Deleting a customer (the seed's "Deleting a customer", issue 12): the cascade step by step, its
order, its idempotency and resumption, and the preview — on a customer that has everything."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db.models import Sum

from billing.jobs import task_named
from customers.models import Customer
from customers.services import create_customer
from customers.tests.factories import CustomerFactory
from invoicing import customer_deletion
from invoicing.customer_deletion import (
    delete_customer,
    deletion_preview,
    resume_customer_deletions,
    run_customer_deletion,
)
from invoicing.models import CreditNote, CustomerDeletion, Invoice, InvoiceSubscription
from invoicing.prepaid_credits import TopUp, create_wallet
from invoicing.services import due_periods
from invoicing.subscriptions import create_subscription
from invoicing.tests.scenarios import customer_with_everything
from plans.tests.factories import PlanFactory
from wallets.models import WalletTransaction

FEB_1 = datetime(2026, 2, 1, tzinfo=UTC)
MAR_1 = datetime(2026, 3, 1, tzinfo=UTC)
MAR_15 = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)  # the moment of the deletion


@pytest.fixture
def everything(organization):
    """A customer with everything the issue lists (invoicing.tests.scenarios), and its wallet."""
    customer = customer_with_everything(organization)
    return customer, customer.wallets.get()


def delete_and_run(customer) -> CustomerDeletion:
    with time_machine.travel(MAR_15, tick=False):
        delete_customer(customer=customer)
        return run_customer_deletion(deletion_id=customer.deletion.pk)


def snapshot(customer) -> dict:
    """Everything the cascade leaves behind, in a form two runs can be compared with."""
    invoices = Invoice.objects.filter(customer=customer).order_by("sequential_id")
    return {
        "subscriptions": sorted(customer.subscriptions.values_list("external_id", "status")),
        "invoices": list(
            invoices.values_list(
                "number",
                "invoice_type",
                "status",
                "fees_amount_cents",
                "coupons_amount_cents",
                "credit_notes_amount_cents",
                "prepaid_credit_amount_cents",
                "total_amount_cents",
            )
        ),
        "credit_notes": sorted(
            CreditNote.objects.filter(customer=customer).values_list("number", "reason", "total_amount_cents")
        ),
        "applied_coupons": sorted(
            customer.applied_coupons.values_list("coupon__code", "status", "amount_cents_remaining")
        ),
        "wallets": list(customer.wallets.values_list("status", "balance_cents")),
        "transactions": sorted(
            WalletTransaction.objects.filter(wallet__customer=customer).values_list(
                "transaction_type", "transaction_status", "status", "amount_cents"
            )
        ),
    }


# The deletion itself ----------------------------------------------------------------------------


def test_the_customer_is_deleted_and_its_cascade_recorded_in_one_step(organization, everything):
    customer, _ = everything
    with time_machine.travel(MAR_15, tick=False):
        delete_customer(customer=customer)
    customer.refresh_from_db()
    deletion = CustomerDeletion.objects.get(customer=customer)
    assert customer.deleted_at == MAR_15 == deletion.created_at
    assert (deletion.subscriptions_done_at, deletion.finished_at, deletion.attempts) == (None, None, 0)
    # Nothing of the cascade has run yet: it is the task's.
    assert customer.subscriptions.filter(status="active").count() == 2
    # The seed: a new customer can be created with the same external_id at once.
    assert create_customer(organization=organization, data={"external_id": "cust_1"}).pk != customer.pk


def test_rule_deletion_is_allowed_whatever_is_linked_and_its_task_starts_on_commit(
    everything, django_capture_on_commit_callbacks, monkeypatch
):
    customer, _ = everything
    sent = []
    monkeypatch.setattr(task_named(customer_deletion.TASK), "delay", lambda *args: sent.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        delete_customer(customer=customer)
        assert sent == []  # nothing leaves before the commit
    assert sent == [(str(customer.deletion.pk),)]


# Step by step ------------------------------------------------------------------------------------


def test_rule_step_1_active_subscriptions_are_terminated_and_billed_pending_ones_canceled(everything):
    customer, _ = everything
    delete_and_run(customer)
    statuses = dict(customer.subscriptions.values_list("external_id", "status"))
    assert statuses == {"sub_arrears": "terminated", "sub_advance": "terminated", "sub_pending": "canceled"}
    # The subscription in arrears: its termination invoice bills the prorated fee and March's usage.
    closing = InvoiceSubscription.objects.get(
        subscription__external_id="sub_arrears", invoicing_reason="subscription_terminating"
    )
    assert closing.invoice.fees.filter(fee_type="charge").get().units == 40
    # The one paid in advance: the unused part of March (16 of its 31 days: the 15th is used) of what
    # was paid for it (31.00 less its coupon share) comes back as a credit note.
    [note] = CreditNote.objects.filter(customer=customer, reason="order_cancellation")
    march = Invoice.objects.get(
        invoice_subscriptions__subscription__external_id="sub_advance",
        invoice_subscriptions__invoicing_reason="subscription_starting",
    ).fees.get()
    paid = march.amount_cents - march.coupons_amount_cents
    assert paid < 3100 and note.total_amount_cents == round(Decimal(paid) * 16 / 31)


def test_rule_step_2_every_draft_is_finalized_with_what_the_customer_is_entitled_to(everything):
    customer, _ = everything
    delete_and_run(customer)
    assert not Invoice.objects.filter(customer=customer, status="draft").exists()
    closing = InvoiceSubscription.objects.get(
        subscription__external_id="sub_arrears", invoicing_reason="subscription_terminating"
    ).invoice
    assert closing.status == "finalized" and closing.number
    # Coupons, credit notes and prepaid credits were taken by the invoices before they ended.
    subscription_invoices = Invoice.objects.filter(customer=customer, invoice_type="subscription")
    totals = subscription_invoices.aggregate(
        coupons=Sum("coupons_amount_cents"),
        notes=Sum("credit_notes_amount_cents"),
        credits=Sum("prepaid_credit_amount_cents"),
    )
    assert totals["coupons"] > 0 and totals["notes"] > 0 and totals["credits"] == 8000


def test_rule_step_3_applied_coupons_are_terminated(everything):
    customer, _ = everything
    delete_and_run(customer)
    assert set(customer.applied_coupons.values_list("status", flat=True)) == {"terminated"}


def test_rule_step_4_the_wallet_is_terminated_and_what_is_left_voided(organization):
    customer = CustomerFactory(organization=organization, currency="EUR")
    wallet = create_wallet(customer=customer, rate_amount=Decimal(1), top_up=TopUp(granted_credits=Decimal(25)))
    delete_and_run(customer)
    wallet.refresh_from_db()
    assert (wallet.status, wallet.balance_cents) == ("terminated", 0)
    voided = wallet.transactions.get(transaction_status="voided")
    assert (voided.transaction_type, voided.amount_cents) == ("outbound", 2500)


def test_steps_3_and_4_come_after_the_final_invoices_took_what_they_could(everything):
    """The final invoices take the customer's coupons and credits first; only what is left ends."""
    customer, wallet = everything
    deletion = delete_and_run(customer)
    assert deletion.drafts_done_at <= deletion.coupons_done_at <= deletion.wallet_done_at <= deletion.finished_at
    wallet.refresh_from_db()
    spent = WalletTransaction.objects.filter(wallet=wallet, transaction_status="invoiced").aggregate(
        total=Sum("amount_cents")
    )["total"]
    assert spent == 8000 and wallet.balance_cents == 0  # all 80.00 spent: nothing was left to void
    assert not wallet.transactions.filter(transaction_status="voided").exists()


# Nothing lost, nothing twice ----------------------------------------------------------------------


def test_running_the_cascade_again_changes_nothing(everything):
    customer, _ = everything
    delete_and_run(customer)
    once = snapshot(customer)
    with time_machine.travel(MAR_15 + timedelta(minutes=5), tick=False):
        run_customer_deletion(deletion_id=customer.deletion.pk)
        CustomerDeletion.objects.filter(customer=customer).update(finished_at=None)  # as if never recorded
        run_customer_deletion(deletion_id=customer.deletion.pk)
    assert snapshot(customer) == once


def test_a_cascade_that_failed_half_way_resumes_where_it_stopped(everything, monkeypatch):
    customer, _ = everything

    def broken(customer, at):
        raise RuntimeError("worker lost")

    monkeypatch.setattr(customer_deletion, "_end_coupons", broken)
    with time_machine.travel(MAR_15, tick=False):
        delete_customer(customer=customer)
        with pytest.raises(RuntimeError):
            run_customer_deletion(deletion_id=customer.deletion.pk)
    deletion = CustomerDeletion.objects.get(customer=customer)
    assert deletion.subscriptions_done_at and deletion.drafts_done_at and deletion.coupons_done_at is None
    assert deletion.last_error == "RuntimeError: worker lost" and deletion.attempts == 1
    monkeypatch.undo()
    with time_machine.travel(MAR_15 + timedelta(minutes=3), tick=False):
        deletion = run_customer_deletion(deletion_id=deletion.pk)
    assert deletion.finished_at is not None and deletion.attempts == 2
    reference = snapshot(customer)
    # The earlier one, February's and March's drafts, and one termination invoice per subscription.
    assert len([row for row in reference["invoices"] if row[1] == "subscription"]) == 5
    assert reference["applied_coupons"][0][1] == "terminated"


def test_the_clock_sends_again_the_cascades_left_unfinished(
    everything, django_capture_on_commit_callbacks, monkeypatch
):
    customer, _ = everything
    sent = []
    monkeypatch.setattr(task_named(customer_deletion.TASK), "delay", lambda *args: sent.append(args))
    with time_machine.travel(MAR_15, tick=False):
        delete_customer(customer=customer)  # its message lost: no callback ran
    deletion_id = str(customer.deletion.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert resume_customer_deletions(at=MAR_15 + timedelta(minutes=1)) == 0  # still young
    with django_capture_on_commit_callbacks(execute=True):
        assert resume_customer_deletions(at=MAR_15 + timedelta(minutes=3)) == 1
    assert sent == [(deletion_id,)]
    run_customer_deletion(deletion_id=deletion_id)
    with django_capture_on_commit_callbacks(execute=True):
        assert resume_customer_deletions(at=MAR_15 + timedelta(hours=1)) == 0  # finished: never again


# Before the click ---------------------------------------------------------------------------------


def test_the_preview_says_what_the_deletion_then_does(everything):
    customer, wallet = everything
    with time_machine.travel(MAR_15, tick=False):
        preview = deletion_preview(customer=customer)
    outcomes = {outcome.subscription.external_id: outcome for outcome in preview.subscriptions}
    assert {key: value.action for key, value in outcomes.items()} == {
        "sub_arrears": "terminate",
        "sub_advance": "terminate",
        "sub_pending": "cancel",
    }
    assert len(preview.drafts) == 2 and len(preview.applied_coupons) == 2
    assert preview.wallet == wallet and preview.credits_voided_at_most == Decimal(80)
    assert not CustomerDeletion.objects.exists() and Customer.live.filter(pk=customer.pk).exists()  # wrote nothing

    delete_and_run(customer)
    closing = InvoiceSubscription.objects.get(
        subscription__external_id="sub_arrears", invoicing_reason="subscription_terminating"
    ).invoice
    assert outcomes["sub_arrears"].invoice_amount_cents == closing.fees_amount_cents
    note = CreditNote.objects.get(customer=customer, reason="order_cancellation")
    # March's invoice was a draft: the estimate is its unused part before the coupons that its
    # finalization then took, an upper bound.
    assert outcomes["sub_advance"].credit_note_amount_cents == 1600 >= note.total_amount_cents


def test_a_late_cascade_bills_up_to_the_deletion_time_and_nothing_after(organization):
    """The cascade's task lost, it runs two days later: the subscription ends at the deletion, the
    period that had ended before it is billed, and the clock never bills the deleted customer."""
    plan = PlanFactory(organization=organization, code="monthly", amount_cents=3100, amount_currency="EUR")
    customer = CustomerFactory(organization=organization, external_id="late", timezone="UTC", currency="EUR")
    with time_machine.travel(MAR_1, tick=False):
        subscription, _ = create_subscription(
            organization=organization, data={"external_customer_id": "late", "plan_code": plan.code, "external_id": "s"}
        )
    deleted_at = datetime(2026, 4, 1, 0, 5, tzinfo=UTC)  # March ended; the hourly clock has not billed it yet
    with time_machine.travel(deleted_at, tick=False):
        delete_customer(customer=customer)
    later = deleted_at + timedelta(days=2)
    assert due_periods(at=later) == []  # the clock leaves it to the cascade
    with time_machine.travel(later, tick=False):
        run_customer_deletion(deletion_id=customer.deletion.pk)
    subscription.refresh_from_db()
    assert (subscription.status, subscription.terminated_at) == ("terminated", deleted_at)
    reasons = dict(
        InvoiceSubscription.objects.filter(subscription=subscription).values_list("invoicing_reason", "period_start")
    )
    assert reasons == {"subscription_periodic": MAR_1, "subscription_terminating": datetime(2026, 4, 1, tzinfo=UTC)}
    march = InvoiceSubscription.objects.get(subscription=subscription, invoicing_reason="subscription_periodic").invoice
    assert march.fees_amount_cents == 3100
