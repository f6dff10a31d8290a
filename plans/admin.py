"""Admin for support: the catalogue (billable metrics, plans and their charges, add-ons) and
subscriptions, read-only. Staff build the catalogue on its pages; the writes offered here go through
the services: soft deletes that keep the rows issued invoices point at, a plan's deletion ending its
live subscriptions first, and terminating subscriptions, billed as any termination."""

from django.contrib import admin

from billing.admin_base import (
    DeletedFilter,
    ReadOnlyAdmin,
    ReadOnlyInline,
    admin_link,
    call_service_on_each,
    links,
    list_link,
    pretty_json,
    staff_link,
)
from billing.templatetags.money import money
from events.models import Event, UsageRollup
from invoicing.models import InvoiceSubscription
from invoicing.subscriptions import delete_plan, terminate_subscription
from plans.charge_models import CHARGE_MODELS
from plans.models import AddOn, BillableMetric, Charge, Plan, Subscription
from plans.services import delete_add_on, delete_billable_metric


class ChargeModelFilter(admin.SimpleListFilter):
    """The charge models we price, from the code: no DISTINCT over the charges on every list page."""

    title = "charge model"
    parameter_name = "charge_model"

    def lookups(self, request, model_admin):
        return [(name, name) for name in CHARGE_MODELS]

    def queryset(self, request, queryset):
        return queryset.filter(charge_model=self.value()) if self.value() else queryset


# Billable metrics --------------------------------------------------------------------------------


class MetricChargeInline(ReadOnlyInline):
    """The plans that charge a metric: why it cannot be deleted."""

    model = Charge
    fields = ["plan", "charge_model", "deleted_at"]
    select_related = ("plan",)
    verbose_name = "charge"
    verbose_name_plural = "charged by"


@admin.register(BillableMetric)
class BillableMetricAdmin(ReadOnlyAdmin):
    list_display = ["code", "name", "aggregation_type", "field_name", "organization", "created_at", "deleted_at"]
    list_filter = [DeletedFilter, "aggregation_type", "organization"]
    search_fields = ["code", "name", "=id"]
    list_select_related = ["organization"]
    fields = [
        "id",
        "organization",
        "code",
        "name",
        "description",
        "aggregation_type",
        "field_name",
        "created_at",
        "updated_at",
        "deleted_at",
        "related",
    ]
    inlines = [MetricChargeInline]
    actions = ["soft_delete"]

    @admin.display(description="see also")
    def related(self, obj: BillableMetric) -> str:
        return links(
            list_link(Charge, "Charges", billable_metric=obj.pk),
            list_link(UsageRollup, "Usage rollups", billable_metric=obj.pk),
            staff_link("plans:metric_edit", obj.pk),
        )

    @admin.action(
        description="Delete the selected billable metrics (soft delete; refused while a plan charges one)",
        permissions=["service"],
    )
    def soft_delete(self, request, queryset):
        call_service_on_each(
            self,
            request,
            queryset.filter(deleted_at__isnull=True),
            lambda metric: delete_billable_metric(metric=metric),
            resource="billable_metric",
            done="{count} billable metric(s) deleted.",
        )


# Plans and charges -------------------------------------------------------------------------------


class PlanChargeInline(ReadOnlyInline):
    model = Charge
    fields = ["billable_metric", "charge_model", "charge_properties", "invoice_display_name", "deleted_at"]
    select_related = ("billable_metric",)

    @admin.display(description="properties")
    def charge_properties(self, obj: Charge) -> str:
        return pretty_json(obj.properties)


@admin.register(Plan)
class PlanAdmin(ReadOnlyAdmin):
    list_display = [
        "code",
        "name",
        "interval",
        "amount",
        "pay_in_advance",
        "trial_period",
        "organization",
        "created_at",
        "deleted_at",
    ]
    list_filter = [DeletedFilter, "interval", "pay_in_advance", "organization"]
    search_fields = ["code", "name", "=id"]
    list_select_related = ["organization"]
    fields = [
        "id",
        "organization",
        "code",
        "name",
        "invoice_display_name",
        "description",
        "interval",
        "amount",
        "pay_in_advance",
        "trial_period",
        "created_at",
        "updated_at",
        "deleted_at",
        "related",
    ]
    inlines = [PlanChargeInline]
    actions = ["soft_delete"]

    @admin.display(description="amount", ordering="amount_cents")
    def amount(self, obj: Plan) -> str:
        return money(obj.amount_cents, obj.amount_currency)

    @admin.display(description="see also")
    def related(self, obj: Plan) -> str:
        return links(
            list_link(Subscription, "Subscriptions", plan=obj.pk),
            list_link(Charge, "Charges", plan=obj.pk),
            staff_link("plans:plan_detail", obj.pk),
        )

    @admin.action(
        description="Delete the selected plans (their live subscriptions are terminated and billed first)",
        permissions=["service"],
    )
    def soft_delete(self, request, queryset):
        call_service_on_each(
            self,
            request,
            queryset.filter(deleted_at__isnull=True),
            lambda plan: delete_plan(plan=plan),
            resource="plan",
            done="{count} plan(s) deleted.",
        )


@admin.register(Charge)
class ChargeAdmin(ReadOnlyAdmin):
    list_display = ["id", "plan", "billable_metric", "charge_model", "organization", "created_at", "deleted_at"]
    list_filter = [DeletedFilter, ChargeModelFilter, "plan__organization"]
    search_fields = ["=id", "=plan__id", "plan__code", "billable_metric__code"]
    list_select_related = ["plan__organization", "billable_metric"]
    fields = [
        "id",
        "organization",
        "plan_link",
        "metric_link",
        "charge_model",
        "charge_properties",
        "invoice_display_name",
        "created_at",
        "deleted_at",
    ]

    @admin.display(description="organization", ordering="plan__organization__name")
    def organization(self, obj: Charge) -> str:
        return str(obj.plan.organization)

    @admin.display(description="plan")
    def plan_link(self, obj: Charge) -> str:
        return links(admin_link(obj.plan), staff_link("plans:plan_detail", obj.plan_id))

    @admin.display(description="billable metric")
    def metric_link(self, obj: Charge) -> str:
        return admin_link(obj.billable_metric)

    @admin.display(description="properties")
    def charge_properties(self, obj: Charge) -> str:
        return pretty_json(obj.properties)


# Add-ons -----------------------------------------------------------------------------------------


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
        "related",
    ]
    actions = ["soft_delete"]

    @admin.display(description="amount", ordering="amount_cents")
    def amount(self, obj: AddOn) -> str:
        return money(obj.amount_cents, obj.amount_currency)

    @admin.display(description="see also")
    def related(self, obj: AddOn) -> str:
        return staff_link("plans:add_on_edit", obj.pk)

    def has_soft_delete_permission(self, request) -> bool:
        return request.user.has_perm("plans.delete_addon")

    @admin.action(description="Delete the selected add-ons (soft delete)", permissions=["soft_delete"])
    def soft_delete(self, request, queryset):
        deleted = 0
        for add_on in queryset.filter(deleted_at__isnull=True):
            delete_add_on(add_on=add_on)
            deleted += 1
        self.message_user(request, f"{deleted} add-on(s) deleted.")


# Subscriptions -----------------------------------------------------------------------------------


class SubscriptionInvoiceInline(ReadOnlyInline):
    """The invoices that billed the subscription, one row per billing period."""

    model = InvoiceSubscription
    fields = ["invoice", "invoicing_reason", "period_start", "period_end"]
    select_related = ("invoice",)
    ordering = ["-period_start", "-id"]
    verbose_name = "billed period"
    verbose_name_plural = "billed periods"


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    list_display = [
        "external_id",
        "customer_external_id",
        "plan_code",
        "status",
        "billing_time",
        "subscription_at",
        "started_at",
        "terminated_at",
        "organization",
    ]
    list_filter = ["status", "billing_time", "organization"]
    search_fields = ["external_id", "customer__external_id", "plan__code", "=id", "=customer__id"]
    list_select_related = ["customer", "plan", "organization"]
    fields = [
        "id",
        "organization",
        "customer_link",
        "plan_link",
        "external_id",
        "name",
        "status",
        "billing_time",
        "subscription_at",
        "started_at",
        "ending_at",
        "terminated_at",
        "canceled_at",
        "created_at",
        "updated_at",
        "related",
    ]
    inlines = [SubscriptionInvoiceInline]
    actions = ["terminate"]

    @admin.display(description="customer", ordering="customer__external_id")
    def customer_external_id(self, obj: Subscription) -> str:
        return obj.customer.external_id

    @admin.display(description="plan", ordering="plan__code")
    def plan_code(self, obj: Subscription) -> str:
        return obj.plan.code

    @admin.display(description="customer")
    def customer_link(self, obj: Subscription) -> str:
        return admin_link(obj.customer, obj.customer.external_id)

    @admin.display(description="plan")
    def plan_link(self, obj: Subscription) -> str:
        return admin_link(obj.plan)

    @admin.display(description="see also")
    def related(self, obj: Subscription) -> str:
        return links(
            list_link(Event, "Events", subscription=obj.pk),
            list_link(UsageRollup, "Usage rollups", subscription=obj.pk),
            staff_link("customers:tab", obj.customer_id, "subscriptions"),
        )

    @admin.action(
        description="Terminate the selected subscriptions (active ones are billed at once, pending ones canceled)",
        permissions=["service"],
    )
    def terminate(self, request, queryset):
        call_service_on_each(
            self,
            request,
            queryset,
            lambda subscription: terminate_subscription(subscription=subscription),
            resource="subscription",
            done="{count} subscription(s) ended.",
        )
