"""Every webhook type we produce (`webhooks.models.WEBHOOK_TYPES`), from the change that causes it.

Each test makes the change through the service the API and the staff pages call, then checks:
- the outbox holds exactly the messages of that change: every type the change emits for the
  endpoint that listens to everything, only the type under test for the endpoint that listens to
  it alone, everything but that type for the endpoint that filtered it out, nothing for another
  organization's endpoint;
- the body (`webhooks.bodies.render`) has Lago's shape (`webhook_type`, `object_type`,
  `organization_id`, the object under its root key), the object being what the API answers for it
  (read through the `api` fixture right after rendering).

Between rendering and reading nothing changes in these tests, so the objects must be equal field
for field; the fields computed at reading time (a subscription's current billing period, a wallet's
ongoing balance) would move only if a period ended between the two. In production a body is
rendered at the first delivery attempt, so it shows the object as it is then (as Lago's job does).
"""

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from billing.errors import ValidationFailed
from customers.services import create_customer, update_customer, upsert_customer
from customers.tests.factories import CustomerFactory
from events.models import Event
from events.services import ingest_events
from invoicing.credit_notes import create_credit_note
from invoicing.lifecycle import finalize_draft, update_invoice, void_invoice
from invoicing.models import CreditNote, Invoice, InvoiceStatus
from invoicing.one_off import create_one_off_invoice
from invoicing.prepaid_credits import TopUp, create_wallet, top_up_wallet
from invoicing.services import bill_due_period
from invoicing.subscriptions import activate_due_subscriptions, create_subscription, terminate_subscription
from plans.services import create_add_on
from plans.tests.factories import BillableMetricFactory, ChargeFactory, PlanFactory, SubscriptionFactory
from wallets.services import terminate_wallet, update_wallet
from webhooks.bodies import render
from webhooks.dispatch import MESSAGES_PER_TASK
from webhooks.models import WEBHOOK_TYPES, WebhookEndpoint, WebhookMessage
from webhooks.services import create_endpoint

JAN_1 = datetime(2026, 1, 1, tzinfo=UTC)
FEB_1 = datetime(2026, 2, 1, tzinfo=UTC)


# Endpoints and the outbox -----------------------------------------------------------------------


@dataclass
class Endpoints:
    everything: WebhookEndpoint  # event_types None: every type
    only_this: WebhookEndpoint  # event_types [the type under test]
    all_but_this: WebhookEndpoint  # every other type: filtered the one under test out
    foreign: WebhookEndpoint  # another organization's, listening to everything

    def of_organization(self):
        return (self.everything, self.only_this, self.all_but_this)


@pytest.fixture
def endpoints_for(organization, other_organization, settings):
    """Four endpoints around one type, made through the service the API calls. Loopback URLs:
    nothing is delivered here (`test_delivery.py` delivers)."""
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True

    def make(webhook_type: str) -> Endpoints:
        def endpoint(org, path, event_types="absent"):
            data = {"webhook_url": f"http://127.0.0.1:9/{path}", "signature_algo": "hmac"}
            if event_types != "absent":
                data["event_types"] = event_types
            return create_endpoint(organization=org, data=data)

        return Endpoints(
            everything=endpoint(organization, "everything", None),
            only_this=endpoint(organization, "only-this", [webhook_type]),
            all_but_this=endpoint(organization, "all-but-this", [t for t in WEBHOOK_TYPES if t != webhook_type]),
            foreign=endpoint(other_organization, "foreign"),
        )

    return make


class Outbox:
    """The messages written since it was opened."""

    def __init__(self):
        self.before = set(WebhookMessage.objects.values_list("pk", flat=True))

    def new(self) -> list[WebhookMessage]:
        return list(WebhookMessage.objects.exclude(pk__in=self.before).order_by("created_at", "webhook_type"))


def check_outbox(
    outbox: Outbox, endpoints: Endpoints, webhook_type: str, emitted: list[tuple[str, object]]
) -> list[WebhookMessage]:
    """`emitted`: every (type, object) the change must emit, in any order. Returns the messages of
    the type under test for the endpoint that listens to everything."""
    expected = Counter((kind, str(getattr(obj, "pk", obj))) for kind, obj in emitted)
    assert webhook_type in {kind for kind, _ in expected}
    messages = outbox.new()
    for endpoint in endpoints.of_organization():
        got = Counter((m.webhook_type, m.object_id) for m in messages if m.endpoint_id == endpoint.pk)
        wanted = Counter(
            {
                key: count
                for key, count in expected.items()
                if endpoint.event_types is None or key[0] in endpoint.event_types
            }
        )
        assert got == wanted, endpoint.webhook_url
    # The endpoint that filtered the type out got none of it; the other organization's got nothing.
    assert not [m for m in messages if m.endpoint_id == endpoints.all_but_this.pk and m.webhook_type == webhook_type]
    assert not [m for m in messages if m.endpoint_id == endpoints.foreign.pk]
    assert all(m.organization_id == endpoints.everything.organization_id for m in messages)
    for m in messages:
        assert (m.status, m.attempts, m.body) == ("pending", 0, None)  # rendered at the first attempt
        assert m.webhook_url == WebhookEndpoint.objects.get(pk=m.endpoint_id).webhook_url
        assert m.object_type == m.webhook_type.split(".")[0]
    return [m for m in messages if m.endpoint_id == endpoints.everything.pk and m.webhook_type == webhook_type]


def body_of(message: WebhookMessage) -> dict:
    """The rendered body, checked for Lago's envelope; returns the object under its root key."""
    body = json.loads(render(message))
    assert set(body) == {"webhook_type", "object_type", "organization_id", message.object_type}
    assert body["webhook_type"] == message.webhook_type
    assert body["object_type"] == message.object_type
    assert body["organization_id"] == str(message.organization_id)
    assert body[message.object_type]["lago_id"] == message.object_id
    return body[message.object_type]


def api_object(api, path: str, root: str, **params) -> dict:
    answer = api.get(path, **params)
    assert answer.status_code == 200, answer.content
    return answer.json()[root]


# Shared set-ups -------------------------------------------------------------------------------


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


@pytest.fixture
def finalized_invoice(subscription):
    """January billed by the clock's service, no grace period: finalized at once."""
    invoice = bill_due_period(subscription_id=subscription.pk, period_start=JAN_1, at=FEB_1)
    assert invoice.status == InvoiceStatus.FINALIZED and invoice.total_amount_cents == 10000
    return invoice


def invoice_api(api, invoice) -> dict:
    return api_object(api, f"/api/v1/invoices/{invoice.pk}", "invoice")


def wallet_with(customer, granted="0", paid="0"):
    return create_wallet(
        customer=customer,
        rate_amount=Decimal("1"),
        top_up=TopUp(granted_credits=Decimal(granted), paid_credits=Decimal(paid)),
    )


# Customers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["api upsert", "staff create"])
def test_customer_created(path, organization, endpoints_for, api):
    """The API's upsert writes its messages inside its one statement (`outbox_cte`); the staff
    form's `create_customer` through `emit`. Both the same messages."""
    endpoints = endpoints_for("customer.created")
    outbox = Outbox()
    data = {"external_id": "cust_new", "name": "New Co", "email": "new@example.test", "currency": "EUR"}
    if path == "api upsert":
        customer, created = upsert_customer(organization=organization, data=data)
        assert created
    else:
        customer = create_customer(organization=organization, data=data)

    [message] = check_outbox(outbox, endpoints, "customer.created", [("customer.created", customer)])
    assert body_of(message) == api_object(api, "/api/v1/customers/cust_new", "customer")


@pytest.mark.parametrize("path", ["api upsert", "staff/api update"])
def test_customer_updated(path, organization, endpoints_for, api):
    customer = create_customer(organization=organization, data={"external_id": "cust_up", "name": "Old"})
    endpoints = endpoints_for("customer.updated")
    outbox = Outbox()
    data = {"external_id": "cust_up", "name": "Renamed", "metadata": [{"key": "k", "value": "v"}]}
    if path == "api upsert":
        _, created = upsert_customer(organization=organization, data=data)
        assert not created
    else:
        update_customer(customer=customer, data=data)

    [message] = check_outbox(outbox, endpoints, "customer.updated", [("customer.updated", customer)])
    shown = api_object(api, "/api/v1/customers/cust_up", "customer")
    assert shown["name"] == "Renamed" and [m["key"] for m in shown["metadata"]] == ["k"]
    assert body_of(message) == shown


def test_an_update_that_changes_nothing(organization, endpoints_for):
    """`update_customer` (PUT and the staff form) writes no message when nothing changed. The
    upsert (POST /customers on an existing id) sends `customer.updated` whatever it received, as
    Lago's `Customers::UpsertFromApiService` does."""
    customer = create_customer(organization=organization, data={"external_id": "cust_same", "name": "Same"})
    endpoints = endpoints_for("customer.updated")
    outbox = Outbox()
    update_customer(customer=customer, data={"name": "Same"})
    assert outbox.new() == []
    upsert_customer(organization=organization, data={"external_id": "cust_same", "name": "Same"})
    check_outbox(outbox, endpoints, "customer.updated", [("customer.updated", customer)])


def test_customer_deleted(customer, endpoints_for, api):
    """Ours (Lago sends none). The body describes the customer as the DELETE answer does: as it
    was, deleted (the API's GET then answers 404). The cascade (terminations, invoices, wallet)
    runs in its own task later and sends its own messages."""
    before = api_object(api, "/api/v1/customers/cust_1", "customer")
    endpoints = endpoints_for("customer.deleted")
    outbox = Outbox()
    answer = api.delete("/api/v1/customers/cust_1")  # invoicing.customer_deletion.delete_customer
    assert answer.status_code == 200

    [message] = check_outbox(outbox, endpoints, "customer.deleted", [("customer.deleted", customer)])
    body = body_of(message)
    assert body == answer.json()["customer"]
    # Against the GET before the deletion, only `updated_at` moved (the soft delete saves the row).
    assert {key for key in body if body[key] != before[key]} <= {"updated_at"}
    assert api.get("/api/v1/customers/cust_1").status_code == 404


# Subscriptions ----------------------------------------------------------------------------------


def subscription_api(api, external_id: str, status: str) -> dict:
    """The API's subscription object, its plan included, as the webhook body carries it."""
    return api_object(api, f"/api/v1/subscriptions/{external_id}", "subscription", status=status)


@pytest.mark.parametrize("path", ["created starting now", "pending activated by the clock"])
def test_subscription_started(path, organization, customer, plan, endpoints_for, api):
    if path == "created starting now":
        endpoints = endpoints_for("subscription.started")
        outbox = Outbox()
        subscription, created = create_subscription(
            organization=organization,
            data={"external_customer_id": "cust_1", "plan_code": "startup", "external_id": "sub_new"},
        )
        assert created
    else:
        soon = timezone.now() + timedelta(minutes=5)
        subscription, _ = create_subscription(
            organization=organization,
            data={
                "external_customer_id": "cust_1",
                "plan_code": "startup",
                "external_id": "sub_new",
                "subscription_at": soon,
            },
        )
        assert subscription.status == "pending"
        endpoints = endpoints_for("subscription.started")
        outbox = Outbox()
        assert activate_due_subscriptions(now=soon) == 1

    # In arrears: nothing billed at the start, so this is the only message.
    [message] = check_outbox(outbox, endpoints, "subscription.started", [("subscription.started", subscription)])
    assert body_of(message) == subscription_api(api, "sub_new", "active")


def test_subscription_terminated(subscription, endpoints_for, api):
    """An active subscription ends (DELETE /subscriptions/:id): terminated, and its termination
    invoice finalized at once (no grace period)."""
    endpoints = endpoints_for("subscription.terminated")
    outbox = Outbox()
    terminate_subscription(subscription=subscription)
    [invoice] = Invoice.objects.filter(customer=subscription.customer)
    [message] = check_outbox(
        outbox,
        endpoints,
        "subscription.terminated",
        [("subscription.terminated", subscription), ("invoice.created", invoice)],
    )
    body = body_of(message)
    assert body["status"] == "terminated"
    assert body == subscription_api(api, "sub_1", "terminated")


def test_subscription_canceled(organization, customer, plan, endpoints_for, api):
    """A pending subscription ended before its start is canceled; nothing is billed."""
    subscription, _ = create_subscription(
        organization=organization,
        data={
            "external_customer_id": "cust_1",
            "plan_code": "startup",
            "external_id": "sub_later",
            "subscription_at": timezone.now() + timedelta(days=10),
        },
    )
    endpoints = endpoints_for("subscription.canceled")
    outbox = Outbox()
    terminate_subscription(subscription=subscription)
    [message] = check_outbox(outbox, endpoints, "subscription.canceled", [("subscription.canceled", subscription)])
    body = body_of(message)
    assert body["status"] == "canceled"
    assert body == subscription_api(api, "sub_later", "canceled")


def test_subscription_bodies_carry_the_plan_as_the_api_does(organization, customer, plan, endpoints_for, api):
    endpoints = endpoints_for("subscription.started")
    outbox = Outbox()
    subscription, _ = create_subscription(
        organization=organization,
        data={"external_customer_id": "cust_1", "plan_code": "startup", "external_id": "sub_new"},
    )
    [message] = check_outbox(outbox, endpoints, "subscription.started", [("subscription.started", subscription)])
    assert body_of(message) == api_object(api, "/api/v1/subscriptions/sub_new", "subscription")


# Invoices -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["billed with no grace period", "draft finalized"])
def test_invoice_created(path, subscription, customer, endpoints_for, api):
    if path == "billed with no grace period":
        endpoints = endpoints_for("invoice.created")
        outbox = Outbox()
        invoice = bill_due_period(subscription_id=subscription.pk, period_start=JAN_1, at=FEB_1)
    else:
        customer.invoice_grace_period = 3
        customer.save()
        invoice = bill_due_period(subscription_id=subscription.pk, period_start=JAN_1, at=FEB_1)
        assert invoice.status == InvoiceStatus.DRAFT
        endpoints = endpoints_for("invoice.created")
        outbox = Outbox()
        invoice = finalize_draft(invoice=invoice, at=FEB_1 + timedelta(days=3))  # PUT /invoices/:id/finalize

    assert invoice.status == InvoiceStatus.FINALIZED
    [message] = check_outbox(outbox, endpoints, "invoice.created", [("invoice.created", invoice)])
    body = body_of(message)
    assert body["invoice_type"] == "subscription" and body["status"] == "finalized"
    assert body == invoice_api(api, invoice)


def test_invoice_drafted(subscription, customer, endpoints_for, api):
    customer.invoice_grace_period = 3
    customer.save()
    endpoints = endpoints_for("invoice.drafted")
    outbox = Outbox()
    invoice = bill_due_period(subscription_id=subscription.pk, period_start=JAN_1, at=FEB_1)
    [message] = check_outbox(outbox, endpoints, "invoice.drafted", [("invoice.drafted", invoice)])
    body = body_of(message)
    assert body["status"] == "draft"
    assert body == invoice_api(api, invoice)


def test_invoice_one_off_created(organization, customer, endpoints_for, api):
    create_add_on(
        organization=organization,
        data={"code": "setup", "name": "Setup", "amount_cents": 5000, "amount_currency": "EUR"},
    )
    endpoints = endpoints_for("invoice.one_off_created")
    outbox = Outbox()
    invoice = create_one_off_invoice(customer=customer, fees=[{"add_on_code": "setup", "units": Decimal(2)}])
    [message] = check_outbox(outbox, endpoints, "invoice.one_off_created", [("invoice.one_off_created", invoice)])
    body = body_of(message)
    assert (body["invoice_type"], body["status"], body["total_amount_cents"]) == ("one_off", "finalized", 10000)
    assert body == invoice_api(api, invoice)


def test_invoice_paid_credit_added(customer, endpoints_for, api):
    """Paid credits are sold on a credit invoice, finalized at once; its purchase waits for payment."""
    endpoints = endpoints_for("invoice.paid_credit_added")
    outbox = Outbox()
    wallet = wallet_with(customer, paid="25")
    [purchase] = wallet.transactions.all()
    invoice_id = purchase.invoice_id
    [message] = check_outbox(
        outbox,
        endpoints,
        "invoice.paid_credit_added",
        [
            ("wallet.created", wallet),
            ("wallet_transaction.created", purchase),
            ("invoice.paid_credit_added", invoice_id),
        ],
    )
    body = body_of(message)
    assert (body["invoice_type"], body["status"], body["total_amount_cents"]) == ("credit", "finalized", 2500)
    assert body == api_object(api, f"/api/v1/invoices/{invoice_id}", "invoice")


def test_invoice_voided(finalized_invoice, endpoints_for, api):
    endpoints = endpoints_for("invoice.voided")
    outbox = Outbox()
    void_invoice(invoice=finalized_invoice)
    [message] = check_outbox(outbox, endpoints, "invoice.voided", [("invoice.voided", finalized_invoice)])
    body = body_of(message)
    assert body["status"] == "voided"
    assert body == invoice_api(api, finalized_invoice)


def test_invoice_payment_status_updated(finalized_invoice, endpoints_for, api):
    endpoints = endpoints_for("invoice.payment_status_updated")
    outbox = Outbox()
    update_invoice(invoice=finalized_invoice, payment_status="succeeded")
    update_invoice(invoice=finalized_invoice, payment_status="succeeded")  # no change: no message
    [message] = check_outbox(
        outbox, endpoints, "invoice.payment_status_updated", [("invoice.payment_status_updated", finalized_invoice)]
    )
    body = body_of(message)
    assert body["payment_status"] == "succeeded"
    assert body == invoice_api(api, finalized_invoice)


# Credit notes -----------------------------------------------------------------------------------


def test_credit_note_created(finalized_invoice, endpoints_for, api):
    [fee] = finalized_invoice.fees.filter(fee_type="subscription")
    endpoints = endpoints_for("credit_note.created")
    outbox = Outbox()
    note = create_credit_note(
        invoice=finalized_invoice,
        reason="other",
        items=[{"fee_id": str(fee.pk), "amount_cents": 3000}],
        credit_amount_cents=3000,
    )
    [message] = check_outbox(outbox, endpoints, "credit_note.created", [("credit_note.created", note)])
    body = body_of(message)
    assert body["credit_amount_cents"] == 3000 and len(body["items"]) == 1
    assert body == api_object(api, f"/api/v1/credit_notes/{note.pk}", "credit_note")


def test_a_termination_credit_note_is_announced_too(organization, customer, endpoints_for, api):
    """A plan paid in advance ended mid-period: the unused part comes back as a credit note (written
    by `write_credit_note`, as any), before the termination invoice that uses it."""
    PlanFactory(organization=organization, code="advance", amount_cents=3100, pay_in_advance=True)
    start = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    subscription, _ = create_subscription(
        organization=organization,
        data={
            "external_customer_id": "cust_1",
            "plan_code": "advance",
            "external_id": "sub_adv",
            "subscription_at": start,
        },
    )
    endpoints = endpoints_for("credit_note.created")
    outbox = Outbox()
    terminate_subscription(subscription=subscription)
    [note] = CreditNote.objects.filter(customer=customer)
    [termination] = Invoice.objects.filter(
        customer=customer, invoice_subscriptions__invoicing_reason="subscription_terminating"
    )
    [message] = check_outbox(
        outbox,
        endpoints,
        "credit_note.created",
        [
            ("subscription.terminated", subscription),
            ("credit_note.created", note),
            ("invoice.created", termination),
        ],
    )
    body = body_of(message)
    assert body["reason"] == "order_cancellation" and body["items"][0]["fee"]["item"]["code"] == "advance"
    assert body == api_object(api, f"/api/v1/credit_notes/{note.pk}", "credit_note")


# Wallets ------------------------------------------------------------------------------------------


def wallet_api(api, wallet) -> dict:
    return api_object(api, f"/api/v1/wallets/{wallet.pk}", "wallet")


def transaction_api(api, record) -> dict:
    return api_object(api, f"/api/v1/wallet_transactions/{record.pk}", "wallet_transaction")


def test_wallet_created(customer, endpoints_for, api):
    """Its first credits come in the same transaction (ours): one `wallet_transaction.created`."""
    endpoints = endpoints_for("wallet.created")
    outbox = Outbox()
    wallet = wallet_with(customer, granted="10")
    [grant] = wallet.transactions.all()
    [message] = check_outbox(
        outbox,
        endpoints,
        "wallet.created",
        [("wallet.created", wallet), ("wallet_transaction.created", grant)],
    )
    body = body_of(message)
    assert body["credits_balance"] == "10.0" and body["status"] == "active"
    assert body == wallet_api(api, wallet)


def test_wallet_updated(customer, endpoints_for, api):
    wallet = wallet_with(customer, granted="10")
    endpoints = endpoints_for("wallet.updated")
    outbox = Outbox()
    update_wallet(wallet=wallet, data={"name": "Prepaid", "expiration_at": timezone.now() + timedelta(days=30)})
    [message] = check_outbox(outbox, endpoints, "wallet.updated", [("wallet.updated", wallet)])
    body = body_of(message)
    assert body["name"] == "Prepaid"
    assert body == wallet_api(api, wallet)


def test_wallet_terminated(customer, endpoints_for, api):
    """What is left is voided through an outbound transaction (ours), announced before the wallet."""
    wallet = wallet_with(customer, granted="10")
    endpoints = endpoints_for("wallet.terminated")
    outbox = Outbox()
    terminate_wallet(wallet=wallet)
    voiding = wallet.transactions.get(transaction_status="voided")
    [message] = check_outbox(
        outbox,
        endpoints,
        "wallet.terminated",
        [("wallet_transaction.created", voiding), ("wallet.terminated", wallet)],
    )
    body = body_of(message)
    assert (body["status"], body["credits_balance"]) == ("terminated", "0.0")
    assert body == wallet_api(api, wallet)


@pytest.mark.parametrize("kind", ["granted", "voided", "invoiced"])
def test_wallet_transaction_created(kind, customer, subscription, endpoints_for, api):
    """Credits granted or voided by a top-up (POST /wallet_transactions), and credits spent by a
    finalized invoice (the wallet pays what is left)."""
    wallet = wallet_with(customer, granted="10")
    endpoints = endpoints_for("wallet_transaction.created")
    outbox = Outbox()
    if kind == "invoiced":
        invoice = bill_due_period(subscription_id=subscription.pk, period_start=JAN_1, at=FEB_1)
        [record] = wallet.transactions.filter(transaction_status="invoiced")
        emitted = [("wallet_transaction.created", record), ("invoice.created", invoice)]
    else:
        [record] = top_up_wallet(wallet=wallet, top_up=TopUp(**{f"{kind}_credits": Decimal("4")}))
        emitted = [("wallet_transaction.created", record)]
    [message] = check_outbox(outbox, endpoints, "wallet_transaction.created", emitted)
    body = body_of(message)
    assert body["transaction_status"] == kind
    assert body == transaction_api(api, record)


@pytest.mark.parametrize("payment_status", ["succeeded", "failed"])
def test_wallet_transaction_updated(payment_status, customer, endpoints_for, api):
    """The credit invoice's payment settles (or fails) its pending purchase (PUT /invoices/:id)."""
    wallet = wallet_with(customer, paid="25")
    [purchase] = wallet.transactions.all()
    invoice = Invoice.objects.get(pk=purchase.invoice_id)
    endpoints = endpoints_for("wallet_transaction.updated")
    outbox = Outbox()
    update_invoice(invoice=invoice, payment_status=payment_status)
    [message] = check_outbox(
        outbox,
        endpoints,
        "wallet_transaction.updated",
        [("wallet_transaction.updated", purchase), ("invoice.payment_status_updated", invoice)],
    )
    body = body_of(message)
    assert body["status"] == ("settled" if payment_status == "succeeded" else "failed")
    assert body == transaction_api(api, purchase)


# events.errors ------------------------------------------------------------------------------------


def test_no_path_produces_events_errors(organization, subscription):
    """`events.errors` is not among our types, on purpose: Lago sends it for events it stored and
    found invalid later. We refuse an event we cannot count while its sender still waits
    (reference §"Where we deliberately differ", 3 and 6), and a batch is all or nothing
    (`events.services.ingest_events`: any error refuses the whole call, a duplicate aborts the one
    INSERT), so no batch is ever accepted partly and nothing is left to report afterwards."""
    assert "events.errors" not in WEBHOOK_TYPES
    now = timezone.now()
    good = {
        "transaction_id": "t1",
        "external_subscription_id": "sub_1",
        "code": "api_calls",
        "timestamp": str(now.timestamp()),
    }
    unknown = {**good, "transaction_id": "t2", "code": "no_such_metric"}
    with pytest.raises(ValidationFailed) as refused:
        ingest_events(organization=organization, raw_events=[good, unknown], batch=True)
    assert refused.value.details == {"1": {"code": ["billable_metric_not_found"]}}
    assert not Event.objects.exists()  # the good one was not kept either
    ingest_events(organization=organization, raw_events=[good], batch=True)
    with pytest.raises(ValidationFailed):  # a repeat inside a batch refuses the batch
        ingest_events(organization=organization, raw_events=[{**good, "transaction_id": "t3"}, good], batch=True)
    assert list(Event.objects.values_list("transaction_id", flat=True)) == ["t1"]
    assert not WebhookMessage.objects.exists()


# Transactions: the outbox and the delivery tasks ------------------------------------------------


@pytest.mark.parametrize("path", ["emit", "outbox_cte"])
def test_a_rolled_back_change_writes_no_message_and_sends_nothing(
    path, organization, endpoints_for, sent, django_capture_on_commit_callbacks
):
    endpoints_for("customer.created")
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                if path == "emit":
                    create_customer(organization=organization, data={"external_id": "gone"})
                else:
                    upsert_customer(organization=organization, data={"external_id": "gone"})
                assert WebhookMessage.objects.count() == 2  # written, in the transaction...
                raise RuntimeError("the caller failed after the change")
    assert not WebhookMessage.objects.exists()  # ...and gone with it
    assert sent == []


def tasks_by_endpoint() -> list[tuple[str, ...]]:
    """The delivery tasks a commit should send: one per endpoint, naming its messages."""
    by_endpoint: dict[str, list[str]] = {}
    for message_id, endpoint_id in WebhookMessage.objects.order_by("created_at", "id").values_list("pk", "endpoint_id"):
        by_endpoint.setdefault(str(endpoint_id), []).append(str(message_id))
    return sorted(tuple(sorted(ids)) for ids in by_endpoint.values())


def sent_tasks(sent) -> list[tuple[str, ...]]:
    return sorted(tuple(sorted(ids)) for ids in sent)


@pytest.mark.parametrize("path", ["emit", "outbox_cte"])
def test_a_committed_change_sends_one_task_per_endpoint_after_commit(
    path, organization, customer, endpoints_for, sent, django_capture_on_commit_callbacks
):
    """A transaction's messages leave together once it commits: one task per endpoint (a slow one
    holds up only its own), carrying every message the transaction wrote for it."""
    endpoints_for("wallet.created")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            if path == "emit":
                # wallet.created + wallet_transaction.created, to the three endpoints that listen
                wallet_with(customer, granted="10")
            else:
                upsert_customer(organization=organization, data={"external_id": "cust_1", "name": "Renamed"})
            assert sent == []  # nothing leaves before the commit
    assert WebhookMessage.objects.count() == (4 if path == "emit" else 2)
    assert len(callbacks) == 1  # one callback for the transaction, whatever its messages
    expected = tasks_by_endpoint()
    assert len(expected) == (3 if path == "emit" else 2)
    if path == "emit":  # the endpoint that takes every type gets both messages in one task
        assert sorted(len(ids) for ids in expected) == [1, 1, 2]
    assert sent_tasks(sent) == expected


def test_each_transaction_sends_its_own_messages(
    organization, customer, endpoints_for, sent, django_capture_on_commit_callbacks
):
    endpoints_for("customer.updated")
    for name in ("First", "Second"):
        with django_capture_on_commit_callbacks(execute=True):
            with transaction.atomic():
                update_customer(customer=customer, data={"name": name})
        assert len(sent) == 2
        assert sent_tasks(sent) == tasks_by_endpoint()  # the second commit sends its own, not the first's again
        sent.clear()
        WebhookMessage.objects.all().delete()


def test_a_rolled_back_savepoint_drops_its_batch_and_the_transaction_still_sends_the_rest(
    organization, customer, endpoints_for, sent, django_capture_on_commit_callbacks
):
    endpoints_for("customer.updated")
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            with pytest.raises(RuntimeError), transaction.atomic():
                update_customer(customer=customer, data={"name": "Undone"})
                raise RuntimeError("the savepoint fails")
            assert not WebhookMessage.objects.exists()
            update_customer(customer=customer, data={"name": "Kept"})
    assert WebhookMessage.objects.count() == 2
    assert sent_tasks(sent) == tasks_by_endpoint()


def test_many_messages_to_one_endpoint_are_split_into_tasks_of_a_bounded_size(
    organization, endpoints_for, sent, django_capture_on_commit_callbacks
):
    endpoints = endpoints_for("customer.created")
    WebhookEndpoint.objects.exclude(pk=endpoints.only_this.pk).delete()
    count = MESSAGES_PER_TASK + 3
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            for number in range(count):
                create_customer(organization=organization, data={"external_id": f"bulk_{number}"})
    assert sorted(len(ids) for ids in sent) == [3, MESSAGES_PER_TASK]
    [all_ids] = tasks_by_endpoint()
    assert sorted(message_id for ids in sent for message_id in ids) == list(all_ids)


@pytest.mark.django_db(transaction=True)
def test_a_change_committed_on_its_own_sends_at_once(organization, customer, endpoints_for, sent):
    endpoints_for("customer.updated")
    update_customer(customer=customer, data={"name": "Autocommitted"})
    assert WebhookMessage.objects.count() == 2
    assert sent_tasks(sent) == tasks_by_endpoint()
