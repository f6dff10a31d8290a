"""Admin for support: webhook endpoints, messages (the outbox) and their delivery attempts, read-only.
Staff manage endpoints on the Developers → Webhooks pages; the one write offered here, resending a
message, goes through `webhooks.services.resend` (same body, same unique key). The signing keys are
never shown: WebhookKeys is not registered, and no page here reads the HMAC key or the private key."""

import json

from django.contrib import admin
from django.utils.html import format_html

from billing.admin_base import ReadOnlyAdmin, ReadOnlyInline, admin_link, links, list_link, staff_link
from webhooks.models import WEBHOOK_TYPES, MessageStatus, WebhookAttempt, WebhookEndpoint, WebhookMessage
from webhooks.services import resend


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ["webhook_url", "name", "signature_algo", "events", "organization", "created_at"]
    list_filter = ["signature_algo", "organization"]
    search_fields = ["webhook_url", "name", "=id"]
    list_select_related = ["organization"]
    fields = [
        "id",
        "organization",
        "webhook_url",
        "name",
        "signature_algo",
        "events",
        "created_at",
        "updated_at",
        "related",
    ]

    @admin.display(description="see also")
    def related(self, obj: WebhookEndpoint) -> str:
        return links(
            list_link(WebhookMessage, "Messages", endpoint=obj.pk),
            staff_link("webhooks:endpoint_edit", obj.pk),
        )

    @admin.display(description="event types")
    def events(self, obj: WebhookEndpoint) -> str:
        if obj.event_types is None:
            return "all events"
        return ", ".join(obj.event_types) or "none"


class WebhookTypeFilter(admin.SimpleListFilter):
    """The types we send, from the code: no DISTINCT over the whole outbox on every list page."""

    title = "webhook type"
    parameter_name = "webhook_type"

    def lookups(self, request, model_admin):
        return [(webhook_type, webhook_type) for webhook_type in WEBHOOK_TYPES]

    def queryset(self, request, queryset):
        return queryset.filter(webhook_type=self.value()) if self.value() else queryset


class WebhookAttemptInline(ReadOnlyInline):
    """A message's attempts, oldest first, read-only."""

    model = WebhookAttempt
    fields = ["attempted_at", "status_code", "duration_ms", "response_excerpt", "error"]


@admin.register(WebhookMessage)
class WebhookMessageAdmin(ReadOnlyAdmin):
    list_display = [
        "webhook_type",
        "webhook_url",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
        "organization",
        "id",
    ]
    list_filter = ["status", WebhookTypeFilter, "organization"]
    search_fields = ["webhook_url", "webhook_type", "=id", "=object_id"]
    list_select_related = ["organization"]
    fields = [
        "id",
        "organization",
        "endpoint",
        "webhook_url",
        "webhook_type",
        "object_type",
        "object_id",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
        "delivered_at",
        "pretty_body",
        "related",
    ]
    inlines = [WebhookAttemptInline]
    actions = ["resend_messages"]

    def get_queryset(self, request):
        # Bodies can be large: read only on a message's own page, where `pretty_body` asks for it.
        return super().get_queryset(request).defer("body")

    @admin.display(description="see also")
    def related(self, obj: WebhookMessage) -> str:
        return staff_link("webhooks:message_detail", obj.pk)

    @admin.display(description="body")
    def pretty_body(self, obj: WebhookMessage) -> str:
        if obj.body is None:
            return "(rendered at the first attempt)"
        try:
            text = json.dumps(json.loads(obj.body), indent=2, ensure_ascii=False)
        except ValueError:
            text = obj.body
        return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>', text)

    def has_resend_messages_permission(self, request) -> bool:
        return request.user.has_perm("webhooks.change_webhookmessage")

    @admin.action(
        description="Resend the selected messages (same body and unique key; pending ones are skipped)",
        permissions=["resend_messages"],
    )
    def resend_messages(self, request, queryset):
        chosen = list(queryset.defer("body"))
        done = [message for message in chosen if message.status != MessageStatus.PENDING]
        for message in done:
            resend(message=message)
        skipped = len(chosen) - len(done)
        text = f"{len(done)} message(s) sent again."
        if skipped:
            text += f" {skipped} pending message(s) skipped: they are already waiting for delivery."
        self.message_user(request, text)


@admin.register(WebhookAttempt)
class WebhookAttemptAdmin(ReadOnlyAdmin):
    list_display = ["id", "message_link", "webhook_type", "attempted_at", "status_code", "duration_ms", "error"]
    list_filter = ["attempted_at", "message__organization"]
    search_fields = ["=message__id", "message__webhook_url", "message__webhook_type"]
    list_select_related = ["message"]
    fields = ["id", "message", "attempted_at", "status_code", "duration_ms", "response_excerpt", "error"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("message__body")

    @admin.display(description="message", ordering="message_id")
    def message_link(self, obj: WebhookAttempt) -> str:
        return admin_link(obj.message, obj.message_id)

    @admin.display(description="type", ordering="message__webhook_type")
    def webhook_type(self, obj: WebhookAttempt) -> str:
        return obj.message.webhook_type
