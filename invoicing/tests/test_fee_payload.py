"""The fee object has one writer (`invoicing.invoices_api.fee_payload`): an invoice and a credit note
show the same fee alike, its `item` names what it bills for as Lago does, and its precise amount
follows the currency's minor unit."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.tests.factories import CustomerFactory
from events.services import ingest_events
from invoicing import services
from invoicing.invoices_api import FeeItemOutput, FeeOutput, fee_payload
from plans.subscription_periods import period_of
from plans.tests.factories import BillableMetricFactory, ChargeFactory, PlanFactory, SubscriptionFactory

START = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 2, 1, 6, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=True):
        yield


def bill(organization, *, currency="EUR", amount_cents=10000, plan_display=None, charge_display=None, units=3):
    """A finalized January invoice: the plan's base fee and one charge of 1 per unit."""
    customer = CustomerFactory(organization=organization, currency=currency, invoice_grace_period=0)
    plan = PlanFactory(
        organization=organization,
        name="Startup",
        description="For small teams",
        invoice_display_name=plan_display,
        amount_cents=amount_cents,
        amount_currency=currency,
    )
    metric = BillableMetricFactory(organization=organization, name="API calls", description="Calls to the API")
    charge = ChargeFactory(plan=plan, billable_metric=metric, invoice_display_name=charge_display)
    subscription = SubscriptionFactory(customer=customer, plan=plan, subscription_at=START, started_at=START)
    ingest_events(
        organization=organization,
        raw_events=[
            {
                "transaction_id": f"tr_{subscription.external_id}",
                "external_subscription_id": subscription.external_id,
                "code": metric.code,
                "timestamp": str(datetime(2026, 1, 10, tzinfo=UTC).timestamp()),
                "properties": {"units": units},
            }
        ],
        batch=True,
    )
    invoice = services.bill_subscription(
        subscription=subscription,
        reason="subscription_periodic",
        period=period_of(subscription, datetime(2026, 1, 15, tzinfo=UTC)),
        at=NOW,
    )
    assert invoice.status == "finalized"
    return invoice, subscription, charge


def fees_by_type(fees: list[dict]) -> dict[str, dict]:
    by_type = {fee["item"]["type"]: fee for fee in fees}
    assert set(by_type) == {"subscription", "charge"}
    return by_type


def assert_item_names_the_plan(item: dict, subscription, expected_display: str) -> None:
    plan = subscription.plan
    assert item == {
        "type": "subscription",
        "code": plan.code,
        "name": "Startup",
        "description": "For small teams",
        "invoice_display_name": expected_display,
        "lago_item_id": str(subscription.pk),
        "item_type": "Subscription",
        "filters": None,
        "filter_invoice_display_name": None,
        "grouped_by": {},
    }


def assert_item_names_the_metric(item: dict, charge, expected_display: str) -> None:
    metric = charge.billable_metric
    assert item == {
        "type": "charge",
        "code": metric.code,
        "name": "API calls",
        "description": "Calls to the API",
        "invoice_display_name": expected_display,
        "lago_item_id": str(metric.pk),
        "item_type": "BillableMetric",
        "filters": None,
        "filter_invoice_display_name": None,
        "grouped_by": {},
    }


def test_an_invoices_fee_items_name_the_plan_and_the_metric(api, organization):
    invoice, subscription, charge = bill(organization, plan_display="Startup plan", charge_display="Calls")
    response = api.get(f"/api/v1/invoices/{invoice.pk}")
    assert response.status_code == 200, response.content
    fees = fees_by_type(response.json()["invoice"]["fees"])
    # A subscription fee names the plan (never the subscription's external id), a charge fee its metric.
    assert_item_names_the_plan(fees["subscription"]["item"], subscription, "Startup plan")
    assert_item_names_the_metric(fees["charge"]["item"], charge, "Calls")
    assert fees["subscription"]["external_subscription_id"] == subscription.external_id


def test_display_names_fall_back_to_the_plan_and_metric_names(api, organization):
    invoice, subscription, charge = bill(organization)
    fees = fees_by_type(api.get(f"/api/v1/invoices/{invoice.pk}").json()["invoice"]["fees"])
    assert_item_names_the_plan(fees["subscription"]["item"], subscription, "Startup")
    assert_item_names_the_metric(fees["charge"]["item"], charge, "API calls")


def test_a_credit_note_shows_its_fees_as_the_invoice_does(api, organization):
    invoice, subscription, charge = bill(organization, plan_display="Startup plan")
    invoice_fees = {fee["lago_id"]: fee for fee in api.get(f"/api/v1/invoices/{invoice.pk}").json()["invoice"]["fees"]}
    items = [{"fee_id": fee_id, "amount_cents": 100} for fee_id in invoice_fees]
    created = api.post(
        "/api/v1/credit_notes",
        {"credit_note": {"invoice_id": str(invoice.pk), "reason": "other", "credit_amount_cents": 200, "items": items}},
    )
    assert created.status_code == 200, created.content
    note_id = created.json()["credit_note"]["lago_id"]
    for response in (created, api.get(f"/api/v1/credit_notes/{note_id}")):
        shown = [item["fee"] for item in response.json()["credit_note"]["items"]]
        # The full fee object, the same one the invoice shows.
        assert shown == [invoice_fees[fee["lago_id"]] for fee in shown]
        fees = fees_by_type(shown)
        assert_item_names_the_plan(fees["subscription"]["item"], subscription, "Startup plan")
        assert_item_names_the_metric(fees["charge"]["item"], charge, "API calls")


def test_listing_credit_notes_costs_a_fixed_number_of_queries(api, organization):
    def credit_every_fee(invoice):
        items = [{"fee_id": str(fee.pk), "amount_cents": 1} for fee in invoice.fees.all()]
        body = {"invoice_id": str(invoice.pk), "reason": "other", "credit_amount_cents": len(items), "items": items}
        assert api.post("/api/v1/credit_notes", {"credit_note": body}).status_code == 200

    credit_every_fee(bill(organization)[0])
    with CaptureQueriesContext(connection) as one:
        assert len(api.get("/api/v1/credit_notes").json()["credit_notes"]) == 1
    for _ in range(3):
        credit_every_fee(bill(organization)[0])
    with CaptureQueriesContext(connection) as four:
        assert len(api.get("/api/v1/credit_notes").json()["credit_notes"]) == 4
    assert len(four.captured_queries) == len(one.captured_queries)


@pytest.mark.parametrize(
    ("currency", "amount_cents", "precise"),
    [("EUR", 1050, "10.5"), ("JPY", 1050, "1050.0"), ("KWD", 1050, "1.05")],
)
def test_the_precise_amount_follows_the_currencys_minor_unit(api, organization, currency, amount_cents, precise):
    invoice, _, _ = bill(organization, currency=currency, amount_cents=amount_cents)
    fees = fees_by_type(api.get(f"/api/v1/invoices/{invoice.pk}").json()["invoice"]["fees"])
    subscription_fee = fees["subscription"]
    assert (subscription_fee["amount_cents"], subscription_fee["amount_currency"]) == (amount_cents, currency)
    assert subscription_fee["precise_amount"] == precise


def test_the_fee_writer_writes_what_the_schema_documents(organization):
    invoice, _, _ = bill(organization)
    for fee in invoice.fees.select_related("subscription__plan", "charge__billable_metric"):
        payload = fee_payload(fee, invoice=invoice, customer=invoice.customer)
        # Same keys, in the same order, as the serializers the schema is generated from.
        assert list(payload) == list(FeeOutput().fields)
        assert list(payload["item"]) == list(FeeItemOutput().fields)
