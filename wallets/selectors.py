"""Reads shared by the staff pages and the API for wallets and their transactions."""

from django.db.models import QuerySet

from billing.errors import NotFound
from billing.ids import as_uuid
from customers.models import Customer
from customers.selectors import customers_named_by
from organizations.models import Organization
from wallets.models import Wallet, WalletStatus, WalletTransaction


def list_wallets(*, organization: Organization, external_customer_id: str | None = None) -> QuerySet[Wallet]:
    """The organization's wallets, newest first; `external_customer_id` as `customers_named_by` reads
    it (a deleted customer's wallets stay listed by its id until a new customer takes it)."""
    wallets = Wallet.objects.filter(organization=organization)
    if external_customer_id is not None:
        wallets = wallets.filter(
            customer__in=customers_named_by(organization=organization, external_id=external_customer_id)
        )
    return wallets.select_related("customer").order_by("-created_at", "id")


def get_wallet(*, organization: Organization, wallet_id, to_read: bool = False) -> Wallet:
    """A wallet of a live customer. With `to_read`, a deleted customer's too: API-SCOPE keeps it
    and its transactions readable by id, while a change to it (an update, a top-up, a termination
    outside the deletion's cascade) is refused as for an unknown wallet."""
    wallet_id = as_uuid(wallet_id)
    wallets = Wallet.objects.filter(organization=organization, pk=wallet_id).select_related("customer")
    if not to_read:
        wallets = wallets.filter(customer__deleted_at__isnull=True)
    wallet = wallets.first() if wallet_id else None
    if wallet is None:
        raise NotFound("wallet")
    return wallet


def active_wallet(*, customer: Customer) -> Wallet | None:
    return Wallet.objects.filter(customer=customer, status=WalletStatus.ACTIVE).select_related("customer").first()


def customer_wallets(*, customer: Customer) -> QuerySet[Wallet]:
    """A customer's wallets for its page: the active one first, then the newest."""
    return Wallet.objects.filter(customer=customer).select_related("customer").order_by("status", "-created_at")


def list_wallet_transactions(
    *, wallet: Wallet, status: str | None = None, transaction_type: str | None = None
) -> QuerySet[WalletTransaction]:
    """A wallet's transactions, newest first."""
    transactions = WalletTransaction.objects.filter(wallet=wallet)
    if status:
        transactions = transactions.filter(status=status)
    if transaction_type:
        transactions = transactions.filter(transaction_type=transaction_type)
    return transactions.select_related("wallet").order_by("-created_at", "-id")


def get_wallet_transaction(*, organization: Organization, transaction_id) -> WalletTransaction:
    transaction_id = as_uuid(transaction_id)
    found = (
        # A deleted customer's transactions included: they stay readable by their ids (API-SCOPE).
        WalletTransaction.objects.filter(pk=transaction_id, wallet__organization=organization)
        .select_related("wallet__customer")
        .first()
        if transaction_id
        else None
    )
    if found is None:
        raise NotFound("wallet_transaction")
    return found
