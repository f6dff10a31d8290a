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
