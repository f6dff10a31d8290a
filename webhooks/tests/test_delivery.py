"""Delivering webhook messages (`webhooks.delivery.deliver`, called in-process here; the Celery
worker tests are elsewhere) to a real HTTP receiver on loopback (`webhooks/tests/receiver.py`):
signatures verified as a receiver verifies them, Lago's headers, the retry schedule and its log,
timeouts, redirects, the answer excerpt, the address rules, the clock's view of lost messages and
the staff's resend."""

import base64
import hashlib
import hmac
import json
import time
from datetime import timedelta

import httpx
import jwt
import pytest
import time_machine
from django.conf import settings as django_settings
from django.utils import timezone

from billing.errors import NotAllowed, ValidationFailed
from billing.jobs import task_named
from customers.services import update_customer
from customers.tests.factories import CustomerFactory
from organizations.services import create_api_key
from organizations.tests.factories import OrganizationFactory
from webhooks import delivery
from webhooks.bodies import render
from webhooks.delivery import LEASE, MAX_ATTEMPTS, RETRY_DELAYS, deliver
from webhooks.models import WebhookAttempt, WebhookEndpoint, WebhookMessage
from webhooks.services import (
    DELIVER_TASK,
    create_endpoint,
    delete_endpoint,
    emit,
    keys_of,
    messages_due,
    resend,
    rotate_hmac_key,
    update_endpoint,
)
from webhooks.tests.receiver import Answer, Receiver

SHORT_TIMEOUT = httpx.Timeout(0.5, connect=0.5)


@pytest.fixture
def allow_private(settings):
    """Loopback receivers need WEBHOOKS_ALLOW_PRIVATE_URLS (the environment variable, for tests
    and self-hosted set-ups)."""
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    return settings


@pytest.fixture
def receiver():
    with Receiver() as started:
        yield started


@pytest.fixture
def customer(organization):
    return CustomerFactory(organization=organization, external_id="cust_1", name="Before")


@pytest.fixture
def message_to(organization, customer, allow_private):
    """`message_to(url, algo)`: an endpoint at `url` and the `customer.created` message written for
    it by `emit`, as the customer service writes it."""

    def make(url: str, signature_algo: str = "hmac") -> WebhookMessage:
        endpoint = create_endpoint(
            organization=organization, data={"webhook_url": url, "signature_algo": signature_algo}
        )
        emit(
            organization_id=organization.pk,
            webhook_type="customer.created",
            object_type="customer",
            object_id=customer.pk,
        )
        return WebhookMessage.objects.filter(endpoint=endpoint).latest("created_at")

    return make


@pytest.fixture
def retries(monkeypatch):
    """The retries the delivery schedules, as (message id, countdown) once their transaction commits."""
    calls: list[tuple[str, float]] = []
    task = task_named(DELIVER_TASK)
    monkeypatch.setattr(task, "apply_async", lambda args, countdown: calls.append((*args, countdown)))
    monkeypatch.setattr(task, "delay", lambda *args: calls.append((*args, None)))
    return calls


def attempts_of(message) -> list[WebhookAttempt]:
    return list(WebhookAttempt.objects.filter(message=message).order_by("attempted_at", "id"))


# Signatures and headers ---------------------------------------------------------------------------


def test_hmac_signature_is_base64_hmac_sha256_of_the_exact_body(message_to, receiver, organization):
    message = message_to(receiver.url("/hooks"), "hmac")
    delivered = deliver(message_id=message.pk, render=render)
    assert delivered.status == "succeeded"

    [request] = receiver.requests
    assert (request.method, request.path) == ("POST", "/hooks")
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Lago-Signature-Algorithm"] == "hmac"
    assert request.headers["X-Lago-Unique-Key"] == str(message.pk)
    assert request.body == delivered.body.encode()  # the stored body, byte for byte
    # What a receiver does (Lago's documented check): HMAC-SHA256 of the raw body with the
    # organization's key, base64.
    key = keys_of(organization_id=organization.pk).hmac_key
    expected = base64.b64encode(hmac.new(key.encode(), request.body, hashlib.sha256).digest()).decode()
    assert hmac.compare_digest(request.headers["X-Lago-Signature"], expected)
    body = json.loads(request.body)
    assert (body["webhook_type"], body["object_type"], body["organization_id"]) == (
        "customer.created",
        "customer",
        str(organization.pk),
    )
    assert body["customer"]["external_id"] == "cust_1"


def test_jwt_signature_is_rs256_of_data_and_iss(message_to, receiver, organization):
    message = message_to(receiver.url("/hooks"), "jwt")
    deliver(message_id=message.pk, render=render)

    [request] = receiver.requests
    assert request.headers["X-Lago-Signature-Algorithm"] == "jwt"
    assert request.headers["X-Lago-Unique-Key"] == str(message.pk)
    public_pem = keys_of(organization_id=organization.pk).public_key_pem
    claims = jwt.decode(
        request.headers["X-Lago-Signature"], public_pem, algorithms=["RS256"], issuer=django_settings.WEBHOOKS_ISSUER
    )
    assert claims == {"data": request.body.decode(), "iss": django_settings.WEBHOOKS_ISSUER}
    # Another organization's key does not verify it.
    other = OrganizationFactory()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            request.headers["X-Lago-Signature"],
            keys_of(organization_id=other.pk).public_key_pem,
            algorithms=["RS256"],
        )


@pytest.mark.django_db(transaction=True)
def test_jwt_signature_verifies_with_the_key_lago_python_client_fetches(live_server, allow_private):
    """The receiver's way: lago-python-client 1.55.0's `webhooks.public_key()` (GET
    /api/v1/webhooks/json_public_key, base64 of the PEM, decoded by the client), then PyJWT."""
    from lago_python_client.client import Client

    organization = OrganizationFactory()
    _, raw_key = create_api_key(organization=organization)
    customer = CustomerFactory(organization=organization, external_id="cust_1")
    with Receiver() as receiver:
        endpoint = create_endpoint(
            organization=organization, data={"webhook_url": receiver.url("/hooks"), "signature_algo": "jwt"}
        )
        emit(
            organization_id=organization.pk,
            webhook_type="customer.created",
            object_type="customer",
            object_id=customer.pk,
        )
        message = WebhookMessage.objects.get(endpoint=endpoint)
        assert deliver(message_id=message.pk, render=render).status == "succeeded"
        [request] = receiver.requests

    public_key = Client(api_key=raw_key, api_url=live_server.url).webhooks.public_key()
    assert public_key == keys_of(organization_id=organization.pk).public_key_pem.encode()
    claims = jwt.decode(request.headers["X-Lago-Signature"], public_key, algorithms=["RS256"])
    assert claims["data"] == request.body.decode()
    assert json.loads(claims["data"])["webhook_type"] == "customer.created"


# Retries, the log, the unique key -----------------------------------------------------------------


def test_failing_twice_then_succeeding_makes_three_attempts_with_one_unique_key(
    message_to, receiver, customer, retries, django_capture_on_commit_callbacks
):
    receiver.answer(
        Answer(500, body=b"down", delay=0.2), Answer(503, body=b"still down", delay=0.2), Answer(200, body=b"thanks")
    )
    message = message_to(receiver.url("/hooks"), "jwt")

    with django_capture_on_commit_callbacks(execute=True):
        first = deliver(message_id=message.pk, render=render)
    assert (first.status, first.attempts) == ("pending", 1)
    assert retries == [(str(message.pk), RETRY_DELAYS[0].total_seconds())]  # a retry task, on commit
    # Not due before its time (a duplicate task does nothing, and sends nothing).
    assert deliver(message_id=message.pk, render=render) is None
    assert len(receiver.requests) == 1
    # The object changes meanwhile: the retries still send the body rendered at the first attempt.
    update_customer(customer=customer, data={"name": "After"})

    second = deliver(message_id=message.pk, render=render, at=first.next_attempt_at)
    assert (second.status, second.attempts) == ("pending", 2)
    third = deliver(message_id=message.pk, render=render, at=second.next_attempt_at)
    assert (third.status, third.attempts) == ("succeeded", 3)
    assert third.delivered_at is not None

    requests = receiver.requests
    assert len(requests) == 3
    assert {request.headers["X-Lago-Unique-Key"] for request in requests} == {str(message.pk)}
    assert {request.body for request in requests} == {third.body.encode()}
    assert json.loads(third.body)["customer"]["name"] == "Before"
    assert len({request.headers["X-Lago-Signature"] for request in requests}) == 1  # same bytes, same signature

    log = attempts_of(message)
    assert [(a.status_code, a.response_excerpt, a.error) for a in log] == [
        (500, "down", ""),
        (503, "still down", ""),
        (200, "thanks", ""),
    ]
    assert all(a.duration_ms >= 200 for a in log[:2])  # the receiver took 0.2 s to answer
    assert log[0].attempted_at < log[1].attempted_at < log[2].attempted_at
    assert first.next_attempt_at == log[0].attempted_at + RETRY_DELAYS[0]
    assert second.next_attempt_at == log[1].attempted_at + RETRY_DELAYS[1]


def test_a_rotated_hmac_key_signs_the_retries(message_to, receiver, organization):
    receiver.answer(Answer(500))
    message = message_to(receiver.url("/hooks"), "hmac")
    first = deliver(message_id=message.pk, render=render)
    old_key = keys_of(organization_id=organization.pk).hmac_key
    new_key = rotate_hmac_key(organization=organization).hmac_key
    deliver(message_id=message.pk, render=render, at=first.next_attempt_at)

    def signed(body: bytes, key: str) -> str:
        return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()

    before, after = receiver.requests
    assert before.headers["X-Lago-Signature"] == signed(before.body, old_key)
    assert after.headers["X-Lago-Signature"] == signed(after.body, new_key) != signed(after.body, old_key)


def test_the_retry_schedule(message_to, receiver, retries, django_capture_on_commit_callbacks):
    """Ours: after the first attempt 30 s, 2 min, 10 min, 30 min, 2 h, 6 h, 12 h, 24 h, so nine
    attempts over about 45 hours (Lago tries 3 times); the first retry within a minute. Then the
    message has failed and nothing more is sent."""
    assert RETRY_DELAYS[0] <= timedelta(minutes=1)
    assert list(RETRY_DELAYS) == sorted(set(RETRY_DELAYS))  # always longer
    assert MAX_ATTEMPTS == len(RETRY_DELAYS) + 1 == 9
    assert timedelta(hours=44) < sum(RETRY_DELAYS, timedelta()) < timedelta(hours=46)

    receiver.default = Answer(500)
    message = message_to(receiver.url("/hooks"))
    at = timezone.now()
    gaps = []
    for number in range(1, MAX_ATTEMPTS + 1):
        with django_capture_on_commit_callbacks(execute=True):
            attempt = deliver(message_id=message.pk, render=render, at=at)
        assert attempt.attempts == number
        if number < MAX_ATTEMPTS:
            assert attempt.status == "pending"
            gaps.append(attempt.next_attempt_at - attempts_of(message)[-1].attempted_at)
            at = attempt.next_attempt_at
    assert attempt.status == "failed"
    assert gaps == list(RETRY_DELAYS)
    assert [countdown for _, countdown in retries] == [delay.total_seconds() for delay in RETRY_DELAYS]
    assert len(receiver.requests) == MAX_ATTEMPTS
    assert {request.headers["X-Lago-Unique-Key"] for request in receiver.requests} == {str(message.pk)}
    # Failed for good: neither a late task nor the clock sends it again.
    assert deliver(message_id=message.pk, render=render, at=at + timedelta(days=30)) is None
    assert str(message.pk) not in messages_due(at=at + timedelta(days=30))
    assert len(receiver.requests) == MAX_ATTEMPTS


# Receivers that misbehave ------------------------------------------------------------------------


def test_a_receiver_that_never_answers_times_out_and_is_retried(
    message_to, receiver, monkeypatch, retries, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(delivery, "TIMEOUT", SHORT_TIMEOUT)
    receiver.answer(Answer(200, delay=30))  # accepts the request, then sleeps (cut short at the end)
    message = message_to(receiver.url("/hooks"))
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        result = deliver(message_id=message.pk, render=render)
    assert time.monotonic() - started < 5
    assert len(receiver.requests) == 1  # it did reach the receiver
    [attempt] = attempts_of(message)
    assert attempt.status_code is None
    assert attempt.error.startswith("ReadTimeout")
    assert 400 <= attempt.duration_ms < 5000
    assert (result.status, result.attempts) == ("pending", 1)
    assert result.next_attempt_at == attempt.attempted_at + RETRY_DELAYS[0]
    assert retries == [(str(message.pk), RETRY_DELAYS[0].total_seconds())]


def test_a_receiver_that_is_down_is_a_network_error_and_retried(message_to, receiver):
    gone = Receiver().start()
    url = gone.url("/hooks")
    gone.stop()  # nothing listens on that port any more
    message = message_to(url)
    result = deliver(message_id=message.pk, render=render)
    [attempt] = attempts_of(message)
    assert attempt.status_code is None and attempt.error.startswith("ConnectError")
    assert (result.status, result.attempts) == ("pending", 1)


def test_a_receiver_that_trickles_its_answer_is_cut_at_the_deadline(message_to, receiver, monkeypatch):
    """httpx's timeouts are per read: a receiver sending a byte now and then never trips them. The
    attempt has a DEADLINE of its own, past which the answer's body is no longer read."""
    monkeypatch.setattr(delivery, "TIMEOUT", SHORT_TIMEOUT)  # 0.5 s
    monkeypatch.setattr(delivery, "DEADLINE", 1.0)
    receiver.answer(Answer(200, body=b"x" * 20, trickle=0.25))  # never silent for 0.5 s, 5 s in all
    message = message_to(receiver.url("/hooks"))
    started = time.monotonic()
    deliver(message_id=message.pk, render=render)
    assert time.monotonic() - started < 2
    [attempt] = attempts_of(message)
    assert attempt.status_code == 200 and 0 < len(attempt.response_excerpt) < 20


def test_a_receiver_that_trickles_its_headers_is_cut_at_the_deadline(message_to, receiver, monkeypatch):
    monkeypatch.setattr(delivery, "TIMEOUT", httpx.Timeout(0.3))
    monkeypatch.setattr(delivery, "DEADLINE", 0.5)
    receiver.answer(Answer(200, body=b"ok", trickle=0.05, trickle_head=True))  # ~90 bytes: ~4.5 s in all
    message = message_to(receiver.url("/hooks"))
    started = time.monotonic()
    deliver(message_id=message.pk, render=render)
    assert time.monotonic() - started < 1.5


def test_a_redirect_is_not_followed_and_counts_as_a_failure(message_to, receiver):
    receiver.answer_path("/hooks", Answer(302, body=b"", headers={"Location": receiver.url("/elsewhere")}))
    message = message_to(receiver.url("/hooks"))
    result = deliver(message_id=message.pk, render=render)
    assert [request.path for request in receiver.requests] == ["/hooks"]  # /elsewhere never called
    [attempt] = attempts_of(message)
    assert attempt.status_code == 302
    assert (result.status, result.attempts) == ("pending", 1)


def test_the_answer_is_read_up_to_500_bytes(message_to, receiver):
    receiver.answer(Answer(200, body=b"x" * 100_000), Answer(500, body="€".encode() * 300))
    message = message_to(receiver.url("/hooks"))
    first = deliver(message_id=message.pk, render=render)
    assert first.status == "succeeded"
    deliver(message_id=resend(message=first).pk, render=render)
    long_ascii, cut_multibyte = attempts_of(message)
    assert long_ascii.response_excerpt == "x" * 500
    # 500 bytes of three-byte characters: 166 whole ones, and the cut one replaced.
    assert cut_multibyte.response_excerpt == "€" * 166 + "\ufffd"


# Addresses ------------------------------------------------------------------------------------------

PRIVATE_URLS = [
    "http://127.0.0.1:8000/hooks",
    "http://localhost/hooks",
    "http://10.1.2.3/hooks",
    "http://192.168.0.10/hooks",
    "http://169.254.169.254/latest/meta-data",  # cloud metadata
    "http://[::1]/hooks",
    "http://[fd00::1]/hooks",
    "http://100.64.0.1/hooks",  # shared address space
    "http://0.0.0.0/hooks",
    "http://2130706433/hooks",  # 127.0.0.1 written as a number
]


@pytest.mark.parametrize("url", PRIVATE_URLS)
def test_a_private_url_is_refused_at_creation(url, organization, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    with pytest.raises(ValidationFailed) as refused:
        create_endpoint(organization=organization, data={"webhook_url": url})
    assert refused.value.details == {"webhook_url": ["url_not_allowed"]}


def test_a_public_address_is_accepted(organization, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    endpoint = create_endpoint(organization=organization, data={"webhook_url": "https://93.184.215.14/hooks"})
    assert endpoint.webhook_url == "https://93.184.215.14/hooks"


def test_a_private_url_is_refused_at_delivery(message_to, receiver, settings):
    """Allowed when the endpoint was made, not any more when the message goes (or a name that now
    resolves to a private address): no request leaves, the attempt says why, and it is retried."""
    message = message_to(receiver.url("/hooks"))
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    result = deliver(message_id=message.pk, render=render)
    assert receiver.requests == []
    [attempt] = attempts_of(message)
    assert (attempt.status_code, attempt.error) == (None, "url_not_allowed")
    assert (result.status, result.attempts) == ("pending", 1)


@pytest.mark.parametrize(
    "url", ["ftp://example.com/hooks", "file:///etc/passwd", "gopher://example.com/", "javascript:alert(1)", "//x/y"]
)
def test_only_http_and_https_urls(url, organization, allow_private):
    with pytest.raises(ValidationFailed) as refused:
        create_endpoint(organization=organization, data={"webhook_url": url})
    assert refused.value.details == {"webhook_url": ["invalid_url"]}


def test_a_non_http_url_is_refused_at_delivery(message_to, receiver):
    """Each attempt reads the endpoint's URL of the moment and checks it again (here one written
    behind the service's back)."""
    message = message_to(receiver.url("/hooks"))
    WebhookEndpoint.objects.filter(pk=message.endpoint_id).update(webhook_url="file:///etc/passwd")
    deliver(message_id=message.pk, render=render)
    [attempt] = attempts_of(message)
    assert (attempt.status_code, attempt.error) == (None, "invalid_url")
    assert receiver.requests == []


# Endpoints changed while a message waits ----------------------------------------------------------


def test_a_retry_goes_to_the_corrected_url_with_the_current_algorithm(message_to, receiver, organization):
    """Each attempt goes to the endpoint as it is now (as Lago's SendHttpService reads
    `webhook_endpoint.webhook_url`): a receiver whose URL was fixed gets the retries."""
    receiver.answer_path("/typo", Answer(404))
    message = message_to(receiver.url("/typo"), "jwt")
    first = deliver(message_id=message.pk, render=render)
    update_endpoint(endpoint=message.endpoint, data={"webhook_url": receiver.url("/hooks"), "signature_algo": "hmac"})
    second = deliver(message_id=message.pk, render=render, at=first.next_attempt_at)
    assert second.status == "succeeded"
    assert second.webhook_url == receiver.url("/hooks")  # where it went last, for the log
    typo, fixed = receiver.requests
    assert (typo.path, fixed.path) == ("/typo", "/hooks")
    assert fixed.body == typo.body and fixed.headers["X-Lago-Unique-Key"] == str(message.pk)
    assert [r.headers["X-Lago-Signature-Algorithm"] for r in (typo, fixed)] == ["jwt", "hmac"]
    key = keys_of(organization_id=organization.pk).hmac_key
    assert (
        fixed.headers["X-Lago-Signature"]
        == base64.b64encode(hmac.new(key.encode(), fixed.body, hashlib.sha256).digest()).decode()
    )


def test_a_deleted_endpoints_pending_messages_are_not_sent(message_to, receiver):
    """As Lago drops an endpoint's webhooks with it: the pending message ends `failed`, kept in the
    log, and nothing more reaches the old URL."""
    receiver.answer(Answer(500))
    message = message_to(receiver.url("/hooks"), "hmac")
    first = deliver(message_id=message.pk, render=render)
    delete_endpoint(endpoint=message.endpoint)
    result = deliver(message_id=message.pk, render=render, at=first.next_attempt_at)
    assert result.status == "failed"
    assert len(receiver.requests) == 1
    assert [a.status_code for a in attempts_of(message)] == [500]
    assert str(message.pk) not in messages_due(at=timezone.now() + timedelta(days=3))


# The clock and the staff ------------------------------------------------------------------------


def test_messages_due_finds_the_lost_ones_only(message_to, receiver, monkeypatch):
    now = timezone.now()
    lost = message_to(receiver.url("/lost"))
    recent = message_to(receiver.url("/recent"))
    retrying = message_to(receiver.url("/retrying"))
    done = message_to(receiver.url("/done"))
    given_up = message_to(receiver.url("/given-up"))
    WebhookMessage.objects.filter(pk=lost.pk).update(next_attempt_at=now - timedelta(seconds=61))
    WebhookMessage.objects.filter(pk=recent.pk).update(next_attempt_at=now - timedelta(seconds=30))
    WebhookMessage.objects.filter(pk=retrying.pk).update(next_attempt_at=now + timedelta(minutes=2))
    WebhookMessage.objects.filter(pk=done.pk).update(status="succeeded", next_attempt_at=now - timedelta(hours=1))
    WebhookMessage.objects.filter(pk=given_up.pk).update(status="failed", next_attempt_at=now - timedelta(hours=1))
    assert messages_due(at=now) == [str(lost.pk)]

    # A message in flight is leased: its task is not lost, whatever the clock's time in the lease.
    in_flight = message_to(receiver.url("/in-flight"))
    WebhookMessage.objects.filter(pk=in_flight.pk).update(next_attempt_at=now - timedelta(minutes=5))
    seen_during_attempt = []
    post = delivery._post

    def watched(message, algorithm):
        seen_during_attempt.append(
            [messages_due(at=moment) for moment in (timezone.now(), timezone.now() + LEASE + timedelta(seconds=50))]
        )
        return post(message, algorithm)

    monkeypatch.setattr(delivery, "_post", watched)
    deliver(message_id=in_flight.pk, render=render)
    [[due_now, due_late_in_lease]] = seen_during_attempt
    assert str(in_flight.pk) not in due_now and str(in_flight.pk) not in due_late_in_lease
    assert str(lost.pk) in due_now


def test_the_clock_sends_a_lost_message_again(message_to, receiver, monkeypatch):
    """A message whose task never ran (the broker was down at commit) is sent by the clock's task a
    minute later, and delivered once."""
    message = message_to(receiver.url("/hooks"))  # its on-commit task never runs here: lost
    sent = []
    monkeypatch.setattr(task_named(DELIVER_TASK), "delay", lambda message_id: sent.append(message_id))
    from webhooks.tasks import resend_lost_webhooks_task

    assert resend_lost_webhooks_task() == 0  # not late yet
    with time_machine.travel(timezone.now() + timedelta(seconds=90)):
        assert resend_lost_webhooks_task() == 1
    assert sent == [str(message.pk)]
    assert deliver(message_id=sent[0], render=render).status == "succeeded"
    assert len(receiver.requests) == 1


def test_resend_keeps_the_id_and_the_body(message_to, receiver, customer, retries, django_capture_on_commit_callbacks):
    message = message_to(receiver.url("/hooks"))
    first = deliver(message_id=message.pk, render=render)
    assert first.status == "succeeded"
    update_customer(customer=customer, data={"name": "After"})

    with django_capture_on_commit_callbacks(execute=True):
        again = resend(message=first)
    assert (again.pk, again.body, again.status, again.delivered_at) == (message.pk, first.body, "pending", None)
    assert retries == [(str(message.pk), None)]  # its delivery task, on commit
    second = deliver(message_id=message.pk, render=render)
    assert (second.status, second.attempts) == ("succeeded", 1)  # a fresh schedule

    before, after = receiver.requests
    assert after.headers["X-Lago-Unique-Key"] == before.headers["X-Lago-Unique-Key"] == str(message.pk)
    assert after.body == before.body  # the same bytes: receivers deduplicate on the key
    assert json.loads(after.body)["customer"]["name"] == "Before"
    assert [a.status_code for a in attempts_of(message)] == [200, 200]  # the log keeps both


def test_a_failed_message_resent_gets_a_whole_schedule_again(message_to, receiver):
    receiver.default = Answer(500)
    message = message_to(receiver.url("/hooks"))
    WebhookMessage.objects.filter(pk=message.pk).update(status="failed", attempts=MAX_ATTEMPTS)
    resend(message=message)
    result = deliver(message_id=message.pk, render=render)
    assert (result.status, result.attempts) == ("pending", 1)
    assert result.next_attempt_at == attempts_of(message)[-1].attempted_at + RETRY_DELAYS[0]


def test_a_pending_message_cannot_be_resent(message_to, receiver):
    """It may be in flight, and it will be tried again anyway."""
    message = message_to(receiver.url("/hooks"))
    with pytest.raises(NotAllowed) as refused:
        resend(message=message)
    assert refused.value.code == "message_is_pending"
