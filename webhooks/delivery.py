"""Delivering one outbox message: render its body once, sign it, POST it with a timeout, log the
attempt, and on a non-2xx answer or a network error try again later on a fixed schedule.

A message is leased while in flight (its next attempt pushed past the timeout), so a duplicate
task — a retry that crossed the clock's resend — finds it not due and does nothing; two deliveries
of one message at once cannot happen, two in a row can (receivers deduplicate on the unique key).
"""

import functools
import queue
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
from django.db import transaction
from django.utils import timezone

from billing.jobs import enqueue_on_commit
from webhooks.addresses import unsafe_url_reason
from webhooks.models import MessageStatus, WebhookAttempt, WebhookEndpoint, WebhookMessage
from webhooks.services import DELIVER_TASK, keys_of
from webhooks.signing import signature

# After the first attempt: 30 s, 2 min, 10 min, 30 min, 2 h, 6 h, 12 h, 24 h — nine attempts over
# about 45 hours (ours; Lago tries 3 times), the first retry within a minute.
RETRY_DELAYS = tuple(timedelta(seconds=seconds) for seconds in (30, 120, 600, 1800, 7200, 21600, 43200, 86400))
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
# Longer than any attempt (DEADLINE, and connecting): a crashed attempt is retried after it.
LEASE = timedelta(minutes=5)
DEADLINE = 30.0  # seconds for a whole attempt: a receiver trickling its answer is cut off
EXCERPT_BYTES = 500
EARLY = timedelta(seconds=5)  # a retry's countdown may fire a little before its time


def _claim(
    message_id, render: Callable[[WebhookMessage], str], at: datetime
) -> tuple[WebhookMessage, WebhookEndpoint | None] | None:
    """The message, rendered and leased for one attempt, with its endpoint as it is now (None if it
    was deleted); None when the message is not due or not pending."""
    with transaction.atomic():
        message = WebhookMessage.objects.select_for_update(skip_locked=True).filter(pk=message_id).first()
        if message is None or message.status != MessageStatus.PENDING or message.next_attempt_at > at + EARLY:
            return None
        endpoint = WebhookEndpoint.objects.filter(pk=message.endpoint_id).first()
        if endpoint is None:
            message.status = MessageStatus.FAILED  # its endpoint is gone: nobody to send it to
            message.save(update_fields=["status"])
            return message, None
        if message.body is None:
            message.body = render(message)
        message.webhook_url = endpoint.webhook_url
        message.attempts += 1
        message.next_attempt_at = at + LEASE
        message.save(update_fields=["body", "webhook_url", "attempts", "next_attempt_at"])
        return message, endpoint


def _post(message: WebhookMessage, algorithm: str) -> tuple[int | None, str, str]:
    """(status code or None, answer excerpt, error), within the attempt's DEADLINE whatever the
    receiver does: httpx's timeouts are per read, so a receiver trickling its status line and
    headers a byte at a time would hold an attempt for days. The request runs in a thread of its
    own (it touches no database); past the deadline the attempt is logged as failed and the thread
    is left to end on its own read timeout (its answer, if one comes, is ignored)."""
    reason = unsafe_url_reason(message.webhook_url)
    if reason:
        return None, "", reason
    keys = keys_of(organization_id=message.organization_id)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "billing-webhooks",
        "X-Lago-Signature": signature(body=message.body, algorithm=algorithm, keys=keys),
        "X-Lago-Signature-Algorithm": algorithm,
        "X-Lago-Unique-Key": str(message.pk),
    }
    outcome: queue.SimpleQueue = queue.SimpleQueue()

    def send() -> None:
        try:
            outcome.put(_request(message.webhook_url, message.body, headers))
        except BaseException as error:  # whatever happens there is this attempt's failure
            outcome.put((None, "", f"{type(error).__name__}: {error}"[:EXCERPT_BYTES]))

    threading.Thread(target=send, daemon=True, name="webhook-request").start()
    try:
        # A moment more than the request's own DEADLINE, so that a body cut at it is still logged.
        return outcome.get(timeout=DEADLINE + 0.5)
    except queue.Empty:
        return None, "", f"DeadlineExceeded: no complete answer within {DEADLINE:g} s"


@functools.cache
def _client() -> httpx.Client:
    """One client per process, made on first use (after a prefork worker forks): making one loads
    the CA bundle, about 17 ms, a third of a delivery's time before it was shared. Its pool keeps
    connections to receivers alive between messages. Thread-safe, as each request has a thread."""
    return httpx.Client(follow_redirects=False)


def _request(url: str, body: str, headers: dict[str, str]) -> tuple[int | None, str, str]:
    deadline = time.monotonic() + DEADLINE
    try:
        stream = _client().stream("POST", url, content=body.encode(), headers=headers, timeout=TIMEOUT)
        with stream as answer:
            excerpt = b""
            for chunk in answer.iter_bytes():
                excerpt += chunk
                if len(excerpt) >= EXCERPT_BYTES or time.monotonic() > deadline:
                    break
            return answer.status_code, excerpt[:EXCERPT_BYTES].decode(errors="replace"), ""
    except httpx.HTTPError as error:
        return None, "", f"{type(error).__name__}: {error}"[:EXCERPT_BYTES]


def deliver(
    *, message_id, render: Callable[[WebhookMessage], str], at: datetime | None = None
) -> WebhookMessage | None:
    """One attempt at a message, if it is due. `render` writes its body (the callers' API writers:
    this module never imports them)."""
    at = at or timezone.now()
    claimed = _claim(message_id, render, at)
    if claimed is None:
        return None
    message, endpoint = claimed
    if endpoint is None:
        return message
    started = time.monotonic()
    status_code, excerpt, error = _post(message, endpoint.signature_algo)
    duration_ms = int((time.monotonic() - started) * 1000)
    finished = timezone.now()
    with transaction.atomic():
        WebhookAttempt.objects.create(
            message=message,
            attempted_at=finished,
            status_code=status_code,
            duration_ms=duration_ms,
            response_excerpt=excerpt,
            error=error,
        )
        if status_code is not None and 200 <= status_code < 300:
            message.status = MessageStatus.SUCCEEDED
            message.delivered_at = finished
        elif message.attempts >= MAX_ATTEMPTS:
            message.status = MessageStatus.FAILED
        else:
            delay = RETRY_DELAYS[message.attempts - 1]
            message.next_attempt_at = finished + delay
            enqueue_on_commit(DELIVER_TASK, str(message.pk), countdown=delay.total_seconds())
        message.save(update_fields=["status", "delivered_at", "next_attempt_at"])
    return message
