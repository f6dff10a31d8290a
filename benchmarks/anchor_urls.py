"""The app's routes plus the single-event anchor: a minimal Django view that stores the row POST /api/v1/events
stores, with one raw INSERT.

What it leaves out is what the app adds on top of the framework and one round trip: DRF, API-key
authentication, validation, the subscription and metric lookup, the rollups and the full response.
It is for the bench databases only (one organization, its key not checked).
"""

import json
from datetime import UTC, datetime
from functools import cache

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from billing.urls import urlpatterns as app_urlpatterns

EVENT_PATH = "/bench/anchor/event"

INSERT_EVENT_SQL = """
    INSERT INTO events_event (organization_id, subscription_id, transaction_id, code, timestamp, properties, created_at)
    VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s)
    ON CONFLICT (organization_id, transaction_id) DO NOTHING
"""


@cache
def live_subscriptions() -> dict[str, tuple[str, str]]:
    """external id -> (organization id, subscription id), read once per worker process.

    The floor is one statement per event: looking the subscription up on every request is part
    of the app's work, which the anchor is there to be compared with.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT external_id, organization_id, id FROM plans_subscription WHERE status IN ('pending', 'active')"
        )
        return {external_id: (str(org), str(pk)) for external_id, org, pk in cursor.fetchall()}


@csrf_exempt  # as DRF's views are: an API client sends no CSRF token
def insert_event(request: HttpRequest) -> JsonResponse:
    event = json.loads(request.body)["event"]
    organization_id, subscription_id = live_subscriptions()[event["external_subscription_id"]]
    with connection.cursor() as cursor:
        cursor.execute(
            INSERT_EVENT_SQL,
            [
                organization_id,
                subscription_id,
                event["transaction_id"],
                event["code"],
                datetime.fromtimestamp(event["timestamp"], UTC),
                json.dumps(event["properties"]),
                datetime.now(UTC),
            ],
        )
        stored = cursor.rowcount == 1
    # A repeated transaction id stores nothing: not a 200, so that the benchmark counts it as an error.
    return JsonResponse({"event": {"transaction_id": event["transaction_id"]}}, status=200 if stored else 409)


urlpatterns = [path(EVENT_PATH.removeprefix("/"), insert_event), *app_urlpatterns]
