"""The dashboard's chart geometry: bars in proportion, a value axis with round steps, labels in the
currency's minor unit."""

from datetime import date

import pytest

from analytics.charts import (
    METRIC_VALUE_ROOM,
    METRIC_WIDTH,
    axis_step,
    axis_text,
    metric_bar_chart,
    money_text,
    monthly_bar_chart,
    share_text,
)

MONTHS = [date(2026, month, 1) for month in (1, 2, 3, 4)]


@pytest.mark.parametrize(
    "maximum, step",
    [(1, 1), (4, 1), (5, 2), (9, 5), (40000, 10000), (42000, 20000), (31117, 10000), (150001, 50000), (0, 1)],
)
def test_axis_step_is_round_and_reaches_the_maximum_in_four_steps(maximum, step):
    assert axis_step(maximum) == step
    assert step * 4 >= maximum


def test_month_bars_are_in_proportion_on_a_round_axis():
    chart = monthly_bar_chart(list(zip(MONTHS, [42000, 6000, 0, 21000], strict=True)), "EUR")
    assert [tick.label for tick in chart.ticks] == ["0", "200", "400", "600"]
    plot = chart.baseline - chart.top
    assert [bar.height for bar in chart.bars] == [round(amount / 60000 * plot, 2) for amount in (42000, 6000, 0, 21000)]
    # Bars stand on the baseline, one per slot, left to right.
    assert all(bar.y + bar.height == pytest.approx(chart.baseline) for bar in chart.bars)
    assert [bar.x for bar in chart.bars] == sorted(bar.x for bar in chart.bars)
    assert chart.left <= chart.bars[0].x and chart.bars[-1].x + chart.bars[-1].width <= chart.right
    assert chart.peak.month == MONTHS[0] and chart.peak.text == "420.00 EUR"
    assert [bar.figure for bar in chart.bars] == ["420.00", "60.00", "0.00", "210.00"]
    assert chart.total_cents == 69000
    # Month names under the bars, the year under the first one and each January.
    assert [(bar.label, bar.year) for bar in chart.bars] == [("Jan", "2026"), ("Feb", ""), ("Mar", ""), ("Apr", "")]
    across_years = monthly_bar_chart([(date(2025, 12, 1), 1), (date(2026, 1, 1), 1)], "EUR")
    assert [(bar.label, bar.year) for bar in across_years.bars] == [("Dec", "2025"), ("Jan", "2026")]


def test_an_empty_month_chart_draws_a_flat_axis():
    chart = monthly_bar_chart([(month, 0) for month in MONTHS], "EUR")
    assert [tick.label for tick in chart.ticks] == ["0"]
    assert chart.peak is None and {bar.height for bar in chart.bars} == {0}


def test_labels_follow_the_currency():
    assert money_text(123456, "EUR") == "1,234.56 EUR"
    assert money_text(1000, "JPY") == "1,000 JPY"
    assert axis_text(150000, "EUR") == "1,500"
    assert axis_text(50, "EUR") == "0.5"
    assert axis_text(5000, "JPY") == "5,000"
    chart = monthly_bar_chart([(MONTHS[0], 3000)], "JPY")
    assert [tick.label for tick in chart.ticks] == ["0", "1,000", "2,000", "3,000"]


def test_metric_bars():
    chart = metric_bar_chart(
        [("API calls", "api_calls", 4000), ("Storage", "storage", 500), ("Idle", "idle", 0)], "EUR"
    )
    widths = [bar.width for bar in chart.bars]
    assert widths[0] == METRIC_WIDTH - METRIC_VALUE_ROOM
    assert widths[1] == round((METRIC_WIDTH - METRIC_VALUE_ROOM) / 8, 2)
    assert widths[2] == 0
    assert [bar.text for bar in chart.bars] == ["40.00 EUR", "5.00 EUR", "0.00 EUR"]
    assert chart.bars[1].y > chart.bars[0].y and chart.height >= chart.bars[-1].y + chart.bar_height


def test_a_tiny_metric_keeps_a_visible_bar():
    chart = metric_bar_chart([("Big", "big", 10**9), ("Tiny", "tiny", 1)], "EUR")
    assert chart.bars[1].width == 2


def test_share_text():
    assert share_text(4000, 4500) == "89%"
    assert share_text(1, 200) == "1%"  # half up
    assert share_text(0, 0) == "0%"
