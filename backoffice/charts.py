"""Charts drawn on the server as SVG (no script, no CDN): the geometry of a bar chart of amounts per
day, which ``templates/backoffice/_bar_chart.html`` draws. The page that shows a chart also shows
its figures as a table, so nothing is only in the picture."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.utils.formats import date_format, number_format

from backoffice.templatetags.backoffice import money_text
from merchants.currencies import CURRENCIES

WIDTH = 640
HEIGHT = 200
LEFT = 64  # room for the amounts on the axis
RIGHT = 8
TOP = 10
BOTTOM = 24  # room for the dates


@dataclass(frozen=True, slots=True)
class Bar:
    x: str
    y: str
    width: str
    height: str
    label: str  # the day, as the page writes dates
    value_text: str
    highlight: bool


@dataclass(frozen=True, slots=True)
class AxisLabel:
    x: str
    y: str
    text: str


@dataclass(frozen=True, slots=True)
class BarChart:
    width: int
    height: int
    left: int
    right_edge: int
    baseline: str
    bars: tuple[Bar, ...]
    ticks: tuple[AxisLabel, ...]
    day_labels: tuple[AxisLabel, ...]
    maximum_text: str
    total_text: str


def _nice_step(maximum: int, ticks: int = 4, *, smallest: int = 1) -> int:
    """A step of 1, 2 or 5 × 10ⁿ minor units such that ``ticks`` steps cover ``maximum`` (at least
    ``smallest``: one major unit, so the axis never repeats a rounded amount)."""
    if maximum <= smallest * ticks:
        return smallest
    raw = -(-maximum // ticks)
    magnitude = 10 ** (len(str(raw)) - 1)
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= raw:
            return factor * magnitude
    return 10 * magnitude  # pragma: no cover (the loop always returns)


def _short_money(amount_minor: int, currency: str) -> str:
    """An axis amount in whole major units: ``1200000`` CNY → ``¥12,000``."""
    info = CURRENCIES.get(currency)
    exponent, symbol = (info.exponent, info.symbol) if info else (2, f"{currency} ")
    whole = Decimal(amount_minor).scaleb(-exponent).quantize(Decimal(1))
    return f"{symbol}{number_format(whole, decimal_pos=0, use_l10n=True, force_grouping=True)}"


def _f(value: float) -> str:
    return f"{value:.1f}"


def daily_bar_chart(
    points: Sequence[tuple[date, int]], *, currency: str, highlight: date | None = None
) -> BarChart:
    """Bars of an amount (minor units) per day, oldest on the left, on an axis of round amounts."""
    count = max(1, len(points))
    maximum = max((value for _, value in points), default=0)
    info = CURRENCIES.get(currency)
    step = _nice_step(maximum, smallest=10 ** (info.exponent if info else 2))
    top_value = step * 4
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    slot = plot_width / count
    gap = min(4.0, slot * 0.25)
    bars = []
    for index, (day, value) in enumerate(points):
        height = plot_height * value / top_value if top_value else 0
        if value > 0:
            height = max(height, 1.0)  # a small amount stays visible
        bars.append(
            Bar(
                x=_f(LEFT + index * slot + gap / 2),
                y=_f(TOP + plot_height - height),
                width=_f(slot - gap),
                height=_f(height),
                label=date_format(day, "DATE_FORMAT"),
                value_text=money_text(value, currency),
                highlight=day == highlight,
            )
        )
    ticks = tuple(
        AxisLabel(
            x=str(LEFT - 6),
            y=_f(TOP + plot_height - plot_height * k / 4),
            text=_short_money(step * k, currency),
        )
        for k in range(5)
    )
    # A date under the first bar, then every seventh, and the last.
    every = 7 if count > 10 else 1
    marks = sorted({*range(0, count, every), count - 1}) if points else []
    day_labels = tuple(
        AxisLabel(
            x=_f(LEFT + index * slot + slot / 2),
            y=str(HEIGHT - 6),
            text=date_format(points[index][0], "n/j"),
        )
        for index in marks
        if index == count - 1 or count - 1 - index >= every // 2
    )
    return BarChart(
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        right_edge=WIDTH - RIGHT,
        baseline=_f(TOP + plot_height),
        bars=tuple(bars),
        ticks=ticks,
        day_labels=day_labels,
        maximum_text=money_text(maximum, currency),
        total_text=money_text(sum(value for _, value in points), currency),
    )
