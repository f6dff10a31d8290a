"""How every API endpoint reads its input, and who answers which error.

1. A view hands the object under Lago's root key to `read_input(payload, SomeInput)`. `SomeInput` is a
   `LagoInput`: its fields are the body the OpenAPI schema publishes, and nothing else gets in. A key
   it does not declare is refused (`unknown_field`); a Lago option we don't offer, listed in its
   `unsupported` with its neutral value, passes only with that value or null (`not_supported`).
   Nested objects follow the same rule.
2. The fields check JSON shapes and types only (text, whole number, list of objects...), plus the
   presence of an id the view itself turns into a row before calling the service. Every rule
   (mandatory, one of a set, range, state, uniqueness) is the service's: it raises a billing.errors
   domain error, so that the API and the staff pages answer the same rule with the same code.
3. billing.api.errors.lago_exception_handler turns both into Lago's error bodies, in one place.
Two measured hot paths read their bodies by hand, to the same rules and codes, without DRF: the
customer upsert (customers.api._service_data) and event ingestion (events.services.ingest_events).
"""

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from billing.errors import ValidationFailed


# A request body, or an object nested in one, as the schema publishes it. (A comment, not a
# docstring: drf-spectacular would publish a docstring as the description of every input.)
class LagoInput(serializers.Serializer):
    # Lago options we don't offer, with their neutral value: accepted only with that value or null.
    unsupported: dict[str, Any] = {}


def many(item: LagoInput, **kwargs) -> serializers.ListSerializer:
    """A list of `item` objects. (DRF's `Item(many=True, allow_null=True)` would pass `allow_null` on
    to the items too, letting `[null]` through.)"""
    return serializers.ListSerializer(child=item, **kwargs)


def read_input(payload: Any, input_class: type[LagoInput]) -> dict[str, Any]:
    """The body checked against `input_class`, as plain dicts and lists. Absent keys stay absent, so
    that an update changes only what it was sent."""
    serializer = input_class(data=payload)
    if isinstance(payload, dict):
        errors: dict[str, list[str]] = {}
        _refuse_undeclared(payload, serializer, errors)
        if errors:
            raise ValidationFailed(errors)
    # A payload that is not an object is the serializer's to refuse (`base: value_is_invalid`).
    serializer.is_valid(raise_exception=True)
    return _plain(serializer.validated_data)


def unsupported_keys(payload: dict, allowed, defaults: Mapping[str, Any] | None = None) -> dict[str, list[str]]:
    """The error details for the keys of `payload` that are neither allowed nor sent with their
    default. A misspelled or unsupported field must never look like a successful change."""
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
    return errors


def reject_unsupported(payload: dict, allowed, defaults: Mapping[str, Any] | None = None) -> None:
    """`unsupported_keys` as an error, for the hand-written readers of the hot paths."""
    errors = unsupported_keys(payload, allowed, defaults)
    if errors:
        raise ValidationFailed(errors)


def _refuse_undeclared(payload: dict, serializer: serializers.Serializer, errors: dict[str, list[str]]) -> None:
    fields = serializer.fields
    errors.update(unsupported_keys(payload, fields, getattr(serializer, "unsupported", None)))
    for key, value in payload.items():
        field = fields.get(key)
        if isinstance(field, serializers.ListSerializer) and isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    _refuse_undeclared(item, field.child, errors)
        elif isinstance(field, serializers.Serializer) and isinstance(value, dict):
            _refuse_undeclared(value, field, errors)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


# Fields: a JSON type each, documented as such in the schema ----------------------------------


class Integer(serializers.IntegerField):
    """A JSON integer, never text or a float: amounts in minor units are exact, and a client that
    sends "10" or 10.5 has a bug worth hearing about. Ranges are the service's."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return data


class Number(serializers.FloatField):
    """A JSON number (published as one): an int stays an int, a fraction becomes an exact Decimal of
    the digits sent, never a float. Whether it must be whole, and its range, are the service's."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        if isinstance(data, float):
            if not math.isfinite(data):
                self.fail("invalid")
            return Decimal(repr(data))
        return data


class Choice(serializers.ChoiceField):
    """Text the schema lists the values of. Whether it is one of them is the service's rule, which
    answers `value_is_invalid` for any other, here as in the staff pages."""

    default_error_messages = {"invalid": "Not a valid string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return data


EARLIEST_DATETIME = datetime(1000, 1, 1, tzinfo=UTC)


class DateTime(serializers.DateTimeField):
    """An ISO-8601 date and time (a date alone is its midnight), read as UTC when it names no offset.
    Lago's code for any other text is `invalid_date`."""

    default_error_messages = {"invalid_date": "Not an ISO-8601 date and time."}

    def to_internal_value(self, data):
        try:
            parsed = parse_datetime(data) if isinstance(data, str) else None
        except ValueError:  # well formed, but not a date (month 13...)
            parsed = None
        if parsed is None:
            self.fail("invalid_date")
        if timezone.is_naive(parsed):
            parsed = parsed.replace(tzinfo=UTC)
        # No billing date lies before year 1000, and the API's output (strftime's %Y, unpadded) could
        # not write one back as RFC 3339.
        if parsed < EARLIEST_DATETIME:
            self.fail("invalid_date")
        return parsed
