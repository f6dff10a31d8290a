"""Admin for support: the cascades of deleted customers, read-only (`invoicing.customer_deletion`).
The record, not the broker, tells what is left to do; support reads it here, and may send a stuck
cascade to the worker again rather than wait for the clock (`resume_customer_deletions`)."""

from django.contrib import admin
from django.template.defaultfilters import truncatechars
from django.utils.formats import date_format
from django.utils.timezone import localtime

from billing.jobs import enqueue_on_commit
from invoicing.customer_deletion import TASK as CUSTOMER_DELETION_TASK
from invoicing.models import CustomerDeletion
from plans.admin import ReadOnlyAdmin


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
    fields = ["id", "organization", "customer", *DELETION_FIELDS]
    actions = ["resume_cascade"]

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
