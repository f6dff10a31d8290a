"""Ours: `GET /api/v1/customers/{external_id}/deletion_preview`, what deleting the customer would do
now (issue 12, "Before the click"), from `invoicing.customer_deletion.deletion_preview`. It writes
nothing. `DELETE /customers/{external_id}` itself is `customers.api.CustomerApi`.

An interface module of invoicing (like `invoicing.credit_notes_api`): it reads the cascade's rules,
which belong to invoicing, so it lives above them. `deletion_preview_payload` is the one writer of the
preview; the serializers only document it in the OpenAPI schema (a test holds them to each other).
"""

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from billing.api.schema import errors
from billing.api.views import LagoApiView
from customers.selectors import get_customer_by_external_id
from invoicing.api import decimal_string
from invoicing.customer_deletion import DeletionPreview, deletion_preview
from invoicing.numbering import draft_number
from plans.models import SubscriptionStatus

ACTIONS = ("terminate", "cancel")


def _credits(value: Decimal | int) -> str:
    return decimal_string(Decimal(value))


def deletion_preview_payload(preview: DeletionPreview) -> dict[str, Any]:
    """The preview as `DeletionPreviewOutput` documents it."""
    customer = preview.customer
    wallet = preview.wallet
    return {
        "lago_customer_id": str(customer.pk),
        "external_customer_id": customer.external_id,
        "subscriptions": [
            {
                "lago_id": str(outcome.subscription.pk),
                "external_id": outcome.subscription.external_id,
                "plan_code": outcome.subscription.plan.code,
                "status": outcome.subscription.status,
                "action": outcome.action,
                "estimated_invoice_amount_cents": outcome.invoice_amount_cents,
                "estimated_credit_note_amount_cents": outcome.credit_note_amount_cents,
                "currency": outcome.currency,
            }
            for outcome in preview.subscriptions
        ],
        "draft_invoices": [
            {
                "lago_id": str(invoice.pk),
                # Every draft shows the organization's provisional number until it is finalized.
                "number": draft_number(customer.organization),
                "total_amount_cents": invoice.total_amount_cents,
                "currency": invoice.currency,
            }
            for invoice in preview.drafts
        ],
        "applied_coupons": [
            {
                "lago_id": str(applied.pk),
                "lago_coupon_id": str(applied.coupon_id),
                "coupon_code": applied.coupon.code,
                "coupon_name": applied.coupon.name,
            }
            for applied in preview.applied_coupons
        ],
        "wallet": None
        if wallet is None
        else {
            "lago_id": str(wallet.pk),
            "currency": wallet.currency,
            "credits_balance": _credits(wallet.credits_balance),
            "balance_cents": wallet.balance_cents,
            "credits_voided_at_most": _credits(preview.credits_voided_at_most),
        },
    }


# Document `deletion_preview_payload`. (Comments rather than docstrings on the nested ones:
# drf-spectacular publishes a docstring as the schema's description.)
class SubscriptionOutcomeOutput(serializers.Serializer):
    lago_id = serializers.UUIDField()
    external_id = serializers.CharField()
    plan_code = serializers.CharField()
    status = serializers.ChoiceField(choices=[SubscriptionStatus.ACTIVE, SubscriptionStatus.PENDING])
    action = serializers.ChoiceField(
        choices=ACTIONS,
        help_text="`terminate` for an active subscription (billed at once), `cancel` for a pending one.",
    )
    estimated_invoice_amount_cents = serializers.IntegerField(
        help_text="Estimate: the fees of its termination invoice (prorated base fee and usage so far), before "
        "coupons, credit notes and prepaid credits. 0 for a canceled subscription."
    )
    estimated_credit_note_amount_cents = serializers.IntegerField(
        help_text="Estimate: the unused part of a base fee paid in advance, credited back by a credit note; 0 "
        "when none is due. An upper bound while that fee's invoice is a draft: the coupons its finalization "
        "takes reduce what was paid, hence what comes back."
    )
    currency = serializers.CharField()


class DraftInvoiceOutput(serializers.Serializer):
    lago_id = serializers.UUIDField()
    number = serializers.CharField(help_text="The provisional number; the final one is taken at finalization.")
    total_amount_cents = serializers.IntegerField(
        help_text="The draft's total as it stands; finalization applies coupons, credit notes and prepaid credits."
    )
    currency = serializers.CharField()


class AppliedCouponPreviewOutput(serializers.Serializer):
    lago_id = serializers.UUIDField()
    lago_coupon_id = serializers.UUIDField()
    coupon_code = serializers.CharField()
    coupon_name = serializers.CharField()


class WalletPreviewOutput(serializers.Serializer):
    lago_id = serializers.UUIDField()
    currency = serializers.CharField()
    credits_balance = serializers.CharField(help_text='A decimal string: "80.0".')
    balance_cents = serializers.IntegerField()
    credits_voided_at_most = serializers.CharField(
        help_text="The wallet's balance now: the final invoices take what they can of it first, and only what "
        "is left is voided."
    )


class DeletionPreviewOutput(serializers.Serializer):
    lago_customer_id = serializers.UUIDField()
    external_customer_id = serializers.CharField()
    subscriptions = SubscriptionOutcomeOutput(many=True)
    draft_invoices = DraftInvoiceOutput(many=True, help_text="Finalized by the deletion.")
    applied_coupons = AppliedCouponPreviewOutput(many=True, help_text="Terminated by the deletion.")
    wallet = WalletPreviewOutput(allow_null=True, help_text="The active wallet, terminated by the deletion; or null.")


DeletionPreviewEnvelope = inline_serializer("DeletionPreviewEnvelope", {"deletion_preview": DeletionPreviewOutput()})


class CustomerDeletionPreviewApi(LagoApiView):
    resource = "customer"

    @extend_schema(
        operation_id="get_customer_deletion_preview",
        summary="What deleting the customer would do now (ours)",
        description=(
            "Lists what `DELETE /customers/{external_id}` would do at this moment: the active subscriptions it "
            "terminates (each billed by a termination invoice, and credited back for the unused part of a fee "
            "paid in advance) and the pending ones it cancels, the draft invoices it finalizes, the applied "
            "coupons it terminates and the active wallet it terminates, voiding what is left of its credits. "
            "Changes nothing. Amounts are estimates: usage keeps arriving until the deletion, and coupons, "
            "credit notes and prepaid credits are taken when each invoice is finalized."
        ),
        responses={200: DeletionPreviewEnvelope, **errors(401, 404)},
    )
    def get(self, request, external_id: str):
        customer = get_customer_by_external_id(organization=self.organization, external_id=external_id)
        return Response({"deletion_preview": deletion_preview_payload(deletion_preview(customer=customer))})
