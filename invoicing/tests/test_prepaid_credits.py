"""Prepaid credits (issue 11): purchase → paid → settled, grant, void, expiry, termination, what an
invoice takes in order (coupons → credit notes → credits), the balance never negative, the books
always balanced, and no credit spent twice by invoices finalized at once."""

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum

from billing.errors import ValidationFailed
from coupons.services import apply_coupon, create_coupon
from customers.tests.factories import CustomerFactory
from events.tests.factories import send_events
from invoicing.lifecycle import update_invoice, void_invoice
from invoicing.models import Invoice
from invoicing.prepaid_credits import TopUp, create_wallet, ongoing_balance, top_up_wallet
from invoicing.services import bill_subscription, finalize_invoice
from invoicing.tests.factories import CreditNoteFactory, InvoiceFactory
from plans.subscription_periods import period_of
from plans.tests.factories import BillableMetricFactory, ChargeFactory, PlanFactory, SubscriptionFactory
from wallets.models import Wallet, WalletTransaction
from wallets.services import terminate_expired_wallets, terminate_wallet

JAN_1 = datetime(2026, 1, 1, tzinfo=UTC)
FEB_1 = datetime(2026, 2, 1, tzinfo=UTC)


@pytest.fixture
def customer(organization):
    return CustomerFactory(organization=organization, external_id="cust_1", timezone="UTC", currency="EUR")


@pytest.fixture
def plan(organization):
    """100.00 a month in arrears, and 0.50 per API call."""
    plan = PlanFactory(organization=organization, code="startup", amount_cents=10000, amount_currency="EUR")
    metric = BillableMetricFactory(
        organization=organization, code="api_calls", aggregation_type="count_agg", field_name=None
    )
    ChargeFactory(plan=plan, billable_metric=metric, properties={"amount": "0.5"})
    return plan


@pytest.fixture
def subscription(customer, plan):
    return SubscriptionFactory(customer=customer, plan=plan, external_id="sub_1", subscription_at=JAN_1)


def wallet_with(customer, granted="0", paid="0", rate="1", **kwargs) -> Wallet:
    return create_wallet(
        customer=customer,
        rate_amount=Decimal(rate),
        top_up=TopUp(granted_credits=Decimal(granted), paid_credits=Decimal(paid)),
        at=kwargs.pop("at", JAN_1),
        **kwargs,
    )


def bill_january(subscription, calls: int = 10) -> Invoice:
    send_events(subscription, [("api_calls", JAN_1 + timedelta(hours=i + 1), {}) for i in range(calls)])
    return bill_subscription(
        subscription=subscription, reason="subscription_periodic", period=period_of(subscription, JAN_1), at=FEB_1
    )


def books_balance(wallet: Wallet) -> None:
    """Settled inbound = settled outbound + balance, in minor units."""
    wallet.refresh_from_db()
    settled = WalletTransaction.objects.filter(wallet=wallet, status="settled")
    inbound = settled.filter(transaction_type="inbound").aggregate(total=Sum("amount_cents"))["total"] or 0
    outbound = settled.filter(transaction_type="outbound").aggregate(total=Sum("amount_cents"))["total"] or 0
    assert inbound == outbound + wallet.balance_cents
    assert wallet.balance_cents >= 0


def test_granted_credits_settle_at_once_at_the_wallets_rate(customer):
    wallet = wallet_with(customer, granted="10", rate="2.5")
    assert (wallet.credits_balance, wallet.balance_cents) == (Decimal("10"), 2500)
    [granted] = wallet.transactions.all()
    assert (granted.transaction_type, granted.transaction_status, granted.status) == ("inbound", "granted", "settled")
    books_balance(wallet)


def test_paid_credits_make_a_credit_invoice_and_settle_when_it_is_paid(customer):
    wallet = wallet_with(customer, paid="20")
    [purchase] = wallet.transactions.all()
    assert (purchase.status, purchase.transaction_status, wallet.balance_cents) == ("pending", "purchased", 0)
    invoice = Invoice.objects.get(pk=purchase.invoice_id)
    assert (invoice.invoice_type, invoice.status, invoice.total_amount_cents) == ("credit", "finalized", 2000)
    [fee] = invoice.fees.all()
    assert (fee.fee_type, fee.wallet_transaction_id, fee.units) == ("credit", purchase.pk, Decimal("20"))
    update_invoice(invoice=invoice, payment_status="succeeded")
    update_invoice(invoice=invoice, payment_status="succeeded")  # said twice: credited once
    purchase.refresh_from_db()
    wallet.refresh_from_db()
    assert (purchase.status, wallet.balance_cents, wallet.credits_balance) == ("settled", 2000, Decimal("20"))
    books_balance(wallet)


def test_a_failed_payment_fails_the_purchase_and_credits_nothing(customer):
    wallet = wallet_with(customer, paid="20")
    invoice = Invoice.objects.get(invoice_type="credit")
    update_invoice(invoice=invoice, payment_status="failed")
    purchase = wallet.transactions.get()
    wallet.refresh_from_db()
    assert (purchase.status, purchase.failed_at is not None, wallet.balance_cents) == ("failed", True, 0)


def test_voided_credits_leave_at_once_and_never_more_than_the_balance(customer):
    wallet = wallet_with(customer, granted="10")
    with pytest.raises(ValidationFailed) as refused:
        top_up_wallet(wallet=wallet, top_up=TopUp(voided_credits=Decimal("10.5")))
    assert refused.value.details == {"voided_credits": ["insufficient_credits"]}
    [voided] = top_up_wallet(wallet=wallet, top_up=TopUp(voided_credits=Decimal("4")))
    assert (voided.transaction_type, voided.transaction_status, voided.amount_cents) == ("outbound", "voided", 400)
    wallet.refresh_from_db()
    assert wallet.credits_balance == Decimal("6")
    books_balance(wallet)


def test_one_active_wallet_per_customer(customer):
    wallet_with(customer, granted="1")
    with pytest.raises(ValidationFailed) as refused:
        wallet_with(customer, granted="1")
    assert refused.value.details == {"customer": ["wallet_already_exists"]}
    assert Wallet.objects.filter(customer=customer).count() == 1


def test_credits_pay_what_is_left_after_coupons_then_credit_notes(organization, customer, subscription):
    coupon = create_coupon(
        organization=organization,
        data={
            "name": "Ten",
            "code": "ten",
            "coupon_type": "fixed_amount",
            "amount_cents": 1000,
            "amount_currency": "EUR",
            "frequency": "forever",
            "expiration": "no_expiration",
        },
    )
    apply_coupon(customer=customer, coupon=coupon)
    earlier = InvoiceFactory(organization=organization, customer=customer, status="finalized")
    CreditNoteFactory(invoice=earlier, credit_amount_cents=2000)
    wallet = wallet_with(customer, granted="50")
    invoice = bill_january(subscription)  # 105.00
    assert (invoice.coupons_amount_cents, invoice.credit_notes_amount_cents) == (1000, 2000)
    assert (invoice.prepaid_credit_amount_cents, invoice.total_amount_cents) == (5000, 2500)
    spent = WalletTransaction.objects.get(transaction_status="invoiced")
    assert (spent.invoice_id, spent.amount_cents, spent.credit_amount) == (invoice.pk, 5000, Decimal("50"))
    wallet.refresh_from_db()
    assert (wallet.balance_cents, wallet.consumed_amount_cents, wallet.consumed_credits) == (0, 5000, Decimal("50"))
    books_balance(wallet)


def test_the_balance_is_never_negative_and_pays_only_up_to_the_invoice(customer, subscription):
    wallet = wallet_with(customer, granted="200")
    invoice = bill_january(subscription)
    assert (invoice.prepaid_credit_amount_cents, invoice.total_amount_cents) == (10500, 0)
    wallet.refresh_from_db()
    assert wallet.balance_cents == 9500
    books_balance(wallet)


def test_voiding_an_invoice_gives_its_credits_back(customer, subscription):
    wallet = wallet_with(customer, granted="30")
    invoice = bill_january(subscription)
    void_invoice(invoice=invoice)
    void_invoice_again = WalletTransaction.objects.filter(voided_invoice_id=invoice.pk)
    [returned] = void_invoice_again
    assert (returned.transaction_type, returned.transaction_status, returned.amount_cents) == (
        "inbound",
        "granted",
        3000,
    )
    wallet.refresh_from_db()
    assert (wallet.balance_cents, wallet.consumed_amount_cents) == (3000, 0)
    books_balance(wallet)


def test_terminating_a_wallet_voids_what_is_left(customer):
    wallet = wallet_with(customer, granted="12.5")
    terminate_wallet(wallet=wallet)
    terminate_wallet(wallet=wallet)  # idempotent: voided once
    wallet.refresh_from_db()
    assert (wallet.status, wallet.balance_cents, wallet.credits_balance) == ("terminated", 0, Decimal("0"))
    [voided] = wallet.transactions.filter(transaction_status="voided")
    assert (voided.amount_cents, voided.credit_amount) == (1250, Decimal("12.5"))
    books_balance(wallet)
    with pytest.raises(ValidationFailed) as refused:
        top_up_wallet(wallet=wallet, top_up=TopUp(granted_credits=Decimal("1")))
    assert refused.value.details == {"wallet_id": ["wallet_is_terminated"]}


def test_the_clock_terminates_expired_wallets(customer):
    wallet = wallet_with(customer, granted="5", expiration_at=datetime(2026, 3, 1, tzinfo=UTC))
    assert terminate_expired_wallets(at=datetime(2026, 2, 28, tzinfo=UTC)) == 0
    assert terminate_expired_wallets(at=datetime(2026, 3, 1, 0, 1, tzinfo=UTC)) == 1
    wallet.refresh_from_db()
    assert (wallet.status, wallet.balance_cents) == ("terminated", 0)
    books_balance(wallet)


def test_credits_paid_for_after_the_wallet_ended_arrive_and_are_voided(customer):
    wallet = wallet_with(customer, paid="10")
    terminate_wallet(wallet=wallet)
    update_invoice(invoice=Invoice.objects.get(invoice_type="credit"), payment_status="succeeded")
    wallet.refresh_from_db()
    assert wallet.balance_cents == 0
    assert list(wallet.transactions.values_list("transaction_status", "status", "amount_cents")) == [
        ("purchased", "settled", 1000),
        ("voided", "settled", 1000),
    ]
    books_balance(wallet)


def test_the_ongoing_balance_deducts_current_usage_and_unpaid_drafts(customer, subscription):
    wallet = wallet_with(customer, granted="100", at=JAN_1)
    send_events(subscription, [("api_calls", JAN_1 + timedelta(hours=i + 1), {}) for i in range(8)])
    ongoing = ongoing_balance(wallet, at=JAN_1 + timedelta(days=3))
    assert (ongoing.usage_cents, ongoing.balance_cents) == (400, 9600)  # 8 calls at 0.50; the fee is in arrears
    assert ongoing.credits(wallet) == (Decimal("96"), Decimal("4"))


@pytest.mark.django_db(transaction=True)
def test_two_invoices_finalized_at_once_never_spend_a_credit_twice(customer, plan):
    assert connection.vendor == "postgresql"
    customer.invoice_grace_period = 1
    customer.save()
    wallet = wallet_with(customer, granted="150")
    subscriptions = [SubscriptionFactory(customer=customer, plan=plan, subscription_at=JAN_1) for _ in range(2)]
    drafts = [
        bill_subscription(subscription=each, reason="subscription_periodic", period=period_of(each, JAN_1), at=FEB_1)
        for each in subscriptions
    ]
    barrier = threading.Barrier(len(drafts))
    failures: list[BaseException] = []

    def finalize(invoice):
        try:
            barrier.wait()
            finalize_invoice(invoice=invoice, at=FEB_1 + timedelta(days=2))
        except BaseException as exc:  # reported below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=finalize, args=(draft,)) for draft in drafts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    paid = sorted(
        Invoice.objects.filter(invoice_type="subscription").values_list("prepaid_credit_amount_cents", flat=True)
    )
    assert paid == [5000, 10000]
    books_balance(wallet)
    assert wallet.balance_cents == 0


@pytest.mark.parametrize(
    ("rate", "credits"),
    [
        ("0.001", "1"),  # a tenth of a cent: the money and the credits would disagree
        ("1", "0.001"),
        ("100", "999999999999999"),  # more than a transaction may carry
    ],
)
def test_credits_must_be_worth_whole_minor_units_within_bounds(customer, rate, credits):
    wallet = wallet_with(customer, rate=rate)
    with pytest.raises(ValidationFailed) as refused:
        top_up_wallet(wallet=wallet, top_up=TopUp(granted_credits=Decimal(credits)))
    assert refused.value.details == {"granted_credits": ["invalid_amount"]}
    assert not wallet.transactions.exists()


def test_credits_worth_whole_cents_at_a_small_rate_are_booked_the_same_in_both(customer):
    wallet = wallet_with(customer, rate="0.001", granted="30")
    assert (wallet.balance_cents, wallet.credits_balance) == (3, Decimal("30"))
    books_balance(wallet)


def test_a_top_up_of_a_terminated_wallet_is_refused_even_with_nothing_in_it(customer):
    wallet = wallet_with(customer, granted="1")
    terminate_wallet(wallet=wallet)
    wallet.refresh_from_db()
    with pytest.raises(ValidationFailed) as refused:
        top_up_wallet(wallet=wallet, top_up=TopUp())
    assert refused.value.details == {"wallet_id": ["wallet_is_terminated"]}


def test_a_transaction_name_is_checked_text(customer):
    wallet = wallet_with(customer)
    with pytest.raises(ValidationFailed) as refused:
        top_up_wallet(wallet=wallet, top_up=TopUp(granted_credits=Decimal(1), name="x" * 256))
    assert refused.value.details == {"name": ["value_is_too_long"]}
    assert not wallet.transactions.exists()


@pytest.mark.parametrize("rate", ["0", "-1", "1e14", "0.0000000000000001"])
def test_a_wallet_rate_is_positive_bounded_and_fits_its_column(customer, rate):
    with pytest.raises(ValidationFailed) as refused:
        create_wallet(customer=customer, rate_amount=Decimal(rate))
    assert refused.value.details == {"rate_amount": ["value_is_invalid"]}
    assert not Wallet.objects.exists()
