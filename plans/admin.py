"""Admin for support: add-ons, read-only. Staff create and edit them on the Add-ons pages; the one
write offered here, deletion, goes through the add-on service: a soft delete that frees the code and
keeps the row the fees of issued invoices point at."""

from django.contrib import admin

from billing.templatetags.money import money
from plans.models import AddOn
from plans.services import delete_add_on


class DeletedFilter(admin.SimpleListFilter):
    """Live or soft-deleted rows (`deleted_at`), for any catalogue model that has it."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("live", "Live"), ("deleted", "Deleted")]

    def queryset(self, request, queryset):
        if self.value() == "live":
            return queryset.filter(deleted_at__isnull=True)
        if self.value() == "deleted":
            return queryset.filter(deleted_at__isnull=False)
        return queryset


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown, never written through the admin's own forms (every field read-only, no add, no delete):
    the billing rows support looks at change only through their services, offered as actions."""

    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AddOn)
class AddOnAdmin(ReadOnlyAdmin):
    list_display = ["code", "name", "amount", "organization", "created_at", "deleted_at"]
    list_filter = [DeletedFilter, "organization"]
    search_fields = ["code", "name", "=id"]
    list_select_related = ["organization"]
    fields = [
        "id",
        "organization",
        "code",
        "name",
        "invoice_display_name",
        "description",
        "amount",
        "created_at",
        "updated_at",
        "deleted_at",
    ]
    actions = ["soft_delete"]

    @admin.display(description="amount", ordering="amount_cents")
    def amount(self, obj: AddOn) -> str:
        return money(obj.amount_cents, obj.amount_currency)

    def has_soft_delete_permission(self, request) -> bool:
        return request.user.has_perm("plans.delete_addon")

    @admin.action(description="Delete the selected add-ons (soft delete)", permissions=["soft_delete"])
    def soft_delete(self, request, queryset):
        deleted = 0
        for add_on in queryset.filter(deleted_at__isnull=True):
            delete_add_on(add_on=add_on)
            deleted += 1
        self.message_user(request, f"{deleted} add-on(s) deleted.")
