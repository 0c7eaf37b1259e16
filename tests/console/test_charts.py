"""Charts: well-formed SVG with a title, the same bytes every time, and the numbers in words."""

from __future__ import annotations

import re
import threading
import xml.etree.ElementTree as ET

import pytest

from regard.console.charts import (
    Chart,
    Interval,
    ReferenceLine,
    Series,
    as_count,
    as_percent,
    bar_chart,
    grid_chart,
    interval_chart,
    line_chart,
    stacked_bar_chart,
    with_png,
)

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    """Our own charts' SVG: no untrusted XML is parsed here."""
    return ET.fromstring(svg)  # noqa: S314


def complaints() -> Chart:
    return line_chart(
        [Series("Complaint rate", (0.001, 0.004, 0.002))],
        x_labels=["2 Nov", "9 Nov", "16 Nov"],
        title="Complaints over messages sent",
        y_label="Complaint rate",
        reference_line=ReferenceLine(0.003, "Complaint-rate limit"),
        value_format=as_percent,
    )


def growth() -> Chart:
    return line_chart(
        [Series("New profiles", (12, 0, 1250))],
        x_labels=["2 Nov", "9 Nov", "16 Nov"],
        title="New profiles per week",
        y_label="Profiles",
    )


def outcomes() -> Chart:
    return bar_chart(
        [("sent", 10), ("customer's frequency", 3), ("opted out", 2)],
        groups=["Sent", "Held", "Dropped"],
        title="Messages, last 30 days",
        x_label="Candidates",
    )


def mix() -> Chart:
    return stacked_bar_chart(
        ["Users", "Non-users"],
        [
            Series("Entrenched / Available", (3, 1)),
            Series("Average / Ambivalent", (2, 0)),
            Series("Shallow / Weakly unavailable", (1, 4)),
            Series("Convertible / Strongly unavailable", (5, 2)),
        ],
        title="Commitment mix",
        x_label="Customers",
    )


def journey() -> Chart:
    return grid_chart(
        ["prospect", "new", "active"],
        ["welcome", "newsletter", "offers"],
        [[0, 5, 10], [3, 0, 40], [1, 1, 1]],
        {"new": "pile-up", "active": "gap"},
        title="Journey map",
        value_label="customers reached",
    )


def lift() -> Chart:
    return interval_chart(
        [
            Interval("spring_camping", 0.05, 0.01, 0.09),
            Interval("newsletter", -0.01, -0.04, 0.02),
            Interval("birthday", None, None, None, "too little data: no conversions yet"),
        ],
        title="Conversion lift per touchpoint",
        x_label="Lift",
        value_format=as_percent,
    )


CHARTS = {
    "line": complaints,
    "line without reference": growth,
    "bar": outcomes,
    "stacked": mix,
    "grid": journey,
    "interval": lift,
}


@pytest.mark.parametrize("make", CHARTS.values(), ids=list(CHARTS))
def test_svg_parses_with_title_and_description_first(make: object) -> None:
    chart = make()  # type: ignore[operator]
    root = parse(chart.svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    title, desc = root[0], root[1]
    assert (title.tag, title.text) == (f"{SVG}title", chart.title)
    assert (desc.tag, desc.text) == (f"{SVG}desc", chart.alt)
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    # Text stays text (no glyphs drawn as paths), and nothing dates the file.
    assert "<text" in chart.svg
    assert "<dc:date>" not in chart.svg
    assert "@font-face" not in chart.svg
    assert len(chart.svg) < 60_000


@pytest.mark.parametrize("make", CHARTS.values(), ids=list(CHARTS))
def test_the_same_numbers_draw_the_same_bytes(make: object) -> None:
    assert make().svg == make().svg  # type: ignore[operator]


def test_charts_drawn_at_once_from_threads_match_one_drawn_alone() -> None:
    alone = journey().svg
    drawn: list[str] = []
    threads = [threading.Thread(target=lambda: drawn.append(journey().svg)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert drawn == [alone] * 4


def test_different_charts_do_not_share_ids() -> None:
    first = {e.get("id") for e in parse(growth().svg).iter() if e.get("id")}
    second = {e.get("id") for e in parse(complaints().svg).iter() if e.get("id")}
    assert first
    assert second
    assert not first & second


def test_every_reference_inside_an_svg_points_at_an_id_of_that_svg() -> None:
    for make in CHARTS.values():
        svg = make().svg
        ids = {e.get("id") for e in parse(svg).iter() if e.get("id")}
        references = set(re.findall(r'url\(#([^)]+)\)|href="#([^"]+)"', svg))
        for found in references:
            assert (found[0] or found[1]) in ids


def test_line_chart_marks_the_reference_line_and_says_when_it_is_crossed() -> None:
    chart = complaints()
    ids = {e.get("id") for e in parse(chart.svg).iter()}
    assert "complaints-over-messages-sent-reference-line" in ids
    assert "Complaint-rate limit (0.3%)" in chart.svg  # its legend entry
    assert chart.alt == (
        "Complaints over messages sent, 3 periods from 2 Nov to 16 Nov. "
        "Complaint rate: 0.1% (2 Nov), 0.4% (9 Nov), 0.2% (16 Nov). "
        "Complaint-rate limit: 0.3%; above it: 9 Nov (Complaint rate)."
    )
    assert chart.table == (
        ("Period", "Complaint rate"),
        ("2 Nov", "0.1%"),
        ("9 Nov", "0.4%"),
        ("16 Nov", "0.2%"),
        ("Complaint-rate limit", "0.3%"),
    )


def test_a_chart_without_a_reference_line_has_none() -> None:
    chart = growth()
    assert "reference-line" not in chart.svg
    assert "12 (2 Nov), 0 (9 Nov), 1,250 (16 Nov)" in chart.alt


def test_long_series_are_summarised_in_words_and_listed_in_the_table() -> None:
    labels = [f"w{i}" for i in range(30)]
    chart = line_chart(
        [Series("Sent", tuple(float(i) for i in range(30)))],
        x_labels=labels,
        title="Sent",
        y_label="Messages",
    )
    assert "from 0 to 29, 29 in w29" in chart.alt
    assert len(chart.table) == 31


def test_bar_chart_states_each_bar() -> None:
    chart = outcomes()
    assert chart.alt == (
        "Messages, last 30 days. Sent: 10, Held customer's frequency: 3, Dropped opted out: 2."
    )
    assert chart.table[0] == ("Group", "Name", "Candidates")
    assert ("Held", "customer's frequency", "3") in chart.table
    # The apostrophe is escaped in the SVG, not lost.
    assert "customer&#x27;s" in chart.svg or "customer's" in chart.svg


def test_empty_bar_chart_says_so() -> None:
    chart = bar_chart([], title="Lifecycle stages", x_label="Customers")
    parse(chart.svg)
    assert chart.alt == "Lifecycle stages. Nothing to show yet."


def test_stacked_bar_chart_states_every_layer_and_total() -> None:
    chart = mix()
    assert "Users: Entrenched / Available 3, Average / Ambivalent 2" in chart.alt
    assert "(total 11)" in chart.alt
    assert "(total 7)" in chart.alt
    assert chart.table[1] == ("Users", "3", "2", "1", "5", "11")


def test_grid_chart_marks_gaps_and_pile_ups_in_picture_and_words() -> None:
    chart = journey()
    assert "PILE-UP" in chart.svg
    assert "GAP" in chart.svg
    ids = {e.get("id") for e in parse(chart.svg).iter()}
    assert {"journey-map-mark-1", "journey-map-mark-2"} <= ids
    assert "new (pile-up): welcome 3, newsletter 0, offers 40" in chart.alt
    assert chart.alt.endswith("Marked: new (pile-up), active (gap).")
    assert chart.table[0] == ("", "welcome", "newsletter", "offers", "Mark")
    assert chart.table[3] == ("active", "1", "1", "1", "gap")


def test_grid_chart_refuses_values_that_do_not_fit() -> None:
    with pytest.raises(ValueError, match="one value per row"):
        grid_chart(["a"], ["x", "y"], [[1]], title="t", value_label="v")
    with pytest.raises(ValueError, match="marks for rows not in the grid"):
        grid_chart(["a"], ["x"], [[1]], {"b": "gap"}, title="t", value_label="v")


def test_formats() -> None:
    assert [as_percent(v) for v in (0.4, 0.1667, 0.003, 0.0125, 0.0, 1.0)] == [
        "40%",
        "16.7%",
        "0.3%",
        "1.2%",
        "0%",
        "100%",
    ]
    assert as_count(1234567) == "1,234,567"


def test_interval_chart_states_each_estimate_or_why_there_is_none() -> None:
    chart = lift()
    assert chart.alt == (
        "Conversion lift per touchpoint, each estimate with its interval. "
        "spring_camping: 5% (1% to 9%); newsletter: -1% (-4% to 2%); "
        "birthday: too little data: no conversions yet."
    )
    assert chart.table[0] == ("Name", "Lift", "Low", "High")
    assert chart.table[3] == ("birthday", "too little data: no conversions yet", "", "")
    # The reason is written in the picture where the bar would be; zero is drawn.
    assert "too little data: no conversions yet" in chart.svg
    assert 'id="conversion-lift-per-touchpoint-no-effect"' in chart.svg


def test_png_copies_only_when_asked() -> None:
    assert lift().png is None
    with with_png():
        drawn = lift()
    assert drawn.png is not None
    assert drawn.png.startswith(b"\x89PNG")
    assert drawn.svg == lift().svg
