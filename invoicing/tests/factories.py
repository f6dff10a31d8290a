"""Invoices, fees, invoice subscriptions and credit notes built directly, in states billing can leave them.

For tests about what comes after billing (credit notes, the invoice pages…). A test of billing itself
bills through invoicing.services instead.
"""

from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from customers.tests.factories import CustomerFactory
from invoicing.models import (
    CreditNote,
    CreditNoteItem,
    CreditNoteReason,
    CreditStatus,
    Fee,
    FeeType,
    Invoice,
    InvoiceStatus,
    InvoiceSubscription,
    InvoicingReason,
    RefundStatus,
)
from invoicing.numbering import final_number, next_sequential_id
from invoicing.selectors import customer_billing_details
from organizations.tests.factories import OrganizationFactory
from plans.subscription_periods import period_of
from plans.tests.factories import ChargeFactory, SubscriptionFactory


def _numbered(invoice) -> bool:
    return invoice.status != InvoiceStatus.DRAFT


class InvoiceFactory(factory.django.DjangoModelFactory):
    """A draft by default, with no fee (add them with FeeFactory and set the amounts to match).

    Any other status (`status="finalized"` or `"voided"`) takes the organization's next number, as
    finalization does: the database refuses an invoice without one unless it is a draft, and a
    number taken here is one that later billing in the same organization will not take again.
    """

    class Meta:
        model = Invoice

    organization = factory.SubFactory(OrganizationFactory)
    customer = factory.SubFactory(CustomerFactory, organization=factory.SelfAttribute("..organization"))
    status = InvoiceStatus.DRAFT
    issuing_date = factory.LazyFunction(timezone.localdate)
    net_payment_term = 0
    payment_due_date = factory.LazyAttribute(lambda o: o.issuing_date + timedelta(days=o.net_payment_term))
    currency = "EUR"
    sequential_id = factory.LazyAttribute(
        lambda invoice: next_sequential_id(invoice.organization.pk) if _numbered(invoice) else None
    )
    number = factory.LazyAttribute(
        lambda invoice: final_number(invoice.organization, invoice.sequential_id) if _numbered(invoice) else None
    )
    customer_snapshot = factory.LazyAttribute(
        lambda invoice: customer_billing_details(invoice.customer) if _numbered(invoice) else {}
    )
    finalized_at = factory.LazyAttribute(lambda invoice: timezone.now() if _numbered(invoice) else None)
    voided_at = factory.LazyAttribute(
        lambda invoice: timezone.now() if invoice.status == InvoiceStatus.VOIDED else None
    )


class FeeFactory(factory.django.DjangoModelFactory):
    """A subscription fee (of no subscription unless one is given)."""

    class Meta:
        model = Fee

    invoice = factory.SubFactory(InvoiceFactory)
    fee_type = FeeType.SUBSCRIPTION
    description = factory.Sequence(lambda n: f"Fee {n}")
    amount_cents = 1000
    currency = factory.SelfAttribute("invoice.currency")
    units = Decimal(1)


class ChargeFeeFactory(FeeFactory):
    """A usage fee, for a charge of a plan of the invoice's organization."""

    fee_type = FeeType.CHARGE
    charge = factory.SubFactory(ChargeFactory, plan__organization=factory.SelfAttribute("...invoice.organization"))
    description = factory.SelfAttribute("charge.billable_metric.name")
    events_count = 1


class InvoiceSubscriptionFactory(factory.django.DjangoModelFactory):
    """A subscription billed by an invoice of its customer: by default the period the subscription
    started in, closed at its end. Pass `period=` (a BillingPeriod) for another one."""

    class Meta:
        model = InvoiceSubscription

    class Params:
        period = factory.LazyAttribute(lambda link: period_of(link.subscription, link.subscription.subscription_at))

    subscription = factory.SubFactory(SubscriptionFactory)
    invoice = factory.SubFactory(
        InvoiceFactory,
        organization=factory.SelfAttribute("..subscription.organization"),
        customer=factory.SelfAttribute("..subscription.customer"),
        currency=factory.SelfAttribute("..subscription.plan.amount_currency"),
    )
    invoicing_reason = InvoicingReason.SUBSCRIPTION_PERIODIC
    period_start = factory.SelfAttribute("period.start")
    period_end = factory.SelfAttribute("period.end")


class CreditNoteFactory(factory.django.DjangoModelFactory):
    """A credit of 10.00 on a finalized invoice, all of it still available; numbered after the
    invoice's other notes. A refund (`refund_amount_cents=`) is pending. Its items, if a test needs
    them, come from CreditNoteItemFactory."""

    class Meta:
        model = CreditNote

    invoice = factory.SubFactory(InvoiceFactory, status=InvoiceStatus.FINALIZED)
    organization = factory.SelfAttribute("invoice.organization")
    customer = factory.SelfAttribute("invoice.customer")
    sequential_id = factory.LazyAttribute(lambda note: note.invoice.credit_notes.count() + 1)
    number = factory.LazyAttribute(lambda note: f"{note.invoice.number}-CN{note.sequential_id:03d}")
    issuing_date = factory.LazyFunction(timezone.localdate)
    reason = CreditNoteReason.OTHER
    currency = factory.SelfAttribute("invoice.currency")
    credit_amount_cents = 1000
    refund_amount_cents = 0
    credit_status = factory.LazyAttribute(lambda note: CreditStatus.AVAILABLE if note.credit_amount_cents else None)
    refund_status = factory.LazyAttribute(lambda note: RefundStatus.PENDING if note.refund_amount_cents else None)
    balance_amount_cents = factory.SelfAttribute("credit_amount_cents")
    total_amount_cents = factory.LazyAttribute(lambda note: note.credit_amount_cents + note.refund_amount_cents)


class CreditNoteItemFactory(factory.django.DjangoModelFactory):
    """The whole of a credit note, given back on one fee of its invoice."""

    class Meta:
        model = CreditNoteItem

    credit_note = factory.SubFactory(CreditNoteFactory)
    fee = factory.SubFactory(
        FeeFactory,
        invoice=factory.SelfAttribute("..credit_note.invoice"),
        amount_cents=factory.SelfAttribute("..credit_note.total_amount_cents"),
    )
    amount_cents = factory.SelfAttribute("credit_note.total_amount_cents")
