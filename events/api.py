"""Lago's event endpoints (reference/lago-api.md §2.5).

The hot path, and one of the two named exceptions to the API's input convention (billing.api.input):
events are read by hand, by `events.services.ingest_events` (the same codes, without DRF), and
written by plain functions (`event_payloads`). The serializers here only document the schema.
"""

from datetime import datetime
from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from billing.api.errors import MissingRootKey
from billing.api.fields import DATETIME_FORMAT, iso_ms
from billing.api.renderers import FastJSONRenderer
from billing.api.schema import errors
from billing.api.views import LagoApiView
from billing.errors import NotFound
from events.models import Event
from events.services import ingest_events


def event_payload(event) -> dict:
    """Lago's event object, for a stored `Event` or an `AcceptedEvent` fresh from ingestion."""
    return event_payloads([event])[0]


def event_payloads(events: list) -> list[dict]:
    """Lago's event objects. The events of one call share subscriptions and a creation time, whose
    strings are formatted once per call: per event, they were a fifth of a batch's time."""
    subscription_ids: dict[Any, tuple[str, str]] = {}
    created_at_texts: dict[datetime, str] = {}
    payloads = []
    for event in events:
        subscription = event.subscription
        ids = subscription_ids.get(subscription.pk)
        if ids is None:
            ids = subscription_ids[subscription.pk] = (str(subscription.pk), str(subscription.customer_id))
        created_at = created_at_texts.get(event.created_at)
        if created_at is None:
            created_at = created_at_texts[event.created_at] = event.created_at.strftime(DATETIME_FORMAT)
        payloads.append(
            {
                "lago_id": str(event.id),
                "transaction_id": event.transaction_id,
                "lago_customer_id": ids[1],
                "code": event.code,
                "timestamp": iso_ms(event.timestamp),
                "precise_total_amount_cents": None,
                "properties": event.properties,
                "lago_subscription_id": ids[0],
                "external_subscription_id": subscription.external_id,
                "created_at": created_at,
            }
        )
    return payloads


# Documentation only: `ingest_events` reads events by hand, off the serializer path.
class EventInput(serializers.Serializer):
    transaction_id = serializers.CharField()
    external_subscription_id = serializers.CharField()
    code = serializers.CharField()
    timestamp = serializers.CharField(required=False, allow_null=True, help_text="Unix seconds (int, float or string)")
    properties = serializers.DictField(required=False, allow_null=True)


class EventOutput(serializers.Serializer):
    lago_id = serializers.CharField()
    transaction_id = serializers.CharField()
    lago_customer_id = serializers.CharField()
    code = serializers.CharField()
    timestamp = serializers.CharField()
    properties = serializers.DictField()
    lago_subscription_id = serializers.CharField()
    external_subscription_id = serializers.CharField()
    created_at = serializers.CharField()


class EventsApi(LagoApiView):
    renderer_classes = [FastJSONRenderer]

    @extend_schema(
        operation_id="create_event",
        request=inline_serializer("EventBody", {"event": EventInput()}),
        responses={200: inline_serializer("EventEnvelope", {"event": EventOutput()}), **errors(400, 401, 422)},
    )
    def post(self, request):
        [event] = ingest_events(organization=self.organization, raw_events=[self.root_payload("event")], batch=False)
        return Response({"event": event_payload(event)})


class EventsBatchApi(LagoApiView):
    renderer_classes = [FastJSONRenderer]

    @extend_schema(
        operation_id="create_events_batch",
        request=inline_serializer("EventBatchBody", {"events": EventInput(many=True)}),
        responses={
            200: inline_serializer("EventBatchEnvelope", {"events": EventOutput(many=True)}),
            **errors(400, 401, 422),
        },
    )
    def post(self, request):
        data = request.data
        events = data.get("events") if isinstance(data, dict) else None
        if not isinstance(events, list):
            raise MissingRootKey("events")
        accepted = ingest_events(organization=self.organization, raw_events=events, batch=True)
        return Response({"events": event_payloads(accepted)})


class EventApi(LagoApiView):
    resource = "event"

    @extend_schema(
        operation_id="get_event",
        responses={200: inline_serializer("EventShowEnvelope", {"event": EventOutput()}), **errors(401, 404)},
    )
    def get(self, request, transaction_id: str):
        event = (
            Event.objects.select_related("subscription")
            .filter(organization=self.organization, transaction_id=transaction_id)
            .first()
        )
        if event is None:
            raise NotFound("event")
        return Response({"event": event_payload(event)})
