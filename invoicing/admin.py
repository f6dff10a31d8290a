"""Admin for support: invoices with their fees, billed periods, coupon credits and credit notes; credit
notes with their items; the cascades of deleted customers. All read-only: an invoice changes only
through `invoicing.lifecycle` (finalize or refresh a draft, void), a credit note through
`invoicing.credit_notes` (void), and the admin offers exactly those as actions, showing a refusal
as a message. The record of a deletion, not the broker, tells what is left to do; support may send
a stuck cascade to the worker again rather than wait for the clock (`resume_customer_deletions`)."""

from django.contrib import admin
from django.template.defaultfilters import truncatechars
from django.utils.formats import date_format
from django.utils.timezone import localtime

from billing.admin_base import (
    ReadOnlyAdmin,
    ReadOnlyInline,
    admin_link,
    call_service_on_each,
    links,
    list_link,
    pretty_json,
    staff_link,
)
from billing.jobs import enqueue_on_commit
from billing.money import canonical_decimal
from billing.templatetags.money import money
from coupons.models import AppliedCoupon
from customers.models import Customer
from invoicing.credit_notes import void_credit_note
from invoicing.customer_deletion import TASK as CUSTOMER_DELETION_TASK
from invoicing.lifecycle import finalize_draft, refresh_draft, void_invoice
from invoicing.models import (
    CouponCredit,
    CreditNote,
    CreditNoteApplication,
    CreditNoteItem,
    CustomerDeletion,
    Fee,
    Invoice,
    InvoiceSequence,
    InvoiceSubscription,
)
from plans.models import Subscription
from wallets.models import Wallet, WalletTransaction


def customer_record_links(customer: Customer) -> str:
    """A customer's billing records in the admin, and its staff page: for the customer's admin page."""
    return links(
        list_link(Subscription, "Subscriptions", customer=customer.pk),
        list_link(Invoice, "Invoices", customer=customer.pk),
        list_link(CreditNote, "Credit notes", customer=customer.pk),
        list_link(AppliedCoupon, "Applied coupons", customer=customer.pk),
        list_link(Wallet, "Wallets", customer=customer.pk),
        staff_link("customers:detail", customer.pk),
    )


def _customer_link(customer: Customer) -> str:
    return admin_link(customer, customer.external_id)


@admin.display(description="units")
def fee_units(obj: Fee) -> str:
    return canonical_decimal(obj.units)


# Invoices ----------------------------------------------------------------------------------------


class FeeInline(ReadOnlyInline):
    model = Fee
    fields = [
        "description",
        "fee_type",
        "item",
        "fee_amount",
        "coupons_share",
        fee_units,
        "events_count",
        "from_datetime",
        "to_datetime",
    ]
    select_related = ("charge__billable_metric", "add_on", "subscription")

    @admin.display(description="item")
    def item(self, obj: Fee) -> str:
        """What the fee bills: the subscription, a charge's metric, an add-on or credits."""
        if obj.charge_id is not None:
            return admin_link(obj.charge, obj.charge.billable_metric.code)
        if obj.add_on_id is not None:
            return admin_link(obj.add_on, obj.add_on.code)
        if obj.subscription_id is not None:
            return admin_link(obj.subscription, obj.subscription.external_id)
        return "credits" if obj.wallet_transaction_id else "—"

    @admin.display(description="amount")
    def fee_amount(self, obj: Fee) -> str:
        return money(obj.amount_cents, obj.currency)

    @admin.display(description="coupons")
    def coupons_share(self, obj: Fee) -> str:
        return money(obj.coupons_amount_cents, obj.currency)


class BilledPeriodInline(ReadOnlyInline):
    model = InvoiceSubscription
    fields = ["subscription", "invoicing_reason", "period_start", "period_end"]
    select_related = ("subscription",)
    verbose_name = "billed period"
    verbose_name_plural = "billed periods"


class CouponCreditInline(ReadOnlyInline):
    model = CouponCredit
    fields = ["coupon", "credit_amount", "period_start"]
    select_related = ("invoice", "applied_coupon__coupon")
    verbose_name = "coupon"
    verbose_name_plural = "coupons taken"

    @admin.display(description="applied coupon")
    def coupon(self, obj: CouponCredit) -> str:
        return admin_link(obj.applied_coupon, obj.applied_coupon.coupon.code)

    @admin.display(description="amount")
    def credit_amount(self, obj: CouponCredit) -> str:
        return money(obj.amount_cents, obj.invoice.currency)


class CreditUsedInline(ReadOnlyInline):
    """Credit of earlier credit notes that this invoice used."""

    model = CreditNoteApplication
    fk_name = "invoice"
    fields = ["credit_note", "used_amount", "created_at"]
    select_related = ("credit_note",)
    verbose_name = "credit note used"
    verbose_name_plural = "credit notes used"

    @admin.display(description="amount")
    def used_amount(self, obj: CreditNoteApplication) -> str:
        return money(obj.amount_cents, obj.credit_note.currency)


class IssuedCreditNoteInline(ReadOnlyInline):
    """Credit notes issued on this invoice."""

    model = CreditNote
    fk_name = "invoice"
    fields = ["number", "reason", "status", "credit_status", "refund_status", "note_total", "note_balance"]
    verbose_name = "credit note issued"
    verbose_name_plural = "credit notes issued"

    @admin.display(description="total")
    def note_total(self, obj: CreditNote) -> str:
        return money(obj.total_amount_cents, obj.currency)

    @admin.display(description="balance")
    def note_balance(self, obj: CreditNote) -> str:
        return money(obj.balance_amount_cents, obj.currency)


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = [
        "number_or_draft",
        "customer_external_id",
        "invoice_type",
        "status",
        "payment_status",
        "total",
        "issuing_date",
        "payment_due_date",
        "organization",
        "created_at",
    ]
    list_filter = ["status", "payment_status", "invoice_type", "organization"]
    search_fields = ["number", "customer__external_id", "=id", "=customer__id"]
    list_select_related = ["customer", "organization"]
    ordering = ["-created_at", "-id"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "id",
                    "organization",
                    "customer_link",
                    "number",
                    "sequential_id",
                    "invoice_type",
                    "status",
                    "payment_status",
                    "issuing_date",
                    "net_payment_term",
                    "payment_due_date",
                    "currency",
                    "grace_period_ends_at",
                    "created_at",
                    "updated_at",
                    "finalized_at",
                    "voided_at",
                    "related",
                ]
            },
        ),
        (
            "Amounts",
            {
                "fields": [
                    "fees_amount",
                    "coupons_amount",
                    "credit_notes_amount",
                    "prepaid_credit_amount",
                    "taxes_amount",
                    "total",
                ]
            },
        ),
        ("Customer at finalization", {"classes": ["collapse"], "fields": ["snapshot"]}),
    ]
    inlines = [FeeInline, BilledPeriodInline, CouponCreditInline, CreditUsedInline, IssuedCreditNoteInline]
    actions = ["finalize_drafts", "refresh_drafts", "void_invoices"]

    @admin.display(description="number", ordering="number")
    def number_or_draft(self, obj: Invoice) -> str:
        return obj.number or "draft"

    @admin.display(description="customer", ordering="customer__external_id")
    def customer_external_id(self, obj: Invoice) -> str:
        return obj.customer.external_id

    @admin.display(description="customer")
    def customer_link(self, obj: Invoice) -> str:
        return _customer_link(obj.customer)

    @admin.display(description="see also")
    def related(self, obj: Invoice) -> str:
        return links(
            list_link(Fee, "Fees", invoice=obj.pk),
            list_link(WalletTransaction, "Wallet transactions", invoice_id=obj.pk),
            staff_link("invoicing:detail", obj.pk),
            staff_link("invoicing:print", obj.pk, text="Printable invoice"),
        )

    @admin.display(description="fees")
    def fees_amount(self, obj: Invoice) -> str:
        return money(obj.fees_amount_cents, obj.currency)

    @admin.display(description="coupons")
    def coupons_amount(self, obj: Invoice) -> str:
        return money(obj.coupons_amount_cents, obj.currency)

    @admin.display(description="credit notes")
    def credit_notes_amount(self, obj: Invoice) -> str:
        return money(obj.credit_notes_amount_cents, obj.currency)

    @admin.display(description="prepaid credits")
    def prepaid_credit_amount(self, obj: Invoice) -> str:
        return money(obj.prepaid_credit_amount_cents, obj.currency)

    @admin.display(description="taxes")
    def taxes_amount(self, obj: Invoice) -> str:
        return money(obj.taxes_amount_cents, obj.currency)

    @admin.display(description="total", ordering="total_amount_cents")
    def total(self, obj: Invoice) -> str:
        return money(obj.total_amount_cents, obj.currency)

    @admin.display(description="billing details")
    def snapshot(self, obj: Invoice) -> str:
        return pretty_json(obj.customer_snapshot)

    @admin.action(description="Finalize the selected draft invoices", permissions=["service"])
    def finalize_drafts(self, request, queryset):
        call_service_on_each(
            self,
            request,
            queryset,
            lambda invoice: finalize_draft(invoice=invoice),
            resource="invoice",
            done="{count} invoice(s) finalized.",
        )

    @admin.action(description="Refresh the selected draft invoices from the current events", permissions=["service"])
    def refresh_drafts(self, request, queryset):
        call_service_on_each(
            self,
            request,
            queryset,
            lambda invoice: refresh_draft(invoice=invoice),
            resource="invoice",
            done="{count} invoice(s) refreshed.",
        )

    @admin.action(description="Void the selected finalized invoices", permissions=["service"])
    def void_invoices(self, request, queryset):
        call_service_on_each(
            self,
            request,
            queryset,
            lambda invoice: void_invoice(invoice=invoice),
            resource="invoice",
            done="{count} invoice(s) voided.",
        )


class CreditNoteItemOfFeeInline(ReadOnlyInline):
    model = CreditNoteItem
    fields = ["credit_note", "item_amount", "created_at"]
    select_related = ("credit_note",)
    verbose_name = "given back by a credit note"
    verbose_name_plural = "given back by credit notes"

    @admin.display(description="amount")
    def item_amount(self, obj: CreditNoteItem) -> str:
        return money(obj.amount_cents, obj.credit_note.currency)


@admin.register(Fee)
class FeeAdmin(ReadOnlyAdmin):
    list_display = ["description", "fee_type", "amount", "invoice", "customer_external_id", "created_at"]
    list_filter = ["fee_type", "invoice__status", "invoice__organization"]
    search_fields = ["=id", "=invoice__id", "invoice__number", "invoice__customer__external_id"]
    list_select_related = ["invoice__customer"]
    ordering = ["-created_at", "-id"]
    fields = [
        "id",
        "invoice",
        "customer_link",
        "fee_type",
        "description",
        "invoice_display_name",
        "subscription",
        "charge",
        "add_on",
        "wallet_transaction",
        "amount",
        "coupons_share",
        "unit_amount",
        fee_units,
        "events_count",
        "from_datetime",
        "to_datetime",
        "created_at",
    ]
    inlines = [CreditNoteItemOfFeeInline]

    @admin.display(description="customer", ordering="invoice__customer__external_id")
    def customer_external_id(self, obj: Fee) -> str:
        return obj.invoice.customer.external_id

    @admin.display(description="customer")
    def customer_link(self, obj: Fee) -> str:
        return _customer_link(obj.invoice.customer)

    @admin.display(description="amount", ordering="amount_cents")
    def amount(self, obj: Fee) -> str:
        return money(obj.amount_cents, obj.currency)

    @admin.display(description="coupons")
    def coupons_share(self, obj: Fee) -> str:
        return money(obj.coupons_amount_cents, obj.currency)

    @admin.display(description="unit amount")
    def unit_amount(self, obj: Fee) -> str:
        return money(obj.unit_amount_cents, obj.currency)


@admin.register(InvoiceSubscription)
class InvoiceSubscriptionAdmin(ReadOnlyAdmin):
    list_display = ["invoice", "subscription", "customer_external_id", "invoicing_reason", "period_start", "period_end"]
    list_filter = ["invoicing_reason", "invoice__organization"]
    search_fields = [
        "invoice__number",
        "subscription__external_id",
        "subscription__customer__external_id",
        "=id",
        "=invoice__id",
        "=subscription__id",
    ]
    list_select_related = ["invoice", "subscription__customer"]
    ordering = ["-period_start", "-id"]
    fields = ["id", "invoice", "subscription", "invoicing_reason", "period_start", "period_end"]

    @admin.display(description="customer", ordering="subscription__customer__external_id")
    def customer_external_id(self, obj: InvoiceSubscription) -> str:
        return obj.subscription.customer.external_id


@admin.register(InvoiceSequence)
class InvoiceSequenceAdmin(ReadOnlyAdmin):
    """The last number each organization gave an invoice (the next finalization takes the next one)."""

    list_display = ["organization", "last_sequential_id"]
    list_filter = ["organization"]
    search_fields = ["organization__name", "=organization__id"]
    list_select_related = ["organization"]
    fields = ["organization", "last_sequential_id"]


@admin.register(CouponCredit)
class CouponCreditAdmin(ReadOnlyAdmin):
    list_display = ["invoice", "coupon_code", "customer_external_id", "amount", "period_start", "created_at"]
    list_filter = ["invoice__organization"]
    search_fields = [
        "invoice__number",
        "applied_coupon__coupon__code",
        "invoice__customer__external_id",
        "=id",
        "=invoice__id",
        "=applied_coupon__id",
    ]
    list_select_related = ["invoice__customer", "applied_coupon__coupon"]
    ordering = ["-created_at", "-id"]
    fields = ["id", "invoice", "applied_coupon", "coupon_code", "amount", "period_start", "created_at"]

    @admin.display(description="coupon", ordering="applied_coupon__coupon__code")
    def coupon_code(self, obj: CouponCredit) -> str:
        return obj.applied_coupon.coupon.code

    @admin.display(description="customer", ordering="invoice__customer__external_id")
    def customer_external_id(self, obj: CouponCredit) -> str:
        return obj.invoice.customer.external_id

    @admin.display(description="amount", ordering="amount_cents")
    def amount(self, obj: CouponCredit) -> str:
        return money(obj.amount_cents, obj.invoice.currency)


# Credit notes ------------------------------------------------------------------------------------


class CreditNoteItemInline(ReadOnlyInline):
    model = CreditNoteItem
    fields = ["fee", "item_amount", "created_at"]
    select_related = ("credit_note", "fee")
    verbose_name = "item"
    verbose_name_plural = "items (what each fee gives back)"

    @admin.display(description="amount")
    def item_amount(self, obj: CreditNoteItem) -> str:
        return money(obj.amount_cents, obj.credit_note.currency)


class CreditAppliedInline(ReadOnlyInline):
    """The later invoices that used this note's credit."""

    model = CreditNoteApplication
    fk_name = "credit_note"
    fields = ["invoice", "applied_amount", "created_at"]
    select_related = ("credit_note", "invoice")
    verbose_name = "credit used by an invoice"
    verbose_name_plural = "credit used by invoices"

    @admin.display(description="amount")
    def applied_amount(self, obj: CreditNoteApplication) -> str:
        return money(obj.amount_cents, obj.credit_note.currency)


@admin.register(CreditNote)
class CreditNoteAdmin(ReadOnlyAdmin):
    list_display = [
        "number",
        "customer_external_id",
        "invoice",
        "reason",
        "status",
        "credit_status",
        "refund_status",
        "total",
        "balance",
        "issuing_date",
        "organization",
    ]
    list_filter = ["status", "credit_status", "refund_status", "reason", "organization"]
    search_fields = ["number", "invoice__number", "customer__external_id", "=id", "=invoice__id", "=customer__id"]
    list_select_related = ["customer", "invoice", "organization"]
    ordering = ["-created_at", "-id"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "id",
                    "organization",
                    "customer_link",
                    "invoice",
                    "number",
                    "issuing_date",
                    "reason",
                    "description",
                    "status",
                    "credit_status",
                    "refund_status",
                    "created_at",
                    "updated_at",
                    "refunded_at",
                    "voided_at",
                    "related",
                ]
            },
        ),
        ("Amounts", {"fields": ["credit", "refund", "balance", "voided", "taxes", "total"]}),
    ]
    inlines = [CreditNoteItemInline, CreditAppliedInline]
    actions = ["void_credit_notes"]

    @admin.display(description="customer", ordering="customer__external_id")
    def customer_external_id(self, obj: CreditNote) -> str:
        return obj.customer.external_id

    @admin.display(description="customer")
    def customer_link(self, obj: CreditNote) -> str:
        return _customer_link(obj.customer)

    @admin.display(description="see also")
    def related(self, obj: CreditNote) -> str:
        return staff_link("invoicing:credit_note_detail", obj.pk)

    @admin.display(description="credit")
    def credit(self, obj: CreditNote) -> str:
        return money(obj.credit_amount_cents, obj.currency)

    @admin.display(description="refund")
    def refund(self, obj: CreditNote) -> str:
        return money(obj.refund_amount_cents, obj.currency)

    @admin.display(description="balance (credit left)", ordering="balance_amount_cents")
    def balance(self, obj: CreditNote) -> str:
        return money(obj.balance_amount_cents, obj.currency)

    @admin.display(description="voided")
    def voided(self, obj: CreditNote) -> str:
        return money(obj.voided_amount_cents, obj.currency)

    @admin.display(description="taxes")
    def taxes(self, obj: CreditNote) -> str:
        return money(obj.taxes_amount_cents, obj.currency)

    @admin.display(description="total", ordering="total_amount_cents")
    def total(self, obj: CreditNote) -> str:
        return money(obj.total_amount_cents, obj.currency)

    @admin.action(description="Void the credit left on the selected credit notes", permissions=["service"])
    def void_credit_notes(self, request, queryset):
        call_service_on_each(
            self,
            request,
            queryset,
            lambda credit_note: void_credit_note(credit_note=credit_note),
            resource="credit_note",
            done="{count} credit note(s) voided.",
        )


@admin.register(CreditNoteItem)
class CreditNoteItemAdmin(ReadOnlyAdmin):
    list_display = ["id", "credit_note", "fee", "amount", "created_at"]
    list_filter = ["credit_note__organization"]
    search_fields = ["credit_note__number", "=id", "=credit_note__id", "=fee__id"]
    list_select_related = ["credit_note", "fee"]
    ordering = ["-created_at", "-id"]
    fields = ["id", "credit_note", "fee", "amount", "created_at"]

    @admin.display(description="amount", ordering="amount_cents")
    def amount(self, obj: CreditNoteItem) -> str:
        return money(obj.amount_cents, obj.credit_note.currency)


@admin.register(CreditNoteApplication)
class CreditNoteApplicationAdmin(ReadOnlyAdmin):
    list_display = ["id", "credit_note", "invoice", "amount", "created_at"]
    list_filter = ["credit_note__organization"]
    search_fields = ["credit_note__number", "invoice__number", "=id", "=credit_note__id", "=invoice__id"]
    list_select_related = ["credit_note", "invoice"]
    ordering = ["-created_at", "-id"]
    fields = ["id", "credit_note", "invoice", "amount", "created_at"]

    @admin.display(description="amount", ordering="amount_cents")
    def amount(self, obj: CreditNoteApplication) -> str:
        return money(obj.amount_cents, obj.credit_note.currency)


# Customer deletions ------------------------------------------------------------------------------


class FinishedFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("unfinished", "Unfinished"), ("finished", "Finished")]

    def queryset(self, request, queryset):
        if self.value() == "unfinished":
            return queryset.filter(finished_at__isnull=True)
        if self.value() == "finished":
            return queryset.filter(finished_at__isnull=False)
        return queryset


def _moment(value) -> str:
    return date_format(localtime(value), "M j, H:i:s") if value else "pending"


DELETION_FIELDS = [
    "created_at",
    "subscriptions_done_at",
    "drafts_done_at",
    "coupons_done_at",
    "wallet_done_at",
    "finished_at",
    "attempts",
    "last_attempt_at",
    "last_error",
]


@admin.register(CustomerDeletion)
class CustomerDeletionAdmin(ReadOnlyAdmin):
    list_display = [
        "customer_external_id",
        "organization",
        "created_at",
        "subscriptions_done",
        "drafts_done",
        "coupons_done",
        "wallet_done",
        "finished",
        "attempts",
        "short_last_error",
    ]
    list_filter = [FinishedFilter, "organization"]
    search_fields = ["customer__external_id", "=customer__id", "=id"]
    list_select_related = ["customer", "organization"]
    ordering = ["-created_at", "id"]
    fields = ["id", "organization", "customer_link", *DELETION_FIELDS, "related"]
    actions = ["resume_cascade"]

    @admin.display(description="customer")
    def customer_link(self, obj: CustomerDeletion) -> str:
        return _customer_link(obj.customer)

    @admin.display(description="see also")
    def related(self, obj: CustomerDeletion) -> str:
        return customer_record_links(obj.customer)

    @admin.display(description="customer", ordering="customer__external_id")
    def customer_external_id(self, obj: CustomerDeletion) -> str:
        return obj.customer.external_id

    # Each step's time, short enough for one row: the day and the second it was done, or pending.
    @admin.display(description="1. subscriptions", ordering="subscriptions_done_at")
    def subscriptions_done(self, obj: CustomerDeletion) -> str:
        return _moment(obj.subscriptions_done_at)

    @admin.display(description="2. drafts", ordering="drafts_done_at")
    def drafts_done(self, obj: CustomerDeletion) -> str:
        return _moment(obj.drafts_done_at)

    @admin.display(description="3. coupons", ordering="coupons_done_at")
    def coupons_done(self, obj: CustomerDeletion) -> str:
        return _moment(obj.coupons_done_at)

    @admin.display(description="4. wallet", ordering="wallet_done_at")
    def wallet_done(self, obj: CustomerDeletion) -> str:
        return _moment(obj.wallet_done_at)

    @admin.display(description="finished", ordering="finished_at")
    def finished(self, obj: CustomerDeletion) -> str:
        return _moment(obj.finished_at)

    @admin.display(description="last error")
    def short_last_error(self, obj: CustomerDeletion) -> str:
        return truncatechars(obj.last_error, 80) if obj.last_error else "—"

    @admin.action(description="Resume the cascade of the selected unfinished deletions")
    def resume_cascade(self, request, queryset):
        """Send the cascade's task again, as the clock does for a cascade left unfinished: the task
        skips the steps already done and does the others again, each of them idempotent."""
        ids = [str(pk) for pk in queryset.filter(finished_at__isnull=True).values_list("pk", flat=True)]
        for deletion_id in ids:
            enqueue_on_commit(CUSTOMER_DELETION_TASK, deletion_id)
        skipped = queryset.count() - len(ids)
        message = f"{len(ids)} cascade(s) sent to the worker."
        if skipped:
            message += f" {skipped} already finished, left as they are."
        self.message_user(request, message)
