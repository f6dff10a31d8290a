"""Event ingestion: validation, idempotency, ties to subscriptions, batches, rollups."""

import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test import Client

from conftest import ApiCaller
from events.models import Event, UsageRollup
from invoicing.customer_deletion import delete_customer
from organizations.services import create_api_key
from plans.tests.factories import BillableMetricFactory, SubscriptionFactory

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def subscription(organization):
    return SubscriptionFactory(
        customer__organization=organization, external_id="sub_1", subscription_at=datetime(2026, 1, 1, tzinfo=UTC)
    )


@pytest.fixture
def metric(organization):
    return BillableMetricFactory(organization=organization, code="api_calls", aggregation_type="sum_agg")


def event(transaction_id="tr_1", **fields):
    return {
        "transaction_id": transaction_id,
        "external_subscription_id": "sub_1",
        "code": "api_calls",
        "properties": {"units": 2},
        **fields,
    }


def test_event_is_stored_tied_to_its_subscription(api, subscription, metric):
    response = api.post("/api/v1/events", {"event": event(timestamp=1773144000)})
    assert response.status_code == 200, response.content
    body = response.json()["event"]
    assert body["transaction_id"] == "tr_1" and body["external_subscription_id"] == "sub_1"
    assert body["lago_subscription_id"] == str(subscription.pk)
    assert body["timestamp"] == "2026-03-10T12:00:00.000Z"
    stored = Event.objects.get()
    assert stored.subscription == subscription and stored.properties == {"units": 2}
    rollup = UsageRollup.objects.get()
    assert (rollup.events_count, rollup.units_sum, rollup.billable_metric) == (1, Decimal(2), metric)


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        (1773144000, datetime(2026, 3, 10, 12, 0, tzinfo=UTC)),
        (1773144000.25, datetime(2026, 3, 10, 12, 0, 0, 250000, tzinfo=UTC)),
        ("1773144000", datetime(2026, 3, 10, 12, 0, tzinfo=UTC)),
        ("1773144000.5", datetime(2026, 3, 10, 12, 0, 0, 500000, tzinfo=UTC)),
        (None, NOW),
    ],
)
def test_timestamps_in_unix_seconds_of_every_shape(api, subscription, metric, timestamp, expected):
    assert api.post("/api/v1/events", {"event": event(timestamp=timestamp)}).status_code == 200
    assert Event.objects.get().timestamp == expected


def test_absent_timestamp_and_null_properties_mean_now_and_none(api, subscription, metric):
    payload = event(properties=None)
    assert api.post("/api/v1/events", {"event": payload}).status_code == 200
    stored = Event.objects.get()
    assert stored.timestamp == NOW and stored.properties == {}


@pytest.mark.parametrize(
    ("fields", "details"),
    [
        ({"transaction_id": None}, {"transaction_id": ["value_is_mandatory"]}),
        ({"code": ""}, {"code": ["value_is_mandatory"]}),
        ({"external_subscription_id": None}, {"external_subscription_id": ["value_is_mandatory"]}),
        ({"timestamp": "2026-03-10T12:00:00Z"}, {"timestamp": ["invalid_format"]}),
        ({"timestamp": True}, {"timestamp": ["invalid_format"]}),
        ({"timestamp": -5}, {"timestamp": ["invalid_format"]}),
        ({"properties": [1, 2]}, {"properties": ["value_is_invalid"]}),
        ({"external_subscription_id": "nope"}, {"external_subscription_id": ["subscription_not_found"]}),
        ({"code": "unknown"}, {"code": ["billable_metric_not_found"]}),
        ({"properties": {"units": "many"}}, {"properties.units": ["value_is_not_a_number"]}),
    ],
)
def test_malformed_event_is_a_422_naming_the_field_and_stores_nothing(api, subscription, metric, fields, details):
    response = api.post("/api/v1/events", {"event": event(**fields)})
    assert response.status_code == 422
    assert response.json()["error_details"] == details
    assert not Event.objects.exists() and not UsageRollup.objects.exists()


def test_missing_root_key_is_a_400(api, subscription, metric):
    assert api.post("/api/v1/events", {"events": event()}).status_code == 400


def test_duplicate_transaction_id_counts_once(api, subscription, metric):
    assert api.post("/api/v1/events", {"event": event()}).status_code == 200
    repeat = api.post("/api/v1/events", {"event": event(properties={"units": 50})})
    assert repeat.status_code == 422
    assert repeat.json()["error_details"] == {"transaction_id": ["value_already_exist"]}
    assert Event.objects.count() == 1
    assert UsageRollup.objects.get().units_sum == 2


def test_same_transaction_id_in_two_organizations_is_two_events(
    api, other_api, subscription, metric, other_organization
):
    SubscriptionFactory(customer__organization=other_organization, external_id="sub_1")
    BillableMetricFactory(organization=other_organization, code="api_calls")
    assert api.post("/api/v1/events", {"event": event()}).status_code == 200
    assert other_api.post("/api/v1/events", {"event": event()}).status_code == 200
    assert Event.objects.count() == 2


def test_events_never_reach_another_organizations_subscription(other_api, subscription, metric, other_organization):
    BillableMetricFactory(organization=other_organization, code="api_calls")
    response = other_api.post("/api/v1/events", {"event": event()})
    assert response.status_code == 422
    assert response.json()["error_details"] == {"external_subscription_id": ["subscription_not_found"]}


def test_rule_events_for_a_deleted_customers_subscription_are_refused(api, subscription, metric):
    delete_customer(customer=subscription.customer)
    response = api.post("/api/v1/events", {"event": event()})
    assert response.status_code == 422
    assert response.json()["error_details"] == {"external_subscription_id": ["customer_is_deleted"]}
    assert not Event.objects.exists()


def test_events_of_a_terminated_subscription_are_refused(api, subscription, metric):
    subscription.status = "terminated"
    subscription.save()
    assert api.post("/api/v1/events", {"event": event()}).status_code == 422


def test_batch_of_100_is_stored_in_a_fixed_number_of_statements(api, subscription, metric, django_assert_num_queries):
    events = [event(f"tr_{i}", timestamp=1773144000 + i * 60) for i in range(100)]
    # key lookup, subscriptions and metrics, then (in the test's transaction) savepoint + one
    # statement for events and rollups + release
    with django_assert_num_queries(5):
        response = api.post("/api/v1/events/batch", {"events": events})
    assert response.status_code == 200
    assert len(response.json()["events"]) == 100
    assert Event.objects.count() == 100
    assert sum(UsageRollup.objects.values_list("events_count", flat=True)) == 100
    assert sum(UsageRollup.objects.values_list("units_sum", flat=True)) == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("count", [1, 100])
def test_a_call_is_three_statements_and_no_transaction(api, subscription, metric, django_assert_num_queries, count):
    # Outside a test transaction, as in production: key lookup, subscriptions and metrics, then
    # events and rollups in one autocommit statement, without BEGIN or COMMIT.
    events = [event(f"tr_{i}") for i in range(count)]
    with django_assert_num_queries(3) as captured:
        response = api.post("/api/v1/events/batch", {"events": events})
    assert response.status_code == 200
    assert not any(query["sql"].startswith(("BEGIN", "SAVEPOINT")) for query in captured.captured_queries)
    assert UsageRollup.objects.get().events_count == count


def test_batch_is_all_or_nothing_with_errors_keyed_by_index(api, subscription, metric):
    events = [event("tr_0"), event("tr_1", code=""), event("tr_2", external_subscription_id="nope")]
    response = api.post("/api/v1/events/batch", {"events": events})
    assert response.status_code == 422
    assert response.json()["error_details"] == {
        "1": {"code": ["value_is_mandatory"]},
        "2": {"external_subscription_id": ["subscription_not_found"]},
    }
    assert not Event.objects.exists()


def test_batch_with_an_already_stored_event_is_refused_whole(api, subscription, metric):
    api.post("/api/v1/events", {"event": event("tr_1")})
    response = api.post("/api/v1/events/batch", {"events": [event("tr_new"), event("tr_1")]})
    assert response.status_code == 422
    assert response.json()["error_details"] == {"1": {"transaction_id": ["value_already_exist"]}}
    assert list(Event.objects.values_list("transaction_id", flat=True)) == ["tr_1"]
    assert UsageRollup.objects.get().events_count == 1


def test_batch_repeating_a_transaction_id_is_refused(api, subscription, metric):
    response = api.post("/api/v1/events/batch", {"events": [event("tr_1"), event("tr_1")]})
    assert response.status_code == 422
    assert response.json()["error_details"] == {"1": {"transaction_id": ["value_already_exist"]}}


@pytest.mark.parametrize(
    ("payload", "details"),
    [
        ({"events": []}, {"events": ["no_events"]}),
        ({"events": [event(f"t{i}") for i in range(101)]}, {"events": ["too_many_events"]}),
    ],
)
def test_batch_size_limits(api, subscription, metric, payload, details):
    response = api.post("/api/v1/events/batch", payload)
    assert response.status_code == 422 and response.json()["error_details"] == details


def test_get_event_by_transaction_id(api, other_api, subscription, metric):
    api.post("/api/v1/events", {"event": event("tr/odd id")})
    found = api.get("/api/v1/events/tr%2Fodd%20id")
    assert found.status_code == 200 and found.json()["event"]["transaction_id"] == "tr/odd id"
    assert other_api.get("/api/v1/events/tr%2Fodd%20id").status_code == 404
    assert api.get("/api/v1/events/unknown").json()["code"] == "event_not_found"


def test_events_need_a_key(client, subscription, metric):
    response = client.post("/api/v1/events", data={"event": event()}, content_type="application/json")
    assert response.status_code == 401


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_count_once(organization):
    assert connection.vendor == "postgresql"
    SubscriptionFactory(customer__organization=organization, external_id="sub_1")
    BillableMetricFactory(organization=organization, code="api_calls")
    _, raw_key = create_api_key(organization=organization)
    workers = 6
    barrier = threading.Barrier(workers)
    statuses: list[int] = []

    def post() -> None:
        try:
            caller = ApiCaller(Client(), raw_key)
            barrier.wait()
            statuses.append(
                caller.post("/api/v1/events/batch", {"events": [event(f"tr_{i}") for i in range(20)]}).status_code
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [422] * (workers - 1)
    assert Event.objects.count() == 20
    assert sum(UsageRollup.objects.values_list("events_count", flat=True)) == 20
    assert sum(UsageRollup.objects.values_list("units_sum", flat=True)) == 40


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"code": "api\x00calls"}, "code"),
        ({"transaction_id": "\udbab"}, "transaction_id"),
        ({"properties": {"units": 2, "note": "nul\x00"}}, "properties"),
        ({"properties": {"\ud800": 1}}, "properties"),
        ({"properties": {"tags": ["ok", "nul\x00"]}}, "properties"),
        ({"properties": {"deep": {"deeper": {"\x00": "key"}}}}, "properties"),
    ],
)
def test_text_the_database_cannot_store_is_a_422_not_a_500(api, subscription, metric, fields, field):
    response = api.post("/api/v1/events", {"event": event(**fields)})
    assert response.status_code == 422 and field in response.json()["error_details"]


def test_properties_beyond_64_bit_integers_are_stored_and_answered_exactly(api, subscription, metric):
    # orjson, which writes the hot paths' JSON, cannot hold them: the standard library takes over.
    huge = 2**70 + 1
    response = api.post("/api/v1/events/batch", {"events": [event("tr_1", properties={"units": 2, "id": huge})]})
    assert response.status_code == 200
    assert response.json()["events"][0]["properties"]["id"] == huge
    assert Event.objects.get().properties["id"] == huge
