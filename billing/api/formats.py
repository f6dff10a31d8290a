"""How values are written in API responses (reference/lago-api.md §1.2)."""

from datetime import UTC, datetime


def iso_datetime(value: datetime | None) -> str | None:
    """ISO-8601 in UTC with a `Z`, to the second, as Lago writes most timestamps."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
