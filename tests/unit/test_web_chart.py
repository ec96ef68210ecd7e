"""The overview's chart: the SVG the server draws for spend and turns per day."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest

from adapters.web.chart import DayPoint, spend_chart

SVG = "{http://www.w3.org/2000/svg}"


def month(spent: list[int], turns: list[int] | None = None) -> list[DayPoint]:
    """Consecutive days ending 2026-12-07 with these spends (micro-USD) and turns."""
    first = date(2026, 12, 7) - timedelta(days=len(spent) - 1)
    counts = turns if turns is not None else [0] * len(spent)
    return [
        DayPoint(day=(first + timedelta(days=i)).isoformat(), spent=s, turns=t)
        for i, (s, t) in enumerate(zip(spent, counts, strict=True))
    ]


def parse(days: list[DayPoint], **size: int) -> ET.Element:
    """The chart as an XML tree (parsing fails on anything that is not well-formed)."""
    return ET.fromstring(str(spend_chart(days, **size)))


def by_class(root: ET.Element, tag: str, *classes: str) -> list[ET.Element]:
    """The elements of ``tag`` that carry every one of ``classes``."""
    return [node for node in root.iter(SVG + tag) if set(classes) <= set((node.get("class") or "").split())]


def plot_area(root: ET.Element) -> tuple[float, float]:
    """The y of the plot area's top and of its baseline."""
    (area,) = by_class(root, "rect", "plot-area")
    top = float(area.get("y", "nan"))
    return top, top + float(area.get("height", "nan"))


def points(root: ET.Element, series: str) -> list[tuple[float, float]]:
    """The centres of one series' points, in day order."""
    return [
        (float(c.get("cx", "nan")), float(c.get("cy", "nan")))
        for c in by_class(root, "circle", "point", series)
    ]


def test_thirty_days_draw_thirty_spend_points_left_to_right() -> None:
    days = month([i * 1000 for i in range(30)], list(range(30)))
    root = parse(days)
    assert root.tag == SVG + "svg"
    assert root.get("class") == "chart"
    assert root.get("role") == "img"
    assert root.get("aria-label") == "Spend and turns per day, last 30 days"
    assert root.get("viewBox") == "0 0 720 240"
    spend = points(root, "spend")
    assert len(spend) == 30
    xs = [x for x, _ in spend]
    assert xs == sorted(xs) and len(set(xs)) == 30
    assert len(by_class(root, "rect", "turns-bar")) == 30 + 1  # a bar a day, and one in the legend
    assert len(by_class(root, "polyline", "spend-line")) == 1


def test_the_most_expensive_day_touches_the_top_and_empty_days_lie_on_the_baseline() -> None:
    spent = [0] * 30
    spent[10] = 120_000  # $0.12
    spent[20] = 60_000
    root = parse(month(spent, [3] * 30))
    top, baseline = plot_area(root)
    ys = [y for _, y in points(root, "spend")]
    assert ys[10] == pytest.approx(top, abs=0.05)
    assert ys[20] == pytest.approx((top + baseline) / 2, abs=0.1)
    assert all(ys[i] == pytest.approx(baseline, abs=0.05) for i in range(30) if i not in (10, 20))


def test_the_busiest_day_has_the_tallest_bar_reaching_the_top() -> None:
    turns = [0] * 30
    turns[5] = 14
    turns[6] = 7
    root = parse(month([0] * 30, turns))
    top, baseline = plot_area(root)
    bars = by_class(root, "rect", "turns-bar")[:30]
    heights = [float(b.get("height", "nan")) for b in bars]
    assert float(bars[5].get("y", "nan")) == pytest.approx(top, abs=0.05)
    assert heights[5] == pytest.approx(baseline - top, abs=0.1)
    assert heights[6] == pytest.approx((baseline - top) / 2, abs=0.1)
    assert heights.count(0) == 28


def test_hovering_a_point_tells_the_day_the_dollars_and_the_turns() -> None:
    root = parse(month([120_000, 4_200, 0], [14, 1, 0]))
    titles = [c.findtext(SVG + "title") for c in by_class(root, "circle", "point", "spend")]
    assert titles == [
        "2026-12-05: $0.12, 14 turns",
        "2026-12-06: $0.0042, 1 turn",
        "2026-12-07: $0.00, 0 turns",
    ]


def test_axes_label_dollars_and_short_dates() -> None:
    root = parse(month([0] * 29 + [120_000], [0] * 29 + [14]))
    dollars = [t.text for t in by_class(root, "text", "axis-label", "spend")]
    assert dollars[0] == "$0.00"
    assert "$0.10" in dollars and all(d and d.startswith("$") for d in dollars)
    assert 3 <= len(dollars) <= 8
    turns = [t.text for t in by_class(root, "text", "axis-label", "turns")]
    assert turns[0] == "0" and 3 <= len(turns) <= 8
    dates = [t.text for t in by_class(root, "text", "axis-label", "date")]
    assert dates[-1] == "Dec 7"  # the last day (today) is always labelled
    assert 4 <= len(dates) <= 8
    assert len(by_class(root, "line", "grid")) == len(dollars)
    legend = "".join(by_class(root, "g", "legend")[0].itertext())
    assert "Spend" in legend and "Turns" in legend


def test_a_month_of_zeros_is_a_flat_line_on_the_baseline() -> None:
    root = parse(month([0] * 30, [0] * 30))
    _, baseline = plot_area(root)
    spend = points(root, "spend")
    assert len(spend) == 30
    assert {y for _, y in spend} == {baseline}
    assert all(float(b.get("height", "nan")) == 0 for b in by_class(root, "rect", "turns-bar")[:30])


def test_one_day_sits_in_the_middle_at_the_top() -> None:
    root = parse(month([500_000], [2]), width=400, height=200)
    top, _ = plot_area(root)
    (area,) = by_class(root, "rect", "plot-area")
    middle = float(area.get("x", "nan")) + float(area.get("width", "nan")) / 2
    ((x, y),) = points(root, "spend")
    assert x == pytest.approx(middle, abs=0.05)
    assert y == pytest.approx(top, abs=0.05)


def test_no_days_draws_empty_axes() -> None:
    root = parse([])
    assert points(root, "spend") == []
    assert by_class(root, "rect", "plot-area")


def test_large_values_keep_their_scale_and_read_with_separators() -> None:
    spent = [12_345_678_900_000, 6_000_000_000_000]  # $12.3 million, $6 million
    root = parse(month(spent, [2_000_000, 1]))
    top, baseline = plot_area(root)
    (_, high), (_, low) = points(root, "spend")
    assert high == pytest.approx(top, abs=0.05)
    assert top < low < baseline
    titles = [c.findtext(SVG + "title") for c in by_class(root, "circle", "point", "spend")]
    assert titles[0] == "2026-12-06: $12,345,678.90, 2,000,000 turns"
    assert any("," in (t.text or "") for t in by_class(root, "text", "axis-label", "spend"))


def test_text_is_escaped() -> None:
    hostile = '<script>alert("x")</script>&'
    markup = str(spend_chart([DayPoint(day=hostile, spent=10_000, turns=1)]))
    assert "<script>" not in markup
    root = ET.fromstring(markup)
    (circle,) = by_class(root, "circle", "point", "spend")
    assert circle.findtext(SVG + "title") == f"{hostile}: $0.01, 1 turn"
    assert [t.text for t in by_class(root, "text", "axis-label", "date")] == [hostile]


def test_nothing_that_a_content_security_policy_forbids() -> None:
    markup = str(spend_chart(month([i * 7_000 for i in range(30)], list(range(30)))))
    assert "style" not in markup
    assert "script" not in markup
    assert "http://" not in markup.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in markup
