"""The measurement report as HTML: one self-contained page (inline SVG and styles, no scripts,
no external files), each chart with its sentence and its table, and the charts as PNG beside it.

``sections_html`` is the body both the file and the console's Report page show, so the two
never differ.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
from markupsafe import Markup

from regard.console.charts import Chart
from regard.measurement.report_simulation import save_simulation

if TYPE_CHECKING:
    from regard.measurement.report import MeasurementReport, ReportSection

__all__ = ["REPORT_FILE", "STYLE", "render_html", "sections_html", "write_report"]

REPORT_FILE = "index.html"

_SECTIONS = """{% macro numbers(caption, rows) -%}
<div class="table-wrap"><table>
<caption>{{ caption }}</caption>
{% if rows %}<thead><tr>
{%- for cell in rows[0] %}<th scope="col">{{ cell }}</th>{% endfor -%}
</tr></thead>
<tbody>{% for row in rows[1:] %}<tr>{% for cell in row %}
{%- if loop.first %}<th scope="row">{{ cell }}</th>{% else %}<td>{{ cell }}</td>{% endif %}
{%- endfor %}</tr>{% endfor %}</tbody>{% endif %}
</table></div>
{%- endmacro %}
{% for section in sections %}
<section class="card report-section" id="report-{{ section.key }}"
 aria-labelledby="report-{{ section.key }}-heading">
<h2 id="report-{{ section.key }}-heading">{{ loop.index }}. {{ section.heading }}</h2>
{% for line in section.lines %}<p>{{ line }}</p>
{% endfor %}
{% for table in section.tables %}{{ numbers(table.caption, table.rows) }}
{% endfor %}
{% for chart in section.charts %}
<figure class="report-chart">
<div class="picture">{{ chart.svg }}</div>
<figcaption>{{ chart.alt }}
{%- if chart.png %} <a href="{{ chart.png }}">PNG</a>{% endif %}</figcaption>
<details><summary>The numbers of this chart</summary>
{{ numbers(chart.title ~ ": the numbers", chart.table) }}</details>
</figure>
{% endfor %}
</section>
{% endfor %}
"""

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Measurement report: {{ brand }}, {{ as_of }}</title>
<style>
body { font-family: sans-serif; color: #222; margin: 2rem auto; max-width: 76rem; padding: 0 1rem; }
{{ style }}
</style>
</head>
<body>
<h1>Measurement report: {{ brand }}</h1>
<p>As of {{ as_of }} UTC. Every figure is a count, a rate or a mean over many customers; no one
person appears in this report. Each chart is followed by its numbers.</p>
<nav aria-label="Sections"><ol>
{%- for section in sections %}
<li><a href="#report-{{ section.key }}">{{ section.heading }}</a></li>
{%- endfor %}
</ol></nav>
{{ body }}
</body>
</html>
"""

# Shared with the console page, which puts it in its own <style>.
STYLE = """.report-section { margin: 1.5rem 0; }
.report-section table { border-collapse: collapse; margin: 0.75rem 0; font-size: 0.85rem; }
.report-section th, .report-section td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; }
.report-section th, .report-section td { text-align: right; }
.report-section th:first-child, .report-section td:first-child { text-align: left; }
.report-section caption { text-align: left; font-weight: 600; padding: 0.25rem 0; }
.report-section .table-wrap { overflow-x: auto; }
.report-chart { margin: 1.5rem 0; }
.report-chart svg { max-width: 100%; height: auto; }
.report-chart figcaption { font-size: 0.9rem; margin-top: 0.5rem; }"""

_ENVIRONMENT = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower())[:60].strip("-") or "chart"


def _shown(chart: Chart, png: str | None) -> dict[str, object]:
    # Drawn by regard.console.charts, which escapes every text it writes into the SVG.
    return {
        "svg": Markup(chart.svg),  # noqa: S704
        "alt": chart.alt,
        "title": chart.title,
        "table": chart.table,
        "png": png,
    }


def _sections(
    sections: tuple[ReportSection, ...], pngs: dict[int, str] | None = None
) -> list[dict[str, object]]:
    return [
        {
            "key": s.key,
            "heading": s.heading,
            "lines": s.lines,
            "tables": s.tables,
            "charts": [_shown(c, (pngs or {}).get(id(c))) for c in s.charts],
        }
        for s in sections
    ]


def sections_html(report: MeasurementReport, *, pngs: dict[int, str] | None = None) -> Markup:
    """Every section as HTML (escaped; the SVG charts inline), for a page to place."""
    template = _ENVIRONMENT.from_string(_SECTIONS)
    return Markup(template.render(sections=_sections(report.sections, pngs)))  # noqa: S704


def render_html(report: MeasurementReport, *, pngs: dict[int, str] | None = None) -> str:
    """The whole self-contained page."""
    template = _ENVIRONMENT.from_string(_PAGE)
    return template.render(
        brand=report.brand,
        as_of=f"{report.as_of:%Y-%m-%d %H:%M}",
        style=Markup(STYLE),  # noqa: S704
        sections=report.sections,
        body=sections_html(report, pngs=pngs),
    )


def write_report(report: MeasurementReport, out: Path) -> Path:
    """Write ``index.html`` into ``out`` (created if need be), each chart drawn with its PNG as
    ``<section>-<n>-<title>.png`` beside it, and the simulator's summary as ``simulation.json``
    when the report has one (the console shows the latest from there). Returns the HTML's
    path."""
    out.mkdir(parents=True, exist_ok=True)
    pngs: dict[int, str] = {}
    for section in report.sections:
        for number, chart in enumerate(section.charts, start=1):
            if chart.png is None:
                continue
            name = f"{section.key}-{number}-{_slug(chart.title)}.png"
            (out / name).write_bytes(chart.png)
            pngs[id(chart)] = name
    if report.simulation is not None:
        save_simulation(report.simulation, out)
    html = out / REPORT_FILE
    html.write_text(render_html(report, pngs=pngs), encoding="utf-8")
    return html
