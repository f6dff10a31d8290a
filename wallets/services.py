"""Writes for wallets: prepaid credits in and out, always through a transaction, so that the books
balance: settled inbound = settled outbound + balance.

What invoices do with credits (selling them, spending them at finalization, giving them back on a
void) is billing's (`invoicing.prepaid_credits`); it calls the functions below.
"""

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.currencies import is_currency
from billing.errors import NotAllowed, NotFound, ValidationFailed
from billing.money import from_minor_units, to_minor_units
from billing.text import add_error, clean_text
from customers.models import Customer
from wallets.models import (
    TransactionReason,
    TransactionStatus,
    TransactionType,
    Wallet,
    WalletStatus,
    WalletTransaction,
)
from webhooks.services import emit

CREDIT_QUANTUM = Decimal("0.00001")
MAX_CREDITS = Decimal(10) ** 15
MAX_RATE = Decimal(10) ** 9  # one credit worth at most a billion units of the currency
MAX_TRANSACTION_CENTS = 10**15
MAX_BALANCE_CENTS = 10**17  # far from PostgreSQL's bigint, whatever the number of top-ups
MAX_METADATA = 15


# Credits and money --------------------------------------------------------------------------


def credits_to_cents(wallet: Wallet, credits: Decimal) -> int:
    """What `credits` are worth, in minor units of the wallet's currency (rounded half up, once)."""
    return to_minor_units(credits * wallet.rate_amount, wallet.currency)


def worth_of(wallet: Wallet, credits: Decimal, field: str) -> int:
    """What `credits` are worth in whole minor units, or a refusal (`invalid_amount` on `field`)
    when they are worth nothing, a fraction of a minor unit, or more than a transaction may carry:
    what the wallet books in credits and in money must be the same amount."""
    exact = credits * wallet.rate_amount
    amount_cents = credits_to_cents(wallet, credits) if exact < MAX_RATE * MAX_CREDITS else MAX_TRANSACTION_CENTS
    if (
        amount_cents <= 0
        or amount_cents >= MAX_TRANSACTION_CENTS
        or from_minor_units(amount_cents, wallet.currency) != exact
    ):
        raise ValidationFailed({field: ["invalid_amount"]})
    return amount_cents


def cents_to_credits(wallet: Wallet, amount_cents: int) -> Decimal:
    return (from_minor_units(amount_cents, wallet.currency) / wallet.rate_amount).quantize(CREDIT_QUANTUM)


def clean_credits(value: Any, field: str) -> Decimal | None:
    """A number of credits as given (Decimal or int), ≥ 0 with at most 5 decimals; None when absent."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValidationFailed({field: ["value_is_invalid"]})
    credits = Decimal(value)
    if credits < 0 or credits >= MAX_CREDITS or credits != credits.quantize(CREDIT_QUANTUM):
        raise ValidationFailed({field: ["invalid_amount"]})
    return credits


def _clean_metadata(value: Any) -> list[dict[str, str]]:
    """Lago's transaction metadata: a list of {key, value} strings, at most 15."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_METADATA:
        raise ValidationFailed({"metadata": ["value_is_invalid"]})
    rows = []
    for row in value:
        if not isinstance(row, dict) or set(row) != {"key", "value"}:
            raise ValidationFailed({"metadata": ["value_is_invalid"]})
        key, key_error = clean_text(row["key"], required=True)
        text, text_error = clean_text(row["value"], required=False)
        if key_error or text_error:
            raise ValidationFailed({"metadata": ["value_is_invalid"]})
        rows.append({"key": key, "value": text or ""})
    return rows


# Wallets ------------------------------------------------------------------------------------


def _clean_expiration(errors: dict, value: Any, at: datetime) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        add_error(errors, "expiration_at", "value_is_invalid")
    elif value <= at:
        add_error(errors, "expiration_at", "invalid_date")
    return value


@transaction.atomic
def create_wallet(
    *,
    customer: Customer,
    rate_amount: Any,
    currency: str | None = None,
    name: str | None = None,
    expiration_at: datetime | None = None,
    at: datetime | None = None,
) -> Wallet:
    """Open the customer's wallet, empty (credits come through transactions). One active wallet per
    customer (ours; Lago allows several, which makes "which wallet pays" a setting to learn)."""
    at = at or timezone.now()
    customer = Customer.objects.select_for_update(no_key=True).get(pk=customer.pk)
    if customer.deleted_at is not None:
        raise NotFound("customer")
    errors: dict[str, list[str]] = {}
    if rate_amount is None:
        add_error(errors, "rate_amount", "value_is_mandatory")
    elif (
        isinstance(rate_amount, bool)
        or not isinstance(rate_amount, int | Decimal)
        or not 0 < rate_amount < MAX_RATE
        or Decimal(rate_amount).as_tuple().exponent < -15  # the column keeps 15 decimals
    ):
        add_error(errors, "rate_amount", "value_is_invalid")
    currency = currency or customer.currency
    if currency is None:
        add_error(errors, "currency", "value_is_mandatory")
    elif not isinstance(currency, str) or not is_currency(currency):
        add_error(errors, "currency", "value_is_invalid")
    elif customer.currency is not None and customer.currency != currency:
        add_error(errors, "currency", "currencies_does_not_match")
    name, name_error = clean_text(name, required=False)
    add_error(errors, "name", name_error)
    expiration_at = _clean_expiration(errors, expiration_at, at)
    if errors:
        raise ValidationFailed(errors)
    if customer.currency is None:
        customer.currency = currency
        customer.save(update_fields=["currency", "updated_at"])
    try:
        with transaction.atomic():
            wallet = Wallet.objects.create(
                organization_id=customer.organization_id,
                customer=customer,
                name=name,
                currency=currency,
                rate_amount=Decimal(rate_amount),
                expiration_at=expiration_at,
                created_at=at,
            )
    except IntegrityError:
        raise ValidationFailed({"customer": ["wallet_already_exists"]}) from None
    _emit("wallet.created", wallet, wallet.organization_id)
    return wallet


@transaction.atomic
def update_wallet(*, wallet: Wallet, data: dict[str, Any], at: datetime | None = None) -> Wallet:
    """Rename a wallet or move its expiration; a terminated wallet is frozen."""
    wallet = Wallet.objects.select_for_update().get(pk=wallet.pk)
    if wallet.status != WalletStatus.ACTIVE:
        raise NotAllowed("wallet_is_terminated")
    errors: dict[str, list[str]] = {}
    if "name" in data:
        wallet.name, name_error = clean_text(data["name"], required=False)
        add_error(errors, "name", name_error)
    if "expiration_at" in data:
        wallet.expiration_at = _clean_expiration(errors, data["expiration_at"], at or timezone.now())
    if errors:
        raise ValidationFailed(errors)
    wallet.save()
    _emit("wallet.updated", wallet, wallet.organization_id)
    return wallet


def _emit(webhook_type: str, record: Wallet | WalletTransaction, organization_id) -> None:
    object_type = "wallet" if isinstance(record, Wallet) else "wallet_transaction"
    emit(organization_id=organization_id, webhook_type=webhook_type, object_type=object_type, object_id=record.pk)


def _lock(wallet: Wallet) -> Wallet:
    return Wallet.objects.select_for_update().get(pk=wallet.pk)


def _add(wallet: Wallet, amount_cents: int) -> None:
    wallet.balance_cents += amount_cents
    wallet.credits_balance = cents_to_credits(wallet, wallet.balance_cents)


def _transaction(wallet: Wallet, reason: str, credits: Decimal, amount_cents: int, at: datetime, **fields):
    inbound = reason in (TransactionReason.PURCHASED, TransactionReason.GRANTED)
    settled = fields.pop("settled", True)
    record = WalletTransaction.objects.create(
        wallet=wallet,
        transaction_type=TransactionType.INBOUND if inbound else TransactionType.OUTBOUND,
        status=TransactionStatus.SETTLED if settled else TransactionStatus.PENDING,
        transaction_status=reason,
        credit_amount=credits,
        amount_cents=amount_cents,
        settled_at=at if settled else None,
        created_at=at,
        **fields,
    )
    _emit("wallet_transaction.created", record, wallet.organization_id)
    return record


def _usable(wallet: Wallet) -> Wallet:
    wallet = _lock(wallet)
    check_usable(wallet)
    return wallet


def check_usable(wallet: Wallet) -> None:
    """Credits move only in and out of an active wallet."""
    if wallet.status != WalletStatus.ACTIVE:
        raise ValidationFailed({"wallet_id": ["wallet_is_terminated"]})


def _clean_name(name: Any) -> str | None:
    name, error = clean_text(name, required=False)
    if error:
        raise ValidationFailed({"name": [error]})
    return name


def _check_room(wallet: Wallet, amount_cents: int, field: str) -> None:
    if wallet.balance_cents + amount_cents >= MAX_BALANCE_CENTS:
        raise ValidationFailed({field: ["invalid_amount"]})


@transaction.atomic
def grant_credits(
    *, wallet: Wallet, credits: Decimal, name: str | None = None, metadata: Any = None, at: datetime | None = None
) -> WalletTransaction:
    """Free credits: an inbound `granted` transaction, settled at once."""
    at = at or timezone.now()
    wallet = _usable(wallet)
    amount_cents = worth_of(wallet, credits, "granted_credits")
    _check_room(wallet, amount_cents, "granted_credits")
    name, metadata = _clean_name(name), _clean_metadata(metadata)
    _add(wallet, amount_cents)
    wallet.save(update_fields=["balance_cents", "credits_balance", "updated_at"])
    return _transaction(wallet, TransactionReason.GRANTED, credits, amount_cents, at, name=name, metadata=metadata)


@transaction.atomic
def void_credits(
    *, wallet: Wallet, credits: Decimal, name: str | None = None, metadata: Any = None, at: datetime | None = None
) -> WalletTransaction:
    """Take credits away at once: an outbound `voided` transaction; never more than the balance."""
    at = at or timezone.now()
    wallet = _usable(wallet)
    amount_cents = worth_of(wallet, credits, "voided_credits")
    name, metadata = _clean_name(name), _clean_metadata(metadata)
    if amount_cents > wallet.balance_cents or credits > wallet.credits_balance:
        raise ValidationFailed({"voided_credits": ["insufficient_credits"]})
    if amount_cents == wallet.balance_cents:
        credits = wallet.credits_balance  # voiding it all leaves exactly nothing, whatever the rounding
    _add(wallet, -amount_cents)
    wallet.save(update_fields=["balance_cents", "credits_balance", "updated_at"])
    return _transaction(wallet, TransactionReason.VOIDED, credits, amount_cents, at, name=name, metadata=metadata)


@transaction.atomic
def start_purchase(
    *, wallet: Wallet, credits: Decimal, name: str | None = None, metadata: Any = None, at: datetime | None = None
) -> WalletTransaction:
    """Paid credits: an inbound `purchased` transaction, pending until the invoice that sells them
    is paid. Billing writes that invoice and records it with `attach_invoice`."""
    at = at or timezone.now()
    wallet = _usable(wallet)
    amount_cents = worth_of(wallet, credits, "paid_credits")
    _check_room(wallet, amount_cents, "paid_credits")
    return _transaction(
        wallet,
        TransactionReason.PURCHASED,
        credits,
        amount_cents,
        at,
        settled=False,
        name=_clean_name(name),
        metadata=_clean_metadata(metadata),
    )


def attach_invoice(*, wallet_transaction: WalletTransaction, invoice_id) -> None:
    wallet_transaction.invoice_id = invoice_id
    wallet_transaction.save(update_fields=["invoice_id"])


@transaction.atomic
def settle_purchase(*, invoice_id, at: datetime | None = None) -> WalletTransaction | None:
    """The invoice selling credits is paid: its pending purchase settles and the credits arrive.
    Idempotent. Credits paid for after their wallet was terminated arrive and are voided at once,
    so that the books still balance and the record shows both."""
    at = at or timezone.now()
    purchase = (
        WalletTransaction.objects.select_for_update()
        .filter(invoice_id=invoice_id, transaction_status=TransactionReason.PURCHASED)
        .first()
    )
    if purchase is None or purchase.status != TransactionStatus.PENDING:
        return purchase
    wallet = _lock(purchase.wallet)
    purchase.status = TransactionStatus.SETTLED
    purchase.settled_at = at
    purchase.save(update_fields=["status", "settled_at"])
    _emit("wallet_transaction.updated", purchase, wallet.organization_id)
    _add(wallet, purchase.amount_cents)
    if wallet.status != WalletStatus.ACTIVE:
        _add(wallet, -purchase.amount_cents)
        _transaction(wallet, TransactionReason.VOIDED, purchase.credit_amount, purchase.amount_cents, at)
    wallet.save(update_fields=["balance_cents", "credits_balance", "updated_at"])
    return purchase


@transaction.atomic
def fail_purchase(*, invoice_id, at: datetime | None = None) -> WalletTransaction | None:
    """The payment for credits failed: the pending purchase fails and no credit arrives."""
    purchase = (
        WalletTransaction.objects.select_for_update()
        .filter(invoice_id=invoice_id, transaction_status=TransactionReason.PURCHASED)
        .first()
    )
    if purchase is None or purchase.status != TransactionStatus.PENDING:
        return purchase
    purchase.status = TransactionStatus.FAILED
    purchase.failed_at = at or timezone.now()
    purchase.save(update_fields=["status", "failed_at"])
    _emit("wallet_transaction.updated", purchase, purchase.wallet.organization_id)
    return purchase


# What invoices spend and give back (called by billing, in the finalization's transaction) ------


def lock_active_wallet(*, customer_id) -> Wallet | None:
    """The customer's active wallet, locked until the caller's transaction ends: two invoices of
    one customer finalized at once take turns, so no credit is spent twice."""
    return Wallet.objects.select_for_update().filter(customer_id=customer_id, status=WalletStatus.ACTIVE).first()


def consume(*, wallet: Wallet, amount_cents: int, invoice_id, at: datetime) -> WalletTransaction:
    """A locked wallet pays `amount_cents` (≤ its balance) of an invoice: one outbound `invoiced`
    transaction per invoice (a unique constraint says so)."""
    credits = wallet.credits_balance if amount_cents == wallet.balance_cents else cents_to_credits(wallet, amount_cents)
    _add(wallet, -amount_cents)
    wallet.consumed_credits += credits
    wallet.consumed_amount_cents += amount_cents
    wallet.last_consumed_credit_at = at
    wallet.save(
        update_fields=[
            "balance_cents",
            "credits_balance",
            "consumed_credits",
            "consumed_amount_cents",
            "last_consumed_credit_at",
            "updated_at",
        ]
    )
    return _transaction(wallet, TransactionReason.INVOICED, credits, amount_cents, at, invoice_id=invoice_id)


def return_consumed(*, invoice_id, at: datetime | None = None) -> WalletTransaction | None:
    """A voided invoice gives back the credits it spent: an inbound `granted` transaction naming
    the voided invoice (Lago's `lago_voided_invoice_id`). Once per invoice. A wallet terminated
    since gets them and voids them at once."""
    at = at or timezone.now()
    spent = WalletTransaction.objects.filter(
        invoice_id=invoice_id, transaction_status=TransactionReason.INVOICED
    ).first()
    if spent is None or WalletTransaction.objects.filter(voided_invoice_id=invoice_id).exists():
        return None
    wallet = _lock(spent.wallet)
    returned = _transaction(
        wallet, TransactionReason.GRANTED, spent.credit_amount, spent.amount_cents, at, voided_invoice_id=invoice_id
    )
    _add(wallet, spent.amount_cents)
    wallet.consumed_credits -= spent.credit_amount
    wallet.consumed_amount_cents -= spent.amount_cents
    if wallet.status != WalletStatus.ACTIVE:
        _add(wallet, -spent.amount_cents)
        _transaction(wallet, TransactionReason.VOIDED, spent.credit_amount, spent.amount_cents, at)
    wallet.save()
    return returned


def record_ongoing_usage(*, wallet_id, usage_cents: int, at: datetime) -> None:
    """Store what a wallet's customer owes in current usage and drafts, as computed by billing."""
    Wallet.objects.filter(pk=wallet_id).update(ongoing_usage_balance_cents=usage_cents, last_balance_sync_at=at)


# Ending a wallet ------------------------------------------------------------------------------


@transaction.atomic
def terminate_wallet(*, wallet: Wallet, at: datetime | None = None) -> Wallet:
    """End a wallet: what is left is voided through an outbound `voided` transaction (ours: Lago
    leaves the balance on the terminated record), so the books balance. Idempotent."""
    at = at or timezone.now()
    wallet = _lock(wallet)
    if wallet.status == WalletStatus.TERMINATED:
        return wallet
    if wallet.balance_cents > 0:
        _transaction(wallet, TransactionReason.VOIDED, wallet.credits_balance, wallet.balance_cents, at)
        _add(wallet, -wallet.balance_cents)
    wallet.status = WalletStatus.TERMINATED
    wallet.terminated_at = at
    wallet.save()
    _emit("wallet.terminated", wallet, wallet.organization_id)
    return wallet


def terminate_expired_wallets(*, at: datetime | None = None) -> int:
    """The clock: wallets past their expiration end (their credits voided). Returns how many."""
    at = at or timezone.now()
    expired = Wallet.objects.filter(status=WalletStatus.ACTIVE, expiration_at__lte=at).values_list("pk", flat=True)
    ended = 0
    for wallet_id in list(expired):
        terminate_wallet(wallet=Wallet(pk=wallet_id), at=at)
        ended += 1
    return ended
