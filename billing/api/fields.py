"""Small shared pieces of the API's output: date formats and fields Lago always sends. (Input: billing.api.input.)"""

from rest_framework import serializers

DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
DATETIME_MS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class EmptyList(serializers.ListField):
    """A list Lago always sends that we always answer empty (taxes, filters...)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("child", serializers.DictField())
        kwargs.setdefault("read_only", True)
        kwargs.setdefault("source", "*")
        super().__init__(**kwargs)

    def to_representation(self, value):
        return []


def iso_ms(value) -> str | None:
    """Lago writes a few timestamps to the millisecond: 2024-01-20T12:00:00.000Z."""
    if value is None:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
