"""Admin for support: wallets and their transactions, read-only. Balances move only through the
wallet services (top-ups, consumption by invoices, voids), so that a wallet's transactions always
add up to its balance; support reads them here. The one write offered, terminating a wallet, goes
through `wallets.services.terminate_wallet`, which voids what is left."""

from django.contrib import admin

from billing.admin_base import ReadOnlyAdmin, ReadOnlyInline, admin_link, change_link, links, pretty_json, staff_link
from billing.money import canonical_decimal
from billing.templatetags.money import money
from wallets.models import Wallet, WalletStatus, WalletTransaction
from wallets.services import terminate_wallet

# Wallet transactions name their invoice by a plain id (invoicing sits above wallets).
INVOICE_ADMIN = "invoicing_invoice"


def _credits(value) -> str:
    return f"{canonical_decimal(value)} credits"


@admin.display(description="credits")
def transaction_credits(obj: WalletTransaction) -> str:
    return _credits(obj.credit_amount)


@admin.display(description="amount", ordering="amount_cents")
def transaction_amount(obj: WalletTransaction) -> str:
    return money(obj.amount_cents, obj.wallet.currency)


@admin.display(description="invoice")
def transaction_invoice(obj: WalletTransaction) -> str:
    return change_link(INVOICE_ADMIN, obj.invoice_id)


class WalletTransactionInline(ReadOnlyInline):
    model = WalletTransaction
    fields = [
        "transaction_type",
        "transaction_status",
        "status",
        transaction_credits,
        transaction_amount,
        transaction_invoice,
        "created_at",
    ]
    # Each row shows its amount in the wallet's currency.
    select_related = ("wallet",)
    ordering = ["-created_at", "-id"]


@admin.register(Wallet)
class WalletAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "customer_external_id",
        "name",
        "status",
        "balance",
        "credits",
        "rate",
        "organization",
        "created_at",
    ]
    list_filter = ["status", "organization"]
    search_fields = ["=id", "customer__external_id", "name"]
    list_select_related = ["customer", "organization"]
    fields = [
        "id",
        "organization",
        "customer_link",
        "name",
        "status",
        "rate",
        "balance",
        "credits",
        "consumed",
        "ongoing_usage_balance",
        "last_balance_sync_at",
        "expiration_at",
        "last_consumed_credit_at",
        "created_at",
        "updated_at",
        "terminated_at",
        "related",
    ]
    inlines = [WalletTransactionInline]
    actions = ["terminate"]

    @admin.display(description="customer")
    def customer_link(self, obj: Wallet) -> str:
        return admin_link(obj.customer, obj.customer.external_id)

    @admin.display(description="see also")
    def related(self, obj: Wallet) -> str:
        return staff_link("customers:tab", obj.customer_id, "wallet")

    @admin.action(
        description="Terminate the selected wallets (their remaining credits are voided)", permissions=["service"]
    )
    def terminate(self, request, queryset):
        wallets = list(queryset)
        active = [wallet for wallet in wallets if wallet.status == WalletStatus.ACTIVE]
        for wallet in active:
            terminate_wallet(wallet=wallet)
        text = f"{len(active)} wallet(s) terminated."
        if len(wallets) > len(active):
            # The service is idempotent: saying "terminated" again would report a change not made.
            text += f" {len(wallets) - len(active)} already terminated, left as they are."
        self.message_user(request, text)

    @admin.display(description="customer", ordering="customer__external_id")
    def customer_external_id(self, obj: Wallet) -> str:
        return obj.customer.external_id

    @admin.display(description="balance", ordering="balance_cents")
    def balance(self, obj: Wallet) -> str:
        return money(obj.balance_cents, obj.currency)

    @admin.display(description="credits balance")
    def credits(self, obj: Wallet) -> str:
        return _credits(obj.credits_balance)

    @admin.display(description="rate")
    def rate(self, obj: Wallet) -> str:
        return f"1 credit = {canonical_decimal(obj.rate_amount)} {obj.currency}"

    @admin.display(description="ongoing usage balance")
    def ongoing_usage_balance(self, obj: Wallet) -> str:
        """What current usage and unpaid drafts owe, as of the last sync."""
        return money(obj.ongoing_usage_balance_cents, obj.currency)

    @admin.display(description="consumed")
    def consumed(self, obj: Wallet) -> str:
        return f"{_credits(obj.consumed_credits)} ({money(obj.consumed_amount_cents, obj.currency)})"


@admin.register(WalletTransaction)
class WalletTransactionAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "wallet",
        "customer_external_id",
        "transaction_type",
        "transaction_status",
        "status",
        transaction_credits,
        transaction_amount,
        transaction_invoice,
        "created_at",
    ]
    list_filter = ["status", "transaction_type", "transaction_status", "wallet__organization"]
    search_fields = ["=id", "=wallet__id", "wallet__customer__external_id", "=invoice_id"]
    list_select_related = ["wallet__customer"]
    fields = [
        "id",
        "wallet",
        "customer_link",
        "transaction_type",
        "transaction_status",
        "status",
        "source",
        transaction_credits,
        transaction_amount,
        transaction_invoice,
        "voided_invoice",
        "name",
        "transaction_metadata",
        "created_at",
        "settled_at",
        "failed_at",
    ]

    @admin.display(description="customer")
    def customer_link(self, obj: WalletTransaction) -> str:
        return links(
            admin_link(obj.wallet.customer, obj.wallet.customer.external_id),
            staff_link("customers:tab", obj.wallet.customer_id, "wallet"),
        )

    @admin.display(description="voided invoice")
    def voided_invoice(self, obj: WalletTransaction) -> str:
        """The invoice whose voiding gave these credits back."""
        return change_link(INVOICE_ADMIN, obj.voided_invoice_id)

    @admin.display(description="metadata")
    def transaction_metadata(self, obj: WalletTransaction) -> str:
        return pretty_json(obj.metadata)

    @admin.display(description="customer", ordering="wallet__customer__external_id")
    def customer_external_id(self, obj: WalletTransaction) -> str:
        return obj.wallet.customer.external_id
