"""Small shared pieces of API shape."""

from rest_framework import serializers

from billing.errors import ValidationFailed

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


def reject_unsupported(payload: dict, allowed: set[str], defaults: dict | None = None) -> None:
    """Refuse keys we don't know, and Lago options we don't offer unless sent with their default.

    A misspelled or unsupported field must never look like a successful change.
    """
    defaults = defaults or {}
    errors: dict[str, list[str]] = {}
    for key, value in payload.items():
        if key in allowed:
            continue
        if key in defaults:
            if value is None or value == defaults[key]:
                continue
            errors[key] = ["not_supported"]
        else:
            errors[key] = ["unknown_field"]
    if errors:
        raise ValidationFailed(errors)
