"""The Usage tab's bar chart: its geometry keeps the peak's label clear of the bars."""

from datetime import date, timedelta
from itertools import pairwise

from invoicing.charts import LEFT_MARGIN, WIDTH, daily_bar_chart


def days(values: list[int]) -> list[tuple[date, int]]:
    return [(date(2026, 1, 1) + timedelta(days=index), value) for index, value in enumerate(values)]


def test_the_peak_label_has_room_of_its_own_left_of_the_first_bar():
    chart = daily_bar_chart(days([900, 10, 300]))
    assert chart.maximum == 900
    first = chart.bars[0]
    assert first.x >= LEFT_MARGIN  # the label is drawn at the top left, in the margin
    assert first.y < 10  # the first bar is the peak: full height, up to where the label sits


def test_the_bars_fill_the_plot_right_of_the_margin_without_overlapping():
    chart = daily_bar_chart(days([1] * 31))
    assert all(left.x + left.width < right.x for left, right in pairwise(chart.bars))
    last = chart.bars[-1]
    assert last.x + last.width <= WIDTH
    assert all(LEFT_MARGIN <= x <= WIDTH for x, _ in chart.labels)


def test_no_events_draws_empty_bars():
    chart = daily_bar_chart(days([0, 0]))
    assert chart.maximum == 0 and all(bar.height == 0 for bar in chart.bars)
