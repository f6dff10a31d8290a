"""Ids received from URLs and request bodies."""

import uuid
from typing import Any


def as_uuid(value: Any) -> uuid.UUID | None:
    """`value` as a UUID, or None when it is not one (so a lookup answers "not found", not a crash)."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
