"""What the support admin of every app shares; each app's `admin.py` registers its own models with it.

Support reads billing rows in the admin and changes them only through the services, offered as
actions: the pages here never write through the admin's own forms. Billing is the lowest layer, so
this module names no app: links take a model or a URL name from the caller.
"""

import json
from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.contrib.auth import get_permission_codename
from django.db.models import Model
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.text import capfirst

from billing.errors import DomainError
from billing.staff_errors import error_message

EMPTY = "—"


class DeletedFilter(admin.SimpleListFilter):
    """Live or soft-deleted rows (`deleted_at`), for any model that has it."""

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
    the billing rows support looks at change only through their services, offered as actions.

    An action that calls a service declares `permissions=["service"]`: it needs Django's change
    permission on the model, which these pages otherwise never use."""

    # The tables are large: no second COUNT(*) of the whole table under a filtered list.
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        if self.fieldsets:
            return flatten_fieldsets(self.fieldsets)
        return self.get_fields(request, obj)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_service_permission(self, request) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.{get_permission_codename('change', self.opts)}")


class ReadOnlyInline(admin.TabularInline):
    """A parent's rows on its page, read-only, each linked to its own admin page. `select_related`
    names what the displayed fields read, so the rows cost one query however many they are."""

    extra = 0
    can_delete = False
    show_change_link = True
    select_related: tuple[str, ...] = ()

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset.select_related(*self.select_related) if self.select_related else queryset

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# Links -------------------------------------------------------------------------------------------


def change_link(url_name: str, pk: Any, text: object = None) -> str:
    """A link to the admin page of the row `pk` of `url_name` ("invoicing_invoice"), for relations
    kept as a plain id (a wallet transaction's invoice); "—" without an id."""
    if pk is None:
        return EMPTY
    url = reverse(f"admin:{url_name}_change", args=[pk])
    return format_html('<a href="{}">{}</a>', url, pk if text is None else text)


def admin_link(obj: Model | None, text: object = None) -> str:
    """A link to an object's admin page, named after the object unless `text` is given."""
    if obj is None:
        return EMPTY
    opts = obj._meta
    return change_link(f"{opts.app_label}_{opts.model_name}", obj.pk, obj if text is None else text)


def list_link(model: type[Model], text: str, **filters: Any) -> str:
    """A link to the admin list of `model` narrowed by `filters`: query parameters its list accepts,
    such as a foreign key by id (`customer=<id>`) or a list filter (`status__exact=draft`)."""
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    query = urlencode({name: str(value) for name, value in filters.items()})
    return format_html('<a href="{}?{}">{}</a>', url, query, text)


def links(*items: str) -> str:
    """Several links on one line."""
    return format_html_join(" · ", "{}", ((item,) for item in items))


def staff_link(url_name: str, *args: Any, text: str = "Open in the staff UI") -> str:
    """A link to an object's page in the staff UI (it opens for members of the object's organization)."""
    return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', reverse(url_name, args=args), text)


# Values ------------------------------------------------------------------------------------------


def pretty_json(value: Any) -> str:
    """JSON indented in a <pre>, for properties, metadata and snapshots."""
    if value in (None, {}, []):
        return EMPTY
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)
    return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>', text)


# Actions -----------------------------------------------------------------------------------------


def call_service_on_each(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    objects: Iterable[Model],
    service: Callable[[Model], object],
    *,
    resource: str,
    done: str,
) -> int:
    """Call `service` on each selected object, in the service's own transaction. A refusal (a domain
    error) becomes an error message naming the object, worded as the staff UI words it ("Invoice
    ACME-000001: Only a draft invoice can be finalized or refreshed."), and the other objects still
    go through. `done` ("{count} invoice(s) voided.") reports the successes; returns their number."""
    succeeded = 0
    for obj in objects:
        try:
            service(obj)
        except DomainError as exc:
            # Headed by the model's name: the admin capitalises a message's first letter, and ids are
            # case-sensitive.
            refused = f"{capfirst(obj._meta.verbose_name)} {obj}: {error_message(exc, resource=resource)}"
            model_admin.message_user(request, refused, messages.ERROR)
        else:
            succeeded += 1
    if succeeded:
        model_admin.message_user(request, done.format(count=succeeded), messages.SUCCESS)
    return succeeded
