"""Template filters for exact numbers that are not money: credits, rates, percentages."""

from decimal import Decimal, localcontext

from django import template

register = template.Library()


@register.filter
def number(value: Decimal | int | None) -> str:
    """Decimal("1250.50000") -> "1,250.5": the stored scale's trailing zeros say nothing to staff."""
    if value is None:
        return "—"
    value = Decimal(value)
    if value.is_zero():
        return "0"
    with localcontext() as ctx:
        ctx.prec = 60  # wider than any stored column (30 digits for credits), so nothing rounds
        return format(value.normalize(), ",f")
