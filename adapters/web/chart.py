"""The overview's chart: spend and turns per day as inline SVG, drawn on the server.

No JavaScript and no inline ``style`` (the console's Content-Security-Policy forbids both): the
page's stylesheet styles the classes (``spend-line``, ``turns-bar``, ``axis``, ``grid``, ``legend``);
the presentation attributes set here (stroke, fill) are only defaults that any CSS rule overrides.
Spend is a line with a point per day on the left axis (US dollars), turns are bars on the right
axis; each point and bar carries a ``<title>`` that browsers show on hover.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from markupsafe import Markup, escape

MICRO = 1_000_000  # micro-USD in a dollar
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
LABEL = "Spend and turns per day, last 30 days"
SPEND_COLOUR = "#2563eb"
TURNS_COLOUR = "#f59e0b"
# Room around the plot: dollar labels on the left, turn counts on the right, the legend above
# and the dates below.
LEFT, RIGHT, TOP, BOTTOM = 64, 48, 30, 26
TICKS = 4  # about this many steps up each axis
DATE_LABELS = 6  # about this many dates under the plot


@dataclass(frozen=True)
class DayPoint:
    """One day of the chart: what was charged (micro-USD) and how many turns were answered."""

    day: str  # "YYYY-MM-DD"
    spent: int  # micro-USD
    turns: int


@dataclass(frozen=True)
class _Plot:
    """Where the plot area is inside the SVG, in its own units."""

    left: float
    top: float
    right: float
    bottom: float

    def slot_centre(self, index: int, count: int) -> float:
        """The x of day ``index``: the middle of its equal slot, so one day sits in the middle."""
        return self.left + (index + 0.5) * (self.right - self.left) / count

    def y(self, value: int, scale_top: int) -> float:
        """The y of ``value`` on an axis whose top is ``scale_top`` (> 0): 0 on the baseline."""
        # A day whose refunds outweigh its charges stays on the baseline, not under the axis.
        return self.bottom - (self.bottom - self.top) * max(0, value) / scale_top


def spend_chart(days: Sequence[DayPoint], *, width: int = 720, height: int = 240) -> Markup:
    """Render spend (line, left axis, dollars) and turns (bars, right axis) per day as SVG."""
    plot = _Plot(LEFT, TOP, max(LEFT + 1, width - RIGHT), max(TOP + 1, height - BOTTOM))
    # The highest day touches the top; an all-zero month gets a nominal scale ($1, 1 turn)
    # so nothing divides by zero and the flat line lies on the baseline.
    spend_top = max((day.spent for day in days), default=0) or MICRO
    turns_top = max((day.turns for day in days), default=0) or 1
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(LABEL)}" xmlns="http://www.w3.org/2000/svg"'
        f' viewBox="0 0 {width} {height}" width="{width}" height="{height}" font-family="sans-serif">',
        f'<rect class="plot-area" x="{_n(plot.left)}" y="{_n(plot.top)}"'
        f' width="{_n(plot.right - plot.left)}" height="{_n(plot.bottom - plot.top)}" fill="none"/>',
        *_spend_axis(plot, spend_top),
        *_turns_axis(plot, turns_top),
        *_date_axis(plot, days),
        *_turns_bars(plot, days, turns_top),
        *_spend_series(plot, days, spend_top),
        *_legend(plot),
        "</svg>",
    ]
    return Markup("".join(parts))


def _spend_axis(plot: _Plot, scale_top: int) -> list[str]:
    """The left axis: a grid line and a dollar label at each round step up to the highest day."""
    step = _nice_step(scale_top / TICKS)
    decimals = max(2, 6 - int(math.log10(step)))  # enough to tell one step from the next
    parts = [
        f'<line class="axis" x1="{_n(plot.left)}" y1="{_n(plot.top)}" x2="{_n(plot.left)}"'
        f' y2="{_n(plot.bottom)}" stroke="#9ca3af"/>'
    ]
    for value in range(0, scale_top + 1, step):
        y = _n(plot.y(value, scale_top))
        parts.append(
            f'<line class="grid" x1="{_n(plot.left)}" y1="{y}" x2="{_n(plot.right)}" y2="{y}"'
            ' stroke="#e5e7eb"/>'
            f'<text class="axis-label spend" x="{_n(plot.left - 6)}" y="{y}" text-anchor="end"'
            f' dominant-baseline="middle" font-size="11">{escape(_dollars(value, decimals))}</text>'
        )
    return parts


def _turns_axis(plot: _Plot, scale_top: int) -> list[str]:
    """The right axis: a label at each whole-number step of turns up to the busiest day."""
    step = _nice_step(scale_top / TICKS)
    parts = [
        f'<line class="axis" x1="{_n(plot.right)}" y1="{_n(plot.top)}" x2="{_n(plot.right)}"'
        f' y2="{_n(plot.bottom)}" stroke="#9ca3af"/>'
    ]
    for value in range(0, scale_top + 1, step):
        parts.append(
            f'<text class="axis-label turns" x="{_n(plot.right + 6)}" y="{_n(plot.y(value, scale_top))}"'
            f' dominant-baseline="middle" font-size="11">{escape(f"{value:,}")}</text>'
        )
    return parts


def _date_axis(plot: _Plot, days: Sequence[DayPoint]) -> list[str]:
    """The baseline, and a short date under about six days, counted back from the last one."""
    parts = [
        f'<line class="axis" x1="{_n(plot.left)}" y1="{_n(plot.bottom)}" x2="{_n(plot.right)}"'
        f' y2="{_n(plot.bottom)}" stroke="#9ca3af"/>'
    ]
    every = max(1, math.ceil(len(days) / DATE_LABELS))
    for index, day in enumerate(days):
        if (len(days) - 1 - index) % every:
            continue
        parts.append(
            f'<text class="axis-label date" x="{_n(plot.slot_centre(index, len(days)))}"'
            f' y="{_n(plot.bottom + 16)}" text-anchor="middle" font-size="11">{escape(_short_date(day.day))}</text>'
        )
    return parts


def _turns_bars(plot: _Plot, days: Sequence[DayPoint], scale_top: int) -> list[str]:
    """A bar per day, as high as its turns on the right axis."""
    if not days:
        return []
    slot = (plot.right - plot.left) / len(days)
    bar = max(1.0, slot * 0.6)
    parts = []
    for index, day in enumerate(days):
        top = plot.y(day.turns, scale_top)
        parts.append(
            f'<rect class="turns-bar" x="{_n(plot.slot_centre(index, len(days)) - bar / 2)}" y="{_n(top)}"'
            f' width="{_n(bar)}" height="{_n(plot.bottom - top)}" fill="{TURNS_COLOUR}" fill-opacity="0.45">'
            f"<title>{_hover(day)}</title></rect>"
        )
    return parts


def _spend_series(plot: _Plot, days: Sequence[DayPoint], scale_top: int) -> list[str]:
    """The spend line over the days, and a point on it per day with its figures on hover."""
    points = [
        (plot.slot_centre(index, len(days)), plot.y(day.spent, scale_top)) for index, day in enumerate(days)
    ]
    parts = [
        f'<polyline class="spend-line" points="{" ".join(f"{_n(x)},{_n(y)}" for x, y in points)}"'
        f' fill="none" stroke="{SPEND_COLOUR}" stroke-width="2"/>'
    ]
    for day, (x, y) in zip(days, points, strict=True):
        parts.append(
            f'<circle class="point spend" cx="{_n(x)}" cy="{_n(y)}" r="3.5" fill="{SPEND_COLOUR}">'
            f"<title>{_hover(day)}</title></circle>"
        )
    return parts


def _legend(plot: _Plot) -> list[str]:
    """What the line and the bars are, above the plot."""
    y = plot.top - 14
    x = plot.left
    return [
        f'<g class="legend"><line class="spend-line" x1="{_n(x)}" y1="{_n(y)}" x2="{_n(x + 18)}" y2="{_n(y)}"'
        f' stroke="{SPEND_COLOUR}" stroke-width="2"/>'
        f'<circle class="legend-point spend" cx="{_n(x + 9)}" cy="{_n(y)}" r="3.5" fill="{SPEND_COLOUR}"/>'
        f'<text x="{_n(x + 24)}" y="{_n(y)}" dominant-baseline="middle" font-size="12">Spend (US$)</text>'
        f'<rect class="turns-bar" x="{_n(x + 120)}" y="{_n(y - 5)}" width="12" height="10"'
        f' fill="{TURNS_COLOUR}" fill-opacity="0.45"/>'
        f'<text x="{_n(x + 138)}" y="{_n(y)}" dominant-baseline="middle" font-size="12">Turns</text></g>'
    ]


def _nice_step(rough: float) -> int:
    """The smallest whole 1, 2 or 5 times a power of ten that is at least ``rough`` (and 1)."""
    if rough <= 1:
        return 1
    power = 10 ** math.floor(math.log10(rough))
    for multiple in (1, 2, 5, 10):
        if multiple * power >= rough:
            return int(multiple * power)
    return int(10 * power)  # pragma: no cover - the loop always returns


def _dollars(micro: int, decimals: int) -> str:
    """``$0.12``, ``$1,234.50``: micro-USD as dollars with thousands separators."""
    return f"${micro / MICRO:,.{decimals}f}"


def _hover(day: DayPoint) -> Markup:
    """What a point says on hover: ``2026-12-01: $0.12, 14 turns`` (more decimals under a cent)."""
    decimals = 2 if day.spent == 0 or day.spent >= 10_000 else 4 if day.spent >= 100 else 6
    turns = "1 turn" if day.turns == 1 else f"{day.turns:,} turns"
    return escape(f"{day.day}: {_dollars(day.spent, decimals)}, {turns}")


def _short_date(day: str) -> str:
    """``Dec 1`` for ``2026-12-01``; a day that is not a date is shown as given."""
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        return day
    return f"{MONTHS[parsed.month - 1]} {parsed.day}"


def _n(value: float) -> str:
    """A coordinate with one decimal and no trailing ``.0``: short, and enough on a screen."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text
