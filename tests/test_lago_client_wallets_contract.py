"""Lago's Python client (1.55.0) opens, reads, updates and terminates wallets, and tops them up.

If the client raises, parses wrongly or needs a workaround, our API is wrong, not the test.
"""

import pytest
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import Wallet, WalletTransaction
from lago_python_client.models.invoice import InvoicePaymentStatusChange

from customers.tests.factories import CustomerFactory
from organizations.services import create_api_key
from organizations.tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def org():
    return OrganizationFactory(name="Wallet Co")


@pytest.fixture
def lago(live_server, org):
    _, raw_key = create_api_key(organization=org)
    return Client(api_key=raw_key, api_url=live_server.url)


@pytest.fixture
def customer(org):
    return CustomerFactory(organization=org, external_id="cust_1", currency="EUR")


def test_create_find_and_find_all(lago, customer):
    wallet = lago.wallets.create(
        Wallet(
            external_customer_id="cust_1",
            rate_amount="1.5",
            currency="EUR",
            name="Prepaid",
            granted_credits="10",
            paid_credits="4",
            expiration_at="2099-01-01T00:00:00Z",
        )
    )
    assert wallet.lago_id and wallet.lago_customer_id == str(customer.pk) and wallet.external_customer_id == "cust_1"
    assert (wallet.status, wallet.currency, wallet.name, wallet.rate_amount) == ("active", "EUR", "Prepaid", "1.5")
    # The granted credits are there at once; the paid ones wait for their invoice.
    assert (wallet.credits_balance, wallet.balance_cents) == ("10.0", 1500)
    assert (wallet.credits_ongoing_balance, wallet.ongoing_balance_cents) == ("10.0", 1500)
    assert (wallet.credits_ongoing_usage_balance, wallet.ongoing_usage_balance_cents) == ("0.0", 0)
    assert wallet.expiration_at == "2099-01-01T00:00:00Z" and wallet.terminated_at is None
    assert wallet.applies_to.fee_types == [] and wallet.payment_method.payment_method_type == "provider"

    assert lago.wallets.find(wallet.lago_id) == wallet
    found = lago.wallets.find_all({"external_customer_id": "cust_1"})
    assert [w.lago_id for w in found["wallets"]] == [wallet.lago_id]
    assert found["meta"]["total_count"] == 1


def test_update_and_destroy_which_terminates(lago, customer):
    wallet = lago.wallets.create(Wallet(external_customer_id="cust_1", rate_amount="1", granted_credits="3"))
    updated = lago.wallets.update(Wallet(name="Renamed", expiration_at="2099-06-01T00:00:00Z"), wallet.lago_id)
    assert (updated.name, updated.expiration_at, updated.credits_balance) == ("Renamed", "2099-06-01T00:00:00Z", "3.0")

    terminated = lago.wallets.destroy(wallet.lago_id)
    assert terminated.lago_id == wallet.lago_id and terminated.status == "terminated"
    assert terminated.terminated_at and (terminated.credits_balance, terminated.balance_cents) == ("0.0", 0)
    # Terminating again changes nothing; the remaining credits were voided once.
    assert lago.wallets.destroy(wallet.lago_id) == terminated
    voided = lago.wallet_transactions.find_all(wallet.lago_id, {"transaction_status": "voided"})
    assert [t.credit_amount for t in voided["wallet_transactions"]] == ["3.0"]


def test_wallet_transactions_create_and_find_all(lago, customer):
    wallet = lago.wallets.create(Wallet(external_customer_id="cust_1", rate_amount="0.5"))
    # The client sends every key of the model, most of them null.
    made = lago.wallet_transactions.create(
        WalletTransaction(
            wallet_id=wallet.lago_id,
            paid_credits="20",
            granted_credits="10",
            voided_credits="4",
            name="Spring",
            metadata=[{"key": "campaign", "value": "spring"}],
        )
    )
    purchase, granted, voided = made["wallet_transactions"]
    assert (purchase.transaction_status, purchase.status) == ("purchased", "pending")
    assert (purchase.credit_amount, purchase.amount, purchase.lago_invoice_id is not None) == ("20.0", "10.0", True)
    assert (granted.transaction_status, granted.status, granted.amount) == ("granted", "settled", "5.0")
    assert (voided.transaction_status, voided.transaction_type, voided.credit_amount) == ("voided", "outbound", "4.0")
    assert granted.metadata == [{"key": "campaign", "value": "spring"}] and granted.name == "Spring"
    assert lago.wallets.find(wallet.lago_id).credits_balance == "6.0"

    # Paying the credit invoice settles the purchase, through Lago's invoice update.
    lago.invoices.update(InvoicePaymentStatusChange(payment_status="succeeded"), purchase.lago_invoice_id)
    assert lago.wallets.find(wallet.lago_id).credits_balance == "26.0"

    listed = lago.wallet_transactions.find_all(wallet.lago_id)
    assert {t.lago_id for t in listed["wallet_transactions"]} == {purchase.lago_id, granted.lago_id, voided.lago_id}
    assert listed["meta"]["total_count"] == 3
    inbound = lago.wallet_transactions.find_all(wallet.lago_id, {"transaction_type": "inbound", "status": "settled"})
    assert {t.lago_id for t in inbound["wallet_transactions"]} == {purchase.lago_id, granted.lago_id}


def test_errors_reach_the_client_with_lagos_codes(lago, customer):
    with pytest.raises(LagoApiError) as unknown_customer:
        lago.wallets.create(Wallet(external_customer_id="nobody", rate_amount="1"))
    assert unknown_customer.value.status_code == 422
    assert unknown_customer.value.response["error_details"] == {"customer": ["customer_not_found"]}

    wallet = lago.wallets.create(Wallet(external_customer_id="cust_1", rate_amount="1", granted_credits="1"))
    with pytest.raises(LagoApiError) as second:
        lago.wallets.create(Wallet(external_customer_id="cust_1", rate_amount="1"))
    assert second.value.response["error_details"] == {"customer": ["wallet_already_exists"]}

    with pytest.raises(LagoApiError) as insufficient:
        lago.wallet_transactions.create(WalletTransaction(wallet_id=wallet.lago_id, voided_credits="2"))
    assert insufficient.value.status_code == 422
    assert insufficient.value.response["error_details"] == {"voided_credits": ["insufficient_credits"]}

    with pytest.raises(LagoApiError) as missing:
        lago.wallets.find("00000000-0000-0000-0000-000000000000")
    assert missing.value.status_code == 404 and missing.value.response["code"] == "wallet_not_found"

    lago.wallets.destroy(wallet.lago_id)
    with pytest.raises(LagoApiError) as terminated:
        lago.wallet_transactions.create(WalletTransaction(wallet_id=wallet.lago_id, granted_credits="1"))
    assert terminated.value.response["error_details"] == {"wallet_id": ["wallet_is_terminated"]}
