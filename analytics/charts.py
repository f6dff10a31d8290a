"""The dashboard's charts, drawn as SVG geometry by our own code (no script, no chart library): bars
per month over a value axis with round steps, and horizontal bars per billable metric.

Amounts stay integer minor units; only the pixel geometry derived from them is a float.
"""

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from billing.money import from_minor_units

# Month chart, about as wide as a card on a laptop so that text is drawn near its own size: room on
# the left for the value axis' labels (and the currency above them), at the bottom for the months
# (and their year, under the first month and each January).
WIDTH = 960
MONTH_CHART_HEIGHT = 240
LEFT_MARGIN = 72
RIGHT_MARGIN = 8
TOP_MARGIN = 24
BOTTOM_MARGIN = 36
MAX_TICKS = 4
# Metric chart: one row per metric, its name above its bar, the amount after the bar.
METRIC_WIDTH = 600
METRIC_ROW_HEIGHT = 38
METRIC_BAR_HEIGHT = 14
METRIC_VALUE_ROOM = 130


def money_text(amount_cents: int, currency: str) -> str:
    """12345, "EUR" -> "123.45 EUR", as the `money` template filter writes it."""
    return f"{from_minor_units(amount_cents, currency):,} {currency}"


def axis_text(amount_cents: int, currency: str) -> str:
    """An axis label in major units without the currency: 150000 EUR -> "1,500", 50 EUR -> "0.5"."""
    amount = from_minor_units(amount_cents, currency)
    if amount == amount.to_integral_value():
        return f"{int(amount):,}"
    return f"{amount.normalize():,}"


def axis_step(maximum: int, ticks: int = MAX_TICKS) -> int:
    """A round step, 1, 2 or 5 times a power of ten minor units, such that `ticks` steps reach
    `maximum`: labels then read 250, 500, 750… rather than 311.17, 622.34…"""
    if maximum <= 0:
        return 1
    needed = -(-maximum // ticks)  # ceiling
    power = 10 ** (len(str(needed)) - 1)
    return next(factor * power for factor in (1, 2, 5, 10) if factor * power >= needed)


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class MonthBar:
    x: float
    y: float
    width: float
    height: float
    center: float
    month: date
    label: str  # "Jan"
    year: str  # "2026" under the first month and each January, else ""
    amount_cents: int
    text: str  # "1,234.56 EUR"
    figure: str  # "1,234.56", for a table whose caption names the currency


@dataclass(frozen=True)
class MonthChart:
    width: int
    height: int
    left: int
    right: int
    top: int
    baseline: int
    middle: tuple[float, float]  # the plot's centre, where an empty chart says so
    currency: str
    ticks: list[Tick]
    bars: list[MonthBar]
    peak: MonthBar | None
    total_cents: int


def monthly_bar_chart(points: list[tuple[date, int]], currency: str) -> MonthChart:
    """One bar per month (oldest first), on a value axis from 0 to a round top."""
    baseline = MONTH_CHART_HEIGHT - BOTTOM_MARGIN
    plot_height = baseline - TOP_MARGIN
    right = WIDTH - RIGHT_MARGIN
    # Nothing in this data can be negative (a refund never exceeds its invoice); drawn at 0 if it were.
    maximum = max((max(amount, 0) for _, amount in points), default=0)
    step = axis_step(maximum)
    top = step * -(-maximum // step) if maximum else 0
    ticks = [
        Tick(y=round(baseline - (value / top * plot_height if top else 0), 2), label=axis_text(value, currency))
        for value in range(0, top + 1, step)
    ]
    slot = (right - LEFT_MARGIN) / max(len(points), 1)
    bars = []
    for index, (month, amount) in enumerate(points):
        height = max(amount, 0) / top * plot_height if top else 0
        bars.append(
            MonthBar(
                x=round(LEFT_MARGIN + index * slot + slot * 0.2, 2),
                y=round(baseline - height, 2),
                width=round(slot * 0.6, 2),
                height=round(height, 2),
                center=round(LEFT_MARGIN + index * slot + slot / 2, 2),
                month=month,
                label=f"{month:%b}",
                year=f"{month:%Y}" if index == 0 or month.month == 1 else "",
                amount_cents=amount,
                text=money_text(amount, currency),
                figure=f"{from_minor_units(amount, currency):,}",
            )
        )
    peak = max(bars, key=lambda bar: bar.amount_cents) if maximum else None
    return MonthChart(
        width=WIDTH,
        height=MONTH_CHART_HEIGHT,
        left=LEFT_MARGIN,
        right=right,
        top=TOP_MARGIN,
        baseline=baseline,
        middle=((LEFT_MARGIN + right) / 2, (TOP_MARGIN + baseline) / 2),
        currency=currency,
        ticks=ticks,
        bars=bars,
        peak=peak,
        total_cents=sum(amount for _, amount in points),
    )


@dataclass(frozen=True)
class MetricBar:
    name_y: float
    y: float
    width: float
    value_x: float
    name: str
    code: str | None
    amount_cents: int
    text: str


@dataclass(frozen=True)
class MetricChart:
    width: int
    height: int
    bar_height: int
    currency: str
    bars: list[MetricBar]
    total_cents: int


def metric_bar_chart(metrics: list[tuple[str, str | None, int]], currency: str) -> MetricChart:
    """One horizontal bar per (name, code, amount), in the order given, scaled to the largest."""
    maximum = max((max(amount, 0) for _, _, amount in metrics), default=0)
    plot_width = METRIC_WIDTH - METRIC_VALUE_ROOM
    bars = []
    for index, (name, code, amount) in enumerate(metrics):
        top = index * METRIC_ROW_HEIGHT
        # A metric that brought in something keeps a visible sliver, however small next to the largest.
        width = max(amount, 0) / maximum * plot_width if maximum else 0
        width = max(width, 2) if amount > 0 else 0
        bars.append(
            MetricBar(
                name_y=top + 12,
                y=top + 18,
                width=round(width, 2),
                value_x=round(width + 6, 2),
                name=name,
                code=code,
                amount_cents=amount,
                text=money_text(amount, currency),
            )
        )
    return MetricChart(
        width=METRIC_WIDTH,
        height=max(len(metrics), 1) * METRIC_ROW_HEIGHT,
        bar_height=METRIC_BAR_HEIGHT,
        currency=currency,
        bars=bars,
        total_cents=sum(amount for _, _, amount in metrics),
    )


def share_text(part: int, whole: int) -> str:
    """A share as a whole percentage for a caption ("42%"), exact arithmetic, half up."""
    if whole <= 0:
        return "0%"
    percent = (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return f"{percent}%"
