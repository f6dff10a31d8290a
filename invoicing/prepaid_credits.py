"""What billing does with prepaid credits: opens wallets and tops them up, sells paid credits on a
credit invoice and settles them when it is paid, and tells how much of a wallet is already
promised to current usage and drafts (the ongoing balance). Spending credits at finalization is
`invoicing.wallet_payments`; the ledger itself (balances and transactions) is `wallets.services`.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from billing.errors import ValidationFailed
from customers.models import Customer
from invoicing.models import Fee, FeeType, Invoice, InvoiceStatus, InvoiceType, PaymentStatus
from invoicing.one_off import issue_invoice
from invoicing.usage import current_usage_amount_cents
from wallets import services as ledger
from wallets.models import Wallet, WalletTransaction


@dataclass(frozen=True)
class TopUp:
    paid_credits: Decimal | None = None
    granted_credits: Decimal | None = None
    voided_credits: Decimal | None = None
    name: str | None = None
    metadata: Any = None

    @classmethod
    def read(cls, data: dict[str, Any]) -> "TopUp":
        """The credits of a request, checked (null or absent means none, as Lago reads them)."""
        return cls(
            paid_credits=ledger.clean_credits(data.get("paid_credits"), "paid_credits"),
            granted_credits=ledger.clean_credits(data.get("granted_credits"), "granted_credits"),
            voided_credits=ledger.clean_credits(data.get("voided_credits"), "voided_credits"),
            name=data.get("name"),
            metadata=data.get("metadata"),
        )


def _sell_credits(wallet: Wallet, purchase: WalletTransaction, at: datetime) -> Invoice:
    """The credit invoice for paid credits (Lago's `credit` invoice), finalized at once; its
    purchase settles when it is paid."""
    customer = Customer.objects.select_related("organization").get(pk=wallet.customer_id)
    fee = Fee(
        fee_type=FeeType.CREDIT,
        wallet_transaction=purchase,
        description=purchase.name or "Prepaid credits",
        amount_cents=purchase.amount_cents,
        unit_amount_cents=ledger.credits_to_cents(wallet, Decimal(1)),
        currency=wallet.currency,
        units=purchase.credit_amount,
    )
    invoice = issue_invoice(
        customer=customer, invoice_type=InvoiceType.CREDIT, currency=wallet.currency, fees=[fee], at=at
    )
    ledger.attach_invoice(wallet_transaction=purchase, invoice_id=invoice.pk)
    return invoice


@transaction.atomic
def top_up_wallet(*, wallet: Wallet, top_up: TopUp, at: datetime | None = None) -> list[WalletTransaction]:
    """Paid, granted and voided credits in one request, in that order: up to three transactions."""
    at = at or timezone.now()
    ledger.check_usable(wallet)
    made = []
    if top_up.paid_credits:
        purchase = ledger.start_purchase(
            wallet=wallet, credits=top_up.paid_credits, name=top_up.name, metadata=top_up.metadata, at=at
        )
        _sell_credits(wallet, purchase, at)
        purchase.refresh_from_db()
        made.append(purchase)
    if top_up.granted_credits:
        made.append(
            ledger.grant_credits(
                wallet=wallet, credits=top_up.granted_credits, name=top_up.name, metadata=top_up.metadata, at=at
            )
        )
    if top_up.voided_credits:
        made.append(
            ledger.void_credits(
                wallet=wallet, credits=top_up.voided_credits, name=top_up.name, metadata=top_up.metadata, at=at
            )
        )
    return made


@transaction.atomic
def create_wallet(
    *,
    customer: Customer,
    rate_amount: Any,
    currency: str | None = None,
    name: str | None = None,
    expiration_at: datetime | None = None,
    top_up: TopUp | None = None,
    at: datetime | None = None,
) -> Wallet:
    """Open a wallet and put its first credits in it, in one transaction (ours: Lago adds them in a
    job after the answer, so its create response shows an empty wallet)."""
    at = at or timezone.now()
    top_up = top_up or TopUp()
    if top_up.voided_credits:
        raise ValidationFailed({"voided_credits": ["value_is_invalid"]})
    wallet = ledger.create_wallet(
        customer=customer, rate_amount=rate_amount, currency=currency, name=name, expiration_at=expiration_at, at=at
    )
    top_up_wallet(wallet=wallet, top_up=top_up, at=at)
    wallet.refresh_from_db()
    return wallet


# Payment of a credit invoice -----------------------------------------------------------------


def record_credit_payment(invoice: Invoice, payment_status: str) -> None:
    """A credit invoice's payment settles its purchase (succeeded) or fails it (failed)."""
    if invoice.invoice_type != InvoiceType.CREDIT:
        return
    if payment_status == PaymentStatus.SUCCEEDED:
        ledger.settle_purchase(invoice_id=invoice.pk)
    elif payment_status == PaymentStatus.FAILED:
        ledger.fail_purchase(invoice_id=invoice.pk)


def cancel_credit_purchase(invoice: Invoice) -> None:
    """A voided credit invoice will never be paid: its pending purchase fails."""
    if invoice.invoice_type == InvoiceType.CREDIT:
        ledger.fail_purchase(invoice_id=invoice.pk)


# The ongoing balance --------------------------------------------------------------------------


@dataclass(frozen=True)
class OngoingBalance:
    usage_cents: int  # current usage and drafts not paid yet, capped by the balance
    balance_cents: int

    def credits(self, wallet: Wallet) -> tuple[Decimal, Decimal]:
        return ledger.cents_to_credits(wallet, self.balance_cents), ledger.cents_to_credits(wallet, self.usage_cents)


def stored_ongoing_balance(wallet: Wallet) -> OngoingBalance:
    """The ongoing balance from what was owed at the last sync (`sync_ongoing_balances`) and the
    balance as it is now: what lists show, at a fixed cost per page."""
    if wallet.status != "active":
        return OngoingBalance(usage_cents=0, balance_cents=wallet.balance_cents)
    owed = min(max(wallet.ongoing_usage_balance_cents, 0), wallet.balance_cents)
    return OngoingBalance(usage_cents=owed, balance_cents=wallet.balance_cents - owed)


def sync_ongoing_balances(*, at: datetime | None = None) -> int:
    """The clock: store what every active wallet's customer owes now. Returns how many wallets."""
    at = at or timezone.now()
    synced = 0
    for wallet in Wallet.objects.filter(status="active").iterator(chunk_size=500):
        owed = ongoing_balance(wallet, at=at).usage_cents
        ledger.record_ongoing_usage(wallet_id=wallet.pk, usage_cents=owed, at=at)
        synced += 1
    return synced


def ongoing_balance(wallet: Wallet, *, at: datetime | None = None) -> OngoingBalance:
    """The balance minus what is already owed and not yet paid for by the wallet: the current usage
    of the customer's active subscriptions and its draft subscription invoices (Lago's ongoing
    balance)."""
    if wallet.status != "active":
        return OngoingBalance(usage_cents=0, balance_cents=wallet.balance_cents)
    drafts = (
        Invoice.objects.filter(
            customer_id=wallet.customer_id,
            status=InvoiceStatus.DRAFT,
            invoice_type=InvoiceType.SUBSCRIPTION,
            currency=wallet.currency,
        ).aggregate(total=Sum("total_amount_cents"))["total"]
        or 0
    )
    usage = current_usage_amount_cents(customer_id=wallet.customer_id, currency=wallet.currency, at=at)
    owed = min(max(drafts + usage, 0), wallet.balance_cents)
    return OngoingBalance(usage_cents=owed, balance_cents=wallet.balance_cents - owed)
