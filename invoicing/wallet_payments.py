"""Prepaid credits paying subscription invoices: at finalization, after coupons and credit notes,
and given back when such an invoice is voided. The ledger is `wallets.services`."""

from datetime import datetime

from invoicing.models import Invoice, InvoiceType
from wallets import services as ledger


def apply_prepaid_credits(invoice: Invoice, *, at: datetime) -> int:
    """The customer's wallet pays what is left of a subscription invoice being finalized, after
    coupons and credit notes; return the amount. Call in the finalization's transaction."""
    if invoice.invoice_type != InvoiceType.SUBSCRIPTION or invoice.total_amount_cents <= 0:
        return 0
    wallet = ledger.lock_active_wallet(customer_id=invoice.customer_id)
    if wallet is None or wallet.currency != invoice.currency or wallet.balance_cents <= 0:
        return 0
    amount = min(wallet.balance_cents, invoice.total_amount_cents)
    ledger.consume(wallet=wallet, amount_cents=amount, invoice_id=invoice.pk, at=at)
    invoice.prepaid_credit_amount_cents += amount
    invoice.total_amount_cents -= amount  # saved by the caller, with the rest of the finalization
    return amount


def return_prepaid_credits(invoice: Invoice) -> None:
    """A voided invoice gives its credits back to the wallet."""
    if invoice.prepaid_credit_amount_cents:
        ledger.return_consumed(invoice_id=invoice.pk)
