"""What text the database can store: PostgreSQL text and jsonb hold neither NUL nor lone UTF-16
surrogates (which JSON's \\ud800 escapes can produce), and both would fail as a 500 on insert."""

from typing import Any


def is_storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_storable_json(value: Any) -> bool:
    """Whether every key and string inside a parsed JSON value is storable text.

    A walk rather than a dump of the value: events carry small objects, and dumping each one cost
    more than the rest of its validation.
    """
    if isinstance(value, str):
        return is_storable(value)
    if isinstance(value, dict):
        return all(is_storable(str(key)) and is_storable_json(item) for key, item in value.items())
    if isinstance(value, list):
        return all(is_storable_json(item) for item in value)
    return True


def clean_text(value: Any, *, required: bool, max_length: int = 255) -> tuple[str | None, str | None]:
    """(cleaned value, Lago error code or None) for a text input a service receives."""
    if value is None or value == "":
        return None, ("value_is_mandatory" if required else None)
    if not isinstance(value, str) or not is_storable(value):
        return None, "value_is_invalid"
    if required and not value.strip():
        return None, "value_is_mandatory"
    if len(value) > max_length:
        return None, "value_is_too_long"
    return value, None


def add_error(errors: dict[str, list[str]], field: str, code: str | None) -> None:
    """Record a Lago error code under `field`; nothing when `code` is None."""
    if code:
        errors.setdefault(field, []).append(code)
