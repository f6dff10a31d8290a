"""A charge's pricing in words, for the plan page: tiers as rows and amounts with the plan's currency
("0 – 100 units: 0.10 USD per unit, 1.00 USD flat") instead of its `properties` JSON."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from billing.currencies import is_currency, minor_unit_digits
from billing.money import parse_decimal
from plans.charge_editor import CHARGE_MODEL_HELP, CHARGE_MODEL_LABELS, RANGES_KEYS


@dataclass(frozen=True)
class TierLine:
    units: str  # "0 – 100 units", "101 units and above"
    per_unit: str  # "0.10 USD per unit"
    flat: str  # "1.00 USD flat"

    def __str__(self) -> str:
        return f"{self.units}: {self.per_unit}, {self.flat}"


@dataclass(frozen=True)
class Pricing:
    label: str  # the charge model's name
    help: str  # how the model prices
    tiers: list[TierLine] = field(default_factory=list)
    terms: list[tuple[str, str]] = field(default_factory=list)  # (term, value) rows


def format_price(value: object, currency: str) -> str:
    """An amount of `properties` (a decimal string in major units) with its currency, with at least
    the currency's minor digits and every digit it has: "0.1" USD -> "0.10 USD", "0.0015" -> "0.0015 USD"."""
    number = parse_decimal(value)
    if number is None:
        return "—" if value is None else f"{value} {currency}"
    digits = minor_unit_digits(currency) if is_currency(currency) else 0
    digits = max(digits, -number.normalize().as_tuple().exponent)
    return f"{number:,.{digits}f} {currency}"


def _number(value: object) -> str:
    """A count or a decimal without trailing zeros, with thousands separators ("1000" -> "1,000")."""
    number = parse_decimal(value)
    if number is None:
        return str(value)
    number = number.normalize()
    digits = max(0, -number.as_tuple().exponent)
    return f"{number:,.{digits}f}"


def _units(low: object, high: object) -> str:
    if high is None:
        return f"{_number(low)} units and above"
    return f"{_number(low)} – {_number(high)} units"


def _is_set(value: object) -> bool:
    return value is not None and value != ""


def describe_pricing(*, charge_model: str, properties: object, currency: str) -> Pricing:
    """What a charge costs, for a person: the rows of a table."""
    if not isinstance(properties, Mapping):
        properties = {}
    pricing = Pricing(
        label=CHARGE_MODEL_LABELS.get(charge_model, charge_model), help=CHARGE_MODEL_HELP.get(charge_model, "")
    )
    if charge_model in RANGES_KEYS:
        ranges = properties.get(RANGES_KEYS[charge_model])
        for item in ranges if isinstance(ranges, list) else []:
            if isinstance(item, Mapping):
                pricing.tiers.append(
                    TierLine(
                        units=_units(item.get("from_value"), item.get("to_value")),
                        per_unit=f"{format_price(item.get('per_unit_amount'), currency)} per unit",
                        flat=f"{format_price(item.get('flat_amount'), currency)} flat",
                    )
                )
    elif charge_model == "standard":
        pricing.terms.append(("Price", f"{format_price(properties.get('amount'), currency)} per unit"))
    elif charge_model == "package":
        size = properties.get("package_size")
        per = "1 unit" if size == 1 else f"{_number(size)} units"
        pricing.terms.append(("Price", f"{format_price(properties.get('amount'), currency)} per package of {per}"))
        free_units = properties.get("free_units")
        pricing.terms.append(("Free units", f"{_number(free_units)} per period" if free_units else "None"))
    elif charge_model == "percentage":
        _percentage_terms(pricing, properties, currency)
    keys = properties.get("pricing_group_keys")
    if isinstance(keys, list) and keys:
        pricing.terms.append(("Pricing group keys", ", ".join(map(str, keys))))
    return pricing


def _percentage_terms(pricing: Pricing, properties: Mapping, currency: str) -> None:
    pricing.terms.append(("Rate", f"{_number(properties.get('rate'))}% of the amount"))
    fixed_amount = parse_decimal(properties.get("fixed_amount"))
    if fixed_amount:
        pricing.terms.append(("Fixed fee", f"{format_price(properties['fixed_amount'], currency)} per transaction"))
    free_events = properties.get("free_units_per_events")
    if _is_set(free_events):
        pricing.terms.append(("Free transactions", f"The first {_number(free_events)} of each period"))
    # "0" means no free amount (charge_models: as in Lago).
    free_total = parse_decimal(properties.get("free_units_per_total_aggregation"))
    if free_total is not None and free_total != Decimal(0):
        pricing.terms.append(("Free amount", f"{_number(free_total)} per period"))
    for key, label in (
        ("per_transaction_min_amount", "Minimum per transaction"),
        ("per_transaction_max_amount", "Maximum per transaction"),
    ):
        if _is_set(properties.get(key)):
            pricing.terms.append((label, format_price(properties[key], currency)))
