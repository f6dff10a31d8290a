from django import forms
from django.contrib import admin

from billing.errors import ValidationFailed
from customers.models import Customer, CustomerMetadata
from customers.services import check_customer_update, create_customer, delete_customer, update_customer


class CustomerMetadataInline(admin.TabularInline):
    model = CustomerMetadata
    extra = 0
    fields = ["key", "value", "display_in_invoice", "created_at"]
    readonly_fields = ["created_at"]


class CustomerAdminForm(forms.ModelForm):
    class Meta:
        model = Customer
        exclude: list[str] = []

    def clean(self):
        cleaned = super().clean()
        data = {name: cleaned.get(name) for name in self.changed_data if name in cleaned}
        try:
            if self.instance.pk and not self.instance._state.adding:
                check_customer_update(customer=self.instance, data=data)
        except ValidationFailed as exc:
            for field, codes in exc.details.items():
                self.add_error(field if field in self.fields else None, ", ".join(codes))
        return cleaned


class DeletedFilter(admin.SimpleListFilter):
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


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    """Edits go through the customer services, so the admin obeys the same rules as the UI and API."""

    form = CustomerAdminForm
    list_display = ["external_id", "name", "email", "organization", "currency", "created_at", "deleted_at"]
    list_filter = [DeletedFilter, "organization", "payment_provider"]
    search_fields = ["external_id", "name", "email"]
    list_select_related = ["organization"]
    readonly_fields = ["id", "created_at", "updated_at", "deleted_at"]
    inlines = [CustomerMetadataInline]
    actions = ["soft_delete"]
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        fields = list(self.readonly_fields)
        if obj is not None:
            fields.append("organization")
        return fields

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data}
        data.pop("organization", None)
        if change:
            saved = update_customer(customer=obj, data=data)
        else:
            saved = create_customer(organization=form.cleaned_data["organization"], data=data)
        obj.pk = saved.pk
        obj._state.adding = False

    def has_delete_permission(self, request, obj=None):
        # Customers are soft-deleted through the service, never removed from the table.
        return False

    @admin.action(description="Delete the selected customers (soft delete)")
    def soft_delete(self, request, queryset):
        deleted = 0
        for customer in queryset.filter(deleted_at__isnull=True):
            delete_customer(customer=customer)
            deleted += 1
        self.message_user(request, f"{deleted} customer(s) deleted.")
