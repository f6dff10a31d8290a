"""Deleting a customer through the API (issue 12), as a Lago client sees it: the preview before the
click (ours), the deletion, every `/customers/{external_id}/…` path afterwards, and what stays
readable of the deleted customer (API-SCOPE, "After a customer is deleted") — on a customer that has
everything. No worker runs here: the cascade is run by calling `run_customer_deletion`, as the
worker's task does (its own tests run a real worker against Redis).
"""

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import quote

import pytest
import time_machine
from django.db import connection
from django.test import Client

from billing.jobs import task_named
from conftest import ApiCaller
from coupons.models import AppliedCoupon
from coupons.services import apply_coupon, create_coupon
from customers.models import Customer, LiveCustomerCount
from customers.services import create_customer
from customers.tests.factories import CustomerFactory, CustomerMetadataFactory
from events.models import Event
from events.tests.factories import send_events
from invoicing import customer_deletion
from invoicing.customer_deletion import delete_customer, run_customer_deletion
from invoicing.customer_deletion_api import (
    AppliedCouponPreviewOutput,
    DeletionPreviewOutput,
    DraftInvoiceOutput,
    SubscriptionOutcomeOutput,
    WalletPreviewOutput,
)
from invoicing.lifecycle import update_invoice
from invoicing.models import CreditNote, CustomerDeletion, Invoice, InvoiceSubscription
from invoicing.prepaid_credits import TopUp, create_wallet
from invoicing.services import bill_subscription
from invoicing.subscriptions import create_subscription
from invoicing.tests.factories import FeeFactory, InvoiceFactory
from plans.models import Subscription
from plans.subscription_periods import period_of
from plans.tests.factories import BillableMetricFactory, ChargeFactory, PlanFactory
from wallets.models import Wallet

FEB_1 = datetime(2026, 2, 1, tzinfo=UTC)
MAR_1 = datetime(2026, 3, 1, tzinfo=UTC)
MAR_2 = MAR_1 + timedelta(days=1)
MAR_15 = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)  # the moment of the deletion

V1 = "/api/v1"
CUSTOMERS = f"{V1}/customers"


def customer_path(external_id: str, suffix: str = "") -> str:
    return f"{CUSTOMERS}/{quote(external_id, safe='')}{suffix}"


def assert_not_found(response, code: str = "customer_not_found") -> None:
    assert response.status_code == 404, response.content
    assert response.json() == {"status": 404, "error": "Not Found", "code": code}


def errors_of(response) -> dict:
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "validation_errors"
    return response.json()["error_details"]


def ids(response, key: str) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["lago_id"] for item in response.json()[key]]


def coupon(organization, code: str, **terms):
    data = {"name": code.title(), "code": code, "expiration": "no_expiration", **terms}
    return create_coupon(organization=organization, data=data)


def credit_note_body(invoice_id: str, fee_id: str, *, credit: int = 0, refund: int = 0) -> dict:
    return {
        "credit_note": {
            "invoice_id": invoice_id,
            "reason": "other",
            "credit_amount_cents": credit,
            "refund_amount_cents": refund,
            "items": [{"fee_id": fee_id, "amount_cents": credit + refund}],
        }
    }


@pytest.fixture
def everything(organization, api):
    """A customer with everything the issue lists: an active subscription in arrears with usage, one
    paid in advance, a pending one, two applied coupons, a wallet with paid and granted credits, two
    draft invoices (its grace period is 3 days) and a finalized invoice with a credit note."""
    metric = BillableMetricFactory(
        organization=organization, code="calls", aggregation_type="count_agg", field_name=None
    )
    arrears = PlanFactory(organization=organization, code="arrears", amount_cents=10000, amount_currency="EUR")
    ChargeFactory(plan=arrears, billable_metric=metric, properties={"amount": "0.5"})
    PlanFactory(organization=organization, code="advance", amount_cents=3100, pay_in_advance=True)
    customer = CustomerFactory(
        organization=organization,
        external_id="cust_1",
        name="Acme Corp",
        email="billing@acme.test",
        legal_name="Acme Corporation SAS",
        timezone="UTC",
        currency="EUR",
        invoice_grace_period=3,
    )
    CustomerMetadataFactory(customer=customer, key="crm", value="42")
    subscribe = {"external_customer_id": "cust_1"}
    with time_machine.travel(FEB_1, tick=False):
        in_arrears, _ = create_subscription(
            organization=organization, data=subscribe | {"plan_code": "arrears", "external_id": "sub_arrears"}
        )
    with time_machine.travel(MAR_1, tick=False):
        # February closes in a draft (grace period); March is paid in advance in a draft too.
        bill_subscription(
            subscription=in_arrears, reason="subscription_periodic", period=period_of(in_arrears, FEB_1), at=MAR_1
        )
        create_subscription(
            organization=organization, data=subscribe | {"plan_code": "advance", "external_id": "sub_advance"}
        )
    with time_machine.travel(MAR_2, tick=False):
        create_subscription(
            organization=organization,
            data=subscribe
            | {
                "plan_code": "arrears",
                "external_id": "sub_pending",
                "subscription_at": datetime(2026, 4, 1, tzinfo=UTC),
            },
        )
        percentage = coupon(
            organization, "tenpercent", coupon_type="percentage", percentage_rate=10, frequency="forever"
        )
        fixed = coupon(
            organization,
            "welcome",
            coupon_type="fixed_amount",
            amount_cents=2000,
            amount_currency="EUR",
            frequency="once",
        )
        apply_coupon(customer=customer, coupon=percentage)
        apply_coupon(customer=customer, coupon=fixed)
        wallet = create_wallet(
            customer=customer,
            rate_amount=Decimal(1),
            top_up=TopUp(granted_credits=Decimal(50), paid_credits=Decimal(30)),
        )
        update_invoice(invoice=Invoice.objects.get(invoice_type="credit"), payment_status="succeeded")
        # An earlier invoice, finalized, with a credit note made through the API.
        earlier = InvoiceFactory(
            organization=organization,
            customer=customer,
            status="finalized",
            currency="EUR",
            issuing_date=date(2026, 1, 31),
            fees_amount_cents=5000,
            total_amount_cents=5000,
        )
        fee = FeeFactory(invoice=earlier, description="Onboarding", amount_cents=5000)
        note = api.post(f"{V1}/credit_notes", credit_note_body(str(earlier.pk), str(fee.pk), credit=1500))
        assert note.status_code == 200, note.content
    send_events(in_arrears, [("calls", MAR_1 + timedelta(hours=i + 1), {}) for i in range(40)])
    assert Invoice.objects.filter(customer=customer, status="draft").count() == 2
    return customer, wallet, earlier


def delete_and_run(api, customer):
    """DELETE through the API at MAR_15, then the cascade the task would run."""
    with time_machine.travel(MAR_15, tick=False):
        response = api.delete(customer_path(customer.external_id))
        run_customer_deletion(deletion_id=CustomerDeletion.objects.get(customer=customer).pk)
    return response


# Before the click: GET /customers/{external_id}/deletion_preview ---------------------------------


def test_the_preview_says_what_the_deletion_would_do_and_changes_nothing(api, everything):
    customer, wallet, _ = everything
    with time_machine.travel(MAR_15, tick=False):
        response = api.get(customer_path("cust_1", "/deletion_preview"))
    assert response.status_code == 200, response.content
    preview = response.json()["deletion_preview"]
    assert preview["lago_customer_id"] == str(customer.pk) and preview["external_customer_id"] == "cust_1"

    outcomes = {item["external_id"]: item for item in preview["subscriptions"]}
    assert {key: (item["status"], item["action"]) for key, item in outcomes.items()} == {
        "sub_arrears": ("active", "terminate"),
        "sub_advance": ("active", "terminate"),
        "sub_pending": ("pending", "cancel"),
    }
    assert outcomes["sub_arrears"]["plan_code"] == "arrears" and outcomes["sub_arrears"]["currency"] == "EUR"
    assert outcomes["sub_pending"]["estimated_invoice_amount_cents"] == 0
    assert outcomes["sub_pending"]["estimated_credit_note_amount_cents"] == 0
    assert outcomes["sub_arrears"]["estimated_credit_note_amount_cents"] == 0  # nothing paid in advance
    # 16 of March's 31 days of 31.00 (the 15th is used), before the coupons its draft will take.
    assert outcomes["sub_advance"]["estimated_credit_note_amount_cents"] == 1600

    drafts = Invoice.objects.filter(customer=customer, status="draft").order_by("created_at", "pk")
    assert preview["draft_invoices"] == [
        {
            "lago_id": str(draft.pk),
            "number": "ACME-DRAFT",
            "total_amount_cents": draft.total_amount_cents,
            "currency": "EUR",
        }
        for draft in drafts
    ]
    # Applied at the same instant: their order is the oldest first, then by id.
    assert sorted(item["coupon_code"] for item in preview["applied_coupons"]) == ["tenpercent", "welcome"]
    assert preview["wallet"] == {
        "lago_id": str(wallet.pk),
        "currency": "EUR",
        "credits_balance": "80.0",
        "balance_cents": 8000,
        "credits_voided_at_most": "80.0",
    }
    # It wrote nothing: the customer is live, nothing is terminated, no cascade is recorded.
    assert api.get(customer_path("cust_1")).status_code == 200
    assert not CustomerDeletion.objects.exists()
    assert customer.subscriptions.filter(status="active").count() == 2

    # The estimates are what the deletion then bills and credits.
    delete_and_run(api, customer)
    closing = InvoiceSubscription.objects.get(
        subscription__external_id="sub_arrears", invoicing_reason="subscription_terminating"
    ).invoice
    closing_api = api.get(f"{V1}/invoices/{closing.pk}").json()["invoice"]
    assert outcomes["sub_arrears"]["estimated_invoice_amount_cents"] == closing_api["fees_amount_cents"] > 2000
    # March's invoice was still a draft: finalized at the termination, it took coupons first, so the
    # estimate was an upper bound of the credit note.
    [note] = CreditNote.objects.filter(customer=customer, reason="order_cancellation")
    credited = api.get(f"{V1}/credit_notes/{note.pk}").json()["credit_note"]["total_amount_cents"]
    assert 0 < credited <= outcomes["sub_advance"]["estimated_credit_note_amount_cents"]


def test_the_preview_of_a_customer_with_nothing(api, organization):
    customer = CustomerFactory(organization=organization, external_id="acme/eu 42")
    response = api.get(customer_path("acme/eu 42", "/deletion_preview"))
    assert response.status_code == 200, response.content
    assert response.json() == {
        "deletion_preview": {
            "lago_customer_id": str(customer.pk),
            "external_customer_id": "acme/eu 42",
            "subscriptions": [],
            "draft_invoices": [],
            "applied_coupons": [],
            "wallet": None,
        }
    }


def test_the_preview_of_an_unknown_deleted_or_foreign_customer_is_404(api, other_api, organization):
    CustomerFactory(organization=organization, external_id="mine")
    assert_not_found(api.get(customer_path("nobody", "/deletion_preview")))
    assert_not_found(other_api.get(customer_path("mine", "/deletion_preview")))
    delete_customer(customer=Customer.objects.get(external_id="mine"))
    assert_not_found(api.get(customer_path("mine", "/deletion_preview")))


def test_the_preview_is_read_only_and_needs_a_key(api, organization):
    CustomerFactory(organization=organization, external_id="cust_1")
    for method in ("post", "put", "delete"):
        response = getattr(api, method)(customer_path("cust_1", "/deletion_preview"))
        assert response.status_code == 405, (method, response.content)
        assert response.json()["status"] == 405
    assert Customer.live.filter(external_id="cust_1").exists()
    anonymous = Client().get(customer_path("cust_1", "/deletion_preview"))
    assert anonymous.status_code == 401 and anonymous.json() == {"status": 401, "error": "Unauthorized"}


def test_the_preview_writer_matches_the_schema_it_publishes(api, everything, client):
    with time_machine.travel(MAR_15, tick=False):
        preview = api.get(customer_path("cust_1", "/deletion_preview")).json()["deletion_preview"]
    assert list(preview) == list(DeletionPreviewOutput().fields)
    assert list(preview["subscriptions"][0]) == list(SubscriptionOutcomeOutput().fields)
    assert list(preview["draft_invoices"][0]) == list(DraftInvoiceOutput().fields)
    assert list(preview["applied_coupons"][0]) == list(AppliedCouponPreviewOutput().fields)
    assert list(preview["wallet"]) == list(WalletPreviewOutput().fields)

    schema = client.get("/api/schema", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/customers/{external_id}/deletion_preview"]
    assert set(operation) - {"parameters"} == {"get"}
    assert operation["get"]["operationId"] == "get_customer_deletion_preview"
    assert "estimates" in operation["get"]["description"]
    assert set(operation["get"]["responses"]) == {"200", "401", "404", "429", "503"}


# The deletion and every customer path afterwards -----------------------------------------------


def test_delete_answers_the_customer_in_lagos_shape_then_every_customer_path_is_404(api, everything):
    customer, _, _ = everything
    applied_id = str(customer.applied_coupons.first().pk)
    before = api.get(customer_path("cust_1")).json()["customer"]
    with time_machine.travel(MAR_15, tick=False):
        deleted = api.delete(customer_path("cust_1"))
    assert deleted.status_code == 200, deleted.content
    body = deleted.json()["customer"]
    assert body == {**before, "updated_at": "2026-03-15T12:00:00Z"}  # the customer as it was
    assert "deleted_at" not in body  # as in Lago

    # From the moment of the deletion, before the cascade has run.
    assert_not_found(api.get(customer_path("cust_1")))
    assert_not_found(api.put(customer_path("cust_1"), {"customer": {"name": "Back"}}))
    assert_not_found(api.delete(customer_path("cust_1")))
    assert_not_found(api.get(customer_path("cust_1", "/current_usage"), external_subscription_id="sub_arrears"))
    assert_not_found(api.get(customer_path("cust_1", "/applied_coupons")))
    assert_not_found(api.delete(customer_path("cust_1", f"/applied_coupons/{applied_id}")))
    assert_not_found(api.get(customer_path("cust_1", "/deletion_preview")))
    assert "cust_1" not in [item["external_id"] for item in api.get(CUSTOMERS).json()["customers"]]
    assert customer.applied_coupons.get(pk=applied_id).status == "active"  # the DELETE above changed nothing
    assert CustomerDeletion.objects.filter(customer=customer).count() == 1  # deleting again recorded nothing


def test_applying_a_coupon_or_opening_a_wallet_is_refused_as_for_an_unknown_customer(api, organization):
    delete_customer(customer=CustomerFactory(organization=organization, external_id="gone", currency="EUR"))
    coupon(
        organization, "welcome", coupon_type="fixed_amount", amount_cents=500, amount_currency="EUR", frequency="once"
    )

    def apply(external_id):
        return api.post(
            f"{V1}/applied_coupons", {"applied_coupon": {"external_customer_id": external_id, "coupon_code": "welcome"}}
        )

    def open_wallet(external_id):
        body = {"external_customer_id": external_id, "rate_amount": "1", "currency": "EUR", "granted_credits": "10"}
        return api.post(f"{V1}/wallets", {"wallet": body})

    for deleted, unknown in ((apply("gone"), apply("never")), (open_wallet("gone"), open_wallet("never"))):
        assert (deleted.status_code, deleted.json()) == (unknown.status_code, unknown.json())
    assert_not_found(apply("gone"))
    assert errors_of(open_wallet("gone")) == {"customer": ["customer_not_found"]}
    assert not AppliedCoupon.objects.exists() and not Wallet.objects.exists()


def test_events_for_a_deleted_customers_subscription_are_refused_from_the_moment_of_the_deletion(api, everything):
    customer, _, _ = everything
    stored = Event.objects.count()
    with time_machine.travel(MAR_15, tick=False):
        api.delete(customer_path("cust_1"))
        event = {"transaction_id": "late_1", "external_subscription_id": "sub_arrears", "code": "calls"}
        response = api.post(f"{V1}/events", {"event": event})
        assert errors_of(response) == {"external_subscription_id": ["customer_is_deleted"]}
        batch = api.post(f"{V1}/events/batch", {"events": [{**event, "transaction_id": "late_2"}]})
        assert errors_of(batch) == {"0": {"external_subscription_id": ["customer_is_deleted"]}}
    assert Event.objects.count() == stored
    assert customer.subscriptions.filter(status="active").count() == 2  # the cascade has not run yet


# After the cascade: nothing lost ------------------------------------------------------------------


def test_the_deleted_customers_invoices_and_credit_notes_stay_as_they_were(api, everything):
    customer, _, earlier = everything
    before = api.get(customer_path("cust_1")).json()["customer"]
    delete_and_run(api, customer)

    invoices = Invoice.objects.filter(customer=customer)
    assert set(invoices.values_list("status", flat=True)) == {"finalized"}  # no draft left
    expected = {str(pk) for pk in invoices.values_list("pk", flat=True)}
    assert len(expected) == 6  # credit purchase, earlier, February, March in advance, and two terminations
    assert set(ids(api.get(f"{V1}/invoices"), "invoices")) == expected
    # No new customer has taken the id: the filter still finds them.
    assert set(ids(api.get(f"{V1}/invoices", external_customer_id="cust_1"), "invoices")) == expected
    for invoice in api.get(f"{V1}/invoices", external_customer_id="cust_1").json()["invoices"]:
        shown = invoice["customer"]
        assert shown["lago_id"] == str(customer.pk) and shown["external_id"] == "cust_1"
        assert {key: shown[key] for key in ("name", "email", "legal_name", "metadata")} == {
            key: before[key] for key in ("name", "email", "legal_name", "metadata")
        }
    single = api.get(f"{V1}/invoices/{earlier.pk}")
    assert single.status_code == 200 and single.json()["invoice"]["customer"]["name"] == "Acme Corp"

    notes = {str(pk) for pk in CreditNote.objects.filter(customer=customer).values_list("pk", flat=True)}
    assert len(notes) == 2  # the earlier one and the termination's (the unused part paid in advance)
    assert set(ids(api.get(f"{V1}/credit_notes"), "credit_notes")) == notes
    assert set(ids(api.get(f"{V1}/credit_notes", external_customer_id="cust_1"), "credit_notes")) == notes
    for note_id in notes:
        note = api.get(f"{V1}/credit_notes/{note_id}").json()["credit_note"]
        assert note["customer"]["lago_id"] == str(customer.pk) and note["customer"]["name"] == "Acme Corp"


def test_the_filter_finds_every_deleted_holder_of_the_id_until_a_live_customer_takes_it(api, organization):
    """Deleted, re-created, deleted again: while nobody holds the id, the filter finds what both left."""
    invoices = []
    for _ in range(2):
        customer = CustomerFactory(organization=organization, external_id="twice")
        invoices.append(str(InvoiceFactory(organization=organization, customer=customer, status="finalized").pk))
        delete_customer(customer=customer)
    assert sorted(ids(api.get(f"{V1}/invoices", external_customer_id="twice"), "invoices")) == sorted(invoices)
    assert ids(api.get(f"{V1}/invoices", external_customer_id="nobody"), "invoices") == []
    CustomerFactory(organization=organization, external_id="twice")
    assert ids(api.get(f"{V1}/invoices", external_customer_id="twice"), "invoices") == []


def test_new_credit_notes_and_refunds_can_be_made_on_a_deleted_customers_invoice(api, everything):
    customer, _, earlier = everything
    delete_and_run(api, customer)
    fee_id = str(earlier.fees.get().pk)
    credited = api.post(f"{V1}/credit_notes", credit_note_body(str(earlier.pk), fee_id, credit=500))
    assert credited.status_code == 200, credited.content
    assert credited.json()["credit_note"]["customer"]["lago_id"] == str(customer.pk)

    paid = api.put(f"{V1}/invoices/{earlier.pk}", {"invoice": {"payment_status": "succeeded"}})
    assert paid.status_code == 200 and paid.json()["invoice"]["payment_status"] == "succeeded"
    refunded = api.post(f"{V1}/credit_notes", credit_note_body(str(earlier.pk), fee_id, refund=1000))
    assert refunded.status_code == 200, refunded.content
    note = refunded.json()["credit_note"]
    assert (note["refund_amount_cents"], note["refund_status"]) == (1000, "pending")
    settled = api.put(f"{V1}/credit_notes/{note['lago_id']}", {"credit_note": {"refund_status": "succeeded"}})
    assert settled.status_code == 200 and settled.json()["credit_note"]["refund_status"] == "succeeded"
    assert CreditNote.objects.filter(invoice=earlier).count() == 3


def test_its_subscriptions_wallet_and_applied_coupons_stay_readable_by_their_ids(api, everything):
    customer, wallet, _ = everything
    delete_and_run(api, customer)

    for external_id in ("sub_arrears", "sub_advance"):
        response = api.get(f"{V1}/subscriptions/{external_id}", status="terminated")
        assert response.status_code == 200, response.content
        found = response.json()["subscription"]
        assert found["status"] == "terminated" and found["terminated_at"] == "2026-03-15T12:00:00Z"
        assert found["lago_customer_id"] == str(customer.pk) and found["external_customer_id"] == "cust_1"
        assert_not_found(api.get(f"{V1}/subscriptions/{external_id}"), "subscription_not_found")  # not active
    assert api.get(f"{V1}/subscriptions/sub_pending", status="canceled").json()["subscription"]["status"] == "canceled"
    listed = api.get(f"{V1}/subscriptions", external_customer_id="cust_1", **{"status[]": ["terminated", "canceled"]})
    assert {item["external_id"] for item in listed.json()["subscriptions"]} == {
        "sub_arrears",
        "sub_advance",
        "sub_pending",
    }

    found = api.get(f"{V1}/wallets/{wallet.pk}")
    assert found.status_code == 200, found.content
    shown = found.json()["wallet"]
    assert (shown["status"], shown["credits_balance"], shown["balance_cents"]) == ("terminated", "0.0", 0)
    assert shown["lago_customer_id"] == str(customer.pk) and shown["terminated_at"] is not None
    transactions = api.get(f"{V1}/wallets/{wallet.pk}/wallet_transactions")
    assert transactions.status_code == 200, transactions.content
    listed = transactions.json()["wallet_transactions"]
    assert {(item["transaction_type"], item["transaction_status"]) for item in listed} == {
        ("inbound", "granted"),
        ("inbound", "purchased"),
        ("outbound", "invoiced"),
    }
    for item in listed:
        one = api.get(f"{V1}/wallet_transactions/{item['lago_id']}")
        assert one.status_code == 200 and one.json()["wallet_transaction"] == item
    assert ids(api.get(f"{V1}/wallets", external_customer_id="cust_1"), "wallets") == [str(wallet.pk)]

    applied = api.get(f"{V1}/applied_coupons", external_customer_id="cust_1", status="terminated")
    assert {item["coupon_code"] for item in applied.json()["applied_coupons"]} == {"tenpercent", "welcome"}
    assert {item["lago_customer_id"] for item in applied.json()["applied_coupons"]} == {str(customer.pk)}
    assert (
        api.get(f"{V1}/applied_coupons", external_customer_id="cust_1", status="active").json()["applied_coupons"] == []
    )


def test_a_deleted_customers_wallet_is_read_only(api, organization):
    """Readable by its id, but a change (an update, a top-up, a termination) is refused as for an
    unknown wallet: before the cascade has run, no credit may be added to a deleted customer."""
    customer = CustomerFactory(organization=organization, external_id="gone", currency="EUR")
    wallet = create_wallet(customer=customer, rate_amount=Decimal(1), top_up=TopUp(granted_credits=Decimal(10)))
    delete_customer(customer=customer)
    assert api.get(f"{V1}/wallets/{wallet.pk}").json()["wallet"]["status"] == "active"  # the cascade is to come
    assert_not_found(api.put(f"{V1}/wallets/{wallet.pk}", {"wallet": {"name": "Renamed"}}), "wallet_not_found")
    assert_not_found(api.delete(f"{V1}/wallets/{wallet.pk}"), "wallet_not_found")
    top_up = api.post(
        f"{V1}/wallet_transactions", {"wallet_transaction": {"wallet_id": str(wallet.pk), "granted_credits": "5"}}
    )
    assert errors_of(top_up) == {"wallet_id": ["wallet_not_found"]}
    wallet.refresh_from_db()
    assert (wallet.name, wallet.status, wallet.balance_cents, wallet.transactions.count()) == (None, "active", 1000, 1)


def test_a_new_customer_with_the_same_external_id_inherits_nothing(api, everything):
    customer, wallet, earlier = everything
    delete_and_run(api, customer)
    old_invoices = {str(pk) for pk in Invoice.objects.filter(customer=customer).values_list("pk", flat=True)}

    with time_machine.travel(MAR_15 + timedelta(hours=1), tick=False):
        created = api.post(CUSTOMERS, {"customer": {"external_id": "cust_1", "name": "New Acme"}})
    assert created.status_code == 200, created.content
    new = created.json()["customer"]
    assert new["lago_id"] != str(customer.pk)
    assert (new["name"], new["email"], new["metadata"], new["currency"]) == ("New Acme", None, [], None)
    assert api.get(customer_path("cust_1")).json()["customer"]["lago_id"] == new["lago_id"]

    # The id's filters now mean the new customer, which has nothing.
    for path, key in (
        ("invoices", "invoices"),
        ("credit_notes", "credit_notes"),
        ("wallets", "wallets"),
        ("applied_coupons", "applied_coupons"),
        ("customers/cust_1/applied_coupons", "applied_coupons"),
    ):
        assert ids(api.get(f"{V1}/{path}", external_customer_id="cust_1"), key) == [], path
    statuses = {"status[]": ["active", "pending", "terminated", "canceled"]}
    assert ids(api.get(f"{V1}/subscriptions", external_customer_id="cust_1", **statuses), "subscriptions") == []
    response = api.get(customer_path("cust_1", "/current_usage"), external_subscription_id="sub_arrears")
    assert response.status_code == 405 and response.json()["code"] == "no_active_subscription"
    preview = api.get(customer_path("cust_1", "/deletion_preview")).json()["deletion_preview"]
    assert preview["lago_customer_id"] == new["lago_id"]
    assert (preview["subscriptions"], preview["draft_invoices"], preview["applied_coupons"], preview["wallet"]) == (
        [],
        [],
        [],
        None,
    )
    # It may open its own wallet: the old one is not its.
    opened = api.post(
        f"{V1}/wallets", {"wallet": {"external_customer_id": "cust_1", "rate_amount": "1", "currency": "EUR"}}
    )
    assert opened.status_code == 200, opened.content
    assert opened.json()["wallet"]["lago_id"] != str(wallet.pk)

    # The old records are still found by their own ids, with the old customer.
    shown = api.get(f"{V1}/invoices/{earlier.pk}").json()["invoice"]["customer"]
    assert (shown["lago_id"], shown["name"]) == (str(customer.pk), "Acme Corp")
    assert api.get(f"{V1}/wallets/{wallet.pk}").json()["wallet"]["lago_customer_id"] == str(customer.pk)
    assert api.get(f"{V1}/subscriptions/sub_arrears", status="terminated").status_code == 200
    assert set(ids(api.get(f"{V1}/invoices"), "invoices")) == old_invoices  # the unfiltered list keeps them

    # Its own invoice is the only one the filter finds.
    own = InvoiceFactory(
        organization=customer.organization,
        customer=Customer.live.get(external_id="cust_1"),
        status="finalized",
        currency="EUR",
    )
    assert ids(api.get(f"{V1}/invoices", external_customer_id="cust_1"), "invoices") == [str(own.pk)]


# Deleting and re-creating at the same moment -------------------------------------------------------


def run_together(*calls):
    """Run each call in its own thread (its own database connection), released at the same moment."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)
    failures: list[BaseException] = []

    def run(index, call):
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        except BaseException as error:  # reported by the test, not lost in the thread
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index, call)) for index, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    return results


@pytest.fixture
def no_broker(monkeypatch):
    """The deletions below commit; their tasks are recorded here instead of reaching a broker (no
    worker runs in unit tests, and another test's worker must not receive them)."""
    sent = []
    monkeypatch.setattr(task_named(customer_deletion.TASK), "delay", lambda *args: sent.append(args))
    return sent


def live_ones(organization) -> list[Customer]:
    return list(Customer.live.filter(organization=organization, external_id="cust_1"))


def assert_counter_in_step(organization) -> None:
    counter = LiveCustomerCount.objects.get(organization=organization).live_count
    assert counter == Customer.live.filter(organization=organization).count()


@pytest.mark.django_db(transaction=True)
def test_two_clients_deleting_and_recreating_the_same_id_at_once_leave_exactly_one_live_customer(
    organization, api_key, no_broker
):
    """Each client deletes the customer and creates it again, at the same moment: whatever the
    interleaving, one customer holds the id afterwards, and no request fails."""
    create_customer(organization=organization, data={"external_id": "cust_1"})

    def delete_then_recreate(name):
        client = ApiCaller(Client(), api_key)
        deleted = client.delete(customer_path("cust_1"))
        created = client.post(CUSTOMERS, {"customer": {"external_id": "cust_1", "name": name}})
        return deleted, created

    for round_number in range(8):
        results = run_together(lambda: delete_then_recreate("first"), lambda: delete_then_recreate("second"))
        statuses = [(deleted.status_code, created.status_code) for deleted, created in results]
        assert all(deleted in (200, 404) and created == 200 for deleted, created in statuses), (round_number, statuses)
        assert any(deleted == 200 for deleted, _ in statuses)
        for deleted, _ in results:
            if deleted.status_code == 404:
                assert deleted.json()["code"] == "customer_not_found"
        [survivor] = live_ones(organization)
        assert survivor.name in ("first", "second")
        assert_counter_in_step(organization)
    # Every deletion answered 200 made one customer deleted, one cascade and one task; none twice.
    deletions = CustomerDeletion.objects.filter(customer__organization=organization).count()
    assert len(no_broker) == deletions == Customer.objects.filter(deleted_at__isnull=False).count() >= 8


@pytest.mark.django_db(transaction=True)
def test_a_deletion_and_a_recreation_racing_never_leave_two_live_customers(organization, api_key, no_broker):
    """One client deletes while another creates the same id. Either the deletion came first and the
    creation made a new customer, the one live customer; or the creation came first, found the
    customer still live and updated it (Lago's upsert), and the deletion then removed it."""
    deleter, creator = ApiCaller(Client(), api_key), ApiCaller(Client(), api_key)
    for round_number in range(12):
        old = create_customer(organization=organization, data={"external_id": "cust_1"})
        body = {"customer": {"external_id": "cust_1", "name": f"round {round_number}"}}
        deleted, created = run_together(
            lambda: deleter.delete(customer_path("cust_1")),
            lambda body=body: creator.post(CUSTOMERS, body),
        )
        assert deleted.status_code == 200 and created.status_code == 200, (deleted.content, created.content)
        assert deleted.json()["customer"]["lago_id"] == str(old.pk)
        created_id = created.json()["customer"]["lago_id"]
        live = [str(customer.pk) for customer in live_ones(organization)]
        assert live == ([] if created_id == str(old.pk) else [created_id]), round_number
        assert_counter_in_step(organization)
        for customer in live_ones(organization):  # the next round starts afresh
            delete_customer(customer=customer)
    deletions = CustomerDeletion.objects.filter(customer__organization=organization).count()
    assert len(no_broker) == deletions == Customer.objects.filter(deleted_at__isnull=False).count() >= 12


def backends_waiting_on_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_recreation_arriving_while_the_deletion_commits_makes_the_one_live_customer(
    organization, api_key, no_broker, monkeypatch
):
    """The interleaving a plain race rarely produces (the upsert is quicker than the deletion): the
    creation arrives while the deletion has marked the customer deleted but not committed yet. It
    waits for that commit, then makes a new customer: one live customer, no 500."""
    old = create_customer(organization=organization, data={"external_id": "cust_1", "name": "Old"})
    deletion_in_flight, release = threading.Event(), threading.Event()
    enqueue = customer_deletion.enqueue_on_commit

    def enqueue_then_hold(*args, **kwargs):  # inside the deletion's transaction, after its writes
        enqueue(*args, **kwargs)
        deletion_in_flight.set()
        assert release.wait(timeout=20)

    monkeypatch.setattr(customer_deletion, "enqueue_on_commit", enqueue_then_hold)

    def recreate():
        assert deletion_in_flight.wait(timeout=20)
        return ApiCaller(Client(), api_key).post(CUSTOMERS, {"customer": {"external_id": "cust_1", "name": "New"}})

    def let_the_deletion_commit_once_the_creation_waits():
        assert deletion_in_flight.wait(timeout=20)
        for _ in range(400):  # wait on the state: the creation blocked on the deleted row's lock
            if backends_waiting_on_a_lock():
                break
            threading.Event().wait(0.025)
        else:
            pytest.fail("the creation never waited for the deletion")
        release.set()

    deleted, created, _ = run_together(
        lambda: ApiCaller(Client(), api_key).delete(customer_path("cust_1")),
        recreate,
        let_the_deletion_commit_once_the_creation_waits,
    )
    assert deleted.status_code == 200 and deleted.json()["customer"]["lago_id"] == str(old.pk)
    assert created.status_code == 200, created.content
    new = created.json()["customer"]
    assert new["lago_id"] != str(old.pk) and new["name"] == "New"
    assert [str(customer.pk) for customer in live_ones(organization)] == [new["lago_id"]]
    assert Customer.objects.get(pk=old.pk).name == "Old"  # the deleted one was not updated
    assert_counter_in_step(organization)
    assert len(no_broker) == 1


def test_subscriptions_of_the_deleted_customer_are_not_the_new_ones(api, everything):
    """The new customer may take the old subscription ids once the cascade has ended them, and its
    events count for its own subscription only."""
    customer, _, _ = everything
    delete_and_run(api, customer)
    with time_machine.travel(MAR_15 + timedelta(hours=1), tick=False):
        body = {"external_customer_id": "cust_1", "plan_code": "arrears", "external_id": "sub_arrears"}
        created = api.post(f"{V1}/subscriptions", {"subscription": body})
        assert created.status_code == 200, created.content
        new_subscription = created.json()["subscription"]
        assert new_subscription["lago_customer_id"] != str(customer.pk)
        event = {"transaction_id": "after_1", "external_subscription_id": "sub_arrears", "code": "calls"}
        assert api.post(f"{V1}/events", {"event": event}).status_code == 200
        usage = api.get(customer_path("cust_1", "/current_usage"), external_subscription_id="sub_arrears")
    assert usage.status_code == 200 and usage.json()["customer_usage"]["charges_usage"][0]["events_count"] == 1
    assert Subscription.objects.filter(external_id="sub_arrears").count() == 2
