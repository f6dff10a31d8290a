"""Staff pages for a customer's wallet: Actions → Add a wallet and Top up, voiding credits, terminating
the wallet, and the customer's Wallet tab. The ledger's rules are `wallets.services`'; selling paid
credits on an invoice and the ongoing balance are billing's (`invoicing.prepaid_credits`)."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from billing.errors import NotAllowed, NotFound, ValidationFailed
from billing.staff import staff_page
from customers.models import Customer
from customers.selectors import get_customer
from invoicing.prepaid_credits import TopUp, create_wallet, ongoing_balance, top_up_wallet
from invoicing.selectors import list_invoices
from wallets.forms import TopUpForm, VoidCreditsForm, WalletForm
from wallets.models import Wallet, WalletStatus
from wallets.selectors import active_wallet, customer_wallets, get_wallet, list_wallet_transactions
from wallets.services import terminate_wallet


def _customer_wallet(request, customer: Customer, wallet_id) -> Wallet:
    """One of this customer's wallets: another customer's, even of the organization, is a 404."""
    wallet = get_wallet(organization=request.organization, wallet_id=wallet_id)
    if wallet.customer_id != customer.pk:
        raise NotFound("wallet")
    return wallet


def _to_wallet_tab(customer: Customer):
    return redirect("customers:tab", customer.pk, "wallet")


@require_http_methods(["GET", "POST"])
@staff_page
def wallet_create(request, customer_id):
    """Actions → Add a wallet (offered while the customer has no active wallet)."""
    customer = get_customer(organization=request.organization, customer_id=customer_id)
    form = WalletForm(request.POST or None, customer=customer)
    if request.method == "POST" and form.is_valid():
        try:
            create_wallet(customer=customer, top_up=TopUp(**form.credits()), **form.service_kwargs())
        except (ValidationFailed, NotFound) as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, "Wallet added.")
            return _to_wallet_tab(customer)
    # A second active wallet is refused: say so before staff fill the form in.
    existing = active_wallet(customer=customer)
    context = {"customer": customer, "form": form, "existing": existing}
    return render(request, "wallets/wallet_form.html", context)


def _credits_page(request, customer_id, wallet_id, *, form_class, template: str, done: str):
    """Top up and Void credits: one form of credits, one call to `top_up_wallet`."""
    customer = get_customer(organization=request.organization, customer_id=customer_id)
    wallet = _customer_wallet(request, customer, wallet_id)
    form = form_class(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            top_up_wallet(wallet=wallet, top_up=TopUp(**form.credits()))
        except (ValidationFailed, NotAllowed) as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, done)
            return _to_wallet_tab(customer)
    context = {"customer": customer, "wallet": wallet, "form": form}
    return render(request, template, context)


@require_http_methods(["GET", "POST"])
@staff_page
def wallet_top_up(request, customer_id, wallet_id):
    return _credits_page(
        request, customer_id, wallet_id, form_class=TopUpForm, template="wallets/top_up.html", done="Wallet topped up."
    )


@require_http_methods(["GET", "POST"])
@staff_page
def wallet_void(request, customer_id, wallet_id):
    return _credits_page(
        request,
        customer_id,
        wallet_id,
        form_class=VoidCreditsForm,
        template="wallets/void.html",
        done="Credits voided.",
    )


@require_POST
@staff_page
def wallet_terminate(request, customer_id, wallet_id):
    customer = get_customer(organization=request.organization, customer_id=customer_id)
    wallet = _customer_wallet(request, customer, wallet_id)
    if wallet.status == WalletStatus.TERMINATED:
        # The service is idempotent; saying "terminated" again would report a change not made.
        messages.error(request, "This wallet was already terminated.")
    else:
        terminate_wallet(wallet=wallet)
        messages.success(request, "Wallet terminated: its remaining credits were voided.")
    return _to_wallet_tab(customer)


# The customer's Wallet tab ---------------------------------------------------------------------


def customer_wallet_tab(request, customer: Customer) -> dict:
    """One wallet (the one picked with ?wallet=, else the active one, else the latest) with its
    balances and transactions, and the customer's other wallets: a fixed number of queries whatever
    the transactions (the ongoing balance reads the current usage of each active subscription)."""
    wallets = list(customer_wallets(customer=customer))
    picked = next((wallet for wallet in wallets if str(wallet.pk) == request.GET.get("wallet")), None)
    wallet = picked or (wallets[0] if wallets else None)
    context = {"wallets": wallets, "wallet": wallet}
    if wallet is None:
        return context
    transactions = list(list_wallet_transactions(wallet=wallet))
    invoice_ids = {t.invoice_id for t in transactions} | {t.voided_invoice_id for t in transactions}
    invoices = list_invoices(organization=request.organization).filter(pk__in=invoice_ids - {None})
    numbers = {invoice.pk: invoice.number for invoice in invoices}
    for transaction in transactions:
        transaction.invoice_number = numbers.get(transaction.invoice_id)
        transaction.voided_invoice_number = numbers.get(transaction.voided_invoice_id)
    balance = ongoing_balance(wallet)
    context.update(
        transactions=transactions,
        ongoing_balance_cents=balance.balance_cents,
        ongoing_credits=balance.credits(wallet)[0],
    )
    return context
