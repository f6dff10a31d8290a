"""Lago's v1 endpoints for billable metrics and plans (reference/lago-api.md §2.2-2.3). Bodies are read
by billing.api.input.read_input; the rules live in plans.services."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from billing.api.fields import DATETIME_FORMAT, EmptyList
from billing.api.input import Integer, LagoInput, Number, many, read_input
from billing.api.pagination import paginate
from billing.api.schema import PAGINATION_PARAMETERS, PaginationMeta, errors
from billing.api.views import LagoApiView
from invoicing.subscriptions import delete_plan
from plans.selectors import (
    get_billable_metric,
    get_plan,
    list_billable_metrics,
    list_plans,
)
from plans.services import (
    create_billable_metric,
    create_plan,
    delete_billable_metric,
    update_billable_metric,
    update_plan,
)

# Billable metrics ---------------------------------------------------------------------------


class BillableMetricOutput(serializers.Serializer):
    lago_id = serializers.UUIDField(source="id")
    name = serializers.CharField()
    code = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    aggregation_type = serializers.CharField()
    field_name = serializers.CharField(allow_null=True)
    recurring = serializers.BooleanField(default=False, source="*", read_only=True)
    created_at = serializers.DateTimeField(format=DATETIME_FORMAT)
    filters = EmptyList()

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data.update(recurring=False, weighted_interval=None, expression=None)
        return data


class BillableMetricInput(LagoInput):
    unsupported = {
        "recurring": False,
        "filters": [],
        "weighted_interval": None,
        "expression": None,
        "rounding_function": None,
        "rounding_precision": None,
    }

    name = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    code = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    description = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    aggregation_type = serializers.CharField(required=False, allow_null=True)
    field_name = serializers.CharField(required=False, allow_null=True, allow_blank=True)


MetricEnvelope = inline_serializer("BillableMetricEnvelope", {"billable_metric": BillableMetricOutput()})
MetricBody = inline_serializer("BillableMetricBody", {"billable_metric": BillableMetricInput()})
MetricListEnvelope = inline_serializer(
    "BillableMetricListEnvelope",
    {"billable_metrics": BillableMetricOutput(many=True), "meta": PaginationMeta()},
)


def _metric_response(metric) -> Response:
    return Response({"billable_metric": BillableMetricOutput(metric).data})


class BillableMetricsApi(LagoApiView):
    @extend_schema(
        operation_id="list_billable_metrics",
        parameters=PAGINATION_PARAMETERS,
        responses={200: MetricListEnvelope, **errors(401, 422)},
    )
    def get(self, request):
        page = paginate(list_billable_metrics(organization=self.organization), request.query_params)
        return Response({"billable_metrics": BillableMetricOutput(page.items, many=True).data, "meta": page.meta})

    @extend_schema(
        operation_id="create_billable_metric",
        request=MetricBody,
        responses={200: MetricEnvelope, **errors(400, 401, 422)},
    )
    def post(self, request):
        data = read_input(self.root_payload("billable_metric"), BillableMetricInput)
        return _metric_response(create_billable_metric(organization=self.organization, data=data))


class BillableMetricApi(LagoApiView):
    resource = "billable_metric"

    @extend_schema(operation_id="get_billable_metric", responses={200: MetricEnvelope, **errors(401, 404)})
    def get(self, request, code: str):
        return _metric_response(get_billable_metric(organization=self.organization, code=code))

    @extend_schema(
        operation_id="update_billable_metric",
        request=MetricBody,
        responses={200: MetricEnvelope, **errors(400, 401, 404, 422)},
    )
    def put(self, request, code: str):
        metric = get_billable_metric(organization=self.organization, code=code)
        data = read_input(self.root_payload("billable_metric"), BillableMetricInput)
        return _metric_response(update_billable_metric(metric=metric, data=data))

    @extend_schema(operation_id="delete_billable_metric", responses={200: MetricEnvelope, **errors(401, 404, 405)})
    def delete(self, request, code: str):
        metric = get_billable_metric(organization=self.organization, code=code)
        return _metric_response(delete_billable_metric(metric=metric))


# Plans ----------------------------------------------------------------------------------------


class ChargeOutput(serializers.Serializer):
    lago_id = serializers.UUIDField(source="id")
    lago_billable_metric_id = serializers.UUIDField(source="billable_metric_id")
    billable_metric_code = serializers.CharField(source="billable_metric.code")
    invoice_display_name = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField(format=DATETIME_FORMAT)
    charge_model = serializers.CharField()
    properties = serializers.DictField()
    filters = EmptyList()
    taxes = EmptyList()

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data.update(pay_in_advance=False, invoiceable=True, prorated=False, min_amount_cents=0)
        return data


class PlanOutput(serializers.Serializer):
    lago_id = serializers.UUIDField(source="id")
    name = serializers.CharField()
    invoice_display_name = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField(format=DATETIME_FORMAT)
    code = serializers.CharField()
    interval = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    amount_cents = serializers.IntegerField()
    amount_currency = serializers.CharField()
    trial_period = serializers.IntegerField()
    pay_in_advance = serializers.BooleanField()
    charges = ChargeOutput(many=True, source="live_charges")
    taxes = EmptyList()
    usage_thresholds = EmptyList()


class ChargeInput(LagoInput):
    unsupported = {
        "pay_in_advance": False,
        "invoiceable": True,
        "prorated": False,
        "min_amount_cents": 0,
        "filters": [],
        "tax_codes": [],
        "regroup_paid_fees": None,
        "applied_pricing_unit": None,
    }

    id = serializers.CharField(required=False, allow_null=True)
    # Lago answers a missing or unknown metric with 404 billable_metrics_not_found (the service).
    billable_metric_id = serializers.CharField(required=False, allow_null=True)
    charge_model = serializers.CharField(required=False, allow_null=True)
    properties = serializers.DictField(required=False, allow_null=True)
    invoice_display_name = serializers.CharField(required=False, allow_null=True, allow_blank=True)


class PlanInput(LagoInput):
    unsupported = {
        "bill_charges_monthly": False,
        "tax_codes": [],
        "usage_thresholds": [],
        "minimum_commitment": None,
        "metadata": {},
        "fixed_charges": [],
    }

    name = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    code = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    interval = serializers.CharField(required=False, allow_null=True)
    amount_cents = Integer(required=False, allow_null=True)
    amount_currency = serializers.CharField(required=False, allow_null=True)
    pay_in_advance = serializers.BooleanField(required=False)
    # Days; Lago's clients send a number (1.0). The service keeps it when it is whole.
    trial_period = Number(required=False, allow_null=True)
    description = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    invoice_display_name = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    charges = many(ChargeInput(), required=False, allow_null=True)


PlanEnvelope = inline_serializer("PlanEnvelope", {"plan": PlanOutput()})
PlanBody = inline_serializer("PlanBody", {"plan": PlanInput()})
PlanListEnvelope = inline_serializer("PlanListEnvelope", {"plans": PlanOutput(many=True), "meta": PaginationMeta()})


def _plan_response(organization, plan) -> Response:
    # Re-read with the live charges prefetched, exactly as GET shows it.
    return Response({"plan": PlanOutput(get_plan(organization=organization, code=plan.code)).data})


class PlansApi(LagoApiView):
    @extend_schema(
        operation_id="list_plans",
        parameters=PAGINATION_PARAMETERS,
        responses={200: PlanListEnvelope, **errors(401, 422)},
    )
    def get(self, request):
        page = paginate(list_plans(organization=self.organization), request.query_params)
        return Response({"plans": PlanOutput(page.items, many=True).data, "meta": page.meta})

    @extend_schema(
        operation_id="create_plan", request=PlanBody, responses={200: PlanEnvelope, **errors(400, 401, 404, 422)}
    )
    def post(self, request):
        plan = create_plan(organization=self.organization, data=read_input(self.root_payload("plan"), PlanInput))
        return _plan_response(self.organization, plan)


class PlanApi(LagoApiView):
    resource = "plan"

    @extend_schema(operation_id="get_plan", responses={200: PlanEnvelope, **errors(401, 404)})
    def get(self, request, code: str):
        return Response({"plan": PlanOutput(get_plan(organization=self.organization, code=code)).data})

    @extend_schema(
        operation_id="update_plan", request=PlanBody, responses={200: PlanEnvelope, **errors(400, 401, 404, 422)}
    )
    def put(self, request, code: str):
        plan = get_plan(organization=self.organization, code=code)
        plan = update_plan(plan=plan, data=read_input(self.root_payload("plan"), PlanInput))
        return _plan_response(self.organization, plan)

    @extend_schema(operation_id="delete_plan", responses={200: PlanEnvelope, **errors(401, 404)})
    def delete(self, request, code: str):
        plan = get_plan(organization=self.organization, code=code)
        body = PlanOutput(plan).data
        delete_plan(plan=plan)
        return Response({"plan": body})
