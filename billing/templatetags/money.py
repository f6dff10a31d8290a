"""Template filters for money: integer minor units shown in their currency."""

from django import template

from billing.money import from_minor_units

register = template.Library()


@register.filter
def money(amount_cents: int | None, currency: str | None) -> str:
    """12345, "EUR" -> "123.45 EUR"; 1000, "JPY" -> "1,000 JPY"."""
    if amount_cents is None or not currency:
        return "—"
    amount = from_minor_units(int(amount_cents), currency)
    return f"{amount:,} {currency}"
