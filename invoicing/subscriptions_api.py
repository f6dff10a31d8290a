"""Lago's v1 subscription endpoints (reference/lago-api.md §2.4). Bodies are read by
billing.api.input.read_input; the lifecycle's rules live in `invoicing.subscriptions`."""

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from billing.api.fields import DATETIME_FORMAT, iso_ms
from billing.api.input import DateTime, LagoInput, read_input
from billing.api.pagination import paginate
from billing.api.schema import EXTERNAL_CUSTOMER_ID_FILTER, PAGINATION_PARAMETERS, PaginationMeta, errors
from billing.api.views import LagoApiView
from billing.errors import ValidationFailed
from invoicing.subscriptions import create_subscription, terminate_subscription
from plans.api import PlanOutput
from plans.models import SubscriptionStatus
from plans.selectors import get_subscription, get_subscription_by_id, list_subscriptions, plan_with_charges
from plans.subscription_periods import current_period

# Subscriptions ------------------------------------------------------------------------------


class SubscriptionOutput(serializers.Serializer):
    lago_id = serializers.UUIDField(source="id")
    external_id = serializers.CharField()
    lago_customer_id = serializers.UUIDField(source="customer_id")
    external_customer_id = serializers.CharField(source="customer.external_id")
    name = serializers.CharField(allow_null=True)
    plan_code = serializers.CharField(source="plan.code")
    plan_amount_cents = serializers.IntegerField(source="plan.amount_cents")
    plan_amount_currency = serializers.CharField(source="plan.amount_currency")
    status = serializers.CharField()
    billing_time = serializers.CharField()
    subscription_at = serializers.DateTimeField(format=DATETIME_FORMAT)
    started_at = serializers.SerializerMethodField()
    ending_at = serializers.DateTimeField(format=DATETIME_FORMAT, allow_null=True)
    terminated_at = serializers.DateTimeField(format=DATETIME_FORMAT, allow_null=True)
    canceled_at = serializers.DateTimeField(format=DATETIME_FORMAT, allow_null=True)
    created_at = serializers.DateTimeField(format=DATETIME_FORMAT)
    current_billing_period_started_at = serializers.SerializerMethodField()
    current_billing_period_ending_at = serializers.SerializerMethodField()

    def get_started_at(self, subscription) -> str | None:
        return iso_ms(subscription.started_at)

    def _period(self, subscription):
        if subscription.status != SubscriptionStatus.ACTIVE:
            return None
        return current_period(subscription, timezone.now())

    def get_current_billing_period_started_at(self, subscription) -> str | None:
        period = self._period(subscription)
        return period.start.strftime(DATETIME_FORMAT) if period else None

    def get_current_billing_period_ending_at(self, subscription) -> str | None:
        period = self._period(subscription)
        return period.to_datetime.strftime(DATETIME_FORMAT) if period else None


class SubscriptionInput(LagoInput):
    unsupported = {"ending_at": None, "plan_overrides": None, "billing_entity_code": None}

    external_customer_id = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    plan_code = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    external_id = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    name = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    billing_time = serializers.CharField(required=False, allow_null=True)
    subscription_at = DateTime(required=False, allow_null=True)


SubscriptionEnvelope = inline_serializer("SubscriptionEnvelope", {"subscription": SubscriptionOutput()})
SubscriptionBody = inline_serializer("SubscriptionBody", {"subscription": SubscriptionInput()})
SubscriptionListEnvelope = inline_serializer(
    "SubscriptionListEnvelope", {"subscriptions": SubscriptionOutput(many=True), "meta": PaginationMeta()}
)


def _subscription_response(subscription) -> Response:
    data = SubscriptionOutput(subscription).data
    data["plan"] = PlanOutput(plan_with_charges(plan_id=subscription.plan_id)).data
    return Response({"subscription": data})


class SubscriptionsApi(LagoApiView):
    @extend_schema(
        operation_id="list_subscriptions",
        parameters=[
            *PAGINATION_PARAMETERS,
            EXTERNAL_CUSTOMER_ID_FILTER,
            OpenApiParameter("plan_code", str),
            OpenApiParameter("status[]", str, many=True),
        ],
        responses={200: SubscriptionListEnvelope, **errors(401, 422)},
    )
    def get(self, request):
        params = request.query_params
        statuses = params.getlist("status[]") or params.getlist("status")
        unknown = [status for status in statuses if status not in SubscriptionStatus.values]
        if unknown:
            raise ValidationFailed({"status": ["value_is_invalid"]})
        queryset = list_subscriptions(
            organization=self.organization,
            external_customer_id=params.get("external_customer_id"),
            plan_code=params.get("plan_code"),
            statuses=statuses,
        )
        page = paginate(queryset, params)
        return Response({"subscriptions": SubscriptionOutput(page.items, many=True).data, "meta": page.meta})

    @extend_schema(
        operation_id="create_subscription",
        request=SubscriptionBody,
        responses={200: SubscriptionEnvelope, **errors(400, 401, 404, 422)},
    )
    def post(self, request):
        data = read_input(self.root_payload("subscription"), SubscriptionInput)
        subscription, _ = create_subscription(organization=self.organization, data=data)
        return _subscription_response(subscription)


class SubscriptionApi(LagoApiView):
    resource = "subscription"

    def _status(self):
        status = self.request.query_params.get("status") or SubscriptionStatus.ACTIVE
        if status not in SubscriptionStatus.values:
            raise ValidationFailed({"status": ["value_is_invalid"]})
        return status

    @extend_schema(
        operation_id="get_subscription",
        parameters=[OpenApiParameter("status", str)],
        responses={200: SubscriptionEnvelope, **errors(401, 404, 422)},
    )
    def get(self, request, external_id: str):
        subscription = get_subscription(organization=self.organization, external_id=external_id, status=self._status())
        return _subscription_response(subscription)

    @extend_schema(
        operation_id="terminate_subscription",
        parameters=[OpenApiParameter("status", str)],
        responses={200: SubscriptionEnvelope, **errors(401, 404, 422)},
    )
    def delete(self, request, external_id: str):
        status = self._status()
        if status not in (SubscriptionStatus.ACTIVE, SubscriptionStatus.PENDING):
            raise ValidationFailed({"status": ["value_is_invalid"]})
        subscription = get_subscription(organization=self.organization, external_id=external_id, status=status)
        terminate_subscription(subscription=subscription)
        return _subscription_response(get_subscription_by_id(subscription_id=subscription.pk))
