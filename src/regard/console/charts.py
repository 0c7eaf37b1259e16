"""Charts of the staff console, drawn on the server as SVG: no JavaScript, and they print.

Every chart comes with its text equivalent: ``alt``, a sentence that states the numbers, and
``table``, the same numbers as rows (the first row holds the column headings) for a page to show
beside or under the picture.

The SVG is deterministic (the same numbers give the same bytes: fixed ids, no date), small (text
stays text, no embedded fonts) and embeddable in a page as it is (no XML declaration or
doctype); it carries a ``<title>`` and a ``<desc>`` for screen readers. Colours come from the
Okabe-Ito palette, told apart with any colour vision; heat maps use one hue from light to dark,
so they keep their order printed in grey, and every cell also prints its number.

Figures are ``matplotlib.figure.Figure`` objects, never pyplot's global state; the rendering
itself is serialised by a lock, because matplotlib's settings and text layout are shared by the
whole process.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

import matplotlib

matplotlib.use("Agg")

from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

__all__ = [
    "PALETTE",
    "Chart",
    "Interval",
    "ReferenceLine",
    "Series",
    "as_count",
    "as_percent",
    "bar_chart",
    "grid_chart",
    "interval_chart",
    "line_chart",
    "stacked_bar_chart",
    "with_png",
]

# Okabe and Ito's colours, distinguishable with every common colour-vision deficiency.
PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#F0E442",  # yellow
    "#000000",  # black
)
_INK = "#222222"
_GRID = "#D9D9D9"
_REFERENCE = "#D55E00"
# One hue, light to dark: the order survives a grey-scale printer.
_HEAT = LinearSegmentedColormap.from_list("regard-heat", ["#F7FBFF", "#6BAED6", "#08306B"])
# More points than this and the sentence summarises; the table always has them all.
_SPOKEN_POINTS = 24
_WIDTH = 7.0

_STYLE: dict[str, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "regard-console",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 9.0,
    "axes.edgecolor": _INK,
    "axes.labelcolor": _INK,
    "text.color": _INK,
    "xtick.color": _INK,
    "ytick.color": _INK,
    "path.simplify": False,
}
_RENDERING = threading.Lock()
# Inside ``with_png()``: a list that ``_svg`` fills with the PNG of the figure it just drew.
_PNG_WANTED: ContextVar[list[bytes] | None] = ContextVar("regard_chart_png", default=None)
_PNG_DPI = 110

Format = Callable[[float], str]


def as_count(value: float) -> str:
    """12,345"""
    return f"{value:,.0f}"


def as_percent(value: float) -> str:
    """A share as a percentage: 0.4 is "40%", 0.1667 is "16.7%", 0.003 is "0.3%"."""
    percent = value * 100
    if abs(percent - round(percent)) < 1e-9:
        return f"{percent:.0f}%"
    if abs(percent) >= 1:
        return f"{percent:.1f}%"
    return f"{percent:.2f}".rstrip("0") + "%"


@dataclass(frozen=True)
class Chart:
    """An SVG picture and its text equivalent: a sentence, and a table of the numbers."""

    svg: str
    alt: str
    table: tuple[tuple[str, ...], ...]
    title: str
    # The same picture as PNG, drawn only inside ``with_png()`` (a file report wants both).
    png: bytes | None = None


@dataclass(frozen=True)
class Series:
    """One line, one set of bars or one layer of a stack: a label and a value per category."""

    label: str
    values: tuple[float, ...]


@dataclass(frozen=True)
class ReferenceLine:
    """A threshold drawn across a chart, such as the 0.3% complaint rate."""

    value: float
    label: str


def line_chart(
    series: Sequence[Series],
    *,
    x_labels: Sequence[str],
    title: str,
    y_label: str,
    reference_line: ReferenceLine | None = None,
    value_format: Format = as_count,
) -> Chart:
    """Lines over time (``x_labels`` are the periods, oldest first), with an optional
    threshold drawn as a dashed line and named in the legend, the sentence and the table."""
    _check_lengths(series, len(x_labels))
    with _drawing(title) as figure:
        axes = figure.add_axes((0.1, 0.22, 0.86, 0.66))
        positions = list(range(len(x_labels)))
        markers = ("o", "s", "^", "D", "v", "P", "X", "*")
        for index, line in enumerate(series):
            axes.plot(
                positions,
                line.values,
                color=PALETTE[index % len(PALETTE)],
                marker=markers[index % len(markers)],
                markersize=3.5,
                linewidth=1.6,
                label=line.label,
            )
        if reference_line is not None:
            axes.axhline(
                reference_line.value,
                color=_REFERENCE,
                linestyle=(0, (5, 3)),
                linewidth=1.2,
                label=f"{reference_line.label} ({value_format(reference_line.value)})",
                gid="reference-line",
            )
        axes.set_xticks(positions, list(x_labels), rotation=45, ha="right")
        axes.set_ylabel(y_label)
        # Room above the highest point and the threshold, so a threshold is never lost at the
        # top or squashed at the bottom of an empty chart.
        highest = max(
            [*(v for line in series for v in line.values)]
            + ([reference_line.value] if reference_line is not None else [])
            + [0]
        )
        axes.set_ylim(0, highest * 1.25 or 1)
        axes.yaxis.set_major_formatter(lambda value, _pos: value_format(value))
        _tidy(axes)
        axes.grid(axis="y", color=_GRID, linewidth=0.6)
        if len(series) > 1 or reference_line is not None:
            axes.legend(loc="upper left", frameon=False, fontsize=8)
        figure.suptitle(title, fontsize=11, x=0.02, ha="left")
        svg = _svg(figure)
    table: list[tuple[str, ...]] = [("Period", *(line.label for line in series))]
    for index, label in enumerate(x_labels):
        table.append((label, *(value_format(line.values[index]) for line in series)))
    spoken = "; ".join(
        f"{line.label}: {_spoken_values(line.values, x_labels, value_format)}" for line in series
    )
    alt = f"{title}, {_span(x_labels)}. {spoken}."
    if reference_line is not None:
        above = [
            f"{label} ({line.label})"
            for line in series
            for label, value in zip(x_labels, line.values, strict=True)
            if value > reference_line.value
        ]
        alt += (
            f" {reference_line.label}: {value_format(reference_line.value)}; "
            + ("above it: " + ", ".join(above) if above else "never above it")
            + "."
        )
        table.append((reference_line.label, *(value_format(reference_line.value),) * len(series)))
    return _chart(svg, title=title, alt=alt, table=table)


def bar_chart(
    bars: Sequence[tuple[str, float]],
    *,
    title: str,
    x_label: str,
    groups: Sequence[str] | None = None,
    value_format: Format = as_count,
) -> Chart:
    """Horizontal bars, top to bottom in the order given, each with its value written at its
    end; ``groups`` (one per bar) colours the bars by group, with a legend."""
    if groups is not None and len(groups) != len(bars):
        raise ValueError("one group per bar")
    names = [name for name, _ in bars]
    values = [value for _, value in bars]
    order = list(dict.fromkeys(groups or ()))
    with _drawing(title, height=_bar_height(len(bars))) as figure:
        axes = figure.add_axes(_bar_box(len(bars)))
        positions = list(range(len(bars)))
        colours = (
            [PALETTE[order.index(group) % len(PALETTE)] for group in groups]
            if groups is not None
            else [PALETTE[0]] * len(bars)
        )
        axes.barh(positions, values, color=colours, height=0.7)
        for position, value in zip(positions, values, strict=True):
            axes.annotate(
                value_format(value),
                (value, position),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
            )
        axes.set_yticks(positions, names)
        axes.invert_yaxis()
        axes.set_xlabel(x_label)
        axes.set_xlim(0, max([*values, 0]) * 1.15 or 1)
        axes.xaxis.set_major_formatter(lambda value, _pos: value_format(value))
        _tidy(axes)
        if groups is not None:
            handles = [
                Rectangle((0, 0), 1, 1, color=PALETTE[i % len(PALETTE)]) for i in range(len(order))
            ]
            axes.legend(handles, order, loc="best", frameon=False, fontsize=8)
        figure.suptitle(title, fontsize=11, x=0.02, ha="left")
        svg = _svg(figure)
    if groups is not None:
        table: list[tuple[str, ...]] = [("Group", "Name", x_label)]
        table += [(g, n, value_format(v)) for g, n, v in zip(groups, names, values, strict=True)]
        spoken = ", ".join(
            f"{g}: {value_format(v)}"
            if g.casefold() == n.casefold()
            else f"{g} {n}: {value_format(v)}"
            for g, n, v in zip(groups, names, values, strict=True)
        )
    else:
        table = [("Name", x_label), *((n, value_format(v)) for n, v in bars)]
        spoken = ", ".join(f"{n}: {value_format(v)}" for n, v in bars)
    alt = f"{title}. " + (f"{spoken}." if bars else "Nothing to show yet.")
    return _chart(svg, title=title, alt=alt, table=table)


def stacked_bar_chart(
    categories: Sequence[str],
    stacks: Sequence[Series],
    *,
    title: str,
    x_label: str,
    value_format: Format = as_count,
) -> Chart:
    """Horizontal bars, one per category, each split into the layers of ``stacks`` (left to
    right in the order given); each layer wide enough has its value written inside it."""
    _check_lengths(stacks, len(categories))
    totals = [sum(layer.values[i] for layer in stacks) for i in range(len(categories))]
    with _drawing(title, height=_bar_height(len(categories)) + 0.5) as figure:
        axes = figure.add_axes(_bar_box(len(categories), legend=True))
        positions = list(range(len(categories)))
        lefts = [0.0] * len(categories)
        widest = max([*totals, 0]) or 1
        for index, layer in enumerate(stacks):
            colour = PALETTE[index % len(PALETTE)]
            axes.barh(
                positions, layer.values, left=lefts, color=colour, height=0.6, label=layer.label
            )
            for position, value in enumerate(layer.values):
                if value and value / widest > 0.06:
                    axes.text(
                        lefts[position] + value / 2,
                        position,
                        value_format(value),
                        ha="center",
                        va="center",
                        fontsize=8,
                        color=_text_on(colour),
                    )
                lefts[position] += value
        axes.set_yticks(positions, list(categories))
        axes.invert_yaxis()
        axes.set_xlabel(x_label)
        axes.set_xlim(0, widest * 1.02)
        axes.xaxis.set_major_formatter(lambda value, _pos: value_format(value))
        _tidy(axes)
        axes.legend(
            loc="upper left",
            bbox_to_anchor=(0, -0.18 - 0.5 / _bar_height(len(categories))),
            ncol=min(len(stacks), 2),
            frameon=False,
            fontsize=8,
        )
        figure.suptitle(title, fontsize=11, x=0.02, ha="left")
        svg = _svg(figure)
    table: list[tuple[str, ...]] = [("", *(layer.label for layer in stacks), "Total")]
    for index, category in enumerate(categories):
        cells = (value_format(layer.values[index]) for layer in stacks)
        table.append((category, *cells, value_format(totals[index])))
    spoken = "; ".join(
        f"{category}: "
        + ", ".join(f"{layer.label} {value_format(layer.values[i])}" for layer in stacks)
        + f" (total {value_format(totals[i])})"
        for i, category in enumerate(categories)
    )
    return _chart(svg, title=title, alt=f"{title}. {spoken}.", table=table)


def grid_chart(
    rows: Sequence[str],
    columns: Sequence[str],
    values: Sequence[Sequence[float]],
    marks: Mapping[str, str] | None = None,
    *,
    title: str,
    value_label: str,
    value_format: Format = as_count,
    maximum: float | None = None,
) -> Chart:
    """A heat map: one cell per (row, column), darker for more, each cell printing its value.

    The scale runs from 0 to ``maximum`` (for shares, 1), or else to the largest value.

    ``marks`` names rows that need attention (the journey map's ``"gap"`` and ``"pile-up"``):
    such a row is outlined, dashed for a gap, and its mark is written at its right end, so it
    is seen without colour.
    """
    marks = marks or {}
    if len(values) != len(rows) or any(len(row) != len(columns) for row in values):
        raise ValueError("one value per row and column")
    unknown = set(marks) - set(rows)
    if unknown:
        raise ValueError(f"marks for rows not in the grid: {', '.join(sorted(unknown))}")
    highest = maximum or max((value for row in values for value in row), default=0) or 1
    height = max(2.2, 0.32 * len(rows) + 1.6)
    width = max(_WIDTH, 0.75 * len(columns) + 3.2)
    with _drawing(title, height=height, width=width) as figure:
        bottom = 1.25 / height
        axes = figure.add_axes((2.0 / width, bottom, 1 - 3.0 / width, 1 - bottom - 0.55 / height))
        if rows and columns:
            axes.pcolormesh(
                [[float(value) for value in row] for row in values],
                cmap=_HEAT,
                vmin=0,
                vmax=highest,
                edgecolors="white",
                linewidth=1.0,
            )
        for r, row in enumerate(values):
            for c, value in enumerate(row):
                share = value / highest
                axes.text(
                    c + 0.5,
                    r + 0.5,
                    value_format(value),
                    ha="center",
                    va="center",
                    fontsize=7.5,
                    color="white" if share > 0.55 else _INK,
                )
        for r, row_name in enumerate(rows):
            mark = marks.get(row_name)
            if mark is None:
                continue
            axes.add_patch(
                Rectangle(
                    (0.04, r + 0.04),
                    len(columns) - 0.08,
                    0.92,
                    fill=False,
                    edgecolor=_REFERENCE,
                    linewidth=1.8,
                    linestyle=(0, (4, 2)) if mark == "gap" else "solid",
                    gid=f"mark-{r}",
                )
            )
            axes.text(
                len(columns) + 0.15, r + 0.5, mark.upper(), va="center", fontsize=8, weight="bold"
            )
        axes.set_xlim(0, max(len(columns), 1))
        axes.set_ylim(max(len(rows), 1), 0)
        axes.set_xticks(
            [c + 0.5 for c in range(len(columns))], list(columns), rotation=40, ha="right"
        )
        axes.set_yticks([r + 0.5 for r in range(len(rows))], list(rows))
        axes.tick_params(length=0)
        for side in axes.spines.values():
            side.set_visible(False)
        figure.suptitle(f"{title} ({value_label})", fontsize=11, x=0.02, ha="left")
        svg = _svg(figure)
    table: list[tuple[str, ...]] = [("", *columns, *(("Mark",) if marks else ()))]
    for row_name, row in zip(rows, values, strict=True):
        extra = (marks.get(row_name, ""),) if marks else ()
        table.append((row_name, *(value_format(v) for v in row), *extra))
    spoken_rows = "; ".join(
        f"{row_name}"
        + (f" ({marks[row_name]})" if row_name in marks else "")
        + ": "
        + ", ".join(f"{column} {value_format(v)}" for column, v in zip(columns, row, strict=True))
        for row_name, row in zip(rows, values, strict=True)
    )
    alt = f"{title}, {value_label} by row and column. " + (
        f"{spoken_rows}." if rows else "Nothing to show yet."
    )
    if marks:
        alt += " Marked: " + ", ".join(f"{name} ({mark})" for name, mark in marks.items()) + "."
    return _chart(svg, title=title, alt=alt, table=table)


@dataclass(frozen=True)
class Interval:
    """An estimate with its interval (a row of a forest chart), or why there is none."""

    label: str
    value: float | None
    low: float | None
    high: float | None
    reason: str | None = None

    @property
    def known(self) -> bool:
        return self.value is not None and self.low is not None and self.high is not None


def interval_chart(
    intervals: Sequence[Interval],
    *,
    title: str,
    x_label: str,
    value_format: Format = as_count,
) -> Chart:
    """A forest chart: one row per estimate, top to bottom in the order given, a dot at the
    estimate and a bar across its interval, beside a line at zero (no effect). A row without
    an estimate writes its reason where the bar would be, so "too little data" is seen, not
    guessed from a gap."""
    known = [i for i in intervals if i.known]
    ends = [v for i in known for v in (i.low, i.high, i.value) if v is not None]
    low_end, high_end = min([*ends, 0.0]), max([*ends, 0.0])
    span = (high_end - low_end) or 1.0
    with _drawing(title, height=_bar_height(len(intervals))) as figure:
        axes = figure.add_axes(_bar_box(len(intervals)))
        axes.axvline(0, color=_INK, linewidth=0.8, gid="no-effect")
        for position, row in enumerate(intervals):
            if row.known:
                assert row.value is not None
                assert row.low is not None
                assert row.high is not None
                excludes_zero = row.low > 0 or row.high < 0
                colour = PALETTE[0] if excludes_zero else PALETTE[4]
                axes.plot([row.low, row.high], [position, position], color=colour, linewidth=2.2)
                axes.plot([row.value], [position], marker="o", color=colour, markersize=5)
                axes.annotate(
                    f"{value_format(row.value)} ({value_format(row.low)} to "
                    f"{value_format(row.high)})",
                    (row.high, position),
                    xytext=(4, 0),
                    textcoords="offset points",
                    va="center",
                    fontsize=7.5,
                )
            else:
                axes.text(
                    low_end - 0.1 * span + 0.02 * span,
                    position,
                    row.reason or "no estimate",
                    va="center",
                    fontsize=7.5,
                    style="italic",
                )
        axes.set_yticks(list(range(len(intervals))), [row.label for row in intervals])
        axes.set_ylim(len(intervals) - 0.5, -0.5)
        axes.set_xlim(low_end - 0.1 * span, high_end + 0.45 * span)
        axes.set_xlabel(x_label)
        axes.xaxis.set_major_formatter(lambda value, _pos: value_format(value))
        _tidy(axes)
        axes.grid(axis="x", color=_GRID, linewidth=0.6)
        figure.suptitle(title, fontsize=11, x=0.02, ha="left")
        svg = _svg(figure)
    table: list[tuple[str, ...]] = [("Name", x_label, "Low", "High")]
    spoken: list[str] = []
    for row in intervals:
        if row.known:
            assert row.value is not None
            assert row.low is not None
            assert row.high is not None
            figures = (value_format(row.value), value_format(row.low), value_format(row.high))
            table.append((row.label, *figures))
            spoken.append(f"{row.label}: {figures[0]} ({figures[1]} to {figures[2]})")
        else:
            reason = row.reason or "no estimate"
            table.append((row.label, reason, "", ""))
            spoken.append(f"{row.label}: {reason}")
    alt = f"{title}, each estimate with its interval. " + (
        "; ".join(spoken) + "." if intervals else "Nothing to show yet."
    )
    return _chart(svg, title=title, alt=alt, table=table)


@contextmanager
def _drawing(title: str, *, height: float = 3.4, width: float = _WIDTH) -> Iterator[Figure]:
    """A new figure, drawn and saved with the console's style while holding the lock.

    The ids inside the SVG are salted with the title, so that charts inlined in one page do not
    share ids."""
    style = {**_STYLE, "svg.hashsalt": f"regard-console:{title}"}
    with _RENDERING, matplotlib.rc_context(style):  # type: ignore[arg-type]
        yield Figure(figsize=(width, height), facecolor="white")


@contextmanager
def with_png() -> Iterator[None]:
    """Charts drawn inside this block also carry their picture as PNG (``Chart.png``)."""
    token = _PNG_WANTED.set([])
    try:
        yield
    finally:
        _PNG_WANTED.reset(token)


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    wanted = _PNG_WANTED.get()
    if wanted is not None:
        picture = io.BytesIO()
        figure.savefig(picture, format="png", dpi=_PNG_DPI, metadata={"Software": None})
        wanted.append(picture.getvalue())
    # Inline in a page: no XML declaration, doctype or comment before the <svg> element.
    return text[text.index("<svg") :]


_SVG_OPEN = re.compile(r"<svg\b[^>]*>")


def _chart(svg: str, *, title: str, alt: str, table: list[tuple[str, ...]]) -> Chart:
    """Give the SVG its accessible name and description (the sentence), as its first children."""
    opening = _SVG_OPEN.search(svg)
    assert opening is not None
    tag = opening.group(0)
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "chart"
    named = tag[:-1] + f' role="img" aria-labelledby="{slug}-title {slug}-desc">'
    head = (
        f'<title id="{slug}-title">{escape(title)}</title>'
        f'<desc id="{slug}-desc">{escape(alt)}</desc>'
    )
    labelled = svg[: opening.start()] + named + head + _own_ids(svg[opening.end() :], slug)
    wanted = _PNG_WANTED.get()
    png = wanted.pop() if wanted else None
    return Chart(svg=labelled, alt=alt, table=tuple(table), title=title, png=png)


_ID = re.compile(r'(\sid="|url\(#|xlink:href="#)(?=[^"#)\s])')


def _own_ids(body: str, prefix: str) -> str:
    """Every id in the SVG, and every reference to one, prefixed with the chart's own name:
    matplotlib numbers its elements from 1 in each figure, and a page shows several charts."""
    return _ID.sub(lambda match: f"{match.group(1)}{prefix}-", body)


def _tidy(axes: Any) -> None:
    axes.spines["top"].set_visible(False)
    axes.spines["right"].set_visible(False)
    axes.tick_params(labelsize=8)


def _bar_height(count: int) -> float:
    return max(1.8, 0.28 * count + 1.2)


def _bar_box(count: int, *, legend: bool = False) -> tuple[float, float, float, float]:
    height = _bar_height(count) + (0.5 if legend else 0)
    bottom = (0.55 + (0.5 if legend else 0)) / height
    top = 0.5 / height
    return (0.3, bottom, 0.62, 1 - bottom - top)


def _text_on(colour: str) -> str:
    """White on the dark colours of the palette, ink on the light ones."""
    red, green, blue = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return "white" if 0.2126 * red + 0.7152 * green + 0.0722 * blue < 0.5 else _INK


def _check_lengths(series: Sequence[Series], length: int) -> None:
    if any(len(line.values) != length for line in series):
        raise ValueError(f"every series needs {length} values, one per category")


def _span(labels: Sequence[str]) -> str:
    if not labels:
        return "no periods"
    if len(labels) == 1:
        return f"for {labels[0]}"
    return f"{len(labels)} periods from {labels[0]} to {labels[-1]}"


def _spoken_values(values: Sequence[float], labels: Sequence[str], fmt: Format) -> str:
    if not values:
        return "no values"
    if len(values) <= _SPOKEN_POINTS:
        return ", ".join(f"{fmt(v)} ({label})" for v, label in zip(values, labels, strict=True))
    low, high = min(values), max(values)
    return (
        f"from {fmt(low)} to {fmt(high)}, {fmt(values[-1])} in {labels[-1]} "
        "(every value is in the table)"
    )
