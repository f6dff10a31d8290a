"""The support admin for wallets (the rest is in coupons/tests/test_admin.py): links to the customer, the
invoices of the transactions and the staff UI; terminating wallets through the service, which voids what
is left, and says which were already terminated."""

from decimal import Decimal

import pytest
from django.urls import reverse

from customers.tests.factories import CustomerFactory
from invoicing.tests.factories import InvoiceFactory
from organizations.models import User
from wallets.models import Wallet, WalletTransaction
from wallets.services import consume, create_wallet, grant_credits, lock_active_wallet, terminate_wallet


@pytest.fixture
def support_client(db, client):
    client.force_login(User.objects.create_superuser("support@example.test", "support-pass"))
    return client


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def customer(organization):
    return CustomerFactory(organization=organization, external_id="acme_42", currency="EUR")


@pytest.fixture
def wallet(customer) -> Wallet:
    wallet = create_wallet(customer=customer, rate_amount=Decimal("1"), currency="EUR", name="Prepaid")
    grant_credits(wallet=wallet, credits=Decimal("10"))
    return Wallet.objects.get(pk=wallet.pk)


def test_pages_link_the_customer_the_invoice_and_the_staff_ui(support_client, wallet, customer):
    invoice = InvoiceFactory(organization=customer.organization, customer=customer, status="finalized")
    locked = lock_active_wallet(customer_id=customer.pk)
    consumed = consume(wallet=locked, amount_cents=250, invoice_id=invoice.pk, at=invoice.created_at)
    wallet_page = support_client.get(url(Wallet, "change", wallet.pk)).content.decode()
    assert reverse("admin:customers_customer_change", args=[customer.pk]) in wallet_page
    assert reverse("customers:tab", args=[customer.pk, "wallet"]) in wallet_page
    invoice_page = reverse("admin:invoicing_invoice_change", args=[invoice.pk])
    assert invoice_page in wallet_page  # the invoice its transaction paid, inline
    transaction_page = support_client.get(url(WalletTransaction, "change", consumed.pk)).content.decode()
    assert invoice_page in transaction_page and "2.50 EUR" in transaction_page
    listing = support_client.get(url(WalletTransaction, "changelist"), {"invoice_id": invoice.pk})
    assert list(listing.context["cl"].result_list) == [consumed]


def test_terminate_voids_what_is_left_and_skips_terminated_wallets(support_client, wallet, organization):
    ended = create_wallet(
        customer=CustomerFactory(organization=organization, currency="EUR"), rate_amount=Decimal("1"), currency="EUR"
    )
    terminate_wallet(wallet=ended)
    response = support_client.post(
        url(Wallet, "changelist"),
        {"action": "terminate", "_selected_action": [str(wallet.pk), str(ended.pk)]},
        follow=True,
    )
    assert "1 wallet(s) terminated. 1 already terminated, left as they are." in response.content.decode()
    wallet.refresh_from_db()
    assert wallet.status == "terminated" and wallet.balance_cents == 0
    voided = wallet.transactions.get(transaction_status="voided")
    assert voided.amount_cents == 1000
    filtered = support_client.get(url(Wallet, "changelist"), {"q": "acme_42", "status__exact": "terminated"})
    assert list(filtered.context["cl"].result_list) == [wallet]
