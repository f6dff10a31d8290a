"""Lago's wallet and wallet transaction endpoints (reference/lago-api.md §2.8) over HTTP: what each
call answers, what it books, and that a refused call books nothing."""

from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.tests.factories import CustomerFactory
from events.tests.factories import send_events
from invoicing.customer_deletion import delete_customer
from invoicing.models import Invoice, InvoiceStatus, InvoiceType
from invoicing.prepaid_credits import sync_ongoing_balances
from plans.tests.factories import BillableMetricFactory, ChargeFactory, PlanFactory, SubscriptionFactory
from wallets.api import WalletOutput, WalletTransactionOutput, wallet_payload, wallet_transaction_payload
from wallets.models import Wallet, WalletTransaction

WALLETS = "/api/v1/wallets"
TRANSACTIONS = "/api/v1/wallet_transactions"


@pytest.fixture
def customer(organization):
    return CustomerFactory(organization=organization, external_id="cust_1", currency="EUR")


def wallet_body(**fields) -> dict:
    return {"wallet": {"external_customer_id": "cust_1", "rate_amount": "1.0", "currency": "EUR", **fields}}


def open_wallet(api, **fields) -> dict:
    response = api.post(WALLETS, wallet_body(**fields))
    assert response.status_code == 200, response.content
    return response.json()["wallet"]


def top_up(api, wallet_id: str, **credits) -> list[dict]:
    response = api.post(TRANSACTIONS, {"wallet_transaction": {"wallet_id": wallet_id, **credits}})
    assert response.status_code == 200, response.content
    return response.json()["wallet_transactions"]


def errors_of(response) -> dict:
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "validation_errors"
    return response.json()["error_details"]


def books_balance(wallet: Wallet) -> bool:
    """Settled inbound = settled outbound + balance, in minor units."""
    settled = WalletTransaction.objects.filter(wallet=wallet, status="settled")

    def total(transaction_type: str) -> int:
        return settled.filter(transaction_type=transaction_type).aggregate(total=Sum("amount_cents"))["total"] or 0

    return total("inbound") == total("outbound") + wallet.balance_cents


# Creating a wallet ----------------------------------------------------------------------------


def test_create_with_granted_credits_settles_them_at_once(api, customer):
    wallet = open_wallet(api, name="Prepaid", rate_amount="0.5", granted_credits="10")
    assert wallet["external_customer_id"] == "cust_1" and wallet["lago_customer_id"] == str(customer.pk)
    assert (wallet["status"], wallet["currency"], wallet["name"]) == ("active", "EUR", "Prepaid")
    assert (wallet["rate_amount"], wallet["credits_balance"], wallet["balance_cents"]) == ("0.5", "10.0", 500)
    assert (wallet["credits_ongoing_balance"], wallet["ongoing_balance_cents"]) == ("10.0", 500)
    assert (wallet["credits_ongoing_usage_balance"], wallet["ongoing_usage_balance_cents"]) == ("0.0", 0)
    assert (wallet["consumed_credits"], wallet["consumed_amount_cents"]) == ("0.0", 0)
    assert wallet["terminated_at"] is None and wallet["expiration_at"] is None
    assert wallet["created_at"].endswith("Z") and len(wallet["created_at"]) == 20
    [granted] = WalletTransaction.objects.all()
    assert (granted.transaction_status, granted.status, granted.amount_cents) == ("granted", "settled", 500)
    assert not Invoice.objects.exists()


def test_the_wallet_object_has_lagos_shape(api, customer):
    wallet = open_wallet(api, expiration_at="2099-01-01T10:00:00+02:00")
    assert set(wallet) == set(WalletOutput().fields)
    assert wallet["expiration_at"] == "2099-01-01T08:00:00Z"
    assert wallet["priority"] == 50 and wallet["code"] is None and wallet["billing_entity_code"] == "default"
    assert wallet["recurring_transaction_rules"] == [] and wallet["applied_invoice_custom_sections"] == []
    assert wallet["applies_to"] == {"fee_types": [], "billable_metric_codes": []}
    assert wallet["invoice_requires_successful_payment"] is False and wallet["last_balance_sync_at"] is None


def test_create_with_paid_credits_sells_them_on_a_credit_invoice(api, customer):
    wallet = open_wallet(api, rate_amount="2", paid_credits="5.5", transaction_name="Top-up")
    # Paid credits arrive only when their invoice is paid.
    assert (wallet["credits_balance"], wallet["balance_cents"]) == ("0.0", 0)
    [purchase] = top_up_list(api, wallet["lago_id"])
    assert (purchase["transaction_status"], purchase["status"], purchase["transaction_type"]) == (
        "purchased",
        "pending",
        "inbound",
    )
    assert (purchase["credit_amount"], purchase["amount"], purchase["name"]) == ("5.5", "11.0", "Top-up")
    invoice = Invoice.objects.get(pk=purchase["lago_invoice_id"])
    assert (invoice.invoice_type, invoice.status) == (InvoiceType.CREDIT, InvoiceStatus.FINALIZED)
    assert invoice.total_amount_cents == 1100


def top_up_list(api, wallet_id: str, **params) -> list[dict]:
    response = api.get(f"{WALLETS}/{wallet_id}/wallet_transactions", **params)
    assert response.status_code == 200, response.content
    return response.json()["wallet_transactions"]


def test_a_paid_credit_invoice_settles_the_purchase_and_the_balance_grows(api, customer):
    wallet = open_wallet(api, paid_credits="20")
    [purchase] = top_up_list(api, wallet["lago_id"])
    response = api.put(f"/api/v1/invoices/{purchase['lago_invoice_id']}", {"invoice": {"payment_status": "succeeded"}})
    assert response.status_code == 200, response.content
    [purchase] = top_up_list(api, wallet["lago_id"])
    assert purchase["status"] == "settled" and purchase["settled_at"] is not None
    found = api.get(f"{WALLETS}/{wallet['lago_id']}").json()["wallet"]
    assert (found["credits_balance"], found["balance_cents"]) == ("20.0", 2000)
    assert books_balance(Wallet.objects.get())


def test_a_failed_credit_invoice_fails_the_purchase(api, customer):
    wallet = open_wallet(api, paid_credits="20")
    [purchase] = top_up_list(api, wallet["lago_id"])
    response = api.put(f"/api/v1/invoices/{purchase['lago_invoice_id']}", {"invoice": {"payment_status": "failed"}})
    assert response.status_code == 200, response.content
    [purchase] = top_up_list(api, wallet["lago_id"])
    assert purchase["status"] == "failed" and purchase["failed_at"] is not None and purchase["settled_at"] is None
    assert api.get(f"{WALLETS}/{wallet['lago_id']}").json()["wallet"]["balance_cents"] == 0


def test_one_active_wallet_per_customer(api, customer):
    first = open_wallet(api)
    assert errors_of(api.post(WALLETS, wallet_body())) == {"customer": ["wallet_already_exists"]}
    assert Wallet.objects.count() == 1
    # Once the first one is terminated, the customer may open another.
    api.delete(f"{WALLETS}/{first['lago_id']}")
    assert open_wallet(api)["lago_id"] != first["lago_id"]


def test_an_unknown_or_deleted_customer_is_a_422_as_in_lago(api, customer):
    assert errors_of(api.post(WALLETS, wallet_body(external_customer_id="nobody"))) == {
        "customer": ["customer_not_found"]
    }
    assert errors_of(api.post(WALLETS, wallet_body(external_customer_id=None))) == {"customer": ["customer_not_found"]}
    delete_customer(customer=customer)
    assert errors_of(api.post(WALLETS, wallet_body())) == {"customer": ["customer_not_found"]}
    assert not Wallet.objects.exists()


@pytest.mark.parametrize(
    ("fields", "details"),
    [
        ({"granted_credits": "-1"}, {"granted_credits": ["invalid_amount"]}),
        ({"paid_credits": "0.000001"}, {"paid_credits": ["invalid_amount"]}),
        ({"paid_credits": "ten"}, {"paid_credits": ["value_is_invalid"]}),
        ({"granted_credits": True}, {"granted_credits": ["value_is_invalid"]}),
        ({"rate_amount": "abc"}, {"rate_amount": ["value_is_invalid"]}),
        ({"rate_amount": "1_000"}, {"rate_amount": ["value_is_invalid"]}),
        ({"rate_amount": "0"}, {"rate_amount": ["value_is_invalid"]}),
        ({"rate_amount": "-1.5"}, {"rate_amount": ["value_is_invalid"]}),
        ({"rate_amount": "99999999999999"}, {"rate_amount": ["value_is_invalid"]}),
        ({"rate_amount": None}, {"rate_amount": ["value_is_mandatory"]}),
        ({"currency": "USD"}, {"currency": ["currencies_does_not_match"]}),
        ({"expiration_at": "2020-01-01T00:00:00Z"}, {"expiration_at": ["invalid_date"]}),
        ({"expiration_at": "tomorrow"}, {"expiration_at": ["invalid_date"]}),
        ({"name": "nul\x00inside"}, {"name": ["value_is_invalid"]}),
        ({"voided_credits": "1"}, {"voided_credits": ["unknown_field"]}),
        ({"colour": "red"}, {"colour": ["unknown_field"]}),
        ({"priority": 10}, {"priority": ["not_supported"]}),
        (
            {"recurring_transaction_rules": [{"trigger": "interval"}]},
            {"recurring_transaction_rules": ["not_supported"]},
        ),
        ({"invoice_requires_successful_payment": True}, {"invoice_requires_successful_payment": ["not_supported"]}),
        ({"transaction_metadata": [{"key": "k", "value": "v", "extra": 1}]}, {"extra": ["unknown_field"]}),
    ],
)
def test_bad_wallet_bodies_are_refused_and_book_nothing(api, customer, fields, details):
    assert errors_of(api.post(WALLETS, wallet_body(**{"paid_credits": "5", **fields}))) == details
    assert not Wallet.objects.exists() and not WalletTransaction.objects.exists() and not Invoice.objects.exists()


def test_lagos_options_pass_with_their_neutral_value(api, customer):
    wallet = open_wallet(
        api,
        priority=50,
        code=None,
        recurring_transaction_rules=[],
        invoice_requires_successful_payment=False,
        paid_top_up_min_amount_cents=None,
        applies_to={"fee_types": [], "billable_metric_codes": []},
        billing_entity_code="default",
        metadata={},
    )
    assert wallet["status"] == "active"


def test_a_missing_root_key_is_lagos_400(api, customer):
    response = api.post(WALLETS, {"wallet": {}})
    assert response.status_code == 400
    assert response.json()["error"] == "BadRequest: param is missing or the value is empty or invalid: wallet"


# Reading and updating -------------------------------------------------------------------------


def test_list_filters_by_customer_with_lagos_meta(api, organization, customer):
    other = CustomerFactory(organization=organization, external_id="cust_2")
    mine = open_wallet(api)
    open_wallet(api, external_customer_id=other.external_id)
    body = api.get(WALLETS, external_customer_id="cust_1").json()
    assert [wallet["lago_id"] for wallet in body["wallets"]] == [mine["lago_id"]]
    assert body["meta"] == {"current_page": 1, "next_page": None, "prev_page": None, "total_pages": 1, "total_count": 1}
    assert api.get(WALLETS).json()["meta"]["total_count"] == 2
    assert api.get(WALLETS, external_customer_id="nobody").json() == {
        "wallets": [],
        "meta": {"current_page": 0, "next_page": None, "prev_page": None, "total_pages": 0, "total_count": 0},
    }


def test_another_organizations_wallet_is_not_found(api, other_api, customer):
    wallet = open_wallet(api, granted_credits="5")
    for response in (
        other_api.get(f"{WALLETS}/{wallet['lago_id']}"),
        other_api.put(f"{WALLETS}/{wallet['lago_id']}", {"wallet": {"name": "Mine"}}),
        other_api.delete(f"{WALLETS}/{wallet['lago_id']}"),
        other_api.get(f"{WALLETS}/{wallet['lago_id']}/wallet_transactions"),
    ):
        assert response.status_code == 404 and response.json()["code"] == "wallet_not_found"
    assert other_api.get(WALLETS).json()["wallets"] == []
    assert errors_of(other_api.post(TRANSACTIONS, {"wallet_transaction": {"wallet_id": wallet["lago_id"]}})) == {
        "wallet_id": ["wallet_not_found"]
    }
    assert Wallet.objects.get().status == "active"


@pytest.mark.parametrize("lago_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_unknown_or_malformed_ids_are_404s(api, customer, lago_id):
    for response in (
        api.get(f"{WALLETS}/{lago_id}"),
        api.put(f"{WALLETS}/{lago_id}", {"wallet": {"name": "x"}}),
        api.delete(f"{WALLETS}/{lago_id}"),
        api.get(f"{WALLETS}/{lago_id}/wallet_transactions"),
    ):
        assert response.status_code == 404 and response.json()["code"] == "wallet_not_found"
    response = api.get(f"{TRANSACTIONS}/{lago_id}")
    assert response.status_code == 404 and response.json()["code"] == "wallet_transaction_not_found"


def test_update_renames_and_moves_the_expiration(api, customer):
    wallet = open_wallet(api, name="Old", granted_credits="3")
    url = f"{WALLETS}/{wallet['lago_id']}"
    updated = api.put(url, {"wallet": {"name": "New", "expiration_at": "2099-06-01T00:00:00Z"}}).json()["wallet"]
    assert (updated["name"], updated["expiration_at"], updated["credits_balance"]) == (
        "New",
        "2099-06-01T00:00:00Z",
        "3.0",
    )
    # An absent key keeps its value; null clears.
    updated = api.put(url, {"wallet": {"expiration_at": None}}).json()["wallet"]
    assert (updated["name"], updated["expiration_at"]) == ("New", None)
    assert errors_of(api.put(url, {"wallet": {"rate_amount": "2"}})) == {"rate_amount": ["unknown_field"]}
    assert errors_of(api.put(url, {"wallet": {"expiration_at": "2000-01-01"}})) == {"expiration_at": ["invalid_date"]}
    assert Wallet.objects.get().name == "New"


def test_a_terminated_wallet_cannot_be_updated(api, customer):
    wallet = open_wallet(api)
    api.delete(f"{WALLETS}/{wallet['lago_id']}")
    response = api.put(f"{WALLETS}/{wallet['lago_id']}", {"wallet": {"name": "New"}})
    assert response.status_code == 405 and response.json()["code"] == "wallet_is_terminated"


# Terminating ----------------------------------------------------------------------------------


def test_terminate_voids_what_is_left_and_is_idempotent(api, customer):
    wallet = open_wallet(api, rate_amount="1.5", granted_credits="10")
    top_up(api, wallet["lago_id"], voided_credits="2.5")
    response = api.delete(f"{WALLETS}/{wallet['lago_id']}")
    assert response.status_code == 200, response.content
    terminated = response.json()["wallet"]
    assert (terminated["status"], terminated["credits_balance"], terminated["balance_cents"]) == (
        "terminated",
        "0.0",
        0,
    )
    # Rails' default JSON: to the millisecond.
    assert terminated["terminated_at"].endswith("Z") and len(terminated["terminated_at"]) == 24
    voided = top_up_list(api, wallet["lago_id"], transaction_status="voided")
    assert [(t["credit_amount"], t["amount"], t["status"]) for t in voided] == [
        ("7.5", "11.25", "settled"),
        ("2.5", "3.75", "settled"),
    ]
    assert books_balance(Wallet.objects.get())
    again = api.delete(f"{WALLETS}/{wallet['lago_id']}")
    assert again.status_code == 200 and again.json()["wallet"] == terminated
    assert WalletTransaction.objects.count() == 3


# Wallet transactions --------------------------------------------------------------------------


def test_grant_and_void_in_one_call(api, customer):
    wallet = open_wallet(api, rate_amount="0.01")
    made = top_up(api, wallet["lago_id"], granted_credits="100", voided_credits="40", name="Adjust")
    assert [(t["transaction_status"], t["transaction_type"], t["status"]) for t in made] == [
        ("granted", "inbound", "settled"),
        ("voided", "outbound", "settled"),
    ]
    assert [(t["credit_amount"], t["amount"], t["name"]) for t in made] == [
        ("100.0", "1.0", "Adjust"),
        ("40.0", "0.4", "Adjust"),
    ]
    assert set(made[0]) == set(WalletTransactionOutput().fields)
    found = api.get(f"{WALLETS}/{wallet['lago_id']}").json()["wallet"]
    assert (found["credits_balance"], found["balance_cents"]) == ("60.0", 60)


def test_a_client_body_full_of_nulls_is_read_as_absent_keys(api, customer):
    wallet = open_wallet(api)
    body = {
        "wallet_id": wallet["lago_id"],
        "paid_credits": None,
        "granted_credits": "5.0",
        "voided_credits": None,
        "invoice_requires_successful_payment": None,
        "metadata": [{"key": "source", "value": "crm"}],
        "name": None,
        "ignore_paid_top_up_limits": None,
        "purchase_order_number": None,
        "payment_method": None,
        "invoice_custom_section": None,
    }
    response = api.post(TRANSACTIONS, {"wallet_transaction": body})
    assert response.status_code == 200, response.content
    [granted] = response.json()["wallet_transactions"]
    assert granted["metadata"] == [{"key": "source", "value": "crm"}] and granted["credit_amount"] == "5.0"


def test_paid_credits_top_up_makes_a_credit_invoice(api, customer):
    wallet = open_wallet(api)
    [purchase] = top_up(api, wallet["lago_id"], paid_credits="12.25")
    assert (purchase["status"], purchase["transaction_status"]) == ("pending", "purchased")
    assert Invoice.objects.get(pk=purchase["lago_invoice_id"]).total_amount_cents == 1225


def test_voiding_more_than_the_balance_is_refused_and_books_nothing(api, customer):
    wallet = open_wallet(api, granted_credits="10")
    response = api.post(
        TRANSACTIONS,
        {"wallet_transaction": {"wallet_id": wallet["lago_id"], "granted_credits": "1", "voided_credits": "12"}},
    )
    assert errors_of(response) == {"voided_credits": ["insufficient_credits"]}
    assert WalletTransaction.objects.count() == 1
    assert Wallet.objects.get().balance_cents == 1000


@pytest.mark.parametrize(
    ("fields", "details"),
    [
        ({"wallet_id": "not-a-uuid"}, {"wallet_id": ["wallet_not_found"]}),
        ({"wallet_id": "00000000-0000-0000-0000-000000000000"}, {"wallet_id": ["wallet_not_found"]}),
        ({"wallet_id": None}, {"wallet_id": ["wallet_not_found"]}),
        ({"granted_credits": "-5"}, {"granted_credits": ["invalid_amount"]}),
        ({"granted_credits": "5e3"}, {"granted_credits": ["value_is_invalid"]}),
        ({"name": "x" * 256}, {"name": ["value_is_too_long"]}),
        ({"name": "nul\x00inside"}, {"name": ["value_is_invalid"]}),
        ({"metadata": {"key": "k"}}, {"metadata": ["value_is_invalid"]}),
        ({"metadata": [{"key": "k"}]}, {"metadata": ["value_is_invalid"]}),
        ({"invoice_requires_successful_payment": True}, {"invoice_requires_successful_payment": ["not_supported"]}),
        ({"amount": "5"}, {"amount": ["unknown_field"]}),
    ],
)
def test_bad_transaction_bodies_are_refused_and_book_nothing(api, customer, fields, details):
    wallet = open_wallet(api)
    body = {"wallet_id": wallet["lago_id"], "granted_credits": "5", **fields}
    assert errors_of(api.post(TRANSACTIONS, {"wallet_transaction": body})) == details
    assert not WalletTransaction.objects.exists()


def test_a_terminated_wallet_takes_no_credits(api, customer):
    wallet = open_wallet(api)
    api.delete(f"{WALLETS}/{wallet['lago_id']}")
    body = {"wallet_transaction": {"wallet_id": wallet["lago_id"], "granted_credits": "5"}}
    assert errors_of(api.post(TRANSACTIONS, body)) == {"wallet_id": ["wallet_is_terminated"]}
    assert not WalletTransaction.objects.exists()


def test_transaction_filters_and_single_read(api, customer):
    wallet = open_wallet(api, granted_credits="10", paid_credits="5")
    top_up(api, wallet["lago_id"], voided_credits="1")
    # Newest first; the wallet's first two transactions share their creation time.
    listed = [t["transaction_status"] for t in top_up_list(api, wallet["lago_id"])]
    assert listed[0] == "voided" and sorted(listed[1:]) == ["granted", "purchased"]
    assert [t["transaction_status"] for t in top_up_list(api, wallet["lago_id"], status="pending")] == ["purchased"]
    assert [t["transaction_status"] for t in top_up_list(api, wallet["lago_id"], transaction_type="outbound")] == [
        "voided"
    ]
    assert [t["transaction_status"] for t in top_up_list(api, wallet["lago_id"], transaction_status="granted")] == [
        "granted"
    ]
    meta = api.get(f"{WALLETS}/{wallet['lago_id']}/wallet_transactions", per_page=2).json()["meta"]
    assert (meta["total_count"], meta["total_pages"], meta["next_page"]) == (3, 2, 2)
    for name, value in (("status", "done"), ("transaction_type", "sideways"), ("transaction_status", "stolen")):
        response = api.get(f"{WALLETS}/{wallet['lago_id']}/wallet_transactions", **{name: value})
        assert errors_of(response) == {name: ["value_is_invalid"]}

    [granted] = top_up_list(api, wallet["lago_id"], transaction_status="granted")
    response = api.get(f"{TRANSACTIONS}/{granted['lago_id']}")
    assert response.status_code == 200 and response.json() == {"wallet_transaction": granted}


# Writers and query counts ---------------------------------------------------------------------


def test_the_writers_match_the_schema_they_publish(customer):
    wallet = Wallet.objects.create(
        organization=customer.organization, customer=customer, currency="EUR", rate_amount=Decimal(1)
    )
    transaction = WalletTransaction.objects.create(
        wallet=wallet,
        transaction_type="inbound",
        status="settled",
        transaction_status="granted",
        credit_amount=Decimal("1.5"),
        amount_cents=150,
        settled_at=timezone.now(),
    )
    assert set(wallet_payload(wallet)) == set(WalletOutput().fields)
    assert set(wallet_transaction_payload(transaction)) == set(WalletTransactionOutput().fields)


def count_queries(api, path: str, **params) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert api.get(path, **params).status_code == 200
    return len(queries)


def test_a_transaction_list_costs_the_same_for_one_or_many(api, customer):
    wallet = open_wallet(api, granted_credits="1")
    path = f"{WALLETS}/{wallet['lago_id']}/wallet_transactions"
    one = count_queries(api, path)
    for _ in range(5):
        top_up(api, wallet["lago_id"], granted_credits="1", voided_credits="1")
    assert count_queries(api, path) == one


def test_a_wallet_list_costs_the_same_for_one_or_many_active_or_terminated(api, organization):
    """A list shows each wallet's ongoing balance as of its last sync (`last_balance_sync_at`), so a
    page never prices every customer's usage."""

    def add_wallet(index: int, terminated: bool) -> None:
        customer = CustomerFactory(organization=organization, external_id=f"cust_{index}")
        wallet = open_wallet(api, external_customer_id=customer.external_id, granted_credits="2")
        if terminated:
            api.delete(f"{WALLETS}/{wallet['lago_id']}")

    add_wallet(0, terminated=False)
    one = count_queries(api, WALLETS)
    for index in range(1, 9):
        add_wallet(index, terminated=index % 2 == 0)
    assert count_queries(api, WALLETS) == one


def test_a_listed_wallet_shows_the_ongoing_balance_of_its_last_sync_a_single_one_the_live_one(
    api, organization, customer
):
    plan = PlanFactory(organization=organization, amount_cents=0, amount_currency="EUR")
    metric = BillableMetricFactory(
        organization=organization, code="calls", aggregation_type="count_agg", field_name=None
    )
    ChargeFactory(plan=plan, billable_metric=metric, properties={"amount": "1"})
    subscription = SubscriptionFactory(customer=customer, plan=plan)
    wallet = open_wallet(api, granted_credits="10")
    send_events(subscription, [("calls", timezone.now(), {}) for _ in range(3)])
    [listed] = api.get(WALLETS).json()["wallets"]
    assert (listed["ongoing_balance_cents"], listed["last_balance_sync_at"]) == (1000, None)
    assert api.get(f"{WALLETS}/{wallet['lago_id']}").json()["wallet"]["ongoing_balance_cents"] == 700
    assert sync_ongoing_balances() == 1
    [listed] = api.get(WALLETS).json()["wallets"]
    assert (listed["ongoing_balance_cents"], listed["ongoing_usage_balance_cents"]) == (700, 300)
    assert listed["credits_ongoing_balance"] == "7.0" and listed["last_balance_sync_at"] is not None
