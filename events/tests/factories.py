"""Usage events for tests, stored the way the API stores them: through events.services.ingest_events,
which keeps the usage rollups in step. Never insert Event rows by hand: no rollup would count them."""

from collections.abc import Iterable
from datetime import datetime

from events.services import MAX_BATCH_SIZE, AcceptedEvent, ingest_events
from plans.models import Subscription


def send_events(
    subscription: Subscription, events: Iterable[tuple[str, datetime, dict]], *, first_index: int = 0
) -> list[AcceptedEvent]:
    """Ingest `(code, timestamp, properties)` events for `subscription`, in batches of at most 100.

    An event's transaction id is made of the subscription, the code, the timestamp and the event's
    position in the list (counted from `first_index`): events sent again at the same positions repeat
    their transaction ids, and the service refuses them as it refuses a client's retry.
    """
    raw_events = [
        {
            "transaction_id": f"tr_{subscription.external_id}_{code}_{timestamp.timestamp()}_{first_index + index}",
            "external_subscription_id": subscription.external_id,
            "code": code,
            "timestamp": str(timestamp.timestamp()),
            "properties": properties,
        }
        for index, (code, timestamp, properties) in enumerate(events)
    ]
    accepted: list[AcceptedEvent] = []
    for offset in range(0, len(raw_events), MAX_BATCH_SIZE):
        batch = raw_events[offset : offset + MAX_BATCH_SIZE]
        accepted += ingest_events(organization=subscription.organization, raw_events=batch, batch=True)
    return accepted
