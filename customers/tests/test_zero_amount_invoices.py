"""`finalize_zero_amount_invoice` at billing: with `skip`, an invoice whose fees add up to zero is
closed as Lago closes it (status `closed`, no number taken, no `invoice.created`), one rule per test.

Lago's rule (`Invoices::TransitionToFinalStatusService`) looks at the fees before coupons, credit
notes and prepaid credits: an invoice with fees that a coupon brings to zero is still finalized.
"""

from datetime import UTC, datetime

import pytest
import time_machine

from billing.errors import NotAllowed
from coupons.services import apply_coupon, create_coupon
from customers.services import create_customer
from invoicing.lifecycle import finalize_draft
from invoicing.models import Invoice, InvoiceStatus
from invoicing.services import bill_due_period, due_periods, finalize_due_draft
from plans.tests.factories import BillableMetricFactory, ChargeFactory, PlanFactory, SubscriptionFactory
from webhooks.models import WebhookMessage
from webhooks.services import create_endpoint

JAN_10 = datetime(2026, 1, 10, 10, 0, tzinfo=UTC)
FEB_1 = datetime(2026, 2, 1, 0, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def pinned_clock():
    with time_machine.travel(FEB_1, tick=False):
        yield


@pytest.fixture
def listening(organization, settings):
    """An endpoint that listens to every webhook type, so that the outbox shows what was sent."""
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    return create_endpoint(
        organization=organization, data={"webhook_url": "http://127.0.0.1:9/all", "signature_algo": "hmac"}
    )


def subscribed(organization, *, setting: str, plan_amount_cents: int = 0, grace_days: int = 0, external_id="c1"):
    """A customer with `finalize_zero_amount_invoice = setting` on a usage plan of `plan_amount_cents`
    a month (a charge of 0.50 per event, and no event sent)."""
    customer = create_customer(
        organization=organization,
        data={
            "external_id": external_id,
            "currency": "EUR",
            "timezone": "UTC",
            "finalize_zero_amount_invoice": setting,
            "invoice_grace_period": grace_days,
            "shipping_city": "Rotterdam",
        },
    )
    plan = PlanFactory(organization=organization, amount_cents=plan_amount_cents, amount_currency="EUR")
    metric = BillableMetricFactory(organization=organization, aggregation_type="count_agg", field_name=None)
    ChargeFactory(plan=plan, billable_metric=metric, properties={"amount": "0.5"})
    return SubscriptionFactory(customer=customer, plan=plan, subscription_at=JAN_10, started_at=JAN_10)


def bill_january(subscription) -> Invoice:
    [due] = [item for item in due_periods(at=FEB_1) if item.subscription_id == str(subscription.pk)]
    return bill_due_period(subscription_id=due.subscription_id, period_start=due.period_start, at=FEB_1)


def sent_types(invoice: Invoice) -> list[str]:
    return list(WebhookMessage.objects.filter(object_id=str(invoice.pk)).values_list("webhook_type", flat=True))


def test_rule_skip_closes_a_zero_amount_invoice_without_a_number_or_a_message(organization, listening):
    invoice = bill_january(subscribed(organization, setting="skip"))
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.CLOSED
    assert (invoice.sequential_id, invoice.number, invoice.finalized_at) == (None, None, None)
    assert (invoice.fees_amount_cents, invoice.total_amount_cents) == (0, 0)
    assert invoice.fees.count() == 2  # the zero subscription fee and the zero usage fee are kept
    assert invoice.customer_snapshot["shipping_address"]["city"] == "Rotterdam"
    assert sent_types(invoice) == []


def test_rule_a_closed_invoice_takes_no_number_from_the_sequence(organization, listening):
    bill_january(subscribed(organization, setting="skip", external_id="skips"))
    paying = bill_january(subscribed(organization, setting="skip", plan_amount_cents=1000, external_id="pays"))
    assert paying.status == InvoiceStatus.FINALIZED
    assert paying.sequential_id == 1 and paying.number.endswith("-000001")
    assert sent_types(paying) == ["invoice.created"]


@pytest.mark.parametrize("setting", ["inherit", "finalize"])
def test_rule_inherit_and_finalize_finalize_a_zero_amount_invoice(organization, listening, setting):
    invoice = bill_january(subscribed(organization, setting=setting))
    assert invoice.status == InvoiceStatus.FINALIZED
    assert invoice.sequential_id == 1 and invoice.total_amount_cents == 0
    assert sent_types(invoice) == ["invoice.created"]


def test_rule_fees_that_a_coupon_brings_to_zero_are_not_an_empty_invoice(organization):
    subscription = subscribed(organization, setting="skip", plan_amount_cents=1000)
    coupon = create_coupon(
        organization=organization,
        data={
            "name": "All of it",
            "code": "all",
            "coupon_type": "fixed_amount",
            "amount_cents": 5000,
            "amount_currency": "EUR",
            "frequency": "forever",
            "expiration": "no_expiration",
        },
    )
    apply_coupon(customer=subscription.customer, coupon=coupon, at=JAN_10)
    invoice = bill_january(subscription)
    assert (invoice.fees_amount_cents, invoice.coupons_amount_cents, invoice.total_amount_cents) == (710, 710, 0)
    assert invoice.status == InvoiceStatus.FINALIZED and invoice.number


def test_rule_a_closed_invoice_still_closes_its_period(organization):
    subscription = subscribed(organization, setting="skip")
    bill_january(subscription)
    assert [item for item in due_periods(at=FEB_1) if item.subscription_id == str(subscription.pk)] == []
    assert Invoice.objects.filter(customer=subscription.customer).count() == 1


def test_rule_a_zero_draft_is_closed_when_its_grace_period_ends(organization, api):
    draft = bill_january(subscribed(organization, setting="skip", grace_days=3))
    assert draft.status == InvoiceStatus.DRAFT
    closed = finalize_due_draft(invoice_id=draft.pk)
    assert closed.status == InvoiceStatus.CLOSED and closed.number is None
    # The API shows it with Lago's status and the provisional number Lago leaves on it.
    shown = api.get(f"/api/v1/invoices/{closed.pk}").json()["invoice"]
    assert shown["status"] == "closed"
    assert shown["number"].endswith("-DRAFT") and shown["total_due_amount_cents"] == 0
    assert shown["customer"]["finalize_zero_amount_invoice"] == "skip"
    # Closed is final: the draft actions refuse it.
    with pytest.raises(NotAllowed):
        finalize_draft(invoice=closed)


def test_rule_finalizing_a_zero_draft_by_hand_closes_it_too(organization):
    draft = bill_january(subscribed(organization, setting="skip", grace_days=3))
    assert finalize_draft(invoice=draft).status == InvoiceStatus.CLOSED
