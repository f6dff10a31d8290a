"""Event ingestion: validate, tie each event to its subscription, store once, keep rollups current.

A batch costs a fixed number of statements whatever its size: one read of the subscriptions it
names, one of the metrics, one multi-row INSERT ... ON CONFLICT DO NOTHING for the events and one
upsert of the rollups they feed (reference/performance.md: batch ingestion is the lever).
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from billing.errors import ValidationFailed
from events.models import ROLLUP_BUCKET_SECONDS, Event, UsageRollup
from organizations.models import Organization
from plans.models import (
    LIVE_SUBSCRIPTION_STATUSES,
    AggregationType,
    BillableMetric,
    Subscription,
)

MAX_BATCH_SIZE = 100
MAX_TIMESTAMP = Decimal(253402300799)  # 9999-12-31T23:59:59Z
_NUMERIC_AGGREGATIONS = {AggregationType.SUM, AggregationType.MAX, AggregationType.LATEST}


@dataclass(frozen=True)
class AcceptedEvent:
    id: int
    transaction_id: str
    subscription: Subscription
    code: str
    timestamp: datetime
    properties: dict
    created_at: datetime


@dataclass(frozen=True)
class _ParsedEvent:
    transaction_id: str
    external_subscription_id: str
    code: str
    timestamp: datetime
    properties: dict


def _json_number(value: Any) -> Decimal | None:
    """A JSON number or numeric string as a Decimal (floats through their shortest repr), else None."""
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def parse_timestamp(value: Any, now: datetime) -> datetime | None:
    """Unix seconds as an int, a float or a numeric string; None (or absent) means now."""
    if value is None:
        return now
    seconds = _json_number(value)
    if seconds is None or not 0 <= seconds <= MAX_TIMESTAMP:
        return None
    whole = int(seconds)
    microseconds = int((seconds - whole) * 1_000_000)
    return datetime.fromtimestamp(whole, tz=UTC).replace(microsecond=microseconds)


def _parse(raw: Any, now: datetime) -> tuple[_ParsedEvent | None, dict[str, list[str]]]:
    if not isinstance(raw, dict):
        return None, {"event": ["value_is_invalid"]}
    errors: dict[str, list[str]] = {}
    values: dict[str, str] = {}
    for field in ("transaction_id", "external_subscription_id", "code"):
        value = raw.get(field)
        if value is None or value == "":
            errors[field] = ["value_is_mandatory"]
        elif not isinstance(value, str | int) or isinstance(value, bool) or len(str(value)) > 255:
            errors[field] = ["value_is_invalid"]
        else:
            values[field] = str(value)
    timestamp = parse_timestamp(raw.get("timestamp"), now)
    if timestamp is None:
        errors["timestamp"] = ["invalid_format"]
    properties = raw.get("properties")
    properties = {} if properties is None else properties
    if not isinstance(properties, dict):
        errors["properties"] = ["value_is_invalid"]
    if errors:
        return None, errors
    return _ParsedEvent(timestamp=timestamp, properties=properties, **values), {}


def numeric_value(value: Any) -> Decimal | None:
    """A property read as a number; raises ValueError when it is not one."""
    if value is None:
        return None
    number = _json_number(value)
    if number is None or abs(number) >= Decimal(10) ** 24:
        raise ValueError
    return number


def _bucket_start(timestamp: datetime) -> datetime:
    epoch = int(timestamp.timestamp())
    return datetime.fromtimestamp(epoch - epoch % ROLLUP_BUCKET_SECONDS, tz=UTC)


def ingest_events(*, organization: Organization, raw_events: list[Any], batch: bool) -> list[AcceptedEvent]:
    """Store the events, all or nothing. Errors are keyed by field, or by index for a batch."""
    if batch:
        if not raw_events:
            raise ValidationFailed({"events": ["no_events"]})
        if len(raw_events) > MAX_BATCH_SIZE:
            raise ValidationFailed({"events": ["too_many_events"]})
    now = timezone.now()
    parsed: list[_ParsedEvent | None] = []
    errors: dict[int, dict[str, list[str]]] = {}
    for index, raw in enumerate(raw_events):
        event, event_errors = _parse(raw, now)
        parsed.append(event)
        if event_errors:
            errors[index] = event_errors

    valid = [event for event in parsed if event is not None]
    subscriptions = {
        subscription.external_id: subscription
        for subscription in Subscription.objects.select_related("customer").filter(
            organization=organization,
            external_id__in={event.external_subscription_id for event in valid},
            status__in=LIVE_SUBSCRIPTION_STATUSES,
        )
    }
    metrics = {
        metric.code: metric
        for metric in BillableMetric.objects.filter(
            organization=organization, code__in={event.code for event in valid}, deleted_at__isnull=True
        )
    }
    seen: dict[str, int] = {}
    for index, event in enumerate(parsed):
        if event is None:
            continue
        event_errors = _resolve_errors(event, subscriptions, metrics)
        if event.transaction_id in seen:
            event_errors.setdefault("transaction_id", []).append("value_already_exist")
        seen.setdefault(event.transaction_id, index)
        if event_errors:
            errors[index] = event_errors
    if errors:
        raise ValidationFailed(_keyed(errors, batch))

    with transaction.atomic():
        accepted = _insert_events(organization, valid, subscriptions, now)
        if len(accepted) < len(valid):
            stored = {event.transaction_id for event in accepted}
            duplicates = {
                index: {"transaction_id": ["value_already_exist"]}
                for index, event in enumerate(valid)
                if event.transaction_id not in stored
            }
            raise ValidationFailed(_keyed(duplicates, batch))
        _update_rollups(accepted, metrics)
    return accepted


def _keyed(errors: dict[int, dict[str, list[str]]], batch: bool) -> dict:
    if batch:
        return {str(index): event_errors for index, event_errors in sorted(errors.items())}
    return next(iter(errors.values()))


def _resolve_errors(
    event: _ParsedEvent, subscriptions: dict[str, Subscription], metrics: dict[str, BillableMetric]
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    subscription = subscriptions.get(event.external_subscription_id)
    if subscription is None:
        errors["external_subscription_id"] = ["subscription_not_found"]
    elif subscription.customer.deleted_at is not None:
        errors["external_subscription_id"] = ["customer_is_deleted"]
    metric = metrics.get(event.code)
    if metric is None:
        errors["code"] = ["billable_metric_not_found"]
    elif metric.aggregation_type in _NUMERIC_AGGREGATIONS:
        try:
            numeric_value(event.properties.get(metric.field_name))
        except ValueError:
            errors[f"properties.{metric.field_name}"] = ["value_is_not_a_number"]
    return errors


def _column_values(model, columns: list[str], values: list[Any]) -> list[Any]:
    """Adapt Python values the way the ORM would for this database (UUIDs, JSON, datetimes)."""
    return [
        model._meta.get_field(column).get_db_prep_save(value, connection)
        for column, value in zip(columns, values, strict=True)
    ]


def _insert_events(
    organization: Organization, events: list[_ParsedEvent], subscriptions: dict[str, Subscription], now: datetime
) -> list[AcceptedEvent]:
    columns = ["organization", "subscription", "transaction_id", "code", "timestamp", "properties", "created_at"]
    db_columns = [Event._meta.get_field(column).column for column in columns]
    params: list[Any] = []
    for event in events:
        subscription = subscriptions[event.external_subscription_id]
        params += _column_values(
            Event,
            columns,
            [
                organization.pk,
                subscription.pk,
                event.transaction_id,
                event.code,
                event.timestamp,
                event.properties,
                now,
            ],
        )
    row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    sql = (
        f"INSERT INTO {Event._meta.db_table} ({', '.join(db_columns)}) VALUES {', '.join([row] * len(events))} "
        "ON CONFLICT (organization_id, transaction_id) DO NOTHING RETURNING id, transaction_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        inserted = dict((transaction_id, pk) for pk, transaction_id in cursor.fetchall())
    return [
        AcceptedEvent(
            id=inserted[event.transaction_id],
            transaction_id=event.transaction_id,
            subscription=subscriptions[event.external_subscription_id],
            code=event.code,
            timestamp=event.timestamp,
            properties=event.properties,
            created_at=now,
        )
        for event in events
        if event.transaction_id in inserted
    ]


@dataclass
class _RollupDelta:
    events_count: int = 0
    units_sum: Decimal = Decimal(0)
    units_max: Decimal | None = None
    latest_value: Decimal | None = None
    latest_timestamp: datetime | None = None


def _update_rollups(events: list[AcceptedEvent], metrics: dict[str, BillableMetric]) -> None:
    deltas: dict[tuple, _RollupDelta] = defaultdict(_RollupDelta)
    for event in events:
        metric = metrics[event.code]
        key = (str(event.subscription.pk), str(metric.pk), _bucket_start(event.timestamp))
        delta = deltas[key]
        delta.events_count += 1
        if metric.aggregation_type not in _NUMERIC_AGGREGATIONS:
            continue
        value = numeric_value(event.properties.get(metric.field_name))
        if value is None:
            continue
        delta.units_sum += value
        if delta.units_max is None or value > delta.units_max:
            delta.units_max = value
        if delta.latest_timestamp is None or event.timestamp >= delta.latest_timestamp:
            delta.latest_value, delta.latest_timestamp = value, event.timestamp

    columns = [
        "subscription",
        "billable_metric",
        "bucket_start",
        "events_count",
        "units_sum",
        "units_max",
        "latest_value",
        "latest_timestamp",
    ]
    params: list[Any] = []
    # Sorted keys: two batches touching the same buckets lock them in the same order (no deadlock).
    for key in sorted(deltas):
        delta = deltas[key]
        params += _column_values(
            UsageRollup,
            columns,
            [*key, delta.events_count, delta.units_sum, delta.units_max, delta.latest_value, delta.latest_timestamp],
        )
    table = UsageRollup._meta.db_table
    row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    newer = (
        f"excluded.latest_timestamp IS NOT NULL AND ({table}.latest_timestamp IS NULL"
        f" OR excluded.latest_timestamp >= {table}.latest_timestamp)"
    )
    sql = f"""
        INSERT INTO {table} (subscription_id, billable_metric_id, bucket_start, events_count, units_sum, units_max,
                             latest_value, latest_timestamp)
        VALUES {", ".join([row] * len(deltas))}
        ON CONFLICT (subscription_id, billable_metric_id, bucket_start) DO UPDATE SET
            events_count = {table}.events_count + excluded.events_count,
            units_sum = {table}.units_sum + excluded.units_sum,
            units_max = CASE WHEN excluded.units_max IS NOT NULL
                              AND ({table}.units_max IS NULL OR excluded.units_max > {table}.units_max)
                             THEN excluded.units_max ELSE {table}.units_max END,
            latest_value = CASE WHEN {newer} THEN excluded.latest_value ELSE {table}.latest_value END,
            latest_timestamp = CASE WHEN {newer} THEN excluded.latest_timestamp ELSE {table}.latest_timestamp END
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
