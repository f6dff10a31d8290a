"""IANA timezones: the accepted names and how the staff UI labels them."""

import zoneinfo
from datetime import datetime
from functools import cache


@cache
def timezone_names() -> frozenset[str]:
    # "localtime" and the like are not IANA zone names a customer could have.
    return frozenset(name for name in zoneinfo.available_timezones() if "/" in name or name == "UTC")


def is_timezone(name: str) -> bool:
    return name in timezone_names()


def _offset_label(name: str, at: datetime) -> str:
    offset = at.astimezone(zoneinfo.ZoneInfo(name)).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset else 0
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def timezone_options(at: datetime) -> list[tuple[str, str]]:
    """(name, "Name (UTC±hh:mm)") pairs sorted by name, offsets as of `at`."""
    return [(name, f"{name} ({_offset_label(name, at)})") for name in sorted(timezone_names())]
