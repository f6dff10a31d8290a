"""One organization holding every kind of object the v1 API serves, built through the services as
staff and API callers build them, and the ids and codes of what was made.

`seed_every_resource(organization)` works for any organization and at any moment: dates are taken
from the clock it runs under (pin it with time_machine for figures that must not move). Codes and
external ids carry a tag drawn from the organization's id, so two organizations seeded in one test
hold no code, external id or transaction id in common: a request made with the other one's value
can only find nothing. Webhook endpoints name public IP addresses, so the address rule passes
without DNS whatever `WEBHOOKS_ALLOW_PRIVATE_URLS` says.

What exists afterwards (the dataclass lists the ids):
- metrics `calls` (count) and `units` (sum of `units`), both charged, with events in the previous
  and the current month; `storage` (max), charged by no plan, so it can be edited and deleted;
- plans `arrears` (monthly, 100.00 EUR, charges on both metrics), `advance` (paid in advance,
  31.00 EUR) and `spare` (no subscription, so it can be edited and deleted);
- add-ons `setup` and `support`;
- the main customer (grace period of 3 days): an arrears subscription since last month, billed on a
  draft, and an advance one started now, its first period on a second draft; coupons `tenpercent`
  and `welcome` applied; a wallet with 50 granted and 30 paid credits (its credit invoice unpaid);
- a second customer (no grace period, an external id with a slash and a space): an arrears
  subscription since last month, its invoice finalized and unpaid, a credit note of 5.00 on it
  whose credit is still available;
- a third customer (odd characters in its external id): a one-off invoice of both add-ons,
  finalized and paid, with a credit note that is part credit, part pending refund;
- a spare customer with no subscription, invoice or wallet;
- coupons `loyalty` (reusable) and `spring` applied to no one, so their terms can still change;
- two webhook endpoints.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from coupons.services import apply_coupon, create_coupon
from customers.models import Customer
from customers.services import create_customer
from events.services import ingest_events
from invoicing.credit_notes import create_credit_note, remaining_on
from invoicing.lifecycle import update_invoice
from invoicing.models import Invoice, InvoiceStatus, InvoicingReason
from invoicing.one_off import create_one_off_invoice
from invoicing.prepaid_credits import TopUp, create_wallet
from invoicing.services import bill_subscription
from invoicing.subscriptions import create_subscription
from organizations.models import Organization
from plans.models import Subscription
from plans.services import create_add_on, create_billable_metric, create_plan
from plans.subscription_periods import period_of
from wallets.models import WalletTransaction
from webhooks.services import create_endpoint


@dataclass(frozen=True)
class CreditableFee:
    """A fee of a finalized invoice with `remaining_cents` still open to credit notes."""

    invoice_id: str
    fee_id: str
    remaining_cents: int


@dataclass(frozen=True)
class SeededResources:
    """The ids and codes `seed_every_resource` made, as strings the API takes."""

    currency: str
    metric_codes: tuple[str, ...]
    metric_ids: tuple[str, ...]
    uncharged_metric_codes: tuple[str, ...]
    plan_codes: tuple[str, ...]
    plans_without_subscriptions: tuple[str, ...]
    customer_external_ids: tuple[str, ...]
    customers_without_wallet: tuple[str, ...]
    subscription_external_ids: tuple[str, ...]
    # (customer external_id, subscription external_id) of each active subscription.
    subscriptions_by_customer: tuple[tuple[str, str], ...]
    # Metrics an event can name without properties (count), and those that read `units` (sum).
    countable_metric_codes: tuple[str, ...]
    summed_metric_codes: tuple[str, ...]
    event_transaction_ids: tuple[str, ...]
    add_on_codes: tuple[str, ...]
    coupon_codes: tuple[str, ...]
    unapplied_coupon_codes: tuple[str, ...]
    applied_coupon_ids: tuple[str, ...]
    # (customer external_id, applied coupon id) of each active application.
    applied_coupons_by_customer: tuple[tuple[str, str], ...]
    draft_invoice_ids: tuple[str, ...]
    finalized_invoice_ids: tuple[str, ...]
    paid_invoice_ids: tuple[str, ...]
    creditable_fees: tuple[CreditableFee, ...]
    credit_note_ids: tuple[str, ...]
    voidable_credit_note_ids: tuple[str, ...]
    refund_credit_note_ids: tuple[str, ...]
    wallet_ids: tuple[str, ...]
    wallet_transaction_ids: tuple[str, ...]
    webhook_endpoint_ids: tuple[str, ...]

    @property
    def invoice_ids(self) -> tuple[str, ...]:
        return self.draft_invoice_ids + self.finalized_invoice_ids


def _ids(values) -> tuple[str, ...]:
    return tuple(str(value) for value in values)


def _month_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _metrics(organization: Organization, tag: str) -> dict[str, object]:
    specs = {
        "calls": {"aggregation_type": "count_agg"},
        "units": {"aggregation_type": "sum_agg", "field_name": "units"},
        "storage": {"aggregation_type": "max_agg", "field_name": "gb"},
    }
    return {
        name: create_billable_metric(
            organization=organization, data={"name": name.title(), "code": f"{name}_{tag}", **spec}
        )
        for name, spec in specs.items()
    }


def _plans(organization: Organization, tag: str, metrics: dict) -> dict[str, object]:
    charges = [
        {"billable_metric_id": str(metrics["calls"].pk), "charge_model": "standard", "properties": {"amount": "0.5"}},
        {"billable_metric_id": str(metrics["units"].pk), "charge_model": "standard", "properties": {"amount": "2"}},
    ]
    specs = {
        "arrears": {"amount_cents": 10000, "charges": charges},
        "advance": {"amount_cents": 3100, "pay_in_advance": True},
        "spare": {"amount_cents": 500},
    }
    return {
        name: create_plan(
            organization=organization,
            data={
                "name": name.title(),
                "code": f"{name}_{tag}",
                "interval": "monthly",
                "amount_currency": "EUR",
                **spec,
            },
        )
        for name, spec in specs.items()
    }


def _customer(organization: Organization, external_id: str, **fields) -> Customer:
    data = {
        "external_id": external_id,
        "name": f"Seeded {external_id}",
        "email": "billing@example.test",
        "currency": "EUR",
        "country": "FR",
        "timezone": "UTC",
        "metadata": [{"key": "segment", "value": "seeded", "display_in_invoice": True}],
        **fields,
    }
    return create_customer(organization=organization, data=data)


def _subscribe(organization: Organization, customer: Customer, plan, external_id: str, at: datetime) -> Subscription:
    data = {"external_customer_id": customer.external_id, "plan_code": plan.code, "external_id": external_id}
    subscription, _ = create_subscription(organization=organization, data=data | {"subscription_at": at})
    return subscription


def _send(organization: Organization, subscription: Subscription, metrics: dict, at: datetime, key: str) -> list[str]:
    """Three `calls` and two `units` events stamped `at`; their transaction ids."""
    raw = [
        {
            "transaction_id": f"tr_{subscription.external_id}_{key}_{index}",
            "external_subscription_id": subscription.external_id,
            "code": metrics["units" if index >= 3 else "calls"].code,
            "timestamp": int(at.timestamp()),
            "properties": {"units": index + 1},
        }
        for index in range(5)
    ]
    return [event.transaction_id for event in ingest_events(organization=organization, raw_events=raw, batch=True)]


def _bill_last_month(subscription: Subscription, last_month: datetime, this_month: datetime) -> Invoice:
    period = period_of(subscription, last_month)
    invoice = bill_subscription(
        subscription=subscription, reason=InvoicingReason.SUBSCRIPTION_PERIODIC, period=period, at=this_month
    )
    assert invoice is not None, "the previous month was billed already"
    return invoice


def _creditable(invoice: Invoice) -> list[CreditableFee]:
    """The invoice's fees with what is still open to credit notes, smallest first (the service's count)."""
    per_fee = remaining_on(invoice).per_fee
    fees = sorted((cents, str(fee_id)) for fee_id, cents in per_fee.items() if cents > 0)
    return [CreditableFee(str(invoice.pk), fee_id, cents) for cents, fee_id in fees]


def _coupon(organization: Organization, code: str, **terms):
    data = {"name": code.split("_")[0].title(), "code": code, "expiration": "no_expiration", **terms}
    return create_coupon(organization=organization, data=data)


def seed_every_resource(organization: Organization) -> SeededResources:
    """Make one of each thing the API serves in `organization` (see the module docstring)."""
    tag = organization.pk.hex[:6] if hasattr(organization.pk, "hex") else str(organization.pk)[:6]
    now = timezone.now()
    this_month = _month_start(now)
    last_month = _month_start(this_month - timedelta(days=1))
    # Inside the running period and never after now, however early in the month the clock is.
    this_period_event_at = this_month + (now - this_month) / 2
    last_period_event_at = last_month + timedelta(days=10)

    metrics = _metrics(organization, tag)
    plans = _plans(organization, tag, metrics)
    add_ons = [
        create_add_on(
            organization=organization,
            data={"name": name.title(), "code": f"{name}_{tag}", "amount_cents": cents, "amount_currency": "EUR"},
        )
        for name, cents in (("setup", 50000), ("support", 9900))
    ]

    main = _customer(organization, f"cust_fuzz_{tag}", invoice_grace_period=3)
    second = _customer(organization, f"acme/eu 42-{tag}", invoice_grace_period=0)
    third = _customer(organization, f"zürich-%41+x-{tag}")
    spare = _customer(organization, f"spare_{tag}")

    main_arrears = _subscribe(organization, main, plans["arrears"], f"sub_arrears_{tag}", last_month)
    second_arrears = _subscribe(organization, second, plans["arrears"], f"sub/acme 42-{tag}", last_month)
    transaction_ids = _send(organization, main_arrears, metrics, last_period_event_at, "last")
    transaction_ids += _send(organization, second_arrears, metrics, last_period_event_at, "last")
    _bill_last_month(main_arrears, last_month, this_month)  # a draft: the main customer has a grace period
    unpaid = _bill_last_month(second_arrears, last_month, this_month)
    main_advance = _subscribe(organization, main, plans["advance"], f"sub_advance_{tag}", now.replace(microsecond=0))
    transaction_ids += _send(organization, main_arrears, metrics, this_period_event_at, "now")
    transaction_ids += _send(organization, second_arrears, metrics, this_period_event_at, "now")

    tenpercent = _coupon(
        organization, f"tenpercent_{tag}", coupon_type="percentage", percentage_rate=10, frequency="forever"
    )
    welcome = _coupon(
        organization,
        f"welcome_{tag}",
        coupon_type="fixed_amount",
        amount_cents=2000,
        amount_currency="EUR",
        frequency="once",
    )
    loyalty = _coupon(
        organization, f"loyalty_{tag}", coupon_type="percentage", percentage_rate=5, frequency="once", reusable=True
    )
    spring = _coupon(
        organization,
        f"spring_{tag}",
        coupon_type="fixed_amount",
        amount_cents=500,
        amount_currency="EUR",
        frequency="recurring",
        frequency_duration=3,
    )
    applied = [apply_coupon(customer=main, coupon=coupon) for coupon in (tenpercent, welcome)]

    wallet = create_wallet(
        customer=main,
        rate_amount=Decimal(1),
        name="Prepaid",
        top_up=TopUp(granted_credits=Decimal(50), paid_credits=Decimal(30)),
    )

    one_off = create_one_off_invoice(
        customer=third, fees=[{"add_on_code": add_on.code, "units": 2} for add_on in add_ons], currency="EUR"
    )
    paid = update_invoice(invoice=one_off, payment_status="succeeded")
    paid_fees = _creditable(paid)
    refund_note = create_credit_note(
        invoice=paid,
        reason="order_change",
        items=[{"fee_id": paid_fees[0].fee_id, "amount_cents": 3000}],
        credit_amount_cents=1000,
        refund_amount_cents=2000,
    )
    unpaid_fees = _creditable(unpaid)
    credit_note = create_credit_note(
        invoice=unpaid,
        reason="other",
        items=[{"fee_id": unpaid_fees[-1].fee_id, "amount_cents": 500}],
        credit_amount_cents=500,
    )

    endpoints = [
        create_endpoint(organization=organization, data={"webhook_url": url, "name": name})
        for name, url in (
            ("Backend", f"https://93.184.215.14/hooks/{tag}"),
            ("Ledger", f"http://1.1.1.1:8080/lago/{tag}"),
        )
    ]

    customers = (main, second, third, spare)
    subscriptions = (main_arrears, second_arrears, main_advance)
    # In the order they were made, so that a fuzzer drawing by position draws the same one each run.
    invoices = Invoice.objects.filter(organization=organization).order_by("created_at")
    return SeededResources(
        currency="EUR",
        metric_codes=tuple(metric.code for metric in metrics.values()),
        metric_ids=_ids(metric.pk for metric in metrics.values()),
        uncharged_metric_codes=(metrics["storage"].code,),
        plan_codes=tuple(plan.code for plan in plans.values()),
        plans_without_subscriptions=(plans["spare"].code,),
        customer_external_ids=tuple(customer.external_id for customer in customers),
        customers_without_wallet=tuple(customer.external_id for customer in customers if customer is not main),
        subscription_external_ids=tuple(subscription.external_id for subscription in subscriptions),
        subscriptions_by_customer=tuple(
            (subscription.customer.external_id, subscription.external_id) for subscription in subscriptions
        ),
        countable_metric_codes=(metrics["calls"].code,),
        summed_metric_codes=(metrics["units"].code,),
        event_transaction_ids=tuple(transaction_ids),
        add_on_codes=tuple(add_on.code for add_on in add_ons),
        coupon_codes=tuple(coupon.code for coupon in (tenpercent, welcome, loyalty, spring)),
        unapplied_coupon_codes=(loyalty.code, spring.code),
        applied_coupon_ids=_ids(item.pk for item in applied),
        applied_coupons_by_customer=tuple((main.external_id, str(item.pk)) for item in applied),
        draft_invoice_ids=_ids(invoices.filter(status=InvoiceStatus.DRAFT).values_list("pk", flat=True)),
        finalized_invoice_ids=_ids(invoices.filter(status=InvoiceStatus.FINALIZED).values_list("pk", flat=True)),
        paid_invoice_ids=(str(paid.pk),),
        creditable_fees=tuple(_creditable(paid) + _creditable(unpaid)),
        credit_note_ids=_ids((credit_note.pk, refund_note.pk)),
        voidable_credit_note_ids=_ids((credit_note.pk, refund_note.pk)),
        refund_credit_note_ids=(str(refund_note.pk),),
        wallet_ids=(str(wallet.pk),),
        wallet_transaction_ids=_ids(
            WalletTransaction.objects.filter(wallet=wallet)
            .order_by("created_at", "transaction_status")
            .values_list("pk", flat=True)
        ),
        webhook_endpoint_ids=_ids(endpoint.pk for endpoint in endpoints),
    )
