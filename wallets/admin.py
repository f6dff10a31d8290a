"""Admin for support: wallets and their transactions, read-only. Balances move only through the
wallet services (top-ups, consumption by invoices, voids), so that a wallet's transactions always
add up to its balance; support reads them here."""

from django.contrib import admin

from billing.money import canonical_decimal
from billing.templatetags.money import money
from plans.admin import ReadOnlyAdmin
from wallets.models import Wallet, WalletTransaction


def _credits(value) -> str:
    return f"{canonical_decimal(value)} credits"


@admin.display(description="credits")
def transaction_credits(obj: WalletTransaction) -> str:
    return _credits(obj.credit_amount)


@admin.display(description="amount", ordering="amount_cents")
def transaction_amount(obj: WalletTransaction) -> str:
    return money(obj.amount_cents, obj.wallet.currency)


class WalletTransactionInline(admin.TabularInline):
    model = WalletTransaction
    fields = [
        "transaction_type",
        "transaction_status",
        "status",
        transaction_credits,
        transaction_amount,
        "invoice_id",
        "created_at",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ["-created_at", "-id"]

    def get_queryset(self, request):
        # Each row shows its amount in the wallet's currency.
        return super().get_queryset(request).select_related("wallet")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


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
        "customer",
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
    ]
    inlines = [WalletTransactionInline]

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
        "invoice_id",
        "created_at",
    ]
    list_filter = ["status", "transaction_type", "transaction_status", "wallet__organization"]
    search_fields = ["=id", "=wallet__id", "wallet__customer__external_id", "=invoice_id"]
    list_select_related = ["wallet__customer"]
    fields = [
        "id",
        "wallet",
        "transaction_type",
        "transaction_status",
        "status",
        "source",
        transaction_credits,
        transaction_amount,
        "invoice_id",
        "voided_invoice_id",
        "name",
        "metadata",
        "created_at",
        "settled_at",
        "failed_at",
    ]

    @admin.display(description="customer", ordering="wallet__customer__external_id")
    def customer_external_id(self, obj: WalletTransaction) -> str:
        return obj.wallet.customer.external_id
