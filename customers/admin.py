from typing import Any

from django import forms
from django.contrib import admin
from django.forms.models import BaseInlineFormSet
from django.utils.timezone import now
from django_countries import countries

from billing.currencies import CURRENCY_CHOICES
from billing.errors import ValidationFailed
from billing.staff_errors import add_form_errors, sentences
from billing.timezones import timezone_options
from customers.forms import CUSTOMER_FACTS
from customers.models import Customer, CustomerMetadata
from customers.selectors import only_deleted, only_live
from customers.services import (
    check_customer_create,
    check_customer_update,
    create_customer,
    external_id_lock_reason,
    update_customer,
)
from invoicing.admin import DELETION_FIELDS, customer_record_links
from invoicing.customer_deletion import delete_customer
from invoicing.models import CustomerDeletion


class CustomerMetadataFormSet(BaseInlineFormSet):
    """The inline rows, checked and written by the customer services as the API's `metadata` list:
    the same rules (row count, duplicate keys) and the customer's row lock while they are replaced."""

    def kept_forms(self) -> list[forms.ModelForm]:
        """The rows the customer keeps: not marked for deletion, and not an untouched blank row."""
        return [
            form
            for form in self.forms
            if form not in self.deleted_forms and (form.has_changed() or not form.instance._state.adding)
        ]

    def metadata_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "id": None if form.instance._state.adding else form.instance.pk,
                "key": form.cleaned_data["key"],
                "value": form.cleaned_data["value"],
                "display_in_invoice": form.cleaned_data["display_in_invoice"],
            }
            for form in self.kept_forms()
        ]

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        try:
            check_customer_update(customer=self.instance, data={"metadata": self.metadata_rows()})
        except ValidationFailed as exc:
            # Only the metadata was checked, so every sentence is about these rows.
            raise forms.ValidationError(
                [item.text for item in sentences(exc, resource="customer", facts=CUSTOMER_FACTS)]
            ) from exc

    def record_changes(self) -> None:
        """What ModelAdmin's history message reads after a formset save, which the service replaces."""
        kept = self.kept_forms()
        stored = [form for form in kept if not form.instance._state.adding]
        self.new_objects = [form.instance for form in kept if form not in stored]
        self.changed_objects = [(form.instance, form.changed_data) for form in stored if form.has_changed()]
        self.deleted_objects = [form.instance for form in self.deleted_forms if not form.instance._state.adding]


class CustomerMetadataInline(admin.TabularInline):
    model = CustomerMetadata
    formset = CustomerMetadataFormSet
    extra = 0
    fields = ["key", "value", "display_in_invoice", "created_at"]
    readonly_fields = ["created_at"]


class CustomerDeletionInline(admin.StackedInline):
    """A deleted customer's cascade, read-only: each step's time, attempts, the last error."""

    model = CustomerDeletion
    fields = DELETION_FIELDS
    readonly_fields = DELETION_FIELDS
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name = verbose_name_plural = "deletion cascade"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def _timezone_choices() -> list[tuple[str, str]]:
    return [("", "— (the organization's)"), *timezone_options(now())]


class CustomerAdminForm(forms.ModelForm):
    # Lists, as in the staff form, instead of free text the service would refuse.
    currency = forms.TypedChoiceField(required=False, empty_value=None, choices=[("", "—"), *CURRENCY_CHOICES])
    country = forms.TypedChoiceField(required=False, empty_value=None, choices=[("", "—"), *countries])
    shipping_country = forms.TypedChoiceField(required=False, empty_value=None, choices=[("", "—"), *countries])
    timezone = forms.TypedChoiceField(required=False, empty_value=None, choices=_timezone_choices)

    class Meta:
        model = Customer
        exclude: list[str] = []

    def clean(self):
        cleaned = super().clean()
        data = {name: cleaned.get(name) for name in self.changed_data if name in cleaned}
        try:
            if not self.instance._state.adding:
                check_customer_update(customer=self.instance, data=data)
            elif cleaned.get("organization") is not None and cleaned.get("external_id"):
                # The service's refusal next to its field, rather than a failed save.
                data.pop("organization", None)
                check_customer_create(organization=cleaned["organization"], data=data)
        except ValidationFailed as exc:
            reason = external_id_lock_reason(customer=self.instance)
            add_form_errors(self, exc, resource="customer", lock_reason=reason, facts=CUSTOMER_FACTS)
        return cleaned


class DeletedFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("live", "Live"), ("deleted", "Deleted")]

    def queryset(self, request, queryset):
        if self.value() == "live":
            return only_live(queryset)
        if self.value() == "deleted":
            return only_deleted(queryset)
        return queryset


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    """Edits go through the customer services, so the admin obeys the same rules as the UI and API."""

    form = CustomerAdminForm
    list_display = ["external_id", "name", "email", "organization", "currency", "created_at", "deleted_at"]
    list_filter = [DeletedFilter, "organization", "customer_type", "finalize_zero_amount_invoice", "payment_provider"]
    search_fields = ["external_id", "name", "firstname", "lastname", "email"]
    list_select_related = ["organization"]
    readonly_fields = ["id", "created_at", "updated_at", "deleted_at", "billing_records"]
    inlines = [CustomerMetadataInline]
    actions = ["soft_delete"]
    show_full_result_count = False

    @admin.display(description="billing records")
    def billing_records(self, obj):
        return customer_record_links(obj) if obj.pk else "—"

    def get_inlines(self, request, obj):
        # A deleted customer's page also shows its deletion cascade.
        if obj is not None and obj.deleted_at is not None:
            return [*self.inlines, CustomerDeletionInline]
        return self.inlines

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

    def save_related(self, request, form, formsets, change):
        form.save_m2m()
        for formset in formsets:
            if not isinstance(formset, CustomerMetadataFormSet):
                self.save_formset(request, form, formset, change=change)
                continue
            formset.record_changes()
            if formset.has_changed():
                update_customer(customer=form.instance, data={"metadata": formset.metadata_rows()})

    def has_delete_permission(self, request, obj=None):
        # Customers are soft-deleted through the service, never removed from the table.
        return False

    @admin.action(description="Delete the selected customers (soft delete)")
    def soft_delete(self, request, queryset):
        deleted = 0
        for customer in only_live(queryset):
            delete_customer(customer=customer)
            deleted += 1
        self.message_user(request, f"{deleted} customer(s) deleted.")
