"""Handing committed messages to the delivery workers, cheaply for the transaction that wrote them.

Sending a Celery task costs about a millisecond of the sender's time, a tenth of a billed invoice. So a
commit only appends its messages to a list in the broker's Redis (one round trip) and, when no drain
is scheduled yet, sends the one task that drains the list: it sends the delivery tasks, one per
endpoint (a slow endpoint holds up only its own messages). A billing run of a thousand invoices
sends a handful of tasks instead of a thousand.

The list is a nudge, not the truth: a message lost with it (Redis down, a drain task lost) is still
pending in the outbox, and the clock sends it a minute later (`messages_due`).
"""

import functools
import logging

import redis
from celery import current_app

from billing.jobs import enqueue

logger = logging.getLogger(__name__)

DELIVER_TASK = "webhooks.tasks.deliver_webhook_task"
DRAIN_TASK = "webhooks.tasks.drain_committed_webhooks_task"
COMMITTED = "webhooks:committed"  # "<endpoint id>:<message id>", oldest first
DRAIN_SCHEDULED = "webhooks:drain-scheduled"
# Longer than a drain waits in its queue on a busy worker; a lost drain only delays the messages
# committed meanwhile until the flag expires (or the clock, whichever comes first).
DRAIN_FLAG_SECONDS = 60
DRAINED_AT_ONCE = 10_000
# A task carries at most this many messages, so that one task never holds a worker for long.
MESSAGES_PER_TASK = 50


@functools.cache
def _client(url: str) -> redis.Redis:
    # One pool per process and URL; redis-py makes new connections after a fork.
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def _broker_redis() -> redis.Redis | None:
    """The broker's Redis, or None when tasks run in-process or the broker is something else."""
    url = current_app.conf.broker_url or ""
    if current_app.conf.task_always_eager or not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    return _client(url)


def send_deliveries(by_endpoint: dict[str, list[str]]) -> None:
    """One delivery task per endpoint and at most MESSAGES_PER_TASK messages."""
    for message_ids in by_endpoint.values():
        for start in range(0, len(message_ids), MESSAGES_PER_TASK):
            enqueue(DELIVER_TASK, *message_ids[start : start + MESSAGES_PER_TASK])


def hand_over(by_endpoint: dict[str, list[str]]) -> None:
    """Called once the messages' transaction committed: queue them for the next drain."""
    client = _broker_redis()
    if client is None:
        send_deliveries(by_endpoint)
        return
    items = [f"{endpoint_id}:{message_id}" for endpoint_id, ids in by_endpoint.items() for message_id in ids]
    try:
        pipeline = client.pipeline(transaction=False)
        pipeline.rpush(COMMITTED, *items)
        pipeline.set(DRAIN_SCHEDULED, 1, nx=True, ex=DRAIN_FLAG_SECONDS)
        _, scheduled = pipeline.execute()
    except redis.RedisError:
        logger.exception("could not queue %d webhook messages; the clock will send them", len(items))
        return
    if scheduled:
        enqueue(DRAIN_TASK)


def drain() -> int:
    """Send the delivery tasks of the committed messages queued so far. Returns how many."""
    client = _broker_redis()
    if client is None:
        return 0
    pipeline = client.pipeline(transaction=True)  # taken and removed at once: no item sent twice
    pipeline.lrange(COMMITTED, 0, DRAINED_AT_ONCE - 1)
    pipeline.ltrim(COMMITTED, DRAINED_AT_ONCE, -1)
    items, _ = pipeline.execute()
    by_endpoint: dict[str, list[str]] = {}
    for item in items:
        endpoint_id, _, message_id = item.decode().partition(":")
        by_endpoint.setdefault(endpoint_id, []).append(message_id)
    send_deliveries(by_endpoint)
    # The flag goes after the list was taken: a commit from now on schedules a drain of its own, and
    # one that came between found the flag still set, so its messages are seen here.
    client.delete(DRAIN_SCHEDULED)
    if client.llen(COMMITTED) and client.set(DRAIN_SCHEDULED, 1, nx=True, ex=DRAIN_FLAG_SECONDS):
        enqueue(DRAIN_TASK)
    return len(items)
