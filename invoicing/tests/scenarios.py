"""A customer that has everything the deletion cascade acts on (issue 12), built through the services
as staff and the API build it, for the tests of the cascade, its pages and its API."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import time_machine

from coupons.services import apply_coupon, create_coupon
from customers.models import Customer
from customers.tests.factories import CustomerFactory
from events.tests.factories import send_events
from invoicing.lifecycle import update_invoice
from invoicing.models import Invoice
from invoicing.prepaid_credits import TopUp, create_wallet
from invoicing.services import bill_subscription
from invoicing.subscriptions import create_subscription
from invoicing.tests.factories import CreditNoteFactory, InvoiceFactory
from plans.subscription_periods import period_of
from plans.tests.factories import BillableMetricFactory, ChargeFactory, PlanFactory

FEB_1 = datetime(2026, 2, 1, tzinfo=UTC)
MAR_1 = datetime(2026, 3, 1, tzinfo=UTC)


def coupon(organization, code: str, **terms):
    data = {"name": code.title(), "code": code, "expiration": "no_expiration", **terms}
    return create_coupon(organization=organization, data=data)


def customer_with_everything(
    organization, *, external_id: str = "cust_1", name: str | None = None, paid_credits: int = 30
) -> Customer:
    """An active subscription in arrears with usage (since February, 40 calls in March), one paid in
    advance (March invoiced on a draft), a pending one (April), two applied coupons (10 % forever,
    20.00 once), a wallet with 50 granted credits and `paid_credits` paid ones, two drafts (February
    closed in a grace period, March in advance) and a finalized invoice with a credit note of 15.00."""
    metric = BillableMetricFactory(
        organization=organization, code="calls", aggregation_type="count_agg", field_name=None
    )
    arrears = PlanFactory(
        organization=organization, name="Arrears", code="arrears", amount_cents=10000, amount_currency="EUR"
    )
    ChargeFactory(plan=arrears, billable_metric=metric, properties={"amount": "0.5"})
    PlanFactory(organization=organization, name="Advance", code="advance", amount_cents=3100, pay_in_advance=True)
    customer = CustomerFactory(
        organization=organization,
        name=name,
        external_id=external_id,
        timezone="UTC",
        currency="EUR",
        invoice_grace_period=3,
    )
    subscribe = {"external_customer_id": external_id}
    with time_machine.travel(FEB_1, tick=False):
        in_arrears, _ = create_subscription(
            organization=organization, data=subscribe | {"plan_code": "arrears", "external_id": "sub_arrears"}
        )
    with time_machine.travel(MAR_1, tick=False):
        bill_subscription(
            subscription=in_arrears, reason="subscription_periodic", period=period_of(in_arrears, FEB_1), at=MAR_1
        )
        create_subscription(
            organization=organization, data=subscribe | {"plan_code": "advance", "external_id": "sub_advance"}
        )
    with time_machine.travel(MAR_1 + timedelta(days=1), tick=False):
        pending = {
            "plan_code": "arrears",
            "external_id": "sub_pending",
            "subscription_at": datetime(2026, 4, 1, tzinfo=UTC),
        }
        create_subscription(organization=organization, data=subscribe | pending)
        percent = {"coupon_type": "percentage", "percentage_rate": 10, "frequency": "forever"}
        apply_coupon(customer=customer, coupon=coupon(organization, "tenpercent", **percent))
        once = {"coupon_type": "fixed_amount", "amount_cents": 2000, "amount_currency": "EUR", "frequency": "once"}
        apply_coupon(customer=customer, coupon=coupon(organization, "welcome", **once))
        create_wallet(
            customer=customer,
            rate_amount=Decimal(1),
            top_up=TopUp(granted_credits=Decimal(50), paid_credits=Decimal(paid_credits) if paid_credits else None),
        )
        if paid_credits:
            update_invoice(
                invoice=Invoice.objects.get(customer=customer, invoice_type="credit"), payment_status="succeeded"
            )
        earlier = InvoiceFactory(organization=organization, customer=customer, status="finalized", currency="EUR")
        CreditNoteFactory(invoice=earlier, credit_amount_cents=1500)
    send_events(in_arrears, [("calls", MAR_1 + timedelta(hours=i + 1), {}) for i in range(40)])
    assert Invoice.objects.filter(customer=customer, status="draft").count() == 2
    return customer
