"""Lago's v1 analytics endpoints (API-SCOPE "Analytics"): the dashboard's figures in Lago's shapes.

Shapes only: the query string is read here, every rule (what counts, a currency, the months) is
`analytics.selectors`'. Each endpoint answers its rows under Lago's root key, without pagination.
A filter Lago does not offer on an endpoint (`external_customer_id` on the MRR, the invoiced usage and
the invoice collection) is refused (`not_supported`) rather than ignored: an answer that silently
covers the whole organization would look like the customer's.
"""

import re
from datetime import date

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from analytics import selectors
from billing.api.schema import errors
from billing.api.views import LagoApiView
from billing.errors import ValidationFailed

_DIGITS = re.compile(r"[0-9]+")


@extend_schema_field(OpenApiTypes.STR)
class Month(serializers.Field):
    """Lago's `month`: the first instant of the month, as Rails writes a timestamp."""

    def __init__(self, **kwargs):
        super().__init__(read_only=True, **kwargs)

    def to_representation(self, value: date) -> str:
        return f"{value:%Y-%m}-01T00:00:00.000Z"


class GrossRevenueOutput(serializers.Serializer):
    month = Month(help_text='The first instant of the month: "2026-03-01T00:00:00.000Z".')
    amount_cents = serializers.IntegerField()
    currency = serializers.CharField()
    invoices_count = serializers.IntegerField()


class MrrOutput(serializers.Serializer):
    month = Month()
    amount_cents = serializers.IntegerField()
    currency = serializers.CharField()


class InvoicedUsageOutput(serializers.Serializer):
    month = Month()
    code = serializers.CharField(allow_null=True, help_text="The billable metric's code.")
    currency = serializers.CharField()
    amount_cents = serializers.IntegerField()


class OverdueBalanceOutput(serializers.Serializer):
    month = Month(help_text="The month of the invoices' payment due date.")
    amount_cents = serializers.IntegerField()
    currency = serializers.CharField()
    lago_invoice_ids = serializers.ListField(child=serializers.CharField())


class InvoiceCollectionOutput(serializers.Serializer):
    month = Month()
    payment_status = serializers.CharField()
    invoices_count = serializers.IntegerField()
    amount_cents = serializers.IntegerField()
    currency = serializers.CharField()


CURRENCY = OpenApiParameter("currency", str, description="Only this currency (ISO 4217; lower case is accepted).")
MONTHS = OpenApiParameter(
    "months", int, description="Only the last N months, the current one included (N ≥ 1). Without it, every month."
)
CUSTOMER = OpenApiParameter(
    "external_customer_id",
    str,
    description=(
        "Only this customer's invoices: the live customer with this external id, or while none holds it the "
        "deleted customers that did. `customer_not_found` when no customer ever held it."
    ),
)


# Reads the filters every analytics endpoint shares; a subclass names its selector and its shape.
# (A comment, not a docstring: drf-spectacular would publish a docstring as the operation's description.)
class AnalyticsApi(LagoApiView):
    root_key = ""
    output: type[serializers.Serializer] = serializers.Serializer
    takes_customer = False

    def figures(self, **filters) -> list:
        raise NotImplementedError

    def get(self, request):
        params = request.query_params
        filters = {"organization": self.organization, "today": timezone.now().date()}
        filters["currency"] = params.get("currency") or None
        filters["months"] = _months(params.get("months"))
        customer = params.get("external_customer_id") or None
        if self.takes_customer:
            filters["external_customer_id"] = customer
        elif customer is not None:
            raise ValidationFailed({"external_customer_id": ["not_supported"]})
        return Response({self.root_key: self.output(self.figures(**filters), many=True).data})


def _months(raw: str | None) -> int | None:
    """The `months` filter's shape: a whole number (its range is the selector's rule)."""
    if raw in (None, ""):
        return None
    if not _DIGITS.fullmatch(raw):
        raise ValidationFailed({"months": ["value_is_invalid"]})
    try:
        return int(raw)
    except ValueError:  # more digits than Python converts: no calendar has that many months
        raise ValidationFailed({"months": ["value_is_out_of_range"]}) from None


class GrossRevenueApi(AnalyticsApi):
    root_key = "gross_revenues"
    output = GrossRevenueOutput
    takes_customer = True

    @extend_schema(
        operation_id="list_gross_revenues",
        parameters=[CURRENCY, CUSTOMER, MONTHS],
        responses={
            200: inline_serializer("GrossRevenuesEnvelope", {"gross_revenues": GrossRevenueOutput(many=True)}),
            **errors(401, 404, 422),
        },
    )
    def get(self, request):
        return super().get(request)

    def figures(self, **filters) -> list:
        return selectors.gross_revenue(**filters)


class MrrApi(AnalyticsApi):
    root_key = "mrrs"
    output = MrrOutput

    @extend_schema(
        operation_id="list_mrrs",
        parameters=[CURRENCY, MONTHS],
        responses={200: inline_serializer("MrrsEnvelope", {"mrrs": MrrOutput(many=True)}), **errors(401, 422)},
    )
    def get(self, request):
        return super().get(request)

    def figures(self, **filters) -> list:
        return selectors.mrr(**filters)


class InvoicedUsageApi(AnalyticsApi):
    root_key = "invoiced_usages"
    output = InvoicedUsageOutput

    @extend_schema(
        operation_id="list_invoiced_usages",
        parameters=[CURRENCY, MONTHS],
        responses={
            200: inline_serializer("InvoicedUsagesEnvelope", {"invoiced_usages": InvoicedUsageOutput(many=True)}),
            **errors(401, 422),
        },
    )
    def get(self, request):
        return super().get(request)

    def figures(self, **filters) -> list:
        return selectors.invoiced_usage(**filters)


class OverdueBalanceApi(AnalyticsApi):
    root_key = "overdue_balances"
    output = OverdueBalanceOutput
    takes_customer = True

    @extend_schema(
        operation_id="list_overdue_balances",
        parameters=[CURRENCY, CUSTOMER, MONTHS],
        responses={
            200: inline_serializer("OverdueBalancesEnvelope", {"overdue_balances": OverdueBalanceOutput(many=True)}),
            **errors(401, 404, 422),
        },
    )
    def get(self, request):
        return super().get(request)

    def figures(self, **filters) -> list:
        return selectors.overdue_balance(**filters)


class InvoiceCollectionApi(AnalyticsApi):
    root_key = "invoice_collections"
    output = InvoiceCollectionOutput

    @extend_schema(
        operation_id="list_invoice_collections",
        parameters=[CURRENCY, MONTHS],
        responses={
            200: inline_serializer(
                "InvoiceCollectionsEnvelope", {"invoice_collections": InvoiceCollectionOutput(many=True)}
            ),
            **errors(401, 422),
        },
    )
    def get(self, request):
        return super().get(request)

    def figures(self, **filters) -> list:
        return selectors.invoice_collection(**filters)
