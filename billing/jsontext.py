"""JSON text for the hot paths, through orjson.

Encoding a batch of events (the rows sent to PostgreSQL and the response) with the standard
library was a sixth of the request's CPU; orjson writes the same JSON several times faster. It
cannot write integers beyond 64 bits, which event properties may hold: those fall back to the
standard library, with the same compact, UTF-8 output.
"""

import json
from collections.abc import Callable
from typing import Any

import orjson


def dumps(value: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    try:
        return orjson.dumps(value, default=default)
    except TypeError:
        return json.dumps(value, default=default, ensure_ascii=False, separators=(",", ":")).encode()
