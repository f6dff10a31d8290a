"""The staff charge editor: one input per pricing term instead of a JSON document.

Turns the editor's inputs (text as typed) into a charge's ``properties``, the dict the API receives,
and a charge's properties back into inputs. Whether properties are valid stays the business of
``plans.charge_models.validate_properties``, which the plan service runs: this module only converts
text, and puts each refusal next to the input it is about. The rules report a bad ladder of tiers
once, for the whole ladder; to find the tier and the cell, this module asks the same function about
parts of the ladder, so that no rule is written twice.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from billing.staff_errors import sentence
from plans.charge_models import validate_properties

CHARGE_MODEL_LABELS = {
    "standard": "Standard",
    "graduated": "Graduated",
    "package": "Package",
    "percentage": "Percentage",
    "volume": "Volume",
}

CHARGE_MODEL_HELP = {
    "standard": "A price per unit.",
    "graduated": "Each tier prices the units that fall in it, plus its flat amount once reached.",
    "package": "A price per started package of units, after the free units.",
    "percentage": "A percentage of the aggregated amount, plus an optional fixed fee per transaction.",
    "volume": "All units at the price of the one tier the total falls in, plus that tier's flat amount.",
}

# The tiers table: one dict per row, cell name -> text as typed.
Tier = dict[str, str]
TIER_CELLS = ("from_value", "to_value", "per_unit_amount", "flat_amount")
TIER_CELL_LABELS = {
    "from_value": "From units",
    "to_value": "To units",
    "per_unit_amount": "Per unit amount",
    "flat_amount": "Flat amount",
}
RANGES_KEYS = {"graduated": "graduated_ranges", "volume": "volume_ranges"}

_OMITTED = object()  # an empty input leaves its key out of the properties


@dataclass(frozen=True)
class Term:
    """One input of the editor and the property it fills."""

    field: str  # the form field, named after the property unless two models share a key
    key: str  # the key in `properties`
    whole: bool = False  # a count of units or events: a JSON integer, not a decimal string
    blank: Any = ""  # what an empty input sends; "" and None are refused by the rules


TERMS: dict[str, tuple[Term, ...]] = {
    "standard": (Term("amount", "amount"),),
    "package": (
        Term("package_amount", "amount"),
        Term("package_size", "package_size", whole=True, blank=None),
        Term("free_units", "free_units", whole=True, blank=0),  # the API wants it sent, 0 for none
    ),
    "percentage": (
        Term("rate", "rate"),
        Term("fixed_amount", "fixed_amount", blank=_OMITTED),
        Term("free_units_per_events", "free_units_per_events", whole=True, blank=_OMITTED),
        Term("free_units_per_total_aggregation", "free_units_per_total_aggregation", blank=_OMITTED),
        Term("per_transaction_min_amount", "per_transaction_min_amount", blank=_OMITTED),
        Term("per_transaction_max_amount", "per_transaction_max_amount", blank=_OMITTED),
    ),
    "graduated": (),
    "volume": (),
}
GROUP_KEYS_FIELD = "pricing_group_keys"

# How the editor words a refusal: as an input to fill in, where the shared sentences
# (billing.staff_errors) speak of quoted JSON values. Anything else reads as they word it.
_WORDING = {
    ("amount", "invalid_amount"): "Enter a price of 0 or more, such as 0.5.",
    ("per_unit_amount", "invalid_amount"): "Enter an amount of 0 or more, such as 0.05.",
    ("flat_amount", "invalid_amount"): "Enter an amount of 0 or more, or leave empty for none.",
    ("per_transaction_min_amount", "invalid_amount"): "Enter an amount of 0 or more, or leave empty for no minimum.",
    ("per_transaction_max_amount", "invalid_amount"): "Enter an amount of 0 or more, or leave empty for no maximum.",
    ("rate", "invalid_rate"): "Enter a percentage of 0 or more, such as 1.5.",
    ("fixed_amount", "invalid_fixed_amount"): "Enter an amount of 0 or more, such as 0.2, or leave empty for none.",
    ("free_units", "invalid_free_units"): "Enter a whole number of units, 0 or more.",
    ("package_size", "invalid_package_size"): "Enter a whole number of units, 1 or more.",
    ("free_units_per_events", "invalid_free_units_per_events"): (
        "Enter a whole number of events, 1 or more, or leave empty for none."
    ),
    ("free_units_per_total_aggregation", "invalid_free_units_per_total_aggregation"): (
        "Enter an amount of 0 or more, such as 500, or leave empty for none."
    ),
    (GROUP_KEYS_FIELD, "invalid_type"): "Enter event property names separated by commas, such as region, country.",
    ("graduated_ranges", "missing_graduated_ranges"): "Add at least one tier.",
    ("volume_ranges", "missing_volume_ranges"): "Add at least one tier.",
}

_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")


def wording(key: str, code: str) -> str:
    return _WORDING.get((key, code)) or sentence(code, resource="plan", field=key)


# Inputs -> properties --------------------------------------------------------------------------


def _whole(text: str) -> int | str:
    """A count typed as text, as the JSON integer the API takes. Other text is passed on as it is,
    for the rules to refuse with the answer the API gives."""
    if _WHOLE_NUMBER.fullmatch(text):
        try:
            return int(text)
        except ValueError:  # more digits than Python converts
            pass
    return text


def filled_tiers(rows: object) -> list[Tier]:
    """The rows of a tiers table with their text stripped, without the rows left empty."""
    if not isinstance(rows, list | tuple):
        return []
    tiers = []
    for row in rows:
        if not isinstance(row, Mapping):
            continue
        tier = {cell: str(row.get(cell) or "").strip() for cell in TIER_CELLS}
        if any(tier.values()):
            tiers.append(tier)
    return tiers


def starting_tiers() -> list[Tier]:
    """The table a new charge starts with: one open tier from 0."""
    return [{"from_value": "0", "to_value": "", "per_unit_amount": "", "flat_amount": ""}]


def _range(tier: Tier) -> dict[str, Any]:
    return {
        "from_value": _whole(tier["from_value"]) if tier["from_value"] else None,
        "to_value": _whole(tier["to_value"]) if tier["to_value"] else None,  # empty: the open last tier
        "per_unit_amount": tier["per_unit_amount"],
        "flat_amount": tier["flat_amount"] or "0",  # no flat amount is a flat amount of 0
    }


def group_keys(text: object) -> list[str]:
    """The names typed, split at commas: "region, country" -> ["region", "country"]. The rules drop
    empty names."""
    if not isinstance(text, str) or not text.strip():
        return []
    return [name.strip() for name in text.split(",")]


def properties_from_fields(charge_model: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """The properties the editor's inputs of `charge_model` describe; the other models' inputs are
    not read (the page may post them all)."""
    properties: dict[str, Any] = {}
    if charge_model in RANGES_KEYS:
        properties[RANGES_KEYS[charge_model]] = [_range(tier) for tier in filled_tiers(values.get("tiers"))]
    for term in TERMS.get(charge_model, ()):
        text = str(values.get(term.field) or "").strip()
        if text:
            properties[term.key] = _whole(text) if term.whole else text
        elif term.blank is not _OMITTED:
            properties[term.key] = term.blank
    keys = group_keys(values.get(GROUP_KEYS_FIELD))
    if keys:
        properties["pricing_group_keys"] = keys
    return properties


# Properties -> inputs --------------------------------------------------------------------------


def _text(value: object) -> str:
    return "" if value is None else str(value)


def fields_from_properties(charge_model: str, properties: object) -> dict[str, Any]:
    """The editor's inputs filled from a saved charge (properties as the rules normalized them)."""
    if not isinstance(properties, Mapping):
        properties = {}
    values: dict[str, Any] = {term.field: _text(properties.get(term.key)) for term in TERMS.get(charge_model, ())}
    if charge_model in RANGES_KEYS:
        ranges = properties.get(RANGES_KEYS[charge_model])
        rows = [
            {cell: _text(item.get(cell)) for cell in TIER_CELLS}
            for item in (ranges if isinstance(ranges, list) else [])
            if isinstance(item, Mapping)
        ]
        values["tiers"] = rows or starting_tiers()
    keys = properties.get("pricing_group_keys") or properties.get("grouped_by")
    values[GROUP_KEYS_FIELD] = ", ".join(str(key) for key in keys) if isinstance(keys, list) else ""
    return values


# Refusals -> inputs ----------------------------------------------------------------------------


@dataclass
class Placement:
    """Where each refusal of the rules is shown."""

    fields: dict[str, list[str]] = field(default_factory=dict)  # form field -> sentences
    cells: dict[tuple[int, str], str] = field(default_factory=dict)  # (tier index, cell) -> sentence
    table: list[str] = field(default_factory=list)  # about the tiers as a whole
    elsewhere: list[str] = field(default_factory=list)  # about no input of the editor

    def __bool__(self) -> bool:
        return bool(self.fields or self.cells or self.table or self.elsewhere)


def place_errors(charge_model: str, properties: Mapping[str, Any], errors: Mapping[str, list[str]]) -> Placement:
    """Put each error of ``validate_properties(charge_model, properties)`` on the editor's inputs."""
    placement = Placement()
    field_of = {term.key: term.field for term in TERMS.get(charge_model, ())}
    field_of["pricing_group_keys"] = GROUP_KEYS_FIELD
    ranges_key = RANGES_KEYS.get(charge_model)
    tier_keys = {ranges_key, "per_unit_amount", "flat_amount"} if ranges_key else set()
    for key, codes in errors.items():
        if key in tier_keys:
            continue
        for code in codes:
            if key in field_of:
                placement.fields.setdefault(field_of[key], []).append(wording(key, code))
            else:
                placement.elsewhere.append(f"{key.replace('_', ' ').capitalize()}: {wording(key, code)}")
    if ranges_key and tier_keys & errors.keys():
        _place_tier_errors(charge_model, ranges_key, properties.get(ranges_key) or [], errors, placement)
    return placement


def _place_tier_errors(
    charge_model: str, ranges_key: str, ranges: Sequence[dict], errors: Mapping[str, list[str]], placement: Placement
) -> None:
    placed = False
    if not ranges:
        for code in errors.get(ranges_key, []):
            placement.table.append(wording(ranges_key, code))
        return
    # Amounts are checked tier by tier: ask about each tier alone, as an open ladder of one.
    for index, item in enumerate(ranges):
        alone = {**item, "from_value": 0, "to_value": None}
        _, tier_errors = validate_properties(charge_model, {ranges_key: [alone]})
        for cell in ("per_unit_amount", "flat_amount"):
            for code in tier_errors.get(cell, []):
                placement.cells[(index, cell)] = wording(cell, code)
                placed = True
    # Bounds are checked as a ladder: the first tier that breaks it is where to look.
    if ranges_key in errors:
        bounds = [(item["from_value"], item["to_value"]) for item in ranges]
        found = _first_bad_bound(charge_model, ranges_key, bounds)
        if found is not None:
            placement.cells[found] = _bound_sentence(charge_model, ranges_key, bounds, *found)
            placed = True
    if not placed:  # not expected: say it about the whole table rather than lose it
        for key in (ranges_key, "per_unit_amount", "flat_amount"):
            placement.table.extend(wording(key, code) for code in errors.get(key, []))


Bounds = list[tuple[Any, Any]]


def _ladder_is_valid(charge_model: str, ranges_key: str, bounds: Bounds) -> bool:
    ladder = [{"from_value": low, "to_value": high, "per_unit_amount": "0", "flat_amount": "0"} for low, high in bounds]
    _, errors = validate_properties(charge_model, {ranges_key: ladder})
    return not errors


def _is_whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _first_bad_bound(charge_model: str, ranges_key: str, bounds: Bounds) -> tuple[int, str] | None:
    """(index, cell) of the first bound the rules refuse. A tier's start is fine when the ladder up
    to it, with it left open, is valid; its end is fine when one more tier can follow it (it is the
    last tier: when the whole ladder is valid)."""
    for index, (low, high) in enumerate(bounds):
        before = bounds[:index]
        if not _ladder_is_valid(charge_model, ranges_key, [*before, (low, None)]):
            return index, "from_value"
        if index == len(bounds) - 1:
            if not _ladder_is_valid(charge_model, ranges_key, bounds):
                return index, "to_value"
        elif not (
            _is_whole(high)
            and any(
                _ladder_is_valid(charge_model, ranges_key, [*before, (low, high), (high + step, None)])
                for step in (1, 0)
            )
        ):
            return index, "to_value"
    return None


def _bound_sentence(charge_model: str, ranges_key: str, bounds: Bounds, index: int, cell: str) -> str:
    low, high = bounds[index]
    before = bounds[:index]
    if cell == "from_value":
        if not before:
            starts = [start for start in (0, 1) if _ladder_is_valid(charge_model, ranges_key, [(start, None)])]
            if starts:
                return f"Start the first tier at {' or '.join(map(str, starts))}."
        else:
            previous_end = before[-1][1]
            after, at = previous_end + 1, previous_end
            fits = {
                start: _ladder_is_valid(charge_model, ranges_key, [*before, (start, None)]) for start in (after, at)
            }
            if fits[after] and fits[at]:
                return f"Start at {after}, one unit after the previous tier ends, or at {at}, where it ends."
            if fits[after]:
                return f"Start at {after}, one unit after the previous tier ends."
            if fits[at]:
                return f"Start at {at}, where the previous tier ends."
    else:
        if index == len(bounds) - 1 and high is not None:
            return "Leave empty: the last tier has no upper limit."
        if high is None:
            return "Enter where this tier ends: only the last tier is open-ended."
        if not _is_whole(high):
            return "Enter a whole number of units."
        if _is_whole(low) and high <= low:
            return f"Enter a number above {low}."
    return wording(ranges_key, f"invalid_{ranges_key}")
