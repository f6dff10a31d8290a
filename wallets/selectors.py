"""Reads shared by the staff pages and the API for wallets and their transactions."""

from django.db.models import QuerySet

from billing.errors import NotFound
from billing.ids import as_uuid
from customers.models import Customer
from organizations.models import Organization
from wallets.models import Wallet, WalletStatus, WalletTransaction


def list_wallets(*, organization: Organization, external_customer_id: str | None = None) -> QuerySet[Wallet]:
    """Wallets of live customers, newest first."""
    wallets = Wallet.objects.filter(organization=organization, customer__deleted_at__isnull=True)
    if external_customer_id is not None:
        wallets = wallets.filter(customer__external_id=external_customer_id)
    return wallets.select_related("customer").order_by("-created_at", "id")


def get_wallet(*, organization: Organization, wallet_id) -> Wallet:
    wallet_id = as_uuid(wallet_id)
    wallet = list_wallets(organization=organization).filter(pk=wallet_id).first() if wallet_id else None
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
        WalletTransaction.objects.filter(
            pk=transaction_id, wallet__organization=organization, wallet__customer__deleted_at__isnull=True
        )
        .select_related("wallet__customer")
        .first()
        if transaction_id
        else None
    )
    if found is None:
        raise NotFound("wallet_transaction")
    return found
