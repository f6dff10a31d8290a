"""Charge models: validate a charge's ``properties`` and turn aggregated units into money.

Pure functions, no database. The rules and error codes follow Lago's v1 API (its
``Charges::Validators::*`` and ``ChargeModels::*`` services) so a Lago client gets the
same answers; the few places where we refuse input Lago would accept and then misprice
or crash on are marked "Differs from Lago".

Prices in ``properties`` are decimal strings in major units ("0.5" is fifty cents a
unit). All math runs in ``Decimal`` and the total is rounded once, half up, to the
currency's minor unit (``billing.money.to_minor_units``).
"""

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext

from billing.money import canonical_decimal, parse_decimal, to_minor_units

CHARGE_MODELS = ("standard", "graduated", "package", "percentage", "volume")

# Properties Lago uses when a charge is created with blank properties
# (ChargeModels::BuildDefaultPropertiesService): a free charge of the chosen model.
_FREE_RANGE = {"from_value": 0, "to_value": None, "per_unit_amount": "0", "flat_amount": "0"}
_DEFAULT_PROPERTIES: dict[str, dict] = {
    "standard": {"amount": "0"},
    "graduated": {"graduated_ranges": [_FREE_RANGE]},
    "package": {"package_size": 1, "amount": "0", "free_units": 0},
    "percentage": {"rate": "0"},
    "volume": {"volume_ranges": [_FREE_RANGE]},
}

_PER_TRANSACTION = ("per_transaction_min_amount", "per_transaction_max_amount")

# Enough significant digits that no realistic price x units product is ever rounded
# before the single rounding to minor units (the default context keeps only 28).
_PRICING_PRECISION = 100

Errors = dict[str, list[str]]


@dataclass(frozen=True)
class ChargeAmount:
    units: Decimal
    amount: Decimal  # major units, unrounded
    amount_cents: int  # minor units, rounded once, half up


# --------------------------------------------------------------------------- validation


def _add_error(errors: Errors, field: str, code: str) -> None:
    # One code per field is enough for a client to act on; ten bad ranges give one
    # "invalid_graduated_ranges", not ten.
    codes = errors.setdefault(field, [])
    if code not in codes:
        codes.append(code)


def _is_blank(value: object) -> bool:
    # Ruby's `blank?`, which Lago uses to decide whether to fall back to defaults.
    if isinstance(value, str):
        return not value.strip()
    return value is None or (isinstance(value, list | dict) and not value)


def _amount(value: object) -> str | None:
    """Canonical string of a Lago decimal amount (string, >= 0), or None if invalid.

    Lago's DecimalAmountService only takes strings: a JSON number such as 0.5 would have
    been parsed as a float on the way in, so it is refused rather than trusted.
    """
    if not isinstance(value, str):
        return None
    parsed = parse_decimal(value)
    if parsed is None or parsed < 0:
        return None
    return canonical_decimal(parsed)


def _is_int(value: object) -> bool:
    # JSON integers only: true/false and 5.0 are not integers in Lago (Ruby) either.
    return isinstance(value, int) and not isinstance(value, bool)


def _validate_group_keys(properties: dict, normalized: dict, errors: Errors) -> None:
    # `grouped_by` is the deprecated spelling; Lago moves it to `pricing_group_keys`
    # and drops empty strings before validating.
    keys = properties.get("pricing_group_keys")
    if _is_blank(keys):
        keys = properties.get("grouped_by")
    if _is_blank(keys):
        return
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        _add_error(errors, "pricing_group_keys", "invalid_type")
        return
    keys = [key for key in keys if key != ""]
    if not keys:
        return
    if any(not key.strip() for key in keys):
        _add_error(errors, "pricing_group_keys", "invalid_type")
        return
    normalized["pricing_group_keys"] = keys


def _validate_standard(properties: dict, normalized: dict, errors: Errors) -> None:
    amount = _amount(properties.get("amount"))
    if amount is None:
        _add_error(errors, "amount", "invalid_amount")
    else:
        normalized["amount"] = amount


def _validate_package(properties: dict, normalized: dict, errors: Errors) -> None:
    _validate_standard(properties, normalized, errors)
    # Lago requires free_units to be sent (0 for none); the defaults carry 0.
    free_units = properties.get("free_units")
    if _is_int(free_units) and free_units >= 0:
        normalized["free_units"] = free_units
    else:
        _add_error(errors, "free_units", "invalid_free_units")
    package_size = properties.get("package_size")
    if _is_int(package_size) and package_size > 0:
        normalized["package_size"] = package_size
    else:
        _add_error(errors, "package_size", "invalid_package_size")


def _validate_percentage(properties: dict, normalized: dict, errors: Errors) -> None:
    rate = _amount(properties.get("rate"))
    if rate is None:
        _add_error(errors, "rate", "invalid_rate")
    else:
        normalized["rate"] = rate

    if properties.get("fixed_amount") is not None:
        fixed_amount = _amount(properties["fixed_amount"])
        if fixed_amount is None:
            _add_error(errors, "fixed_amount", "invalid_fixed_amount")
        else:
            normalized["fixed_amount"] = fixed_amount

    free_events = properties.get("free_units_per_events")
    if free_events is not None:
        if _is_int(free_events) and free_events > 0:
            normalized["free_units_per_events"] = free_events
        else:
            _add_error(errors, "free_units_per_events", "invalid_free_units_per_events")

    if properties.get("free_units_per_total_aggregation") is not None:
        free_total = _amount(properties["free_units_per_total_aggregation"])
        if free_total is None:
            _add_error(errors, "free_units_per_total_aggregation", "invalid_free_units_per_total_aggregation")
        else:
            normalized["free_units_per_total_aggregation"] = free_total

    # Lago reserves the per-transaction bounds to premium licences; we have no licence
    # tiers, so they are always available. A blank value ("" or null) means "no bound".
    for field in _PER_TRANSACTION:
        if _is_blank(properties.get(field)):
            continue
        bound = _amount(properties[field])
        if bound is None:
            _add_error(errors, field, "invalid_amount")
        else:
            normalized[field] = bound
    low, high = normalized.get("per_transaction_min_amount"), normalized.get("per_transaction_max_amount")
    if low is not None and high is not None and Decimal(low) > Decimal(high):
        _add_error(errors, "per_transaction_max_amount", "per_transaction_max_lower_than_per_transaction_min")


def _validate_ranges(properties: dict, normalized: dict, errors: Errors, *, field: str, allow_adjacent: bool) -> None:
    """Shared checks of graduated and volume ranges.

    Amounts are checked per range (``per_unit_amount``/``flat_amount`` -> invalid_amount)
    and bounds as a whole ladder (``<field>`` -> invalid_<field>): the first range starts
    at 0 (or 1), every range but the last has ``to_value > from_value``, the last one is
    open (``to_value`` null), and each range starts one unit after the previous one ends.
    """
    ranges = properties.get(field)
    if _is_blank(ranges):
        _add_error(errors, field, f"missing_{field}")
        return
    invalid_bounds = f"invalid_{field}"
    if not isinstance(ranges, list):
        _add_error(errors, field, invalid_bounds)
        return

    clean: list[dict] = []
    steps: set[int] = set()
    for index, item in enumerate(ranges):
        if not isinstance(item, dict):
            _add_error(errors, field, invalid_bounds)
            continue
        per_unit_amount = _amount(item.get("per_unit_amount"))
        if per_unit_amount is None:
            _add_error(errors, "per_unit_amount", "invalid_amount")
        flat_amount = _amount(item.get("flat_amount"))
        if flat_amount is None:
            _add_error(errors, "flat_amount", "invalid_amount")

        # Bounds are unit counts: JSON integers. Lago also compares other numbers, but a
        # string bound makes its next-range arithmetic raise, and fractional ones are
        # never produced by its UI; integers only keeps every ladder priceable.
        from_value, to_value = item.get("from_value"), item.get("to_value")
        is_last = index == len(ranges) - 1
        if not _is_int(from_value) or from_value < 0:
            _add_error(errors, field, invalid_bounds)
            continue
        if is_last:
            bounds_ok = to_value is None
        else:
            bounds_ok = _is_int(to_value) and to_value > from_value
        if not bounds_ok:
            _add_error(errors, field, invalid_bounds)
            continue
        if clean:
            previous_to = clean[-1]["to_value"]
            steps.add(from_value - previous_to)
        elif from_value not in (0, 1):
            _add_error(errors, field, invalid_bounds)
        clean.append(
            {
                "from_value": from_value,
                "to_value": to_value,
                "per_unit_amount": per_unit_amount,
                "flat_amount": flat_amount,
            }
        )

    # Lago's documented rule is "next from_value = previous to_value + 1". Its graduated
    # ranges may also be adjacent (next from_value = previous to_value, units then
    # counted half-open), so graduated takes either style; volume only the documented one.
    # Differs from Lago: a ladder must use one style throughout (Lago accepts a mix and
    # then counts a unit twice), volume refuses the one-unit gap Lago's validator lets
    # through (units in the gap match no range), and an adjacent ladder must start at 0
    # (from 1, Lago would leave the first unit unpriced).
    allowed_styles = [{1}, {0}] if allow_adjacent else [{1}]
    if steps and steps not in allowed_styles:
        _add_error(errors, field, invalid_bounds)
    if steps == {0} and clean and clean[0]["from_value"] != 0:
        _add_error(errors, field, invalid_bounds)
    if field not in errors and "per_unit_amount" not in errors and "flat_amount" not in errors:
        normalized[field] = clean


def validate_properties(charge_model: str, properties: object) -> tuple[dict, Errors]:
    """Check a charge's ``properties`` the way Lago does and normalize them.

    Returns ``(normalized, errors)``. ``errors`` maps a field to Lago error codes, e.g.
    ``{"amount": ["invalid_amount"]}``; when it is empty, ``normalized`` holds only the
    keys the model uses, with decimals as canonical strings ("1.50" -> "1.5"). Blank
    properties (null or {}) take Lago's defaults for the model, a free charge.
    """
    if charge_model not in CHARGE_MODELS:
        return {}, {"charge_model": ["value_is_invalid"]}
    if _is_blank(properties):
        properties = _DEFAULT_PROPERTIES[charge_model]
    if not isinstance(properties, dict):
        # Lago answers a 500 here (it calls hash methods on the value); we answer 422.
        return {}, {"properties": ["value_is_invalid"]}

    normalized: dict = {}
    errors: Errors = {}
    if charge_model == "standard":
        _validate_standard(properties, normalized, errors)
    elif charge_model == "package":
        _validate_package(properties, normalized, errors)
    elif charge_model == "percentage":
        _validate_percentage(properties, normalized, errors)
    elif charge_model == "graduated":
        _validate_ranges(properties, normalized, errors, field="graduated_ranges", allow_adjacent=True)
    else:
        _validate_ranges(properties, normalized, errors, field="volume_ranges", allow_adjacent=False)
    _validate_group_keys(properties, normalized, errors)
    return normalized, errors


# ------------------------------------------------------------------------------ pricing


def _present(properties: dict, key: str) -> bool:
    return not _is_blank(properties.get(key))


def needs_event_units(charge_model: str, properties: dict) -> bool:
    """Whether ``price`` needs the per-event values, not just the total, for this charge.

    Only percentage does, when free units are counted in events
    (``free_units_per_events``), when a fixed fee per event stops at the free amount
    (``free_units_per_total_aggregation`` with a non-zero ``fixed_amount``: the events
    covered by the free amount pay no fee), or when per-transaction bounds clamp each
    event's fee.
    """
    if charge_model != "percentage":
        return False
    if any(_present(properties, key) for key in ("free_units_per_events", *_PER_TRANSACTION)):
        return True
    # A zero free amount or a zero fee means nothing to split between events.
    free_total = parse_decimal(properties.get("free_units_per_total_aggregation"))
    fixed_amount = parse_decimal(properties.get("fixed_amount"))
    return bool(free_total) and bool(fixed_amount)


def price(
    *,
    charge_model: str,
    properties: dict,
    units: Decimal,
    currency: str,
    events_count: int = 0,
    event_units: Sequence[Decimal] | None = None,
) -> ChargeAmount:
    """Price ``units`` of usage with a charge model; the amount is rounded once at the end.

    ``events_count`` is the number of events behind ``units`` (percentage's fixed fee is
    per event). ``event_units`` is each event's value in timestamp order, required when
    ``needs_event_units`` says so; ``events_count`` defaults to its length.

    Raises ValueError for invalid properties, an unknown currency or missing event units,
    and TypeError for a float (or other non-decimal) number of units.
    """
    units = _as_decimal(units, "units")
    normalized, errors = validate_properties(charge_model, properties)
    if errors:
        raise ValueError(f"invalid {charge_model} properties: {errors}")
    if event_units is not None:
        event_units = [_as_decimal(value, "event_units") for value in event_units]
        if events_count == 0:
            events_count = len(event_units)
        elif events_count != len(event_units):
            raise ValueError("events_count does not match the number of event_units")
    if needs_event_units(charge_model, normalized) and event_units is None:
        raise ValueError(f"{charge_model} with these properties needs event_units")

    with localcontext() as ctx:
        ctx.prec = _PRICING_PRECISION
        if charge_model == "standard":
            amount = units * Decimal(normalized["amount"])
        elif charge_model == "graduated":
            amount = _graduated(normalized["graduated_ranges"], units)
        elif charge_model == "package":
            amount = _package(normalized, units)
        elif charge_model == "volume":
            amount = _volume(normalized["volume_ranges"], units)
        else:
            amount = _percentage(normalized, units, events_count, event_units)
    return ChargeAmount(units=units, amount=amount, amount_cents=to_minor_units(amount, currency))


def _as_decimal(value: object, name: str) -> Decimal:
    # Units come from aggregation queries as Decimal (or int); a float here is a bug upstream.
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}")
    parsed = parse_decimal(value)
    if parsed is None:
        raise ValueError(f"{name} must be a finite Decimal of a sane magnitude, got {value!r}")
    return parsed


def _graduated(ranges: list[dict], units: Decimal) -> Decimal:
    """Each tier prices the units that fall in it, plus its flat amount once entered.

    Stepped ladders (0-10, 11-20, ...) count a tier from its from_value inclusive, so
    11-20 holds 10 units; adjacent ladders (0-10, 10-20, ...) count half-open. Either
    way a tier starting at 0 holds to_value units.
    """
    if units <= 0:
        # A negative total (a sum metric netting out) buys no tier. Differs from Lago,
        # which would price the negative units in the first tier and add its flat fee.
        return Decimal(0)
    adjacent = len(ranges) > 1 and all(b["from_value"] == a["to_value"] for a, b in itertools.pairwise(ranges))
    total = Decimal(0)
    for tier in ranges:
        from_value, to_value = tier["from_value"], tier["to_value"]
        top = units if to_value is None else min(units, Decimal(to_value))
        if from_value == 0:
            tier_units = top
        else:
            tier_units = top - from_value + (0 if adjacent else 1)
        if tier_units > 0:
            total += tier_units * Decimal(tier["per_unit_amount"]) + Decimal(tier["flat_amount"])
        if to_value is None or to_value >= units:
            break
    return total


def _package(properties: dict, units: Decimal) -> Decimal:
    # A started package is a whole package: 201 paid units in packages of 100 is 3.
    paid_units = units - properties["free_units"]
    if paid_units <= 0:
        return Decimal(0)
    packages = math.ceil(paid_units / properties["package_size"])
    return packages * Decimal(properties["amount"])


def _volume(ranges: list[dict], units: Decimal) -> Decimal:
    """All units at the price of the one tier the total falls in, plus that tier's flat."""
    if units <= 0:
        # Lago finds no tier for a negative total and fails; nothing to charge.
        return Decimal(0)
    # A fractional total between two stepped tiers (10.5 with 0-10, 11-...) belongs to
    # the upper one, hence the ceiling on the lower bound test (as Lago does).
    whole_units = math.ceil(units)
    for tier in ranges:
        to_value = tier["to_value"]
        if tier["from_value"] <= whole_units and (to_value is None or units <= to_value):
            return units * Decimal(tier["per_unit_amount"]) + Decimal(tier["flat_amount"])
    raise ValueError("no volume range matches the units")  # unreachable once validated


def _percentage(properties: dict, units: Decimal, events_count: int, event_units: list[Decimal] | None) -> Decimal:
    rate = Decimal(properties["rate"])
    fixed_amount = Decimal(properties.get("fixed_amount", "0"))
    free_events = properties.get("free_units_per_events")
    free_total = parse_decimal(properties.get("free_units_per_total_aggregation"))
    if not free_total:
        free_total = None  # "0" means no free amount, as in Lago
    low = parse_decimal(properties.get("per_transaction_min_amount"))
    high = parse_decimal(properties.get("per_transaction_max_amount"))

    if low is not None or high is not None:
        assert event_units is not None  # checked by price()
        return _percentage_per_transaction(event_units, rate, fixed_amount, free_events, free_total, low, high)

    # Free units: the first `free_events` events, or the free amount, whichever is used
    # up first; with neither, nothing is free.
    if free_events is not None:
        assert event_units is not None  # checked by price()
        free_units = sum(event_units[:free_events], Decimal(0))
        if free_total is not None:
            free_units = min(free_units, free_total)
    elif free_total is not None:
        free_units = min(units, free_total)
    else:
        free_units = Decimal(0)
    percentage_amount = Decimal(0) if free_units > units else (units - free_units) * rate / 100

    # The fixed fee is per paying event. An event is free of it while it is among the
    # first `free_events` and the running total, including it, stays under the free
    # amount (strictly: the event that exactly uses up the free amount pays the fee).
    if units == 0 or not fixed_amount:
        return percentage_amount
    free_event_count = 0
    if free_events is not None or free_total is not None:
        candidates = event_units if event_units is not None else []
        if free_events is not None:
            candidates = candidates[:free_events]
        if free_total is None:
            free_event_count = min(free_events or 0, events_count)
        else:
            running = Decimal(0)
            for value in candidates:
                running += value
                if running >= free_total:
                    break
                free_event_count += 1
    paying_events = max(events_count - free_event_count, 0)
    return percentage_amount + paying_events * fixed_amount


def _percentage_per_transaction(
    event_units: list[Decimal],
    rate: Decimal,
    fixed_amount: Decimal,
    free_events: int | None,
    free_total: Decimal | None,
    low: Decimal | None,
    high: Decimal | None,
) -> Decimal:
    """Fee event by event, each clamped to [low, high]; fully free events pay nothing.

    The free allowance lasts while both limits that are set hold: fewer than
    `free_events` events made free, and some free amount left. An event bigger than the
    free amount left pays on the rest, with its fixed fee and clamp. Differs from Lago
    when both limits are set: Lago keeps events free until *both* run out here, which
    contradicts its own docs ("the first 3 events or $500 are free") and its total-based
    path; we stop at whichever runs out first, as that path does.
    """
    remaining_events = free_events
    remaining_amount = free_total
    total = Decimal(0)
    for value in event_units:
        allowance = (free_events is not None or free_total is not None) and (
            (remaining_events is None or remaining_events > 0) and (remaining_amount is None or remaining_amount > 0)
        )
        if allowance:
            if remaining_events is not None:
                remaining_events -= 1
            if remaining_amount is None:
                continue
            if remaining_amount > value:
                remaining_amount -= value
                continue
            value -= remaining_amount
            remaining_amount = Decimal(0)
        fee = value * rate / 100 + fixed_amount
        if low is not None and fee < low:
            fee = low
        elif high is not None and fee > high:
            fee = high
        total += fee
    return total
