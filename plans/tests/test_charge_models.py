"""Charge models and money rounding, from worked examples (the arithmetic is in the comments).

Pure functions: no database, no Django needed.
"""

from decimal import Decimal

import pytest

from billing.money import canonical_decimal, from_minor_units, parse_decimal, to_minor_units
from plans.charge_models import CHARGE_MODELS, ChargeAmount, needs_event_units, price, validate_properties

D = Decimal


def cents(charge_model, properties, units, currency="EUR", **kwargs) -> int:
    return price(
        charge_model=charge_model, properties=properties, units=D(units), currency=currency, **kwargs
    ).amount_cents


# ---------------------------------------------------------------------------- money


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("10.50", "EUR", 1050),
        ("0.005", "EUR", 1),  # a half cent rounds up
        ("0.0049", "EUR", 0),
        ("-0.005", "EUR", -1),  # half up = away from zero, as Ruby's ROUND_HALF_UP
        ("4.5", "JPY", 5),  # yen have no minor unit
        ("4.49", "JPY", 4),
        ("1.2345", "KWD", 1235),  # fils are thousandths
        ("0.0005", "KWD", 1),
        ("123456789012345678901234567890.125", "USD", 12345678901234567890123456789013),
    ],
)
def test_to_minor_units_rounds_half_up_to_the_currency_minor_unit(amount, currency, expected):
    assert to_minor_units(D(amount), currency) == expected


def test_to_minor_units_refuses_floats_and_unknown_currencies():
    with pytest.raises(TypeError):
        to_minor_units(0.1, "EUR")
    with pytest.raises(ValueError):
        to_minor_units(D("1"), "XXX")
    with pytest.raises(ValueError):
        to_minor_units(D("NaN"), "EUR")


def test_from_minor_units_is_exact_in_major_units():
    assert from_minor_units(1050, "EUR") == D("10.50")
    assert from_minor_units(1235, "KWD") == D("1.235")
    assert from_minor_units(5, "JPY") == D("5")
    assert from_minor_units(-1, "EUR") == D("-0.01")
    with pytest.raises(TypeError):
        from_minor_units(True, "EUR")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0.5", D("0.5")), (" 12 ", D("12")), ("1e3", D("1000")), ("-3", D("-3")), (".5", D("0.5")), (7, D(7))],
)
def test_parse_decimal_accepts_decimal_strings_and_ints(value, expected):
    assert parse_decimal(value) == expected


@pytest.mark.parametrize(
    "value", [0.5, True, False, None, "NaN", "Infinity", "-inf", "", "abc", "1,5", "1_000", "0x10", [], "1e999999"]
)
def test_parse_decimal_refuses_floats_bools_nan_infinity_and_garbage(value):
    assert parse_decimal(value) is None


def test_canonical_decimal_drops_insignificant_zeros_and_exponents():
    assert canonical_decimal(D("1.50")) == "1.5"
    assert canonical_decimal(D("1E+3")) == "1000"
    assert canonical_decimal(D("-0.000")) == "0"
    assert canonical_decimal(D("0.0000001")) == "0.0000001"


# ------------------------------------------------------------------------- standard


def test_standard_is_units_times_amount():
    # 10 units x 0.5 = 5.00 EUR
    result = price(charge_model="standard", properties={"amount": "0.5"}, units=D(10), currency="EUR")
    assert result == ChargeAmount(units=D(10), amount=D("5.0"), amount_cents=500)


def test_standard_with_fractional_units_rounds_half_up_once():
    # 2.5 x 0.01 = 0.025 -> 0.03
    assert cents("standard", {"amount": "0.01"}, "2.5") == 3
    # 1 x 0.005 = 0.005 -> 0.01
    assert cents("standard", {"amount": "0.005"}, "1") == 1
    # 3 x 0.333 = 0.999 -> 1.00: rounding the unit price first would give 0.99
    assert cents("standard", {"amount": "0.333"}, "3") == 100


def test_standard_keeps_the_unrounded_amount():
    result = price(charge_model="standard", properties={"amount": "0.333"}, units=D(3), currency="EUR")
    assert result.amount == D("0.999")


def test_standard_rounds_to_whole_yen():
    # 3 x 1.5 = 4.5 JPY -> 5; 1 x 0.49 = 0.49 JPY -> 0
    assert cents("standard", {"amount": "1.5"}, "3", currency="JPY") == 5
    assert cents("standard", {"amount": "0.49"}, "1", currency="JPY") == 0


def test_standard_rounds_to_thousandths_in_kwd():
    # 1 x 1.2345 = 1.2345 KWD -> 1.235 = 1235 fils; 7 x 0.0001 = 0.0007 -> 0.001
    assert cents("standard", {"amount": "1.2345"}, "1", currency="KWD") == 1235
    assert cents("standard", {"amount": "0.0001"}, "7", currency="KWD") == 1


def test_standard_with_zero_units_is_free():
    assert cents("standard", {"amount": "3"}, "0") == 0


def test_price_refuses_float_units():
    with pytest.raises(TypeError):
        price(charge_model="standard", properties={"amount": "1"}, units=0.1, currency="EUR")


def test_price_refuses_invalid_properties():
    with pytest.raises(ValueError):
        price(charge_model="standard", properties={"amount": 1}, units=D(1), currency="EUR")


# ------------------------------------------------------------------------ graduated

STEPPED = {
    "graduated_ranges": [
        {"from_value": 0, "to_value": 10, "per_unit_amount": "1", "flat_amount": "2"},
        {"from_value": 11, "to_value": 20, "per_unit_amount": "0.5", "flat_amount": "3"},
        {"from_value": 21, "to_value": None, "per_unit_amount": "0.1", "flat_amount": "0"},
    ]
}
ADJACENT = {
    "graduated_ranges": [
        {"from_value": 0, "to_value": 10, "per_unit_amount": "1", "flat_amount": "2"},
        {"from_value": 10, "to_value": 20, "per_unit_amount": "0.5", "flat_amount": "3"},
        {"from_value": 20, "to_value": None, "per_unit_amount": "0.1", "flat_amount": "0"},
    ]
}


@pytest.mark.parametrize(
    ("units", "expected_cents"),
    [
        ("0", 0),  # no tier entered: not even the first flat amount
        ("5", 700),  # 5 x 1 + 2
        ("10", 1200),  # boundary: 10 x 1 + 2, second tier not entered
        ("11", 1550),  # 12 + (1 x 0.5 + 3)
        ("10.5", 1525),  # 12 + (0.5 x 0.5 + 3)
        ("20", 2000),  # 12 + (10 x 0.5 + 3)
        ("21", 2010),  # 20 + 1 x 0.1 (the open tier has no flat amount)
        ("25", 2050),  # 20 + 5 x 0.1
    ],
)
def test_graduated_prices_each_tier_and_adds_its_flat_amount_once_entered(units, expected_cents):
    assert cents("graduated", STEPPED, units) == expected_cents


@pytest.mark.parametrize(
    ("units", "expected_cents"),
    [
        ("10", 1200),  # 10 x 1 + 2
        ("15", 1750),  # 12 + (5 x 0.5 + 3): the tier 10-20 counts from 10 exclusive
        ("20", 2000),  # 12 + (10 x 0.5 + 3)
        ("30", 2100),  # 20 + 10 x 0.1
    ],
)
def test_graduated_adjacent_ranges_count_tiers_half_open(units, expected_cents):
    assert cents("graduated", ADJACENT, units) == expected_cents


def test_graduated_flat_amount_of_the_open_last_tier_is_charged_once_entered():
    props = {
        "graduated_ranges": [
            {"from_value": 0, "to_value": 1, "per_unit_amount": "0", "flat_amount": "0"},
            {"from_value": 2, "to_value": None, "per_unit_amount": "1", "flat_amount": "100"},
        ]
    }
    # 1 unit stays in the free tier; 3 units: 1 free + (2 x 1 + 100)
    assert cents("graduated", props, "1") == 0
    assert cents("graduated", props, "3") == 10200


def test_graduated_ladder_starting_at_one_counts_from_one():
    props = {
        "graduated_ranges": [
            {"from_value": 1, "to_value": 10, "per_unit_amount": "1", "flat_amount": "0"},
            {"from_value": 11, "to_value": None, "per_unit_amount": "2", "flat_amount": "0"},
        ]
    }
    # 12 units: 10 x 1 + 2 x 2 = 14
    assert cents("graduated", props, "12") == 1400


def test_graduated_negative_units_are_free():
    assert cents("graduated", STEPPED, "-5") == 0


# -------------------------------------------------------------------------- package

PACKAGE = {"amount": "5", "package_size": 100, "free_units": 100}


@pytest.mark.parametrize(
    ("units", "expected_cents"),
    [
        ("0", 0),
        ("100", 0),  # all free
        ("100.5", 500),  # half a paid unit starts a package
        ("101", 500),
        ("200", 500),
        ("201", 1000),  # Lago's doc example: 0 (free 100) + 5 + 5
        ("300", 1000),
        ("301", 1500),
    ],
)
def test_package_charges_every_started_package_after_free_units(units, expected_cents):
    assert cents("package", PACKAGE, units) == expected_cents


def test_package_without_free_units_rounds_packages_up():
    # 25 units / 10 per package = 2.5 -> 3 packages x 1
    assert cents("package", {"amount": "1", "package_size": 10, "free_units": 0}, "25") == 300


# ----------------------------------------------------------------------- percentage

EVENTS = [D(100), D(50), D(30), D(20)]  # 4 events, 200 units


def test_percentage_applies_the_rate_to_units():
    # 1.5% of 1000 = 15
    assert cents("percentage", {"rate": "1.5"}, "1000") == 1500


def test_percentage_adds_the_fixed_amount_per_event():
    # 2.5% of 200 = 5, + 4 events x 0.1 = 5.4
    assert cents("percentage", {"rate": "2.5", "fixed_amount": "0.1"}, "200", events_count=4) == 540


def test_percentage_with_zero_units_charges_no_fixed_fee():
    assert cents("percentage", {"rate": "2.5", "fixed_amount": "1"}, "0", events_count=3) == 0


def test_percentage_free_units_per_events_frees_the_first_events():
    props = {"rate": "10", "fixed_amount": "1", "free_units_per_events": 2}
    # free units = 100 + 50 = 150; 10% of (200 - 150) = 5; fixed fee on 4 - 2 events = 2 -> 7
    assert cents("percentage", props, "200", event_units=EVENTS) == 700


def test_percentage_free_units_per_total_aggregation_needs_no_events_without_fixed_fee():
    props = {"rate": "10", "free_units_per_total_aggregation": "120"}
    assert not needs_event_units("percentage", props)
    # 10% of (200 - 120) = 8
    assert cents("percentage", props, "200", events_count=4) == 800


def test_percentage_free_total_above_units_makes_everything_free():
    props = {"rate": "10", "fixed_amount": "1", "free_units_per_total_aggregation": "1000"}
    # running totals 100, 200 both under 1000: both events free of the fixed fee
    assert cents("percentage", props, "200", event_units=[D(100), D(100)]) == 0


def test_percentage_free_total_frees_the_fixed_fee_of_events_under_it():
    props = {"rate": "10", "fixed_amount": "1", "free_units_per_total_aggregation": "120"}
    assert needs_event_units("percentage", props)
    # 10% of (200 - 120) = 8; running totals 100 (< 120, free), 150 (not): 3 paying events -> 11
    assert cents("percentage", props, "200", event_units=EVENTS) == 1100


def test_percentage_event_that_exactly_uses_the_free_total_pays_the_fixed_fee():
    props = {"rate": "10", "fixed_amount": "1", "free_units_per_total_aggregation": "150"}
    # 10% of (200 - 150) = 5; running totals 100 (free), 150 (= limit: pays), 200: 2 paying -> 7
    assert cents("percentage", props, "200", event_units=[D(100), D(50), D(50)]) == 700


def test_percentage_free_events_and_free_total_stop_at_whichever_runs_out_first():
    # The free amount runs out first: min(100 + 50 + 30, 120) = 120 free -> 10% of 80 = 8;
    # fixed fee: only the first event stays under 120 -> 3 paying -> 11
    props = {"rate": "10", "fixed_amount": "1", "free_units_per_events": 3, "free_units_per_total_aggregation": "120"}
    assert cents("percentage", props, "200", event_units=EVENTS) == 1100
    # The free events run out first: min(100, 500) = 100 free -> 10% of 100 = 10; 1 free event -> 3 paying -> 13
    props = {"rate": "10", "fixed_amount": "1", "free_units_per_events": 1, "free_units_per_total_aggregation": "500"}
    assert cents("percentage", props, "200", event_units=EVENTS) == 1300


def test_percentage_per_transaction_min_and_max_clamp_each_event():
    props = {
        "rate": "1",
        "fixed_amount": "0.5",
        "per_transaction_min_amount": "1.75",
        "per_transaction_max_amount": "3.75",
    }
    # 10 -> 0.1 + 0.5 = 0.6 -> 1.75; 100 -> 1.5 -> 1.75; 500 -> 5.5 -> 3.75; 200 -> 2.5 stays
    # 1.75 + 1.75 + 3.75 + 2.5 = 9.75
    assert cents("percentage", props, "810", event_units=[D(10), D(100), D(500), D(200)]) == 975


def test_percentage_per_transaction_min_alone():
    props = {"rate": "1", "per_transaction_min_amount": "1"}
    # 50 -> 0.5 -> 1; 300 -> 3 -> 3
    assert cents("percentage", props, "350", event_units=[D(50), D(300)]) == 400


def test_percentage_per_transaction_bounds_skip_free_events():
    props = {"rate": "1", "free_units_per_events": 1, "per_transaction_min_amount": "1"}
    # first event free (no min applied); second 0.1 -> 1
    assert cents("percentage", props, "20", event_units=[D(10), D(10)]) == 100


def test_percentage_per_transaction_bounds_apply_to_the_rest_of_a_partly_free_event():
    props = {"rate": "10", "free_units_per_total_aggregation": "15", "per_transaction_min_amount": "1"}
    # 10: free (5 left); 10: 5 free, 10% of 5 = 0.5 -> 1; 10: 1 -> 1. Total 2
    assert cents("percentage", props, "30", event_units=[D(10), D(10), D(10)]) == 200


def test_percentage_per_transaction_free_allowance_ends_when_first_limit_runs_out():
    props = {
        "rate": "10",
        "free_units_per_events": 1,
        "free_units_per_total_aggregation": "100",
        "per_transaction_max_amount": "1000",
    }
    # first event free; the one free event is used up, so 10 and 10 pay 1 each = 2
    assert cents("percentage", props, "30", event_units=[D(10), D(10), D(10)]) == 200


def test_percentage_needs_event_units_when_counting_free_events_or_clamping():
    assert needs_event_units("percentage", {"rate": "1", "free_units_per_events": 2})
    assert needs_event_units("percentage", {"rate": "1", "per_transaction_max_amount": "2"})
    assert not needs_event_units("percentage", {"rate": "1", "fixed_amount": "1"})
    assert not needs_event_units("percentage", {"rate": "1", "per_transaction_max_amount": ""})
    assert not needs_event_units("standard", {"amount": "1"})
    with pytest.raises(ValueError):
        price(
            charge_model="percentage",
            properties={"rate": "1", "free_units_per_events": 2},
            units=D(10),
            currency="EUR",
            events_count=2,
        )


def test_percentage_events_count_defaults_to_event_units_and_must_match_them():
    props = {"rate": "0", "fixed_amount": "1", "free_units_per_events": 1}
    # 3 events, 1 free -> 2 x 1
    assert cents("percentage", props, "3", event_units=[D(1), D(1), D(1)]) == 200
    with pytest.raises(ValueError):
        cents("percentage", props, "3", events_count=5, event_units=[D(1), D(1), D(1)])


# --------------------------------------------------------------------------- volume

VOLUME = {
    "volume_ranges": [
        {"from_value": 0, "to_value": 100, "per_unit_amount": "2", "flat_amount": "1"},
        {"from_value": 101, "to_value": 200, "per_unit_amount": "1", "flat_amount": "5"},
        {"from_value": 201, "to_value": None, "per_unit_amount": "0.5", "flat_amount": "0"},
    ]
}


@pytest.mark.parametrize(
    ("units", "expected_cents"),
    [
        ("0", 0),  # no tier, no flat amount
        ("50", 10100),  # 50 x 2 + 1
        ("100", 20100),  # boundary stays in the first tier: 100 x 2 + 1
        ("100.5", 10550),  # between tiers belongs to the upper one: 100.5 x 1 + 5
        ("101", 10600),  # 101 x 1 + 5
        ("200", 20500),  # 200 x 1 + 5
        ("250", 12500),  # 250 x 0.5, all units at the last tier's price
        ("-3", 0),
    ],
)
def test_volume_prices_all_units_at_the_tier_of_the_total(units, expected_cents):
    assert cents("volume", VOLUME, units) == expected_cents


# ----------------------------------------------------------------------- validation


def test_unknown_charge_model_is_invalid():
    assert validate_properties("graduated_percentage", {}) == ({}, {"charge_model": ["value_is_invalid"]})
    assert validate_properties("nope", {"amount": "1"})[1] == {"charge_model": ["value_is_invalid"]}
    assert CHARGE_MODELS == ("standard", "graduated", "package", "percentage", "volume")


def test_properties_that_are_not_an_object_are_invalid():
    assert validate_properties("standard", ["1"])[1] == {"properties": ["value_is_invalid"]}


@pytest.mark.parametrize("charge_model", CHARGE_MODELS)
def test_blank_properties_take_lago_defaults_a_free_charge(charge_model):
    for blank in (None, {}):
        normalized, errors = validate_properties(charge_model, blank)
        assert errors == {}
        assert cents(charge_model, normalized, "10", events_count=1) == 0


def test_standard_normalizes_amount_and_drops_unknown_keys():
    normalized, errors = validate_properties("standard", {"amount": "1.50", "rate": "3", "grouped_by": ["region"]})
    assert errors == {}
    assert normalized == {"amount": "1.5", "pricing_group_keys": ["region"]}


@pytest.mark.parametrize("amount", [None, "", "-1", "abc", "NaN", "Infinity", 0.5, 1, True, ["1"]])
def test_standard_amount_must_be_a_non_negative_decimal_string(amount):
    properties = {} if amount is None else {"amount": amount}
    properties["pricing_group_keys"] = ["region"]  # keeps the properties non-blank
    assert validate_properties("standard", properties)[1] == {"amount": ["invalid_amount"]}


def test_pricing_group_keys_must_be_a_list_of_strings():
    assert validate_properties("standard", {"amount": "1", "pricing_group_keys": "region"})[1] == {
        "pricing_group_keys": ["invalid_type"]
    }
    assert validate_properties("standard", {"amount": "1", "pricing_group_keys": [1]})[1] == {
        "pricing_group_keys": ["invalid_type"]
    }
    # empty strings are dropped, as Lago does before validating
    assert validate_properties("standard", {"amount": "1", "pricing_group_keys": ["", "a"]}) == (
        {"amount": "1", "pricing_group_keys": ["a"]},
        {},
    )


def _ladder(field, *bounds, per_unit="1", flat="0"):
    return {
        field: [
            {"from_value": low, "to_value": high, "per_unit_amount": per_unit, "flat_amount": flat}
            for low, high in bounds
        ]
    }


def test_graduated_valid_ladders_normalize():
    normalized, errors = validate_properties("graduated", _ladder("graduated_ranges", (0, 10), (11, None), flat="1.0"))
    assert errors == {}
    assert normalized["graduated_ranges"][1] == {
        "from_value": 11,
        "to_value": None,
        "per_unit_amount": "1",
        "flat_amount": "1",
    }
    assert validate_properties("graduated", _ladder("graduated_ranges", (0, 10), (10, None)))[1] == {}
    assert validate_properties("graduated", _ladder("graduated_ranges", (1, 10), (11, None)))[1] == {}


def test_graduated_ranges_are_required():
    assert validate_properties("graduated", {"graduated_ranges": []})[1] == {
        "graduated_ranges": ["missing_graduated_ranges"]
    }
    assert validate_properties("graduated", {"pricing_group_keys": ["a"]})[1] == {
        "graduated_ranges": ["missing_graduated_ranges"]
    }


@pytest.mark.parametrize(
    "bounds",
    [
        [(2, 10), (11, None)],  # does not start at 0 (or 1)
        [(0, 10), (12, None)],  # gap
        [(0, 10), (9, None)],  # overlap
        [(0, 10), (11, 20)],  # last range not open
        [(0, None), (11, None)],  # open range before the last
        [(0, 10), (11, 11), (12, None)],  # to_value must exceed from_value
        [(0, 10), (10, 20), (21, None)],  # mixes adjacent and stepped
        [(1, 10), (10, None)],  # adjacent ladder not starting at 0
        [("0", 10), (11, None)],  # bounds are JSON integers
        [(0, 10.0), (11, None)],
        [(0, True), (11, None)],
    ],
)
def test_graduated_bad_ranges_are_invalid(bounds):
    assert validate_properties("graduated", _ladder("graduated_ranges", *bounds))[1] == {
        "graduated_ranges": ["invalid_graduated_ranges"]
    }


def test_graduated_range_amounts_must_be_decimal_strings():
    errors = validate_properties("graduated", _ladder("graduated_ranges", (0, None), per_unit=0.5, flat="-1"))[1]
    assert errors == {"per_unit_amount": ["invalid_amount"], "flat_amount": ["invalid_amount"]}
    ranges = {"graduated_ranges": [{"from_value": 0, "to_value": None, "per_unit_amount": "1"}]}
    assert validate_properties("graduated", ranges)[1] == {"flat_amount": ["invalid_amount"]}


def test_volume_ranges_validation():
    assert validate_properties("volume", _ladder("volume_ranges", (0, 100), (101, None)))[1] == {}
    assert validate_properties("volume", {"volume_ranges": None, "pricing_group_keys": ["a"]})[1] == {
        "volume_ranges": ["missing_volume_ranges"]
    }
    invalid = {"volume_ranges": ["invalid_volume_ranges"]}
    assert validate_properties("volume", _ladder("volume_ranges", (0, 100), (100, None)))[1] == invalid  # adjacent
    assert validate_properties("volume", _ladder("volume_ranges", (0, 100), (102, None)))[1] == invalid  # gap
    assert validate_properties("volume", _ladder("volume_ranges", (0, 100)))[1] == invalid  # not open
    assert validate_properties("volume", {"volume_ranges": "0-100"})[1] == invalid
    assert validate_properties("volume", _ladder("volume_ranges", (0, None), flat=None))[1] == {
        "flat_amount": ["invalid_amount"]
    }


def test_package_valid_properties_normalize():
    assert validate_properties("package", {"amount": "10.00", "package_size": 1000, "free_units": 0}) == (
        {"amount": "10", "package_size": 1000, "free_units": 0},
        {},
    )


@pytest.mark.parametrize(
    ("properties", "errors"),
    [
        ({"amount": "10", "package_size": 0, "free_units": 0}, {"package_size": ["invalid_package_size"]}),
        ({"amount": "10", "package_size": -5, "free_units": 0}, {"package_size": ["invalid_package_size"]}),
        ({"amount": "10", "package_size": 10.0, "free_units": 0}, {"package_size": ["invalid_package_size"]}),
        ({"amount": "10", "free_units": 0}, {"package_size": ["invalid_package_size"]}),
        ({"amount": "10", "package_size": 10, "free_units": -1}, {"free_units": ["invalid_free_units"]}),
        ({"amount": "10", "package_size": 10}, {"free_units": ["invalid_free_units"]}),
        ({"amount": 10, "package_size": 10, "free_units": 0}, {"amount": ["invalid_amount"]}),
        (
            {"package_size": "10", "free_units": "0"},
            {
                "amount": ["invalid_amount"],
                "free_units": ["invalid_free_units"],
                "package_size": ["invalid_package_size"],
            },
        ),
    ],
)
def test_package_invalid_properties(properties, errors):
    assert validate_properties("package", properties)[1] == errors


def test_percentage_valid_properties_normalize():
    properties = {
        "rate": "1.50",
        "fixed_amount": "0.5",
        "free_units_per_events": 5,
        "free_units_per_total_aggregation": "500",
        "per_transaction_min_amount": "1.75",
        "per_transaction_max_amount": "",
        "amount": "3",
    }
    assert validate_properties("percentage", properties) == (
        {
            "rate": "1.5",
            "fixed_amount": "0.5",
            "free_units_per_events": 5,
            "free_units_per_total_aggregation": "500",
            "per_transaction_min_amount": "1.75",
        },
        {},
    )


@pytest.mark.parametrize(
    ("properties", "errors"),
    [
        ({"fixed_amount": "1"}, {"rate": ["invalid_rate"]}),
        ({"rate": 1.5}, {"rate": ["invalid_rate"]}),
        ({"rate": "-1"}, {"rate": ["invalid_rate"]}),
        ({"rate": "1", "fixed_amount": "-0.1"}, {"fixed_amount": ["invalid_fixed_amount"]}),
        ({"rate": "1", "fixed_amount": 1}, {"fixed_amount": ["invalid_fixed_amount"]}),
        ({"rate": "1", "free_units_per_events": 0}, {"free_units_per_events": ["invalid_free_units_per_events"]}),
        ({"rate": "1", "free_units_per_events": "5"}, {"free_units_per_events": ["invalid_free_units_per_events"]}),
        (
            {"rate": "1", "free_units_per_total_aggregation": 500},
            {"free_units_per_total_aggregation": ["invalid_free_units_per_total_aggregation"]},
        ),
        ({"rate": "1", "per_transaction_min_amount": "abc"}, {"per_transaction_min_amount": ["invalid_amount"]}),
        ({"rate": "1", "per_transaction_max_amount": 3}, {"per_transaction_max_amount": ["invalid_amount"]}),
        (
            {"rate": "1", "per_transaction_min_amount": "5", "per_transaction_max_amount": "2"},
            {"per_transaction_max_amount": ["per_transaction_max_lower_than_per_transaction_min"]},
        ),
    ],
)
def test_percentage_invalid_properties(properties, errors):
    assert validate_properties("percentage", properties)[1] == errors
