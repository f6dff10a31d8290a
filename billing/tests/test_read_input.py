"""The API's one input convention (billing/api/input.py): what `read_input` refuses, with which Lago
code, and what it leaves to the services."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from rest_framework import exceptions, serializers

from billing.api.errors import lago_exception_handler
from billing.api.input import Choice, DateTime, Integer, LagoInput, Number, many, read_input
from billing.errors import ValidationFailed


class LineInput(LagoInput):
    unsupported = {"taxes": []}

    id = serializers.CharField(required=False, allow_null=True)
    amount_cents = Integer(required=False, allow_null=True)


class OptionsInput(LagoInput):
    colour = serializers.CharField(required=False)


class OrderInput(LagoInput):
    unsupported = {"offset_amount_cents": 0, "metadata": {}}

    reference = serializers.CharField()  # the one key a view would need to find a row
    kind = Choice(choices=["one", "two"], required=False, allow_null=True)
    quantity = Number(required=False, allow_null=True)
    at = DateTime(required=False, allow_null=True)
    lines = many(LineInput(), required=False, allow_null=True)
    options = OptionsInput(required=False)


def lago_body(exc: Exception) -> dict:
    """What the API would answer for `exc`."""
    return lago_exception_handler(exc, {}).data


def refused(payload) -> dict:
    with pytest.raises((ValidationFailed, exceptions.ValidationError)) as exc:
        read_input(payload, OrderInput)
    body = lago_body(exc.value)
    assert (body["status"], body["code"]) == (422, "validation_errors")
    return body["error_details"]


def test_the_declared_fields_come_back_as_plain_data_and_absent_keys_stay_absent():
    data = read_input({"reference": "r1", "lines": [{"amount_cents": 5}], "options": {"colour": "red"}}, OrderInput)
    assert data == {"reference": "r1", "lines": [{"amount_cents": 5}], "options": {"colour": "red"}}
    assert type(data) is dict and type(data["lines"][0]) is dict and type(data["options"]) is dict


def test_undeclared_keys_are_refused_at_every_level():
    assert refused({"reference": "r1", "colour": "red"}) == {"colour": ["unknown_field"]}
    assert refused({"reference": "r1", "lines": [{"amount_cents": 1, "fee": "x"}]}) == {"fee": ["unknown_field"]}
    assert refused({"reference": "r1", "options": {"size": "L"}}) == {"size": ["unknown_field"]}


def test_options_we_dont_offer_pass_only_with_their_neutral_value():
    payload = {"reference": "r1", "offset_amount_cents": 0, "metadata": None, "lines": [{"taxes": []}]}
    assert read_input(payload, OrderInput) == {"reference": "r1", "lines": [{}]}
    assert refused({"reference": "r1", "offset_amount_cents": 5}) == {"offset_amount_cents": ["not_supported"]}
    assert refused({"reference": "r1", "lines": [{"taxes": [{"code": "vat"}]}]}) == {"taxes": ["not_supported"]}


def test_undeclared_keys_are_answered_alone_before_the_types():
    assert refused({"colour": "red", "quantity": "many"}) == {"colour": ["unknown_field"]}


def test_the_fields_check_json_types_with_lagos_codes():
    assert refused({"reference": "r1", "quantity": "1", "kind": 2, "lines": [{"amount_cents": 10.5}]}) == {
        "quantity": ["value_is_invalid"],
        "kind": ["value_is_invalid"],
        "amount_cents": ["value_is_invalid"],
    }
    assert refused({"reference": "r1", "lines": "all"}) == {"lines": ["value_is_invalid"]}
    assert refused({"reference": "r1", "lines": [None]}) == {"lines": ["value_is_mandatory"]}
    assert refused({"reference": "nul\x00inside"}) == {"reference": ["value_is_invalid"]}


@pytest.mark.parametrize("value", ["10", 10.0, 10.5, True, None])
def test_an_integer_is_a_json_integer(value):
    lines = [{"amount_cents": value}]
    if value is None:
        assert read_input({"reference": "r1", "lines": lines}, OrderInput)["lines"] == lines
    else:
        assert refused({"reference": "r1", "lines": lines}) == {"amount_cents": ["value_is_invalid"]}


def test_a_number_stays_as_sent():
    assert read_input({"reference": "r1", "quantity": 2}, OrderInput)["quantity"] == 2
    assert read_input({"reference": "r1", "quantity": 1.5}, OrderInput)["quantity"] == 1.5
    assert refused({"reference": "r1", "quantity": False}) == {"quantity": ["value_is_invalid"]}


def test_rules_are_left_to_the_services():
    # Not one of the listed values, negative, empty: all the service's to refuse, with its codes.
    data = read_input({"reference": "r1", "kind": "three", "lines": [{"amount_cents": -5}], "at": None}, OrderInput)
    assert data == {"reference": "r1", "kind": "three", "lines": [{"amount_cents": -5}], "at": None}


def test_the_id_a_view_needs_must_be_there():
    assert refused({"kind": "one"}) == {"reference": ["value_is_mandatory"]}
    assert refused({"reference": ""}) == {"reference": ["value_is_mandatory"]}


def test_dates_are_iso_8601_and_utc_unless_they_say_otherwise():
    assert read_input({"reference": "r1", "at": "2026-03-01T10:00:00"}, OrderInput)["at"] == datetime(
        2026, 3, 1, 10, tzinfo=UTC
    )
    paris = read_input({"reference": "r1", "at": "2026-03-01T10:00:00+01:00"}, OrderInput)["at"]
    assert paris == datetime(2026, 3, 1, 10, tzinfo=timezone(timedelta(hours=1)))
    assert read_input({"reference": "r1", "at": "2026-03-01"}, OrderInput)["at"] == datetime(2026, 3, 1, tzinfo=UTC)
    for bad in ("next week", "2026-13-01T00:00:00Z", "01/03/2026", 1767225600):
        assert refused({"reference": "r1", "at": bad}) == {"at": ["invalid_date"]}


@pytest.mark.parametrize("payload", [["reference"], "r1", 3])
def test_a_body_that_is_not_an_object_is_refused(payload):
    assert refused(payload) == {"base": ["value_is_invalid"]}
