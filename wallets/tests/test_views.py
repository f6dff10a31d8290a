"""A customer's wallet in the staff UI: Actions → Add a wallet (then Top up), voiding credits,
terminating the wallet, and the Wallet tab with its balances and transactions."""

import re
from datetime import UTC, datetime
from decimal import Decimal
from html import unescape

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from customers.tests.factories import CustomerFactory
from invoicing.lifecycle import update_invoice
from invoicing.models import Invoice
from invoicing.prepaid_credits import TopUp, create_wallet, top_up_wallet
from invoicing.tests.factories import FeeFactory, InvoiceFactory
from wallets.models import Wallet, WalletTransaction
from wallets.services import terminate_wallet

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def customer(organization):
    return CustomerFactory(
        organization=organization, name="Wayne", external_id="cus_wayne", currency="EUR", timezone="Europe/Paris"
    )


def a_wallet(customer, granted: str = "100", rate: str = "1") -> Wallet:
    return create_wallet(
        customer=customer, rate_amount=Decimal(rate), name="Main", top_up=TopUp(granted_credits=Decimal(granted))
    )


def url(name: str, customer, wallet=None) -> str:
    return reverse(f"customers:{name}", args=[customer.pk] + ([wallet.pk] if wallet else []))


def tab_url(customer) -> str:
    return reverse("customers:tab", args=[customer.pk, "wallet"])


def field_error(html: str, field: str) -> str:
    match = re.search(
        rf'<div class="field has-error">\s*<label for="id_{field}">.*?<div class="field-error"[^>]*>(.*?)</div>',
        html,
        re.S,
    )
    return unescape(match.group(1)) if match else ""


def form_error(html: str) -> str:
    match = re.search(r'<div class="form-error" role="alert">(.*?)</div>', html, re.S)
    return unescape(match.group(1)) if match else ""


def wallet_data(**overrides) -> dict:
    data = {"name": "Main", "rate_amount": "1.5", "paid_credits": "", "granted_credits": "", "expiration_date": ""}
    data.update(overrides)
    return data


def test_the_pages_require_login_and_stay_with_their_customer(client, staff_client, customer, other_organization):
    wallet = a_wallet(customer)
    response = client.get(url("wallet_create", customer))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert staff_client.get(url("wallet_create", CustomerFactory(organization=other_organization))).status_code == 404
    # Another customer's wallet, even of the same organization, is out of reach.
    neighbour = CustomerFactory(organization=customer.organization)
    for name in ("wallet_top_up", "wallet_void"):
        assert staff_client.get(url(name, neighbour, wallet)).status_code == 404
    assert staff_client.post(url("wallet_terminate", neighbour, wallet)).status_code == 404
    assert Wallet.objects.get().status == "active"


def test_the_actions_menu_offers_add_a_wallet_then_top_up(staff_client, customer):
    detail = reverse("customers:detail", args=[customer.pk])
    html = staff_client.get(detail).content.decode()
    assert f'href="{url("wallet_create", customer)}">Add a wallet</a>' in html and ">Top up</a>" not in html
    wallet = a_wallet(customer)
    html = staff_client.get(detail).content.decode()
    assert f'href="{url("wallet_top_up", customer, wallet)}">Top up</a>' in html and ">Add a wallet</a>" not in html
    terminate_wallet(wallet=wallet)
    assert ">Add a wallet</a>" in staff_client.get(detail).content.decode()


def test_add_a_wallet_with_paid_and_granted_credits(staff_client, customer):
    data = wallet_data(paid_credits="20", granted_credits="10.5", expiration_date="2026-12-31")
    response = staff_client.post(url("wallet_create", customer), data, follow=True)
    assert response.redirect_chain[-1][0] == tab_url(customer)
    wallet = Wallet.objects.get()
    assert (wallet.name, wallet.currency, wallet.rate_amount) == ("Main", "EUR", Decimal("1.5"))
    # Granted credits are there at once; paid ones when their invoice is paid.
    assert (wallet.credits_balance, wallet.balance_cents) == (Decimal("10.5"), 1575)
    # The whole of the last day, in the customer's timezone (UTC+1 in winter).
    assert wallet.expiration_at == datetime(2026, 12, 31, 23, tzinfo=UTC)
    invoice = Invoice.objects.get()
    assert (invoice.invoice_type, invoice.status, invoice.total_amount_cents) == ("credit", "finalized", 3000)
    html = response.content.decode()
    assert "Wallet added." in html
    assert "10.5 credits" in html and "15.75 EUR" in html and "1 credit = 1.5 EUR" in html
    assert "Dec 31, 2026 23:59" not in html and "Jan 1, 2027 00:00" in html  # shown in Europe/Paris
    assert f'href="/invoices/{invoice.pk}/">{invoice.number}</a>' in html
    assert ">Pending</span>" in html and ">Settled</span>" in html


def test_paid_credits_arrive_when_their_invoice_is_paid(staff_client, customer):
    staff_client.post(url("wallet_create", customer), wallet_data(rate_amount="1", paid_credits="20"))
    update_invoice(invoice=Invoice.objects.get(), payment_status="succeeded")
    html = staff_client.get(tab_url(customer)).content.decode()
    assert "20 credits" in html and ">Pending</span>" not in html


def test_a_customer_without_currency_chooses_the_wallets(staff_client, organization):
    customer = CustomerFactory(organization=organization, currency=None)
    html = staff_client.get(url("wallet_create", customer)).content.decode()
    assert 'name="currency"' in html
    response = staff_client.post(url("wallet_create", customer), wallet_data(currency="USD", granted_credits="1"))
    assert response.status_code == 302
    customer.refresh_from_db()
    assert Wallet.objects.get().currency == "USD" and customer.currency == "USD"


@pytest.mark.parametrize(
    ("data", "field", "sentence"),
    [
        ({"rate_amount": ""}, "rate_amount", "This field is required."),
        ({"rate_amount": "abc"}, "rate_amount", "Enter a number, such as 12.50."),
        (
            {"rate_amount": "0"},
            "rate_amount",
            "Enter the value of one credit: a number above 0 with at most 15 decimals, such as 1 or 0.25.",
        ),
        (
            {"paid_credits": "1.123456"},
            "paid_credits",
            "Enter a number of credits of 0 or more, with at most 5 decimals.",
        ),
        (
            {"granted_credits": "-3"},
            "granted_credits",
            "Enter a number of credits of 0 or more, with at most 5 decimals.",
        ),
        ({"expiration_date": "2026-03-01"}, "expiration_date", "Choose a day that has not passed yet."),
    ],
)
def test_refusals_read_as_sentences_next_to_their_field(staff_client, customer, data, field, sentence):
    response = staff_client.post(url("wallet_create", customer), wallet_data(**data))
    assert response.status_code == 200
    assert field_error(response.content.decode(), field) == sentence
    assert not Wallet.objects.exists() and not Invoice.objects.exists()


def test_a_second_active_wallet_is_refused(staff_client, customer):
    wallet = a_wallet(customer)
    html = staff_client.get(url("wallet_create", customer)).content.decode()
    assert "already has an active wallet" in html and url("wallet_top_up", customer, wallet) in html
    response = staff_client.post(url("wallet_create", customer), wallet_data(granted_credits="5"))
    assert form_error(response.content.decode()) == (
        "This customer already has an active wallet: top it up, or terminate it first."
    )
    assert Wallet.objects.count() == 1 and WalletTransaction.objects.count() == 1


def test_top_up(staff_client, customer):
    wallet = a_wallet(customer, granted="10")
    response = staff_client.post(
        url("wallet_top_up", customer, wallet), {"paid_credits": "5", "granted_credits": "2.5"}, follow=True
    )
    assert "Wallet topped up." in response.content.decode()
    wallet.refresh_from_db()
    assert wallet.credits_balance == Decimal("12.5")
    reasons = list(
        WalletTransaction.objects.order_by("created_at", "transaction_status").values_list(
            "transaction_status", "status"
        )
    )
    assert sorted(reasons) == [("granted", "settled"), ("granted", "settled"), ("purchased", "pending")]


def test_a_top_up_of_nothing_is_refused(staff_client, customer):
    wallet = a_wallet(customer)
    response = staff_client.post(url("wallet_top_up", customer, wallet), {"paid_credits": "", "granted_credits": "0"})
    assert form_error(response.content.decode()) == "Enter paid or granted credits."
    assert WalletTransaction.objects.count() == 1


def test_a_terminated_wallet_cannot_be_topped_up(staff_client, customer):
    wallet = a_wallet(customer)
    terminate_wallet(wallet=wallet)
    count = WalletTransaction.objects.count()
    response = staff_client.post(url("wallet_top_up", customer, wallet), {"granted_credits": "5"})
    assert form_error(response.content.decode()) == "This wallet is terminated: its credits can no longer change."
    assert WalletTransaction.objects.count() == count


def test_void_credits(staff_client, customer):
    wallet = a_wallet(customer, granted="10")
    response = staff_client.post(url("wallet_void", customer, wallet), {"voided_credits": "4"}, follow=True)
    assert "Credits voided." in response.content.decode()
    wallet.refresh_from_db()
    assert wallet.credits_balance == Decimal(6)
    # Never more than the balance.
    response = staff_client.post(url("wallet_void", customer, wallet), {"voided_credits": "7"})
    assert field_error(response.content.decode(), "voided_credits") == "More credits than the wallet holds."
    wallet.refresh_from_db()
    assert wallet.credits_balance == Decimal(6)


def test_terminate_the_wallet(staff_client, customer):
    wallet = a_wallet(customer, granted="10")
    html = staff_client.get(tab_url(customer)).content.decode()
    assert "Terminate wallet</button>" in html and "Its 10 remaining credits are voided" in html
    response = staff_client.post(url("wallet_terminate", customer, wallet), follow=True)
    html = response.content.decode()
    assert "Wallet terminated: its remaining credits were voided." in html
    wallet.refresh_from_db()
    assert (wallet.status, wallet.balance_cents) == ("terminated", 0)
    # A terminated wallet offers no action on its credits, and a new wallet may be added.
    assert "Terminate wallet</button>" not in html and ">Top up</a>" not in html
    assert url("wallet_create", customer) in html
    again = staff_client.post(url("wallet_terminate", customer, wallet), follow=True).content.decode()
    assert "This wallet was already terminated." in again


def test_the_wallet_tab_shows_the_active_wallet_and_lists_the_others(staff_client, customer):
    old = a_wallet(customer, granted="3")
    old.name = "Old"
    old.save()
    terminate_wallet(wallet=old)
    a_wallet(customer, granted="7")
    html = staff_client.get(tab_url(customer)).content.decode()
    assert "7 credits" in html and "All wallets" in html and f"?wallet={old.pk}" in html
    fragment = staff_client.get(
        tab_url(customer), {"wallet": old.pk}, headers={"HX-Request": "true", "HX-Target": "tab-panel"}
    ).content.decode()
    assert fragment.lstrip().startswith('<div id="tab-panel">') and "Old" in fragment and "Voided" in fragment


def test_the_wallet_tab_costs_a_fixed_number_of_queries(staff_client, customer):
    wallet = a_wallet(customer)
    top_up_wallet(wallet=wallet, top_up=TopUp(paid_credits=Decimal(1)))
    with CaptureQueriesContext(connection) as few:
        staff_client.get(tab_url(customer))
    for _ in range(5):
        top_up_wallet(wallet=wallet, top_up=TopUp(paid_credits=Decimal(1), granted_credits=Decimal(1)))
    with CaptureQueriesContext(connection) as many:
        html = staff_client.get(tab_url(customer)).content.decode()
    assert len(many.captured_queries) == len(few.captured_queries)
    assert len(re.findall(r'href="/invoices/[0-9a-f-]{36}/"', html)) == 6


def test_adding_a_wallet_locks_the_external_id(staff_client, customer):
    staff_client.post(url("wallet_create", customer), wallet_data(granted_credits="1"))
    html = staff_client.get(reverse("customers:edit", args=[customer.pk])).content.decode()
    assert re.search(r'name="external_id"[^>]*readonly', html) and "already has a wallet" in html


def test_the_invoice_pages_show_prepaid_credits_and_a_credit_invoices_type(staff_client, organization, customer):
    staff_client.post(url("wallet_create", customer), wallet_data(paid_credits="10"))
    credit_invoice = Invoice.objects.get()
    html = staff_client.get(reverse("invoicing:detail", args=[credit_invoice.pk])).content.decode()
    assert "Credit invoice</span>" in html and "prepaid credits bought for the customer" in html
    printed = staff_client.get(reverse("invoicing:print", args=[credit_invoice.pk])).content.decode()
    assert "Credit invoice: prepaid credits" in printed
    paid = InvoiceFactory(
        organization=organization,
        customer=customer,
        status="finalized",
        fees_amount_cents=5000,
        credit_notes_amount_cents=500,
        prepaid_credit_amount_cents=1200,
        total_amount_cents=3300,
    )
    FeeFactory(invoice=paid, amount_cents=5000)
    for name in ("invoicing:detail", "invoicing:print"):
        html = staff_client.get(reverse(name, args=[paid.pk])).content.decode()
        assert re.search(r"Prepaid credits</th><td[^>]*>−12.00 EUR", html), name
        assert re.search(r"Credit notes</th><td[^>]*>−5.00 EUR", html), name
        assert "Credit invoice" not in html
