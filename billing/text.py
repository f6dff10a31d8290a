"""What text the database can store: PostgreSQL text and jsonb hold neither NUL nor lone UTF-16
surrogates (which JSON's \\ud800 escapes can produce), and both would fail as a 500 on insert."""

import json
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
    """Whether every key and string inside a JSON value is storable text."""
    dumped = json.dumps(value, ensure_ascii=False)
    return "\\u0000" not in dumped and is_storable(dumped)
