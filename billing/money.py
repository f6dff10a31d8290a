"""Money helpers: decimal parsing and the one rounding step from major to minor units.

Money is stored as an integer number of minor units beside an ISO-4217 code
(DESIGN.md, "Money"). Pricing runs in ``Decimal`` on major units and is turned into
minor units exactly once, here, rounding half up. Floats never enter: a float cannot
hold 0.1 exactly, so a price typed as a float would already be wrong before any math.
"""

import re
from decimal import ROUND_HALF_UP, Decimal, localcontext

from billing.currencies import is_currency, minor_unit_digits

# Lago sends decimals as JSON strings ("0.5", "12", "1e-3"). Python's Decimal would also
# accept "NaN", "Infinity" and digit separators, so the accepted shape is spelled out.
_DECIMAL_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")

# A bound on the order of magnitude of a parsed number. Nothing real in billing comes
# near it, and without it an input like "1e999999999" would turn later arithmetic and
# int conversion into a denial of service instead of a validation error.
_MAX_MAGNITUDE = 40


def parse_decimal(value: object) -> Decimal | None:
    """Return ``value`` as a finite Decimal, or None when it is not an acceptable number.

    Accepts decimal strings (surrounding whitespace ignored, as Ruby's BigDecimal does),
    ints and Decimals. Refuses floats, booleans (an int subclass in Python, but never a
    number in JSON), NaN, infinities, empty strings and absurd magnitudes. The sign is
    not checked here: each caller decides whether a negative value makes sense.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        parsed = Decimal(value)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            return None
        parsed = value
    elif isinstance(value, str):
        text = value.strip()
        if not _DECIMAL_RE.fullmatch(text):
            return None
        parsed = Decimal(text)
    else:
        return None
    if not parsed.is_zero() and abs(parsed.adjusted()) > _MAX_MAGNITUDE:
        return None
    return parsed


def canonical_decimal(value: Decimal) -> str:
    """Plain-notation string of ``value`` without insignificant zeros ("1.50" -> "1.5")."""
    if value.is_zero():
        # Also folds "-0" and "0.000" into one spelling.
        return "0"
    return format(value.normalize(), "f")


def _digits(currency: str) -> int:
    if not is_currency(currency):
        raise ValueError(f"unknown currency {currency!r}")
    return minor_unit_digits(currency)


def to_minor_units(amount: Decimal, currency: str) -> int:
    """Round an amount in major units to the currency's minor unit, half up, as an int.

    "Half up" rounds a tie away from zero, as Ruby's BigDecimal::ROUND_HALF_UP does:
    0.005 EUR -> 1 cent, -0.005 EUR -> -1 cent.
    """
    if isinstance(amount, bool) or not isinstance(amount, Decimal | int):
        raise TypeError(f"amount must be a Decimal, not {type(amount).__name__}")
    amount = Decimal(amount)
    if not amount.is_finite():
        raise ValueError("amount must be finite")
    digits = _digits(currency)
    # quantize() refuses results wider than the context precision, so size it to the
    # number: every digit of the amount plus the minor-unit digits must fit.
    with localcontext() as ctx:
        ctx.prec = max(28, len(amount.as_tuple().digits) + max(amount.adjusted(), 0) + digits + 2)
        minor = amount.scaleb(digits).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(minor)


def from_minor_units(amount_cents: int, currency: str) -> Decimal:
    """Exact amount in major units for an integer number of minor units (1050 EUR -> 10.50)."""
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int):
        raise TypeError(f"amount_cents must be an int, not {type(amount_cents).__name__}")
    digits = _digits(currency)
    with localcontext() as ctx:
        ctx.prec = max(28, len(str(abs(amount_cents))) + digits + 2)
        return Decimal(amount_cents).scaleb(-digits)
