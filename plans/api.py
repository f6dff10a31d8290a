"""Lago's v1 endpoints for billable metrics, plans and subscriptions (reference/lago-api.md §2.2-2.4)."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from billing.api.fields import DATETIME_FORMAT, EmptyList, reject_unsupported
from billing.api.pagination import paginate
from billing.api.schema import PAGINATION_PARAMETERS, PaginationMeta, errors
from billing.api.views import LagoApiView
from billing.errors import ValidationFailed
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

METRIC_FIELDS = {"name", "code", "description", "aggregation_type", "field_name"}
# Lago options we don't offer; accepted only with their neutral value.
METRIC_DEFAULTS = {
    "recurring": False,
    "filters": [],
    "weighted_interval": None,
    "expression": None,
    "rounding_function": None,
    "rounding_precision": None,
}


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


class BillableMetricInput(serializers.Serializer):
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


def _metric_data(payload: dict) -> dict:
    reject_unsupported(payload, METRIC_FIELDS, METRIC_DEFAULTS)
    serializer = BillableMetricInput(data=payload)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


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
        data = _metric_data(self.root_payload("billable_metric"))
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
        data = _metric_data(self.root_payload("billable_metric"))
        return _metric_response(update_billable_metric(metric=metric, data=data))

    @extend_schema(operation_id="delete_billable_metric", responses={200: MetricEnvelope, **errors(401, 404, 405)})
    def delete(self, request, code: str):
        metric = get_billable_metric(organization=self.organization, code=code)
        return _metric_response(delete_billable_metric(metric=metric))


# Plans ----------------------------------------------------------------------------------------

PLAN_FIELDS = {
    "name",
    "code",
    "interval",
    "amount_cents",
    "amount_currency",
    "pay_in_advance",
    "trial_period",
    "description",
    "invoice_display_name",
    "charges",
}
PLAN_DEFAULTS = {
    "bill_charges_monthly": False,
    "tax_codes": [],
    "usage_thresholds": [],
    "minimum_commitment": None,
    "metadata": {},
    "fixed_charges": [],
}
CHARGE_FIELDS = {"id", "billable_metric_id", "charge_model", "properties", "invoice_display_name"}
CHARGE_DEFAULTS = {
    "pay_in_advance": False,
    "invoiceable": True,
    "prorated": False,
    "min_amount_cents": 0,
    "filters": [],
    "tax_codes": [],
    "regroup_paid_fees": None,
    "applied_pricing_unit": None,
}


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


class ChargeInput(serializers.Serializer):
    id = serializers.CharField(required=False, allow_null=True)
    billable_metric_id = serializers.CharField()
    charge_model = serializers.CharField()
    properties = serializers.DictField(required=False, allow_null=True)
    invoice_display_name = serializers.CharField(required=False, allow_null=True, allow_blank=True)


class PlanInput(serializers.Serializer):
    name = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    code = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    interval = serializers.CharField(required=False, allow_null=True)
    amount_cents = serializers.IntegerField(required=False, allow_null=True)
    amount_currency = serializers.CharField(required=False, allow_null=True)
    pay_in_advance = serializers.BooleanField(required=False)
    # Lago's clients send days as a number (1.0); read as a Decimal, kept when it is whole.
    trial_period = serializers.DecimalField(
        max_digits=12, decimal_places=6, coerce_to_string=False, required=False, allow_null=True
    )
    description = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    invoice_display_name = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    charges = ChargeInput(many=True, required=False, allow_null=True)


PlanEnvelope = inline_serializer("PlanEnvelope", {"plan": PlanOutput()})
PlanBody = inline_serializer("PlanBody", {"plan": PlanInput()})
PlanListEnvelope = inline_serializer("PlanListEnvelope", {"plans": PlanOutput(many=True), "meta": PaginationMeta()})


def _plan_data(payload: dict) -> dict:
    reject_unsupported(payload, PLAN_FIELDS, PLAN_DEFAULTS)
    charges = payload.get("charges")
    if isinstance(charges, list):
        for charge in charges:
            if isinstance(charge, dict):
                reject_unsupported(charge, CHARGE_FIELDS, CHARGE_DEFAULTS)
    serializer = PlanInput(data=payload)
    serializer.is_valid(raise_exception=True)
    data = dict(serializer.validated_data)
    if "trial_period" in data and data["trial_period"] is not None:
        trial = data["trial_period"]
        if trial != trial.to_integral_value():
            raise ValidationFailed({"trial_period": ["value_is_invalid"]})
        data["trial_period"] = int(trial)
    if data.get("charges") is not None:
        # A null item stays one, for the service to refuse with the other malformed charges.
        data["charges"] = [dict(charge) if isinstance(charge, dict) else charge for charge in data["charges"]]
    return data


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
        plan = create_plan(organization=self.organization, data=_plan_data(self.root_payload("plan")))
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
        plan = update_plan(plan=plan, data=_plan_data(self.root_payload("plan")))
        return _plan_response(self.organization, plan)

    @extend_schema(operation_id="delete_plan", responses={200: PlanEnvelope, **errors(401, 404)})
    def delete(self, request, code: str):
        plan = get_plan(organization=self.organization, code=code)
        body = PlanOutput(plan).data
        delete_plan(plan=plan)
        return Response({"plan": body})
