"""An upsert, a deletion and an event for one customer, racing (issue 15, "Concurrency, exact").

Each round sets up a customer with an active subscription, then three clients released by one
barrier call a live server: POST /customers (renaming it), DELETE /customers/{external_id}, and
POST /events for its subscription with a fresh transaction_id. The server is Django's threaded live
server: every connection is served by its own thread and database connection; its request signals
tell whether the three requests were inside it at once. Left alone, the upsert and the event nearly
always beat the slower deletion, so some rounds hold one or both back until a cue from the server
(the DELETE has entered, or the deletion has written the row and not committed).

Every round must end in a state a person can explain, with answers that agree with the database:
- no 5xx, and each answer one of those its kind may give;
- the DELETE removed the original customer and recorded its one cascade;
- the upsert either renamed the original before the deletion (the deleted row carries the new name,
  no customer is live) or came after it and made the one live customer with that external_id;
- the event was either accepted before the deletion took effect (stored once, stamped before the
  deletion, billed on the termination invoice the cascade makes) or refused with 422
  customer_is_deleted and stored nowhere.
A broken round names each invariant it broke. The orderings seen are counted per schedule and
printed (-s); at least two must occur, or the test did not race.

The last test makes the interleaving behind the bug this file found happen every time: an event
arriving while the deletion is uncommitted was stored behind its back, stamped after it, never
billed. Ingestion now locks the customers it writes for (events.services._live_customers_locked).
"""

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import pytest
import time_machine
from django.core.signals import request_finished, request_started
from django.db import connection
from django.db.models.signals import post_save
from django.test import Client

from billing.jobs import task_named
from conftest import ApiCaller
from customers.models import Customer, LiveCustomerCount
from customers.services import create_customer
from events.models import Event
from invoicing import customer_deletion
from invoicing.customer_deletion import run_customer_deletion
from invoicing.models import CustomerDeletion, Fee, FeeType
from invoicing.subscriptions import create_subscription
from organizations.models import Organization
from plans.models import Subscription
from plans.tests.factories import BillableMetricFactory, ChargeFactory, PlanFactory

ROUNDS = 30
# Mid-month, the clock running: the termination bills a plain part of March.
START = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
OLD_NAME, NEW_NAME = "Before the race", "Renamed in the race"
UPSERT, DELETE, EVENT = "upsert", "delete", "event"
EXPECTED_STATUSES = {UPSERT: {200}, DELETE: {200}, EVENT: {200, 422}}
EVENT_CENTS = 100  # the charge's price per event


@dataclass(frozen=True)
class Racer:
    """One round's customer and subscription, as they were before the race."""

    number: int
    customer: Customer
    subscription: Subscription

    @property
    def external_id(self) -> str:
        return self.customer.external_id

    @property
    def transaction_id(self) -> str:
        return f"race_event_{self.number}"


@dataclass
class Verdict:
    """What a round's answers and the database say happened, and every invariant broken on the way."""

    ordering: str = "unexplained"
    broken: list[str] = field(default_factory=list)

    def expect(self, holds: bool, invariant: str) -> None:
        if not holds:
            self.broken.append(invariant)


# How each round releases the three requests: all at once by one barrier, then the requests named
# here wait for their cue. The cues give each ordering its chance; every schedule still races: a cue
# only moves a starting line, and what arrives during the deletion's transaction meets its lock.
DELETE_ENTERED, DELETION_WRITTEN = "DELETE entered", "row written"
SCHEDULES: dict[str, dict[str, str]] = {
    "together": {},
    "DELETE in": {UPSERT: DELETE_ENTERED, EVENT: DELETE_ENTERED},
    "both late": {UPSERT: DELETION_WRITTEN, EVENT: DELETION_WRITTEN},
    "upsert late": {UPSERT: DELETION_WRITTEN},
    "event late": {EVENT: DELETION_WRITTEN},
}


class ServerWatch:
    """What the server is doing, from Django's signals, sent in the thread serving each request (one
    thread per connection): when each request was inside the server, and the schedules' cues."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started: dict[int, float] = {}
        self._spans: list[tuple[float, float]] = []
        self.cues = {DELETE_ENTERED: threading.Event(), DELETION_WRITTEN: threading.Event()}

    def request_started(self, sender, environ, **kwargs) -> None:
        with self._lock:
            self._started[threading.get_ident()] = time.monotonic()
        if environ["REQUEST_METHOD"] == "DELETE":
            self.cues[DELETE_ENTERED].set()

    def request_finished(self, sender, **kwargs) -> None:
        with self._lock:
            start = self._started.pop(threading.get_ident(), None)
            if start is not None:
                self._spans.append((start, time.monotonic()))

    def customer_saved(self, sender, instance: Customer, update_fields=None, **kwargs) -> None:
        # Sent inside the deletion's transaction, after its UPDATE, with the row still locked.
        if update_fields and "deleted_at" in update_fields and instance.deleted_at is not None:
            self.cues[DELETION_WRITTEN].set()

    def reset_cues(self) -> None:
        for cue in self.cues.values():
            cue.clear()

    def take(self, count: int) -> list[tuple[float, float]]:
        """The spans of the next `count` finished requests. The client may read its answer before
        the server thread closes the response, so wait for them, with a deadline."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with self._lock:
                if len(self._spans) >= count:
                    spans, self._spans = self._spans[:count], self._spans[count:]
                    return spans
            time.sleep(0.005)
        pytest.fail(f"the server finished {len(self._spans)} of {count} requests within 10 s")


def all_at_once(spans: list[tuple[float, float]]) -> bool:
    """Whether one moment found every request inside the server."""
    return max(start for start, _ in spans) < min(end for _, end in spans)


@pytest.fixture
def server_watch():
    watch = ServerWatch()
    request_started.connect(watch.request_started)
    request_finished.connect(watch.request_finished)
    post_save.connect(watch.customer_saved, sender=Customer)
    yield watch
    request_started.disconnect(watch.request_started)
    request_finished.disconnect(watch.request_finished)
    post_save.disconnect(watch.customer_saved, sender=Customer)


@pytest.fixture
def cascades_sent(monkeypatch) -> list[tuple]:
    """The deletion's task is recorded here instead of reaching a broker: the test runs each cascade
    itself, after the race, and no other run's worker may receive it."""
    sent: list[tuple] = []
    monkeypatch.setattr(task_named(customer_deletion.TASK), "delay", lambda *args: sent.append(args))
    return sent


@pytest.fixture
def clients(live_server, api_key):
    """One keep-alive connection per kind of request, opened before the first round."""
    opened = {
        kind: httpx.Client(base_url=live_server.url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30)
        for kind in (UPSERT, DELETE, EVENT)
    }
    yield opened
    for client in opened.values():
        client.close()


def set_up_catalogue(organization: Organization) -> None:
    metric = BillableMetricFactory(
        organization=organization, code="calls", aggregation_type="count_agg", field_name=None
    )
    plan = PlanFactory(organization=organization, code="racing", amount_cents=0, amount_currency="EUR")
    ChargeFactory(plan=plan, billable_metric=metric, properties={"amount": str(EVENT_CENTS // 100)})


def set_up_racer(organization: Organization, number: int) -> Racer:
    customer = create_customer(organization=organization, data={"external_id": f"racer_{number}", "name": OLD_NAME})
    subscription, _ = create_subscription(
        organization=organization,
        data={"external_customer_id": customer.external_id, "plan_code": "racing", "external_id": f"sub_{number}"},
    )
    return Racer(number=number, customer=customer, subscription=subscription)


def requests_of(racer: Racer, clients: dict[str, httpx.Client]) -> dict[str, Callable[[], httpx.Response]]:
    upsert = {"customer": {"external_id": racer.external_id, "name": NEW_NAME}}
    event = {
        "transaction_id": racer.transaction_id,
        "external_subscription_id": racer.subscription.external_id,
        "code": "calls",
    }
    return {
        UPSERT: lambda: clients[UPSERT].post("/api/v1/customers", json=upsert),
        DELETE: lambda: clients[DELETE].delete(f"/api/v1/customers/{racer.external_id}"),
        EVENT: lambda: clients[EVENT].post("/api/v1/events", json={"event": event}),
    }


def race(
    requests: dict[str, Callable[[], httpx.Response]], cues: dict[str, threading.Event]
) -> dict[str, httpx.Response]:
    """Send every request from its own thread, all released by one barrier; a request given a cue
    then waits for it."""
    barrier = threading.Barrier(len(requests))
    answers: dict[str, httpx.Response] = {}
    failures: list[tuple[str, BaseException]] = []

    def send(kind: str, call: Callable[[], httpx.Response]) -> None:
        try:
            barrier.wait(timeout=10)
            if kind in cues:
                assert cues[kind].wait(timeout=10), f"the {kind} waited 10 s for a cue that never came"
            answers[kind] = call()
        except BaseException as error:  # reported by the test, not lost in the thread
            failures.append((kind, error))

    threads = [threading.Thread(target=send, args=item) for item in requests.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    assert set(answers) == set(requests), "a request never answered within 60 s"
    return answers


def judge_answers(verdict: Verdict, answers: dict[str, httpx.Response]) -> None:
    for kind, answer in answers.items():
        verdict.expect(answer.status_code < 500, f"{kind} answered {answer.status_code}: {answer.text[:300]}")
        verdict.expect(
            answer.status_code in EXPECTED_STATUSES[kind],
            f"{kind} answered {answer.status_code}, not one of {sorted(EXPECTED_STATUSES[kind])}: {answer.text[:300]}",
        )


def judge_deletion(verdict: Verdict, original: Customer, answer: dict) -> None:
    verdict.expect(original.deleted_at is not None, "DELETE answered 200, yet the original customer is live")
    verdict.expect(answer["lago_id"] == str(original.pk), "DELETE answered another customer than the original")
    verdict.expect(
        CustomerDeletion.objects.filter(customer=original).count() == 1,
        "the deleted customer has not exactly one cascade recorded",
    )


def judge_upsert(verdict: Verdict, racer: Racer, original: Customer, answers: dict[str, dict]) -> str:
    """The upsert's place relative to the deletion, as its answer tells it, checked against the rows."""
    upserted, deleted = answers[UPSERT], answers[DELETE]
    live = list(Customer.live.filter(organization_id=original.organization_id, external_id=racer.external_id))
    verdict.expect(len(live) <= 1, f"{len(live)} live customers share the external_id {racer.external_id}")
    verdict.expect(upserted["name"] == NEW_NAME, "the upsert answered a customer without the name it sent")
    if upserted["lago_id"] == str(original.pk):
        verdict.expect(
            original.name == NEW_NAME, "the upsert renamed the original, yet the deleted row has the old name"
        )
        verdict.expect(
            deleted["name"] == NEW_NAME, "the upsert renamed the original first, yet DELETE answered the old name"
        )
        verdict.expect(not live, "the upsert came before the deletion, yet a customer with the id is live")
        return "upsert→delete"
    verdict.expect(original.name == OLD_NAME, "the upsert made a new customer, yet the deleted original was renamed")
    verdict.expect(deleted["name"] == OLD_NAME, "the upsert came after the deletion, yet DELETE answered the new name")
    verdict.expect(
        [str(customer.pk) for customer in live] == [upserted["lago_id"]],
        "the upsert answered a new customer that is not the one live customer with the id",
    )
    return "delete→upsert"


def judge_event(verdict: Verdict, racer: Racer, original: Customer, answer: httpx.Response) -> str:
    """The event's place relative to the deletion, as its answer tells it, checked against the rows."""
    stored = list(Event.objects.filter(organization_id=original.organization_id, transaction_id=racer.transaction_id))
    if answer.status_code != 200:
        details = answer.json().get("error_details")
        verdict.expect(
            details == {"external_subscription_id": ["customer_is_deleted"]},
            f"the event was refused for another reason than the deletion: {details}",
        )
        verdict.expect(not stored, "the event was refused, yet it is stored")
        return "delete→event"
    verdict.expect(len(stored) == 1, f"the event was acknowledged and stored {len(stored)} times")
    if len(stored) == 1:
        [event] = stored
        verdict.expect(event.subscription_id == racer.subscription.pk, "the event is stored on another subscription")
        verdict.expect(
            original.deleted_at is None or event.timestamp < original.deleted_at,
            f"the event was accepted after the deletion took effect (stamped {event.timestamp.isoformat()}, "
            f"deleted at {original.deleted_at.isoformat() if original.deleted_at else None}): it is never billed",
        )
    return "event→delete"


def judge_round(racer: Racer, answers: dict[str, httpx.Response]) -> Verdict:
    """Classify the round by what the answers say, and check the database says the same."""
    verdict = Verdict()
    judge_answers(verdict, answers)
    if verdict.broken:
        return verdict
    original = Customer.objects.get(pk=racer.customer.pk)
    bodies = {UPSERT: answers[UPSERT].json()["customer"], DELETE: answers[DELETE].json()["customer"]}
    judge_deletion(verdict, original, bodies[DELETE])
    upsert_order = judge_upsert(verdict, racer, original, bodies)
    event_order = judge_event(verdict, racer, original, answers[EVENT])
    counter = LiveCustomerCount.objects.get(organization_id=original.organization_id).live_count
    live = Customer.live.filter(organization_id=original.organization_id).count()
    verdict.expect(counter == live, f"the live customer counter says {counter}, the table {live}")
    verdict.ordering = f"{upsert_order}, {event_order}"
    return verdict


def judge_cascade(verdict: Verdict, racer: Racer, event_accepted: bool) -> None:
    """Run the cascade the deletion's task would run: the termination invoice bills the event exactly
    when it was accepted, so an acknowledged event is not lost on the way to the invoice."""
    deletion = CustomerDeletion.objects.filter(customer_id=racer.customer.pk).first()
    if deletion is None:
        return  # already reported by judge_deletion
    run_customer_deletion(deletion_id=deletion.pk)
    charged = Fee.objects.filter(subscription=racer.subscription, fee_type=FeeType.CHARGE)
    billed = sum(fee.events_count for fee in charged)
    cents = sum(fee.amount_cents for fee in charged)
    expected = 1 if event_accepted else 0
    verdict.expect(
        (billed, cents) == (expected, expected * EVENT_CENTS),
        f"the termination invoice bills {billed} events for {cents} cents; the event was "
        f"{'accepted' if event_accepted else 'refused'}",
    )


def print_table(seen: Counter, overlapping: int) -> None:
    """Rounds per ordering (rows) and schedule (columns)."""
    print(f"\n{'ordering seen':<30}" + "".join(f"{schedule:>13}" for schedule in SCHEDULES))
    for ordering in sorted({ordering for _, ordering in seen}):
        print(f"{ordering:<30}" + "".join(f"{seen[schedule, ordering]:>13}" for schedule in SCHEDULES))
    print(f"rounds with the three requests inside the server at once: {overlapping} of {ROUNDS}")


@pytest.mark.django_db(transaction=True)
def test_an_upsert_a_deletion_and_an_event_racing_end_in_an_explainable_state(
    organization, clients, server_watch, cascades_sent
):
    set_up_catalogue(organization)
    seen: Counter = Counter()
    overlapping = 0
    failures: list[str] = []
    with time_machine.travel(START, tick=True):
        for number in range(ROUNDS):
            schedule = list(SCHEDULES)[number % len(SCHEDULES)]
            racer = set_up_racer(organization, number)
            server_watch.reset_cues()
            cues = {kind: server_watch.cues[cue] for kind, cue in SCHEDULES[schedule].items()}
            answers = race(requests_of(racer, clients), cues)
            overlapping += all_at_once(server_watch.take(len(answers)))
            verdict = judge_round(racer, answers)
            judge_cascade(verdict, racer, event_accepted=answers[EVENT].status_code == 200)
            seen[schedule, verdict.ordering] += 1
            failures += [f"round {number}, {schedule} ({verdict.ordering}): {broken}" for broken in verdict.broken]

    print_table(seen, overlapping)
    assert not failures, "\n".join(failures)
    deletions = CustomerDeletion.objects.filter(organization=organization)
    assert sorted(cascades_sent) == sorted((str(pk),) for pk in deletions.values_list("pk", flat=True))
    assert len(cascades_sent) == ROUNDS, "one cascade task per deletion, sent once"
    assert overlapping > 0, "the three requests were never inside the server at the same moment"
    orderings = {ordering for _, ordering in seen}
    assert len(orderings) >= 2, f"only one ordering ever happened ({orderings}): the requests did not race"


# The interleaving the fix is about, made to happen every time ------------------------------------


def backends_waiting_on_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def in_threads(*calls: Callable[[], object]) -> list:
    """Run each call in its own thread (its own database connection); their results, in order."""
    results: list = [None] * len(calls)
    failures: list[BaseException] = []

    def run(index: int, call: Callable[[], object]) -> None:
        try:
            results[index] = call()
        except BaseException as error:  # reported by the test, not lost in the thread
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=item) for item in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    return results


@pytest.mark.parametrize("endpoint", ["single", "batch"])
@pytest.mark.django_db(transaction=True)
def test_an_event_arriving_while_the_deletion_commits_waits_for_it_and_is_refused(
    organization, api_key, cascades_sent, endpoint
):
    """The deletion has written the deleted row and not committed; an event for the customer arrives
    (its lookup still reads the customer as live). It must wait for the deletion and be refused, not
    be stored behind the deletion's back, stamped after it and never billed. A batch naming another,
    live customer too is refused whole."""
    set_up_catalogue(organization)
    racer, bystander = set_up_racer(organization, 0), set_up_racer(organization, 1)
    written, release = threading.Event(), threading.Event()

    def hold_the_deletion_open(sender, instance: Customer, update_fields=None, **kwargs) -> None:
        if update_fields and "deleted_at" in update_fields:
            written.set()
            assert release.wait(timeout=20)

    def event_for(who: Racer) -> dict:
        return {"transaction_id": who.transaction_id, "external_subscription_id": f"sub_{who.number}", "code": "calls"}

    def send_event():
        assert written.wait(timeout=20)
        caller = ApiCaller(Client(), api_key)
        if endpoint == "single":
            return caller.post("/api/v1/events", {"event": event_for(racer)})
        return caller.post("/api/v1/events/batch", {"events": [event_for(racer), event_for(bystander)]})

    def release_once_the_event_waits() -> None:
        try:
            assert written.wait(timeout=20)
            deadline = time.monotonic() + 5
            while not backends_waiting_on_a_lock():
                assert time.monotonic() < deadline, "the event went through while the deletion was uncommitted"
                time.sleep(0.01)
        finally:
            release.set()

    post_save.connect(hold_the_deletion_open, sender=Customer)
    try:
        deleted, refused, _ = in_threads(
            lambda: ApiCaller(Client(), api_key).delete(f"/api/v1/customers/{racer.external_id}"),
            send_event,
            release_once_the_event_waits,
        )
    finally:
        post_save.disconnect(hold_the_deletion_open, sender=Customer)
    assert deleted.status_code == 200, deleted.content
    assert refused.status_code == 422, refused.content
    expected = {"external_subscription_id": ["customer_is_deleted"]}
    assert refused.json()["error_details"] == (expected if endpoint == "single" else {"0": expected})
    assert not Event.objects.filter(organization=organization).exists()


@pytest.mark.django_db(transaction=True)
def test_an_event_goes_through_while_an_update_of_its_customer_is_uncommitted(organization, api_key):
    """Only the deletion takes the customer's full row lock. An update (PUT), like every other change
    of a customer (a subscription, a wallet, a coupon, a one-off invoice), locks its row FOR NO KEY
    UPDATE, which ingestion's FOR KEY SHARE does not wait for: the events of a customer never queue
    behind an edit of it. (An upsert without metadata is one statement and holds no lock meanwhile.)"""
    set_up_catalogue(organization)
    racer = set_up_racer(organization, 0)
    written, event_answered, release = threading.Event(), threading.Event(), threading.Event()

    def hold_the_update_open(sender, instance: Customer, **kwargs) -> None:
        if instance.name == NEW_NAME:
            written.set()
            assert release.wait(timeout=20)

    def update():
        body = {"customer": {"name": NEW_NAME}}
        return ApiCaller(Client(), api_key).put(f"/api/v1/customers/{racer.external_id}", body)

    def send_event():
        assert written.wait(timeout=20)
        body = {"event": {"transaction_id": racer.transaction_id, "external_subscription_id": "sub_0", "code": "calls"}}
        response = ApiCaller(Client(), api_key).post("/api/v1/events", body)
        event_answered.set()
        return response

    def release_once_the_event_is_answered_or_waits() -> str:
        try:
            assert written.wait(timeout=20)
            deadline = time.monotonic() + 10
            while not event_answered.is_set():
                if backends_waiting_on_a_lock():
                    return "the event waited for the update's lock"
                assert time.monotonic() < deadline, "the event was neither answered nor waiting"
                time.sleep(0.01)
            return "answered while the update was uncommitted"
        finally:
            release.set()

    post_save.connect(hold_the_update_open, sender=Customer)
    try:
        updated, accepted, outcome = in_threads(update, send_event, release_once_the_event_is_answered_or_waits)
    finally:
        post_save.disconnect(hold_the_update_open, sender=Customer)
    assert outcome == "answered while the update was uncommitted"
    assert updated.status_code == 200, updated.content
    assert accepted.status_code == 200, accepted.content
    assert Event.objects.filter(organization=organization, transaction_id=racer.transaction_id).count() == 1
    assert Customer.live.get(organization=organization, external_id=racer.external_id).name == NEW_NAME
