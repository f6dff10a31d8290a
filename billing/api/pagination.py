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


def paginate(queryset: QuerySet, params) -> Page:
    """Slice the queryset in the database: one COUNT and one SELECT, whatever the table size."""
    page = _positive_int(params, "page", 1, 10**9)
    per_page = _positive_int(params, "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)
    total_count = queryset.count()
    if total_count == 0:
        # Lago's own quirk for an empty result, kept for compatibility.
        return Page([], {"current_page": 0, "next_page": None, "prev_page": None, "total_pages": 0, "total_count": 0})
    total_pages = -(-total_count // per_page)
    offset = (page - 1) * per_page
    items = list(queryset[offset : offset + per_page]) if page <= total_pages else []
    meta = {
        "current_page": page,
        "next_page": page + 1 if page < total_pages else None,
        "prev_page": page - 1 if page > 1 else None,
        "total_pages": total_pages,
        "total_count": total_count,
    }
    return Page(items, meta)
