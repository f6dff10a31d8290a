"""Event ingestion: validate, tie each event to its subscription, store once, keep rollups current.

A call costs a fixed number of statements whatever its size: one read of the subscriptions and
metrics it names, then one multi-row INSERT for the events that also upserts the rollups they feed
(reference/performance.md: batch ingestion is the lever). The unique constraint on transaction_id
refuses a repeat, which aborts the whole statement: a call is stored whole or not at all. Round
trips are most of the cost of a single event, hence one statement per step.
"""

from collections import defaultdict
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any
from uuid import UUID

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from billing import jsontext
from billing.errors import ValidationFailed
from billing.text import is_storable, is_storable_json
from customers.models import Customer
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
# The aggregations that read their field as a number (count and unique count do not).
NUMERIC_AGGREGATIONS = {AggregationType.SUM, AggregationType.MAX, AggregationType.LATEST}


@dataclass(frozen=True)
class SubscriptionRef:
    """The little ingestion needs of a subscription, read without building model instances.

    Ids are kept as text, converted once: they are only ever written out (into the events' JSON
    document and the API's response), and str(UUID) per event was a visible share of a batch.
    """

    pk: str
    external_id: str
    customer_id: str
    customer_deleted: bool


@dataclass(frozen=True)
class MetricRef:
    """The little ingestion needs of a billable metric (its id as text, as above)."""

    pk: str
    code: str
    aggregation_type: str
    field_name: str


@dataclass(frozen=True)
class AcceptedEvent:
    id: int
    transaction_id: str
    subscription: SubscriptionRef
    code: str
    timestamp: datetime
    properties: dict
    created_at: datetime


@dataclass
class _ParsedEvent:
    transaction_id: str
    external_subscription_id: str
    code: str
    timestamp: datetime
    properties: dict
    # The number a sum, max or latest metric reads, parsed once when the event meets its metric.
    value: Decimal | None = None


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
            continue
        text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None
        if text is None or len(text) > 255 or not is_storable(text):
            errors[field] = ["value_is_invalid"]
        else:
            values[field] = text
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
    subscriptions, metrics = _lookup(
        organization,
        external_ids={event.external_subscription_id for event in valid},
        codes={event.code for event in valid},
    )
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

    try:
        return _store(organization, valid, subscriptions, metrics, now)
    except _CustomerDeletedMeanwhile:
        # Nothing was stored. Read again: the lookup now sees the deletion and refuses the call, as
        # it refuses one that comes a moment later.
        return ingest_events(organization=organization, raw_events=raw_events, batch=batch)
    except _AlreadyStored as refused:
        duplicates = {
            index: {"transaction_id": ["value_already_exist"]}
            for index, event in enumerate(valid)
            if event.transaction_id in refused.transaction_ids
        }
        raise ValidationFailed(_keyed(duplicates, batch)) from None


class _AlreadyStored(Exception):
    """The unique constraint refused the call: these of its transaction_ids are already stored."""

    def __init__(self, transaction_ids: set[str]):
        super().__init__(transaction_ids)
        self.transaction_ids = transaction_ids


class _CustomerDeletedMeanwhile(Exception):
    """A customer the lookup found live was deleted before the events could be stored."""


def _keyed(errors: dict[int, dict[str, list[str]]], batch: bool) -> dict:
    if batch:
        return {str(index): event_errors for index, event_errors in sorted(errors.items())}
    return next(iter(errors.values()))


def _resolve_errors(
    event: _ParsedEvent, subscriptions: dict[str, SubscriptionRef], metrics: dict[str, MetricRef]
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
    elif metric.aggregation_type in NUMERIC_AGGREGATIONS:
        try:
            event.value = numeric_value(event.properties.get(metric.field_name))
        except ValueError:
            errors[f"properties.{metric.field_name}"] = ["value_is_not_a_number"]
    return errors


def _lookup(
    organization: Organization, *, external_ids: set[str], codes: set[str]
) -> tuple[dict[str, SubscriptionRef], dict[str, MetricRef]]:
    """The live subscriptions and the metrics the events name, read in one query."""
    if not external_ids and not codes:
        return {}, {}
    organization_id = Organization._meta.pk.get_db_prep_value(organization.pk, connection)
    in_external_ids, external_id_params = _in("s.external_id", external_ids)
    in_codes, code_params = _in("m.code", codes)
    # Literal statuses, our own constants: only then can PostgreSQL match the partial unique index
    # on live subscriptions (a parameter would send it through every subscription of the organization).
    live_statuses = ", ".join(f"'{status}'" for status in LIVE_SUBSCRIPTION_STATUSES)
    sql = f"""
        SELECT 's', s.id, s.external_id, s.customer_id, c.deleted_at IS NOT NULL, NULL, NULL
        FROM {Subscription._meta.db_table} s JOIN {Customer._meta.db_table} c ON c.id = s.customer_id
        WHERE s.organization_id = %s AND {in_external_ids} AND s.status IN ({live_statuses})
        UNION ALL
        SELECT 'm', m.id, m.code, NULL, NULL, m.aggregation_type, m.field_name
        FROM {BillableMetric._meta.db_table} m
        WHERE m.organization_id = %s AND {in_codes} AND m.deleted_at IS NULL
    """
    params = [organization_id, *external_id_params, organization_id, *code_params]
    subscriptions: dict[str, SubscriptionRef] = {}
    metrics: dict[str, MetricRef] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for kind, pk, key, customer_id, customer_deleted, aggregation_type, field_name in cursor.fetchall():
            if kind == "s":
                subscriptions[key] = SubscriptionRef(_text(pk), key, _text(customer_id), bool(customer_deleted))
            else:
                metrics[key] = MetricRef(_text(pk), key, aggregation_type, field_name)
    return subscriptions, metrics


def _in(column: str, values: Iterable[str]) -> tuple[str, list[Any]]:
    """`column IN values`. On PostgreSQL one array parameter, so that the statement text, and the
    prepared statement, is the same however many values a batch names."""
    values = [str(value) for value in values]
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [values]
    # IN () is a syntax error; IN (NULL) matches nothing.
    return f"{column} IN ({', '.join(['%s'] * len(values)) or 'NULL'})", values


def _text(value: UUID | str) -> str:
    """A UUID read by raw SQL, as canonical text: PostgreSQL returns a UUID, SQLite its bare hex."""
    return str(value if isinstance(value, UUID) else UUID(value))


def _rows_clause(model, rows: list[dict[str, Any]]) -> tuple[str, list[Any]]:
    """The rows of a multi-row INSERT (dicts keyed by column, all with the same keys), and their
    parameters.

    On PostgreSQL, the rows travel as one JSON document read by `jsonb_to_recordset`: one
    parameter whatever the batch size, so the statement text never changes and is prepared once,
    and encoding it is one call to the C JSON encoder instead of one typed array per column.
    Elsewhere (the SQLite demo) a VALUES list adapted the way the ORM would.
    """
    columns = tuple(rows[0])
    if connection.vendor == "postgresql":
        return _recordset(model, columns), [jsontext.dumps(rows, default=str).decode()]
    fields = _fields(model, columns)
    params = [field.get_db_prep_save(row[field.column], connection) for row in rows for field in fields]
    placeholders = "(" + ", ".join(["%s"] * len(fields)) + ")"
    return "VALUES " + ", ".join([placeholders] * len(rows)), params


def _fields(model, columns: tuple[str, ...]) -> list:
    by_column = {field.column: field for field in model._meta.concrete_fields}
    return [by_column[column] for column in columns]


@cache
def _recordset(model, columns: tuple[str, ...]) -> str:
    """`SELECT ... FROM jsonb_to_recordset(...)` typed as the model's columns (built once: db_type() is slow)."""
    types = ", ".join(f"{field.column} {field.db_type(connection)}" for field in _fields(model, columns))
    return f"SELECT {', '.join(columns)} FROM jsonb_to_recordset(%s::jsonb) AS r({types})"


def _store(
    organization: Organization,
    events: list[_ParsedEvent],
    subscriptions: dict[str, SubscriptionRef],
    metrics: dict[str, MetricRef],
    now: datetime,
) -> list[AcceptedEvent]:
    """Insert the events and add them to their rollups, all or nothing; `_AlreadyStored` when the
    unique constraint refused a transaction_id already stored.

    On PostgreSQL both writes are one statement, the rollup upsert reading the events' INSERT
    through a data-modifying CTE. It is atomic by itself: outside a caller's transaction it runs
    in autocommit, without BEGIN and COMMIT round trips, and holds its rollup row locks no longer
    than it runs. It writes only if the call's customers are all still live once it has locked them
    (`_CustomerDeletedMeanwhile` otherwise). SQLite (the demo) runs the two writes one after the
    other in a transaction.
    """
    one_statement = connection.vendor == "postgresql"
    only_if_live = " WHERE (SELECT every_one FROM all_live)" if one_statement else ""
    events_sql, events_params = _events_insert(organization, events, subscriptions, now, only_if_live)
    # Inside a caller's transaction a savepoint keeps a refused statement from aborting it.
    needs_transaction = connection.in_atomic_block or not one_statement
    try:
        with transaction.atomic() if needs_transaction else nullcontext(), connection.cursor() as cursor:
            if one_statement:
                live_sql, live_params = _live_customers_locked(events, subscriptions)
                rollups_sql, rollups_params = _rollups_upsert(events, subscriptions, metrics, only_if_live)
                sql = f"WITH {live_sql}, inserted AS ({events_sql}), rolled_up AS ({rollups_sql}) "
                sql += "SELECT id, transaction_id FROM inserted"
                cursor.execute(sql, [*live_params, *events_params, *rollups_params])
                ids = {transaction_id: pk for pk, transaction_id in cursor.fetchall()}
                if not ids:
                    raise _CustomerDeletedMeanwhile
            else:
                cursor.execute(events_sql, events_params)
                ids = {transaction_id: pk for pk, transaction_id in cursor.fetchall()}
                cursor.execute(*_rollups_upsert(events, subscriptions, metrics))
    except IntegrityError:
        stored = set(
            Event.objects.filter(
                organization=organization, transaction_id__in={event.transaction_id for event in events}
            ).values_list("transaction_id", flat=True)
        )
        if stored:
            raise _AlreadyStored(stored) from None
        raise
    return [
        AcceptedEvent(
            id=ids[event.transaction_id],
            transaction_id=event.transaction_id,
            subscription=subscriptions[event.external_subscription_id],
            code=event.code,
            timestamp=event.timestamp,
            properties=event.properties,
            created_at=now,
        )
        for event in events
    ]


def _live_customers_locked(
    events: list[_ParsedEvent], subscriptions: dict[str, SubscriptionRef]
) -> tuple[str, list[Any]]:
    """The statement's first queries: lock the call's customers and say whether all are still live.

    The lookup read them without a lock, so a deletion may have committed since, or be committing:
    its transaction holds the customer's row FOR UPDATE, which FOR KEY SHARE waits for, and PostgreSQL
    then checks `deleted_at` again on the row as the deletion left it. Either the events are stored
    before the deletion takes the row (and its cascade bills them), or nothing is and the call is
    refused like one that came after it: an acknowledged event is never stored past the deletion."""
    customer_ids = sorted({subscriptions[event.external_subscription_id].customer_id for event in events})
    sql = (
        f"live AS (SELECT id FROM {Customer._meta.db_table} WHERE id = ANY(%s::uuid[]) AND deleted_at IS NULL "
        "FOR KEY SHARE), all_live AS (SELECT count(*) = %s AS every_one FROM live)"
    )
    return sql, [customer_ids, len(customer_ids)]


def _events_insert(
    organization: Organization,
    events: list[_ParsedEvent],
    subscriptions: dict[str, SubscriptionRef],
    now: datetime,
    condition: str = "",
) -> tuple[str, list[Any]]:
    # Times as text, the creation time once per call.
    organization_id = str(organization.pk)
    created_at = now.isoformat()
    rows = [
        {
            "organization_id": organization_id,
            "subscription_id": subscriptions[event.external_subscription_id].pk,
            "transaction_id": event.transaction_id,
            "code": event.code,
            "timestamp": event.timestamp.isoformat(),
            "properties": event.properties,
            "created_at": created_at,
        }
        for event in events
    ]
    source, params = _rows_clause(Event, rows)
    sql = f"INSERT INTO {Event._meta.db_table} ({', '.join(rows[0])}) {source}{condition} RETURNING id, transaction_id"
    return sql, params


@dataclass
class _RollupDelta:
    events_count: int = 0
    units_sum: Decimal = Decimal(0)
    units_max: Decimal | None = None
    latest_value: Decimal | None = None
    latest_timestamp: datetime | None = None


def _rollups_upsert(
    events: list[_ParsedEvent],
    subscriptions: dict[str, SubscriptionRef],
    metrics: dict[str, MetricRef],
    condition: str = "",
) -> tuple[str, list[Any]]:
    """The upsert that adds the events to their rollups (only when `condition`, a WHERE clause, holds)."""
    deltas: dict[tuple, _RollupDelta] = defaultdict(_RollupDelta)
    for event in events:
        metric = metrics[event.code]
        key = (subscriptions[event.external_subscription_id].pk, metric.pk, _bucket_start(event.timestamp))
        delta = deltas[key]
        delta.events_count += 1
        value = event.value
        if value is None:
            continue
        delta.units_sum += value
        if delta.units_max is None or value > delta.units_max:
            delta.units_max = value
        if delta.latest_timestamp is None or event.timestamp >= delta.latest_timestamp:
            delta.latest_value, delta.latest_timestamp = value, event.timestamp

    # Sorted keys: two batches touching the same buckets lock them in the same order (no deadlock).
    rows = [
        {
            "subscription_id": subscription_id,
            "billable_metric_id": metric_id,
            "bucket_start": bucket_start,
            "events_count": delta.events_count,
            "units_sum": delta.units_sum,
            "units_max": delta.units_max,
            "latest_value": delta.latest_value,
            "latest_timestamp": delta.latest_timestamp,
        }
        for (subscription_id, metric_id, bucket_start), delta in sorted(deltas.items())
    ]
    source, params = _rows_clause(UsageRollup, rows)
    table = UsageRollup._meta.db_table
    newer = (
        f"excluded.latest_timestamp IS NOT NULL AND ({table}.latest_timestamp IS NULL"
        f" OR excluded.latest_timestamp >= {table}.latest_timestamp)"
    )
    sql = f"""
        INSERT INTO {table} (subscription_id, billable_metric_id, bucket_start, events_count, units_sum, units_max,
                             latest_value, latest_timestamp)
        {source}{condition}
        ON CONFLICT (subscription_id, billable_metric_id, bucket_start) DO UPDATE SET
            events_count = {table}.events_count + excluded.events_count,
            units_sum = {table}.units_sum + excluded.units_sum,
            units_max = CASE WHEN excluded.units_max IS NOT NULL
                              AND ({table}.units_max IS NULL OR excluded.units_max > {table}.units_max)
                             THEN excluded.units_max ELSE {table}.units_max END,
            latest_value = CASE WHEN {newer} THEN excluded.latest_value ELSE {table}.latest_value END,
            latest_timestamp = CASE WHEN {newer} THEN excluded.latest_timestamp ELSE {table}.latest_timestamp END
    """
    return sql, params
