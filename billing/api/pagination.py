"""Lago's page/per_page pagination and its `meta` object (reference/lago-api.md §1.3)."""

from dataclasses import dataclass

from django.db.models import QuerySet

from billing.errors import ValidationFailed

DEFAULT_PER_PAGE = 100
MAX_PER_PAGE = 1000


@dataclass(frozen=True)
class Page:
    items: list
    meta: dict


def _positive_int(params, name: str, default: int, maximum: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ValidationFailed({name: ["value_is_invalid"]}) from None
    if value < 1 or value > maximum:
        raise ValidationFailed({name: ["value_is_out_of_range"]})
    return value


def page_of(queryset: QuerySet, offset: int, limit: int) -> list:
    """The rows of one page, found by their ids first: a deep OFFSET then walks only the index
    (a deferred join), and the full rows, with whatever the queryset prefetches, are read for one
    page only."""
    ids = list(queryset.values_list("pk", flat=True)[offset : offset + limit])
    rows = {row.pk: row for row in queryset.filter(pk__in=ids)} if ids else {}
    return [rows[pk] for pk in ids if pk in rows]


def paginate(queryset: QuerySet, params, *, total_count: int | None = None) -> Page:
    """Slice the queryset in the database: a fixed number of queries, whatever the table size.

    `total_count` may be given when the caller knows it more cheaply than COUNT(*).
    """
    page = _positive_int(params, "page", 1, 10**9)
    per_page = _positive_int(params, "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)
    if total_count is None:
        total_count = queryset.count()
    if total_count == 0:
        # Lago's own quirk for an empty result, kept for compatibility.
        return Page([], {"current_page": 0, "next_page": None, "prev_page": None, "total_pages": 0, "total_count": 0})
    total_pages = -(-total_count // per_page)
    offset = (page - 1) * per_page
    items = page_of(queryset, offset, per_page) if page <= total_pages else []
    meta = {
        "current_page": page,
        "next_page": page + 1 if page < total_pages else None,
        "prev_page": page - 1 if page > 1 else None,
        "total_pages": total_pages,
        "total_count": total_count,
    }
    return Page(items, meta)
