"""The simulator's report: the comparison table, charts (SVG and PNG) and a self-contained
HTML page with a text alternative for every chart."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2
import matplotlib

matplotlib.use("Agg")

from markupsafe import Markup
from matplotlib.figure import Figure

from regard.console.charts import (
    PALETTE,
    Chart,
    Format,
    ReferenceLine,
    Series,
    as_count,
    as_percent,
    bar_chart,
    line_chart,
)
from regard.simulation.run import SimulationResult
from regard.simulation.scenario import GROUPS

# Mailbox providers start filtering a sender above this complaint rate.
COMPLAINT_LINE = 0.003


@dataclass(frozen=True)
class Figurework:
    """A chart: its file stem, the SVG with its text equivalent, and the same picture as PNG."""

    name: str
    chart: Chart
    png: bytes


@dataclass(frozen=True)
class ReportFiles:
    """What ``write_report`` wrote."""

    html: Path
    svgs: tuple[Path, ...]
    pngs: tuple[Path, ...]
    table: Path


def _money(value: float) -> str:
    return f"{value:,.2f}"


def summary_rows(result: SimulationResult) -> list[tuple[str, ...]]:
    """The comparison table: a heading row, then one row per policy."""
    rows: list[tuple[str, ...]] = [
        (
            "Policy",
            "Revenue",
            "Messages",
            "Revenue per message",
            "Channel cost",
            "Value (revenue - cost)",
            "Opt-outs",
            "Complaints",
            "Complaint rate",
            "Lapsed",
            "Commitment up",
            "Commitment down",
            "Users at the end",
        )
    ]
    for row in result.summary().iter_rows(named=True):
        rows.append(
            (
                row["policy"],
                as_count(row["revenue"]),
                as_count(row["messages"]),
                _money(row["revenue_per_message"]),
                as_count(row["cost"]),
                as_count(row["value"]),
                as_count(row["opt_outs"]),
                as_count(row["complaints"]),
                as_percent(row["complaint_rate"]),
                as_count(row["lapsed"]),
                as_percent(round(row["moved_up"], 4)),
                as_percent(round(row["moved_down"], 4)),
                as_count(row["users_end"]),
            )
        )
    return rows


def build_charts(result: SimulationResult) -> list[Figurework]:
    """Every chart of the report, in its order."""
    summary = result.summary()
    labels = summary["policy"].to_list()
    weeks = [f"W{w}" for w in range(1, result.weeks + 1)]
    charts: list[Figurework] = []

    def bars(name: str, column: str, title: str, x_label: str, fmt: Format = as_count) -> None:
        values = [float(v) for v in summary[column].to_list()]
        chart = bar_chart(
            list(zip(labels, values, strict=True)), title=title, x_label=x_label, value_format=fmt
        )
        charts.append(Figurework(name, chart, _png_bars(title, labels, values, x_label)))

    def lines(
        name: str,
        column: str,
        title: str,
        y_label: str,
        *,
        cumulative: bool = False,
        reference: ReferenceLine | None = None,
        fmt: Format = as_count,
    ) -> None:
        series = []
        for outcome in result.outcomes:
            values = outcome.weekly[column]
            if cumulative:
                values = values.cum_sum()
            series.append(Series(outcome.label, tuple(float(v) for v in values)))
        chart = line_chart(
            series,
            x_labels=weeks,
            title=title,
            y_label=y_label,
            reference_line=reference,
            value_format=fmt,
        )
        charts.append(Figurework(name, chart, _png_lines(title, weeks, series, y_label, reference)))

    bars("revenue", "revenue", "Revenue over the run, by policy", "Revenue")
    bars("messages", "messages", "Messages sent, by policy", "Messages")
    bars(
        "revenue-per-message",
        "revenue_per_message",
        "Revenue per message, by policy",
        "Revenue per message",
        _money,
    )
    bars("opt-outs", "opt_outs", "Opt-outs, by policy", "Opt-outs (customer and channel)")
    bars("complaints", "complaints", "Complaints, by policy", "Complaints")
    bars(
        "commitment-down",
        "moved_down",
        "Customers whose commitment group fell, by policy",
        "Share of customers",
        as_percent,
    )
    lines("weekly-revenue", "revenue", "Revenue per week", "Revenue")
    lines(
        "cumulative-opt-outs",
        "opt_outs",
        "Opt-outs so far, week by week",
        "Opt-outs",
        cumulative=True,
    )
    series = [
        Series(
            o.label,
            tuple(
                float(c) / float(m) if m else 0.0
                for c, m in zip(o.weekly["complaints"], o.weekly["messages"], strict=True)
            ),
        )
        for o in result.outcomes
    ]
    reference = ReferenceLine(COMPLAINT_LINE, "0.3% complaint line")
    title = "Complaint rate per week"
    chart = line_chart(
        series,
        x_labels=weeks,
        title=title,
        y_label="Complaints per message",
        reference_line=reference,
        value_format=as_percent,
    )
    charts.append(
        Figurework(
            "complaint-rate",
            chart,
            _png_lines(title, weeks, series, "Complaints per message", reference),
        )
    )
    lines("users", "users", "Customers in the four user groups, week by week", "Users")
    return charts


def transition_rows(result: SimulationResult, key: str) -> list[tuple[str, ...]]:
    """A policy's commitment transitions: start group (rows) to end group (columns)."""
    outcome = result.outcome(key)
    rows: list[tuple[str, ...]] = [("From \\ to", *GROUPS)]
    for i, group in enumerate(GROUPS):
        rows.append((group, *(as_count(float(v)) for v in outcome.transitions[i])))
    return rows


_TEMPLATE = """{% macro table(rows) -%}
<table>
<thead><tr>{% for cell in rows[0] %}<th scope="col">{{ cell }}</th>{% endfor %}</tr></thead>
<tbody>{% for row in rows[1:] %}<tr>{% for cell in row %}
{%- if loop.first %}<th scope="row">{{ cell }}</th>{% else %}<td>{{ cell }}</td>{% endif %}
{%- endfor %}</tr>{% endfor %}</tbody>
</table>
{%- endmacro %}
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Relationship simulator: {{ customers }} customers, {{ weeks }} weeks</title>
<style>
body { font-family: sans-serif; color: #222; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.5rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
figure { margin: 2rem 0; }
figcaption { font-size: 0.9rem; margin-top: 0.5rem; }
details { margin-top: 0.5rem; }
svg { max-width: 100%; height: auto; }
</style>
</head>
<body>
<h1>Relationship simulator</h1>
<p>{{ customers }} simulated customers over {{ weeks }} weeks (seed {{ seed }}), the same
population and the same random draws under each policy: Regard's contact policy and optimiser,
frequency caps only (at most {{ cap }} messages per customer per week), and spray and pray
(every touchpoint to everyone on every channel the brand can reach).</p>
<h2>Headline</h2>
<p>{{ headline }}</p>
<h2>Comparison</h2>
{{ table(rows) }}
<h2>Charts</h2>
{% for item in charts %}
<figure>
{{ item.svg }}
<figcaption>{{ item.alt }}</figcaption>
<details><summary>The numbers of this chart</summary>{{ table(item.table) }}</details>
</figure>
{% endfor %}
<h2>Commitment movement</h2>
<p>Customers by Conversion Model group at the start (rows) and at the end (columns).</p>
{% for name, rows in transitions %}
<h3>{{ name }}</h3>
{{ table(rows) }}
{% endfor %}
</body>
</html>
"""


def headline(result: SimulationResult) -> str:
    """The price of spray and pray in one sentence, from the numbers."""
    regard, spray = result.outcome("regard"), result.outcome("spray")
    messages = spray.total("messages") / max(regard.total("messages"), 1)
    return (
        f"Spray and pray sent {messages:.1f} times as many messages as Regard, brought "
        f"{as_count(spray.total('opt_outs'))} opt-outs against "
        f"{as_count(regard.total('opt_outs'))} "
        f"and {as_count(spray.total('complaints'))} complaints against "
        f"{as_count(regard.total('complaints'))}, earned {_money(spray.revenue_per_message)} per "
        f"message against {_money(regard.revenue_per_message)}, and ended with revenue of "
        f"{as_count(spray.total('revenue'))} against {as_count(regard.total('revenue'))}."
    )


def render_html(result: SimulationResult, charts: Sequence[Figurework]) -> str:
    """The self-contained HTML report (inline SVG and styles, no scripts, no external files)."""
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = environment.from_string(_TEMPLATE)
    return template.render(
        customers=as_count(result.customers),
        weeks=result.weeks,
        seed=result.scenario.seed,
        cap=result.scenario.caps_only.per_week,
        headline=headline(result),
        rows=summary_rows(result),
        charts=[
            {
                # Drawn by charts.py, which escapes every text it writes into the SVG.
                "svg": Markup(item.chart.svg),  # noqa: S704
                "alt": item.chart.alt,
                "table": item.chart.table,
            }
            for item in charts
        ],
        transitions=[(o.label, transition_rows(result, o.key)) for o in result.outcomes],
    )


def write_report(result: SimulationResult, *, out: Path) -> ReportFiles:
    """Write ``report.html``, each chart as SVG and PNG, and ``summary.csv`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    charts = build_charts(result)
    svgs, pngs = [], []
    for item in charts:
        svg = out / f"{item.name}.svg"
        svg.write_text(item.chart.svg, encoding="utf-8")
        png = out / f"{item.name}.png"
        png.write_bytes(item.png)
        svgs.append(svg)
        pngs.append(png)
    html = out / "report.html"
    html.write_text(render_html(result, charts), encoding="utf-8")
    table = out / "summary.csv"
    result.summary().write_csv(table)
    return ReportFiles(html=html, svgs=tuple(svgs), pngs=tuple(pngs), table=table)


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    return buffer.getvalue()


def _png_bars(title: str, labels: Sequence[str], values: Sequence[float], x_label: str) -> bytes:
    figure = Figure(figsize=(7.0, 1.2 + 0.5 * len(labels)), facecolor="white")
    axes = figure.add_axes((0.25, 0.25, 0.7, 0.6))
    axes.barh(list(reversed(labels)), list(reversed(values)), color=PALETTE[0])
    axes.set_title(title)
    axes.set_xlabel(x_label)
    return _png(figure)


def _png_lines(
    title: str,
    x_labels: Sequence[str],
    series: Sequence[Series],
    y_label: str,
    reference: ReferenceLine | None,
) -> bytes:
    figure = Figure(figsize=(7.0, 3.4), facecolor="white")
    axes = figure.add_axes((0.12, 0.22, 0.84, 0.66))
    for colour, line in zip(PALETTE, series, strict=False):
        axes.plot(
            range(len(x_labels)),
            line.values,
            label=line.label,
            color=colour,
            marker="o",
            markersize=3,
        )
    if reference is not None:
        axes.axhline(reference.value, linestyle="--", color=PALETTE[5], label=reference.label)
    step = max(1, len(x_labels) // 13)
    axes.set_xticks(range(0, len(x_labels), step), list(x_labels)[::step])
    axes.set_title(title)
    axes.set_ylabel(y_label)
    axes.legend(fontsize=8)
    return _png(figure)
