"""Lago's current usage endpoint (reference/lago-api.md §5)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from billing.api.fields import DATETIME_FORMAT
from billing.api.schema import errors
from billing.api.views import LagoApiView
from billing.errors import NotAllowed
from customers.selectors import get_customer_by_external_id
from invoicing.usage import Usage, current_usage, with_usage_relations
from plans.models import Subscription, SubscriptionStatus


def decimal_string(value) -> str:
    """Lago writes quantities as decimal strings with at least one decimal: "3.0", "0.25"."""
    text = format(value.normalize(), "f")
    return text if "." in text else f"{text}.0"


def usage_payload(usage: Usage) -> dict:
    return {
        "from_datetime": usage.from_datetime.strftime(DATETIME_FORMAT),
        "to_datetime": usage.to_datetime.strftime(DATETIME_FORMAT),
        "issuing_date": usage.issuing_date.isoformat(),
        "currency": usage.currency,
        "amount_cents": usage.amount_cents,
        "taxes_amount_cents": usage.taxes_amount_cents,
        "total_amount_cents": usage.total_amount_cents,
        "lago_invoice_id": None,
        "charges_usage": [
            {
                "units": decimal_string(item.units),
                "total_aggregated_units": decimal_string(item.units),
                "events_count": item.events_count,
                "amount_cents": item.amount_cents,
                "amount_currency": usage.currency,
                "pricing_unit_details": None,
                "charge": {
                    "lago_id": str(item.charge.pk),
                    "charge_model": item.charge.charge_model,
                    "invoice_display_name": item.charge.invoice_display_name,
                },
                "billable_metric": {
                    "lago_id": str(item.charge.billable_metric.pk),
                    "name": item.charge.billable_metric.name,
                    "code": item.charge.billable_metric.code,
                    "aggregation_type": item.charge.billable_metric.aggregation_type,
                },
                "filters": [],
                "grouped_usage": [],
            }
            for item in usage.charges
        ],
    }


class CustomerUsageOutput(serializers.Serializer):
    from_datetime = serializers.CharField()
    to_datetime = serializers.CharField()
    issuing_date = serializers.CharField()
    currency = serializers.CharField()
    amount_cents = serializers.IntegerField()
    taxes_amount_cents = serializers.IntegerField()
    total_amount_cents = serializers.IntegerField()
    lago_invoice_id = serializers.CharField(allow_null=True)
    charges_usage = serializers.ListField(child=serializers.DictField())


class CurrentUsageApi(LagoApiView):
    resource = "customer"

    @extend_schema(
        operation_id="get_customer_current_usage",
        parameters=[OpenApiParameter("external_subscription_id", str, required=True)],
        responses={
            200: inline_serializer("CustomerUsageEnvelope", {"customer_usage": CustomerUsageOutput()}),
            **errors(401, 404, 405, 422),
        },
    )
    def get(self, request, external_id: str):
        customer = get_customer_by_external_id(organization=self.organization, external_id=external_id)
        subscription_id = request.query_params.get("external_subscription_id", "")
        subscription = (
            with_usage_relations(Subscription.objects.filter(customer=customer, status=SubscriptionStatus.ACTIVE))
            .filter(external_id=subscription_id)
            .first()
        )
        if subscription is None:
            raise NotAllowed("no_active_subscription")
        return Response({"customer_usage": usage_payload(current_usage(subscription=subscription))})
