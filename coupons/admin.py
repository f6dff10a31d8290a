"""Admin for support: coupons and applied coupons, read-only. Staff create and edit coupons on the
Coupons pages and apply them from a customer's page; the writes offered here (terminate, delete) go
through the coupon services, which end what depends on them."""

from django.contrib import admin

from billing.admin_base import DeletedFilter, ReadOnlyAdmin, admin_link, links, list_link, staff_link
from billing.money import canonical_decimal
from billing.templatetags.money import money
from coupons.models import AppliedCoupon, AppliedCouponStatus, Coupon, CouponFrequency, CouponStatus
from coupons.services import delete_coupon, terminate_applied_coupon, terminate_coupon
from invoicing.models import CouponCredit


def _discount(obj: Coupon | AppliedCoupon) -> str:
    """A percentage, or an amount in its currency."""
    if obj.percentage_rate is not None:
        return f"{canonical_decimal(obj.percentage_rate)}%"
    return money(obj.amount_cents, obj.amount_currency)


def _frequency(obj: Coupon | AppliedCoupon) -> str:
    if obj.frequency == CouponFrequency.RECURRING:
        return f"recurring, {obj.frequency_duration} period(s)"
    return obj.get_frequency_display().lower()


@admin.register(Coupon)
class CouponAdmin(ReadOnlyAdmin):
    list_display = [
        "code",
        "name",
        "discount",
        "frequency_terms",
        "status",
        "organization",
        "expiration_at",
        "created_at",
        "deleted_at",
    ]
    list_filter = ["status", DeletedFilter, "coupon_type", "organization"]
    search_fields = ["code", "name", "=id"]
    list_select_related = ["organization"]
    fields = [
        "id",
        "organization",
        "code",
        "name",
        "description",
        "coupon_type",
        "discount",
        "frequency_terms",
        "expiration",
        "expiration_at",
        "reusable",
        "limited_to",
        "status",
        "terminated_at",
        "created_at",
        "updated_at",
        "deleted_at",
        "related",
    ]
    actions = ["terminate", "soft_delete"]

    @admin.display(description="discount")
    def discount(self, obj: Coupon) -> str:
        return _discount(obj)

    @admin.display(description="frequency")
    def frequency_terms(self, obj: Coupon) -> str:
        return _frequency(obj)

    @admin.display(description="see also")
    def related(self, obj: Coupon) -> str:
        return links(
            list_link(AppliedCoupon, "Applications", coupon=obj.pk),
            staff_link("coupons:edit", obj.pk),
        )

    @admin.display(description="limited to")
    def limited_to(self, obj: Coupon) -> str:
        plans = [plan.code for plan in obj.plans.all()]
        metrics = [metric.code for metric in obj.billable_metrics.all()]
        if plans:
            return "plans: " + ", ".join(plans)
        if metrics:
            return "billable metrics: " + ", ".join(metrics)
        return "everything"

    def has_terminate_permission(self, request) -> bool:
        return request.user.has_perm("coupons.change_coupon")

    def has_soft_delete_permission(self, request) -> bool:
        return request.user.has_perm("coupons.delete_coupon")

    @admin.action(
        description="Terminate the selected coupons (customers who have them keep them)", permissions=["terminate"]
    )
    def terminate(self, request, queryset):
        coupons = list(queryset.filter(status=CouponStatus.ACTIVE))
        for coupon in coupons:
            terminate_coupon(coupon=coupon)
        self.message_user(request, f"{len(coupons)} coupon(s) terminated.")

    @admin.action(
        description="Delete the selected coupons (their active applications end)", permissions=["soft_delete"]
    )
    def soft_delete(self, request, queryset):
        coupons = list(queryset.filter(deleted_at__isnull=True))
        for coupon in coupons:
            delete_coupon(coupon=coupon)
        self.message_user(request, f"{len(coupons)} coupon(s) deleted.")


@admin.register(AppliedCoupon)
class AppliedCouponAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "coupon",
        "customer_external_id",
        "discount",
        "frequency_terms",
        "remaining",
        "status",
        "organization",
        "created_at",
    ]
    list_filter = ["status", "organization"]
    search_fields = ["coupon__code", "customer__external_id", "=id", "=coupon__id", "=customer__id"]
    list_select_related = ["coupon", "customer", "organization"]
    fields = [
        "id",
        "organization",
        "coupon",
        "customer_link",
        "discount",
        "frequency_terms",
        "remaining",
        "status",
        "created_at",
        "updated_at",
        "terminated_at",
        "related",
    ]
    actions = ["terminate"]

    @admin.display(description="customer")
    def customer_link(self, obj: AppliedCoupon) -> str:
        return admin_link(obj.customer, obj.customer.external_id)

    @admin.display(description="see also")
    def related(self, obj: AppliedCoupon) -> str:
        return links(
            list_link(CouponCredit, "What it took off invoices", applied_coupon=obj.pk),
            staff_link("customers:detail", obj.customer_id),
        )

    @admin.display(description="customer", ordering="customer__external_id")
    def customer_external_id(self, obj: AppliedCoupon) -> str:
        return obj.customer.external_id

    @admin.display(description="discount")
    def discount(self, obj: AppliedCoupon) -> str:
        return _discount(obj)

    @admin.display(description="frequency")
    def frequency_terms(self, obj: AppliedCoupon) -> str:
        return _frequency(obj)

    @admin.display(description="remaining")
    def remaining(self, obj: AppliedCoupon) -> str:
        """What is left: of a `once` fixed amount, or periods of a recurring coupon."""
        if obj.amount_cents_remaining is not None:
            return money(obj.amount_cents_remaining, obj.amount_currency)
        if obj.frequency_duration_remaining is not None:
            return f"{obj.frequency_duration_remaining} period(s)"
        return "—"

    def has_terminate_permission(self, request) -> bool:
        return request.user.has_perm("coupons.change_appliedcoupon")

    @admin.action(description="Terminate the selected applied coupons (no further discount)", permissions=["terminate"])
    def terminate(self, request, queryset):
        applied = list(queryset.filter(status=AppliedCouponStatus.ACTIVE))
        for applied_coupon in applied:
            terminate_applied_coupon(applied_coupon=applied_coupon)
        self.message_user(request, f"{len(applied)} applied coupon(s) terminated.")
