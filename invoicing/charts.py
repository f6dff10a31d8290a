"""A small bar chart of usage per day, drawn as SVG geometry by our own code (no script)."""

from dataclasses import dataclass
from datetime import date

WIDTH = 600
HEIGHT = 140
BOTTOM_MARGIN = 18
# Room on the left for the peak's label (drawn at the top left), so that it never sits on a bar.
LEFT_MARGIN = 44


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    day: date
    value: int


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    bars: list[Bar]
    maximum: int
    baseline: int
    labels: list[tuple[float, str]]


def daily_bar_chart(days: list[tuple[date, int]]) -> BarChart:
    plot_height = HEIGHT - BOTTOM_MARGIN
    maximum = max((value for _, value in days), default=0)
    slot = (WIDTH - LEFT_MARGIN) / max(len(days), 1)
    bars = []
    for index, (day, value) in enumerate(days):
        height = (value / maximum * (plot_height - 4)) if maximum else 0
        bars.append(
            Bar(
                x=round(LEFT_MARGIN + index * slot + slot * 0.15, 2),
                y=round(plot_height - height, 2),
                width=round(slot * 0.7, 2),
                height=round(height, 2),
                day=day,
                value=value,
            )
        )
    # A label on the first day and about every week, so that they never overlap.
    step = max(1, len(days) // 5)
    # Kept inside the drawing: the first and last labels would be cut in half at the edges.
    labels = [
        (min(max(round(LEFT_MARGIN + index * slot + slot / 2, 2), 18), WIDTH - 18), day.strftime("%b %-d"))
        for index, (day, _) in enumerate(days)
    ][::step]
    return BarChart(width=WIDTH, height=HEIGHT, bars=bars, maximum=maximum, baseline=plot_height, labels=labels)
