"""Admin for support: organizations (their settings are edited here), staff users and API keys.
Keys are created and revoked through the organization services; a key's secret is shown once."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserCreationForm
from django.utils import timezone

from billing.admin_base import links, list_link
from billing.timezones import timezone_options
from coupons.models import Coupon
from customers.models import Customer
from invoicing.models import Invoice
from organizations.models import ApiKey, Organization, User
from organizations.services import create_api_key, revoke_api_keys
from plans.models import Plan, Subscription
from wallets.models import Wallet
from webhooks.models import WebhookEndpoint


class OrganizationAdminForm(forms.ModelForm):
    # A list of IANA names rather than free text, labelled with today's offset (as the staff UI does).
    default_timezone = forms.ChoiceField(choices=lambda: timezone_options(timezone.now()))

    class Meta:
        model = Organization
        exclude: list[str] = []


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    form = OrganizationAdminForm
    list_display = ["name", "default_currency", "default_timezone", "invoice_grace_period_days", "created_at"]
    list_filter = ["default_currency"]
    search_fields = ["name", "=id"]
    readonly_fields = ["id", "created_at", "updated_at", "related"]

    @admin.display(description="records")
    def related(self, obj: Organization) -> str:
        if obj.pk is None:
            return "—"
        organization = {"organization__id__exact": obj.pk}
        return links(
            list_link(User, "Staff", **organization),
            list_link(ApiKey, "API keys", **organization),
            list_link(Customer, "Customers", **organization),
            list_link(Plan, "Plans", **organization),
            list_link(Subscription, "Subscriptions", **organization),
            list_link(Coupon, "Coupons", **organization),
            list_link(Wallet, "Wallets", **organization),
            list_link(Invoice, "Invoices", **organization),
            list_link(WebhookEndpoint, "Webhook endpoints", **organization),
        )


class StaffCreationForm(UserCreationForm):
    class Meta:
        model = User
        fields = ["email", "organization"]


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "organization", "is_active", "is_staff", "last_login"]
    list_filter = ["is_active", "is_staff", "organization"]
    search_fields = ["email", "full_name"]
    list_select_related = ["organization"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["full_name", "organization"]}),
        ("Access", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "organization", "password1", "password2"]})]
    add_form = StaffCreationForm


class ApiKeyCreationForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["organization", "name"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are created here through the service; the secret is shown once in a message."""

    list_display = ["prefix", "name", "organization", "created_at", "revoked_at"]
    list_filter = ["organization"]
    search_fields = ["prefix", "name", "organization__name"]
    list_select_related = ["organization"]
    # Keys never move between organizations, and a revocation goes through the service (which also
    # forgets the keys this process trusted): both are read-only, and a key is revoked, not deleted.
    readonly_fields = ["id", "organization", "prefix", "key_hash", "created_at", "revoked_at"]
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        return ["id", "prefix", "key_hash", "created_at"] if obj is None else self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        return False

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyCreationForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["organization", "name"]
        return ["id", "organization", "name", "prefix", "key_hash", "created_at", "revoked_at"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        api_key, raw_key = create_api_key(organization=obj.organization, name=obj.name)
        obj.pk = api_key.pk
        obj._state.adding = False
        messages.warning(request, f"API key created. Copy it now, it will not be shown again: {raw_key}")

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        revoked = revoke_api_keys(api_keys=queryset)
        self.message_user(request, f"{revoked} key(s) revoked.")
