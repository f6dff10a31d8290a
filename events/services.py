"""Event ingestion: validate, tie each event to its subscription, store once, keep rollups current.

A batch costs a fixed number of statements whatever its size: one read of the subscriptions it
names, one of the metrics, one multi-row INSERT ... ON CONFLICT DO NOTHING for the events and one
upsert of the rollups they feed (reference/performance.md: batch ingestion is the lever).
"""

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from django.db import connection, models, transaction
from django.utils import timezone

from billing.errors import ValidationFailed
from billing.text import is_storable, is_storable_json
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
class SubscriptionRef:
    """The little ingestion needs of a subscription, read without building model instances."""

    pk: UUID
    external_id: str
    customer_id: UUID
    customer_deleted: bool


@dataclass(frozen=True)
class AcceptedEvent:
    id: int
    transaction_id: str
    subscription: SubscriptionRef
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
        elif (
            not isinstance(value, str | int)
            or isinstance(value, bool)
            or len(str(value)) > 255
            or not is_storable(str(value))
        ):
            errors[field] = ["value_is_invalid"]
        else:
            values[field] = str(value)
    timestamp = parse_timestamp(raw.get("timestamp"), now)
    if timestamp is None:
        errors["timestamp"] = ["invalid_format"]
    properties = raw.get("properties")
    properties = {} if properties is None else properties
    if not isinstance(properties, dict) or not is_storable_json(properties):
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
        external_id: SubscriptionRef(pk, external_id, customer_id, deleted_at is not None)
        for pk, external_id, customer_id, deleted_at in Subscription.objects.filter(
            organization=organization,
            external_id__in={event.external_subscription_id for event in valid},
            status__in=LIVE_SUBSCRIPTION_STATUSES,
        ).values_list("pk", "external_id", "customer_id", "customer__deleted_at")
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
    event: _ParsedEvent, subscriptions: dict[str, SubscriptionRef], metrics: dict[str, BillableMetric]
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    subscription = subscriptions.get(event.external_subscription_id)
    if subscription is None:
        errors["external_subscription_id"] = ["subscription_not_found"]
    elif subscription.customer_deleted:
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


def _rows_clause(model, columns: list[str], rows: list[list[Any]]) -> tuple[str, list[Any]]:
    """The rows of a multi-row INSERT, and their parameters.

    On PostgreSQL, one `unnest()` of typed arrays (one parameter per column): the statement text is
    the same whatever the batch size, so it is parsed once and prepared by psycopg. Elsewhere (the
    SQLite demo) a VALUES list adapted the way the ORM would.
    """
    fields = [model._meta.get_field(column) for column in columns]
    if connection.vendor == "postgresql":
        casts = ", ".join(f"%s::{field.db_type(connection)}[]" for field in fields)
        arrays = [
            [json.dumps(value) for value in values] if isinstance(field, models.JSONField) else list(values)
            for field, values in zip(fields, zip(*rows, strict=True), strict=True)
        ]
        return f"SELECT * FROM unnest({casts})", arrays
    params = [
        field.get_db_prep_save(value, connection) for row in rows for field, value in zip(fields, row, strict=True)
    ]
    placeholders = "(" + ", ".join(["%s"] * len(fields)) + ")"
    return "VALUES " + ", ".join([placeholders] * len(rows)), params


def _insert_events(
    organization: Organization, events: list[_ParsedEvent], subscriptions: dict[str, SubscriptionRef], now: datetime
) -> list[AcceptedEvent]:
    columns = ["organization", "subscription", "transaction_id", "code", "timestamp", "properties", "created_at"]
    db_columns = ", ".join(Event._meta.get_field(column).column for column in columns)
    rows = [
        [
            organization.pk,
            subscriptions[event.external_subscription_id].pk,
            event.transaction_id,
            event.code,
            event.timestamp,
            event.properties,
            now,
        ]
        for event in events
    ]
    source, params = _rows_clause(Event, columns, rows)
    sql = (
        f"INSERT INTO {Event._meta.db_table} ({db_columns}) {source} "
        "ON CONFLICT (organization_id, transaction_id) DO NOTHING RETURNING id, transaction_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        inserted = {transaction_id: pk for pk, transaction_id in cursor.fetchall()}
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
        key = (event.subscription.pk, metric.pk, _bucket_start(event.timestamp))
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
    # Sorted keys: two batches touching the same buckets lock them in the same order (no deadlock).
    rows = [
        [*key, delta.events_count, delta.units_sum, delta.units_max, delta.latest_value, delta.latest_timestamp]
        for key, delta in sorted(deltas.items())
    ]
    source, params = _rows_clause(UsageRollup, columns, rows)
    table = UsageRollup._meta.db_table
    newer = (
        f"excluded.latest_timestamp IS NOT NULL AND ({table}.latest_timestamp IS NULL"
        f" OR excluded.latest_timestamp >= {table}.latest_timestamp)"
    )
    sql = f"""
        INSERT INTO {table} (subscription_id, billable_metric_id, bucket_start, events_count, units_sum, units_max,
                             latest_value, latest_timestamp)
        {source}
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
