from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserCreationForm

from organizations.models import ApiKey, Organization, User
from organizations.services import create_api_key, revoke_api_keys


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "default_currency", "default_timezone", "invoice_grace_period_days", "created_at"]
    search_fields = ["name"]
    readonly_fields = ["id", "created_at", "updated_at"]


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
    readonly_fields = ["id", "prefix", "key_hash", "created_at"]
    actions = ["revoke"]

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
