"""How coupons reduce invoices (issue 11): each kind and frequency, the order and the spread, the
carried remainder, periods counted rather than invoices, voiding, expiry — over real billing runs."""

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection

from billing.errors import NotAllowed, NotFound, ValidationFailed
from coupons.models import AppliedCouponStatus, CouponStatus
from coupons.services import (
    apply_coupon,
    create_coupon,
    delete_coupon,
    terminate_applied_coupon,
    terminate_expired_coupons,
    update_coupon,
)
from customers.tests.factories import CustomerFactory
from events.tests.factories import send_events
from invoicing.coupon_discounts import spread
from invoicing.lifecycle import void_invoice
from invoicing.models import CouponCredit, FeeType, Invoice
from invoicing.one_off import create_one_off_invoice
from invoicing.services import bill_subscription, finalize_invoice
from plans.services import create_add_on
from plans.subscription_periods import period_of
from plans.tests.factories import BillableMetricFactory, ChargeFactory, PlanFactory, SubscriptionFactory

JAN_1 = datetime(2026, 1, 1, tzinfo=UTC)


def month(n: int) -> datetime:
    """The first instant of month n of 2026 (13 is January 2027)."""
    return datetime(2026 + (n - 1) // 12, (n - 1) % 12 + 1, 1, tzinfo=UTC)


@pytest.fixture
def metric(organization):
    return BillableMetricFactory(
        organization=organization, code="api_calls", aggregation_type="count_agg", field_name=None
    )


@pytest.fixture
def plan(organization, metric):
    """100.00 a month in arrears, and 0.50 per API call."""
    plan = PlanFactory(organization=organization, code="startup", amount_cents=10000, amount_currency="EUR")
    ChargeFactory(plan=plan, billable_metric=metric, properties={"amount": "0.5"})
    return plan


@pytest.fixture
def customer(organization):
    return CustomerFactory(organization=organization, external_id="cust_1", timezone="UTC", currency="EUR")


@pytest.fixture
def subscription(customer, plan):
    return SubscriptionFactory(customer=customer, plan=plan, external_id="sub_1", subscription_at=JAN_1)


def coupon(organization, code="deal", **terms):
    data = {"name": code.title(), "code": code, "frequency": "forever", "expiration": "no_expiration"}
    if "percentage_rate" in terms:
        data["coupon_type"] = "percentage"
    else:
        data.update(coupon_type="fixed_amount", amount_currency="EUR")
    data.update(terms)
    return create_coupon(organization=organization, data=data)


def bill_month(subscription, n: int, calls: int = 10) -> Invoice:
    """Events in month n, then the invoice that closes it (finalized at once: no grace period)."""
    start = month(n)
    send_events(subscription, [("api_calls", start + timedelta(hours=i + 1), {}) for i in range(calls)])
    return bill_subscription(
        subscription=subscription,
        reason="subscription_periodic",
        period=period_of(subscription, start),
        at=month(n + 1) + timedelta(minutes=30),
    )


def shares(invoice) -> dict[str, int]:
    return {fee.fee_type: fee.coupons_amount_cents for fee in invoice.fees.all()}


def test_a_percentage_takes_rounded_rate_of_the_fees_spread_over_them(organization, customer, subscription):
    apply_coupon(customer=customer, coupon=coupon(organization, percentage_rate=Decimal("12.5")))
    invoice = bill_month(subscription, 1, calls=7)  # 100.00 + 3.50 = 103.50
    assert invoice.fees_amount_cents == 10350
    assert invoice.coupons_amount_cents == 1294  # round(10350 × 12.5 %) = round(1293.75)
    assert invoice.total_amount_cents == 10350 - 1294
    # In proportion to each fee: 1250 of 10000 and 43.75 of 350, the leftover unit to the larger remainder.
    assert shares(invoice) == {FeeType.SUBSCRIPTION: 1250, FeeType.CHARGE: 44}
    assert sum(shares(invoice).values()) == invoice.coupons_amount_cents


def test_a_forever_fixed_amount_takes_its_amount_every_period_never_below_zero(organization, customer, subscription):
    applied = apply_coupon(customer=customer, coupon=coupon(organization, amount_cents=20000))
    first = bill_month(subscription, 1)
    second = bill_month(subscription, 2)
    assert (first.coupons_amount_cents, first.total_amount_cents) == (10500, 0)
    assert (second.coupons_amount_cents, second.total_amount_cents) == (10500, 0)
    applied.refresh_from_db()
    assert applied.status == AppliedCouponStatus.ACTIVE and applied.amount_cents_remaining is None


def test_a_once_fixed_amount_carries_what_it_could_not_use_to_the_next_invoice_then_ends(
    organization, customer, subscription
):
    applied = apply_coupon(customer=customer, coupon=coupon(organization, amount_cents=15000, frequency="once"))
    first = bill_month(subscription, 1)  # 105.00
    applied.refresh_from_db()
    assert (first.coupons_amount_cents, applied.amount_cents_remaining, applied.status) == (10500, 4500, "active")
    second = bill_month(subscription, 2)
    applied.refresh_from_db()
    assert (second.coupons_amount_cents, second.total_amount_cents) == (4500, 6000)
    assert (applied.amount_cents_remaining, applied.status) == (0, AppliedCouponStatus.TERMINATED)
    third = bill_month(subscription, 3)
    assert third.coupons_amount_cents == 0


def test_a_once_percentage_reduces_one_invoice(organization, customer, subscription):
    applied = apply_coupon(customer=customer, coupon=coupon(organization, percentage_rate=50, frequency="once"))
    assert bill_month(subscription, 1).coupons_amount_cents == 5250
    assert bill_month(subscription, 2).coupons_amount_cents == 0
    applied.refresh_from_db()
    assert applied.status == AppliedCouponStatus.TERMINATED


def test_a_recurring_coupon_reduces_its_number_of_billing_periods(organization, customer, subscription):
    applied = apply_coupon(
        customer=customer, coupon=coupon(organization, amount_cents=3000, frequency="recurring", frequency_duration=2)
    )
    discounts = [bill_month(subscription, n).coupons_amount_cents for n in (1, 2, 3)]
    assert discounts == [3000, 3000, 0]
    applied.refresh_from_db()
    assert (applied.frequency_duration_remaining, applied.status) == (0, AppliedCouponStatus.TERMINATED)


def test_a_recurring_coupon_counts_a_period_billed_in_advance_and_in_arrears_once(organization, customer, metric):
    """Ours: Lago counts invoices. A plan paid in advance bills the period's fee when it starts and
    its usage when it ends (with the next fee): two invoices, one billing period."""
    plan = PlanFactory(organization=organization, code="advance", amount_cents=10000, pay_in_advance=True)
    ChargeFactory(plan=plan, billable_metric=metric, properties={"amount": "0.5"})
    subscription = SubscriptionFactory(customer=customer, plan=plan, subscription_at=JAN_1)
    applied = apply_coupon(
        customer=customer, coupon=coupon(organization, amount_cents=1000, frequency="recurring", frequency_duration=1)
    )
    start = bill_subscription(
        subscription=subscription, reason="subscription_starting", period=period_of(subscription, JAN_1), at=JAN_1
    )
    end_of_january = bill_month(subscription, 1)
    end_of_february = bill_month(subscription, 2)
    assert [start.coupons_amount_cents, end_of_january.coupons_amount_cents] == [1000, 1000]
    assert end_of_february.coupons_amount_cents == 0
    applied.refresh_from_db()
    assert (applied.frequency_duration_remaining, applied.status) == (0, AppliedCouponStatus.TERMINATED)


def test_order_metric_limited_then_plan_limited_then_others_oldest_first(organization, customer, subscription, metric):
    everything = coupon(organization, "everything", amount_cents=5000)
    on_plan = coupon(organization, "on_plan", amount_cents=2000, plan_codes=["startup"])
    on_calls = coupon(organization, "on_calls", percentage_rate=100, billable_metric_codes=["api_calls"])
    for each in (everything, on_plan, on_calls):  # applied oldest to newest in this order
        apply_coupon(customer=customer, coupon=each)
    invoice = bill_month(subscription, 1)  # subscription fee 10000, usage 500
    taken = dict(invoice.coupon_credits.values_list("applied_coupon__coupon__code", "amount_cents"))
    # The metric coupon takes all of the usage first; the plan coupon 2000 of what is left; the
    # unlimited one 5000 of the rest, all of it on the subscription fee (nothing is left on usage).
    assert taken == {"on_calls": 500, "on_plan": 2000, "everything": 5000}
    assert shares(invoice) == {FeeType.SUBSCRIPTION: 7000, FeeType.CHARGE: 500}
    assert invoice.total_amount_cents == 10500 - 7500


def test_coupons_stop_once_nothing_is_left_to_discount(organization, customer, subscription):
    apply_coupon(customer=customer, coupon=coupon(organization, "all", percentage_rate=100))
    later = apply_coupon(customer=customer, coupon=coupon(organization, "later", amount_cents=1000, frequency="once"))
    invoice = bill_month(subscription, 1)
    assert (invoice.coupons_amount_cents, invoice.total_amount_cents) == (10500, 0)
    later.refresh_from_db()
    assert later.amount_cents_remaining == 1000 and not later.credits.exists()


def test_spread_is_proportional_and_adds_up_exactly():
    assert spread(100, [1, 1, 1]) == [34, 33, 33]
    assert spread(10, [0, 5, 15]) == [0, 3, 7]  # 2.5 and 7.5: the tie goes to the first
    assert spread(0, [3, 4]) == [0, 0]
    assert sum(spread(9999, [7, 13, 29, 51])) == 9999


def test_voiding_gives_back_a_once_coupon_its_amount_and_makes_it_active_again(organization, customer, subscription):
    applied = apply_coupon(customer=customer, coupon=coupon(organization, amount_cents=5000, frequency="once"))
    invoice = bill_month(subscription, 1)
    applied.refresh_from_db()
    assert (applied.amount_cents_remaining, applied.status) == (0, AppliedCouponStatus.TERMINATED)
    void_invoice(invoice=invoice)
    applied.refresh_from_db()
    assert (applied.amount_cents_remaining, applied.status, applied.terminated_at) == (5000, "active", None)
    # The voided invoice keeps the record of what it had taken.
    assert list(CouponCredit.objects.filter(invoice=invoice).values_list("amount_cents", flat=True)) == [5000]
    assert bill_month(subscription, 2).coupons_amount_cents == 5000


def test_voiding_does_not_revive_a_once_coupon_whose_coupon_was_terminated(organization, customer, subscription):
    the_coupon = coupon(organization, amount_cents=5000, frequency="once")
    applied = apply_coupon(customer=customer, coupon=the_coupon)
    invoice = bill_month(subscription, 1)
    delete_coupon(coupon=the_coupon)
    void_invoice(invoice=invoice)
    applied.refresh_from_db()
    assert (applied.amount_cents_remaining, applied.status) == (5000, AppliedCouponStatus.TERMINATED)


def test_voiding_gives_a_recurring_coupon_its_period_back(organization, customer, subscription):
    applied = apply_coupon(
        customer=customer, coupon=coupon(organization, amount_cents=1000, frequency="recurring", frequency_duration=1)
    )
    january = bill_month(subscription, 1)
    void_invoice(invoice=january)
    applied.refresh_from_db()
    assert (applied.frequency_duration_remaining, applied.status) == (1, AppliedCouponStatus.ACTIVE)
    assert bill_month(subscription, 2).coupons_amount_cents == 1000


def test_one_off_invoices_take_no_coupon(organization, customer):
    apply_coupon(customer=customer, coupon=coupon(organization, percentage_rate=50))
    create_add_on(
        organization=organization,
        data={"code": "setup", "name": "Setup", "amount_cents": 9900, "amount_currency": "EUR"},
    )
    invoice = create_one_off_invoice(customer=customer, fees=[{"add_on_code": "setup"}])
    assert (invoice.invoice_type, invoice.status, invoice.coupons_amount_cents) == ("one_off", "finalized", 0)
    assert invoice.total_amount_cents == 9900


# Applying and ending coupons -------------------------------------------------------------------


def test_a_fixed_coupon_in_another_currency_than_the_customers_is_refused(organization, customer):
    usd = coupon(organization, amount_cents=1000, amount_currency="USD")
    with pytest.raises(ValidationFailed) as refused:
        apply_coupon(customer=customer, coupon=usd)
    assert refused.value.details == {"amount_currency": ["currencies_does_not_match"]}
    assert not customer.applied_coupons.exists()


def test_a_customer_without_currency_takes_a_fixed_coupons_currency(organization):
    customer = CustomerFactory(organization=organization, currency=None)
    apply_coupon(customer=customer, coupon=coupon(organization, amount_cents=1000, amount_currency="USD"))
    customer.refresh_from_db()
    assert customer.currency == "USD"


def test_a_non_reusable_coupon_is_refused_to_a_customer_who_ever_had_it(organization, customer):
    single = coupon(organization, amount_cents=1000, reusable=False)
    applied = apply_coupon(customer=customer, coupon=single)
    terminate_applied_coupon(applied_coupon=applied)
    with pytest.raises(ValidationFailed) as refused:
        apply_coupon(customer=customer, coupon=single)
    assert refused.value.details == {"coupon": ["coupon_is_not_reusable"]}


def test_limited_coupons_that_overlap_are_refused(organization, customer, plan):
    apply_coupon(customer=customer, coupon=coupon(organization, "a", amount_cents=1000, plan_codes=["startup"]))
    with pytest.raises(NotAllowed) as refused:
        apply_coupon(customer=customer, coupon=coupon(organization, "b", percentage_rate=5, plan_codes=["startup"]))
    assert refused.value.code == "plan_overlapping"
    apply_coupon(customer=customer, coupon=coupon(organization, "c", percentage_rate=5))  # unlimited: no overlap


def test_a_coupon_is_limited_to_plans_or_metrics_never_both_and_every_code_must_exist(organization, plan, metric):
    with pytest.raises(ValidationFailed) as both:
        coupon(organization, amount_cents=1, plan_codes=["startup"], billable_metric_codes=["api_calls"])
    assert both.value.details == {"applies_to": ["only_plans_or_billable_metrics"]}
    with pytest.raises(NotFound) as unknown:
        coupon(organization, amount_cents=1, plan_codes=["startup", "nope"])
    assert unknown.value.code == "plans_not_found"


def test_once_applied_only_name_description_and_expiration_change(organization, customer):
    the_coupon = coupon(organization, amount_cents=1000)
    update_coupon(coupon=the_coupon, data={"amount_cents": 1500})  # not applied yet: anything goes
    apply_coupon(customer=customer, coupon=the_coupon)
    with pytest.raises(ValidationFailed) as refused:
        update_coupon(coupon=the_coupon, data={"amount_cents": 2000, "name": "New"})
    assert refused.value.details == {"amount_cents": ["coupon_is_applied"]}
    the_coupon.refresh_from_db()
    assert (the_coupon.amount_cents, the_coupon.name) == (1500, "Deal")
    update_coupon(coupon=the_coupon, data={"name": "New", "amount_cents": 1500, "description": "Spring"})
    the_coupon.refresh_from_db()
    assert (the_coupon.name, the_coupon.description) == ("New", "Spring")


def test_deleting_a_coupon_terminates_its_active_applications_and_frees_its_code(organization, customer):
    the_coupon = coupon(organization, amount_cents=1000)
    applied = apply_coupon(customer=customer, coupon=the_coupon)
    delete_coupon(coupon=the_coupon)
    applied.refresh_from_db()
    assert applied.status == AppliedCouponStatus.TERMINATED
    coupon(organization, amount_cents=500)  # the same code again


def test_the_clock_ends_expired_coupons_whose_applications_keep_working(organization, customer, subscription):
    limited = coupon(organization, amount_cents=1000, expiration="time_limit", expiration_at=month(13))
    apply_coupon(customer=customer, coupon=limited)
    assert terminate_expired_coupons(at=month(12)) == 0
    assert terminate_expired_coupons(at=month(13) + timedelta(seconds=1)) == 1
    limited.refresh_from_db()
    assert (limited.status, limited.terminated_at) == (CouponStatus.TERMINATED, month(13))
    other = CustomerFactory(organization=organization, currency="EUR")
    with pytest.raises(NotFound):
        apply_coupon(customer=other, coupon=limited)
    assert bill_month(subscription, 1).coupons_amount_cents == 1000


# Concurrency -------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_invoices_finalized_at_once_never_spend_a_once_coupon_twice(organization, customer, plan):
    assert connection.vendor == "postgresql"
    customer.invoice_grace_period = 1
    customer.save()
    applied = apply_coupon(customer=customer, coupon=coupon(organization, amount_cents=15000, frequency="once"))
    subscriptions = [SubscriptionFactory(customer=customer, plan=plan, subscription_at=JAN_1) for _ in range(2)]
    drafts = [
        bill_subscription(subscription=each, reason="subscription_periodic", period=period_of(each, JAN_1), at=month(2))
        for each in subscriptions
    ]
    barrier = threading.Barrier(len(drafts))
    failures: list[BaseException] = []

    def finalize(invoice):
        try:
            barrier.wait()
            finalize_invoice(invoice=invoice, at=month(2) + timedelta(days=2))
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
    taken = sorted(Invoice.objects.values_list("coupons_amount_cents", flat=True))
    assert taken == [5000, 10000]  # 100.00 of fees each: all of one, what is left of 150.00 on the other
    applied.refresh_from_db()
    assert (applied.amount_cents_remaining, applied.status) == (0, AppliedCouponStatus.TERMINATED)
