"""Aggregate a subscription's usage per billable metric over a time range.

Whole quarter hours are read from the rollups kept at ingestion, so the cost does not grow with
the number of events; only the partial quarter hours at the edges of the range (a subscription
that started at 10:07) and unique counts read raw events. The number of queries is fixed: at most
one per kind of read, whatever the number of events and charges.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db.models import Case, Count, Max, Q, Sum, When
from django.db.models.fields.json import KeyTextTransform

from events.models import ROLLUP_BUCKET_SECONDS, Event, UsageRollup
from events.services import NUMERIC_AGGREGATIONS, numeric_value
from plans.models import AggregationType, BillableMetric, Subscription

BUCKET = timedelta(seconds=ROLLUP_BUCKET_SECONDS)


@dataclass(frozen=True)
class MetricUsage:
    units: Decimal
    events_count: int


@dataclass
class _Accumulator:
    events_count: int = 0
    units_sum: Decimal = Decimal(0)
    units_max: Decimal | None = None
    latest_value: Decimal | None = None
    latest_timestamp: datetime | None = None

    def add(self, *, count: int, total, maximum, latest_value, latest_timestamp) -> None:
        self.events_count += count or 0
        self.units_sum += Decimal(total or 0)
        if maximum is not None and (self.units_max is None or Decimal(maximum) > self.units_max):
            self.units_max = Decimal(maximum)
        if latest_timestamp is not None and (
            self.latest_timestamp is None or latest_timestamp >= self.latest_timestamp
        ):
            self.latest_value, self.latest_timestamp = Decimal(latest_value), latest_timestamp


def floor_to_bucket(instant: datetime) -> datetime:
    epoch = int(instant.timestamp())
    floored = datetime.fromtimestamp(epoch - epoch % ROLLUP_BUCKET_SECONDS, tz=UTC)
    return floored


def ceil_to_bucket(instant: datetime) -> datetime:
    floored = floor_to_bucket(instant)
    return floored if floored == instant else floored + BUCKET


def aggregate_usage(
    *, subscription: Subscription, metrics: list[BillableMetric], start: datetime, end: datetime
) -> dict:
    """Usage of each metric (by id) for events with start <= timestamp < end."""
    accumulators = {metric.pk: _Accumulator() for metric in metrics}
    if not metrics or start >= end:
        return {metric.pk: MetricUsage(Decimal(0), 0) for metric in metrics}
    aligned_start = min(ceil_to_bucket(start), end)
    aligned_end = max(floor_to_bucket(end), aligned_start)

    _add_rollups(accumulators, subscription, metrics, aligned_start, aligned_end)
    edges = [(lo, hi) for lo, hi in ((start, aligned_start), (aligned_end, end)) if lo < hi]
    if edges:
        _add_raw_edges(accumulators, subscription, metrics, edges)
    unique_counts = _unique_counts(subscription, metrics, start, end)

    usage = {}
    for metric in metrics:
        acc = accumulators[metric.pk]
        match metric.aggregation_type:
            case AggregationType.COUNT:
                units = Decimal(acc.events_count)
            case AggregationType.SUM:
                units = acc.units_sum
            case AggregationType.MAX:
                units = acc.units_max or Decimal(0)
            case AggregationType.LATEST:
                units = acc.latest_value or Decimal(0)
            case AggregationType.UNIQUE_COUNT:
                units = Decimal(unique_counts.get(metric.pk, 0))
        usage[metric.pk] = MetricUsage(units=units.normalize() if units else Decimal(0), events_count=acc.events_count)
    return usage


def _add_rollups(accumulators, subscription, metrics, start: datetime, end: datetime) -> None:
    if start >= end:
        return
    in_range = UsageRollup.objects.filter(
        subscription=subscription, billable_metric__in=metrics, bucket_start__gte=start, bucket_start__lt=end
    )
    rows = list(
        in_range.values("billable_metric_id")
        .annotate(
            count=Sum("events_count"),
            total=Sum("units_sum"),
            maximum=Max("units_max"),
            latest_timestamp=Max("latest_timestamp"),
        )
        .order_by()
    )
    # The latest value sits in the bucket holding the newest timestamp: one more read, for the
    # latest-aggregation metrics only (a correlated subquery here ran once per bucket).
    latest_metrics = {metric.pk for metric in metrics if metric.aggregation_type == AggregationType.LATEST}
    newest = Q()
    for row in rows:
        if row["billable_metric_id"] in latest_metrics and row["latest_timestamp"] is not None:
            newest |= Q(billable_metric_id=row["billable_metric_id"], latest_timestamp=row["latest_timestamp"])
    latest_values = (
        dict(in_range.filter(newest).order_by("bucket_start").values_list("billable_metric_id", "latest_value"))
        if newest
        else {}
    )
    for row in rows:
        accumulators[row["billable_metric_id"]].add(
            count=row["count"],
            total=row["total"],
            maximum=row["maximum"],
            latest_value=latest_values.get(row["billable_metric_id"]),
            latest_timestamp=row["latest_timestamp"] if row["billable_metric_id"] in latest_values else None,
        )


def _add_raw_edges(accumulators, subscription, metrics, edges) -> None:
    """Fold the events of the partial quarter hours (at most two windows of under 15 minutes)."""
    by_code = {metric.code: metric for metric in metrics}
    window = Q()
    for lo, hi in edges:
        window |= Q(timestamp__gte=lo, timestamp__lt=hi)
    rows = Event.objects.filter(window, subscription=subscription, code__in=by_code).values_list(
        "code", "timestamp", "properties"
    )
    for code, timestamp, properties in rows:
        metric = by_code[code]
        # As ingestion reads them: a unique count's field is an identifier, not a number.
        numeric = metric.field_name and metric.aggregation_type in NUMERIC_AGGREGATIONS
        value = numeric_value(properties.get(metric.field_name)) if numeric else None
        accumulators[metric.pk].add(
            count=1,
            total=value if metric.aggregation_type == AggregationType.SUM else 0,
            maximum=value,
            latest_value=value,
            latest_timestamp=timestamp if value is not None else None,
        )


def _unique_counts(subscription, metrics, start: datetime, end: datetime) -> dict:
    """Distinct property values per unique-count metric, in one query (these cannot be rolled up)."""
    unique = [metric for metric in metrics if metric.aggregation_type == AggregationType.UNIQUE_COUNT]
    if not unique:
        return {}
    aggregates = {
        f"m{index}": Count(
            Case(When(code=metric.code, then=KeyTextTransform(metric.field_name, "properties"))), distinct=True
        )
        for index, metric in enumerate(unique)
    }
    counts = Event.objects.filter(
        subscription=subscription, code__in=[metric.code for metric in unique], timestamp__gte=start, timestamp__lt=end
    ).aggregate(**aggregates)
    return {metric.pk: counts[f"m{index}"] for index, metric in enumerate(unique)}


def event_units(*, subscription: Subscription, metric: BillableMetric, start: datetime, end: datetime) -> list[Decimal]:
    """Each event's value in timestamp order, for prices set per transaction (percentage model)."""
    rows = (
        Event.objects.filter(subscription=subscription, code=metric.code, timestamp__gte=start, timestamp__lt=end)
        .order_by("timestamp", "id")
        .values_list("properties", flat=True)
    )
    if metric.aggregation_type == AggregationType.COUNT:
        return [Decimal(1) for _ in rows]
    return [numeric_value(properties.get(metric.field_name)) or Decimal(0) for properties in rows]
