"""The measurement report: both sides of the ledger on one page.

``regard report`` (and the console's Report page) composes what measurement already knows, in
five sections:

1. **Lift** per touchpoint over its control group: the conversion difference and the revenue
   per customer difference, each with its interval, or "too little data" in words.
2. **Relationship health**: opt-out and complaint rates (the 0.3% line marked), fatigue, the
   commitment transition matrix between survey waves and lifecycle movement.
3. **Customer value**: lifetime value as stored (or computed with the configured models), and
   the learned touchpoint values (configured, measured, learned) when they have been refreshed.
4. **Budget**: the recommended contacts per segment, the marginal value of one more unit of
   budget per segment, and the commitment sentence behind them.
5. **The simulator's comparison** of Regard's policy, frequency caps only and spray and pray.

Every figure is a count, a rate or a mean over many customers: no person appears in the report.
Each section carries its sentences, tables and charts (SVG with a sentence and a table); the
HTML page (``regard.measurement.report_html``), the terminal (``print_report``) and the console
all show the same sections.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import polars as pl
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from regard.config import BrandConfig
from regard.console.charts import Chart, Interval, as_count, bar_chart, interval_chart, with_png
from regard.errors import ConfigurationError, InvalidInput
from regard.measurement import clv_service, report_repository, values_repository
from regard.measurement.health_service import RelationshipHealth, health_charts, relationship_health
from regard.measurement.invest_service import (
    AXES,
    Axis,
    InvestmentPlan,
    as_money,
    build_problem,
    investment_charts,
    recommend_investment,
    segment_label,
)
from regard.measurement.lift import Estimate, LiftRow, measure_lift
from regard.measurement.report_html import write_report
from regard.measurement.report_simulation import SimulationSummary, run_simulation
from regard.store.database import Store, unit_of_work

__all__ = [
    "DEFAULT_BUDGET_SHARE",
    "ClvSummary",
    "MeasurementReport",
    "ReportSection",
    "ReportTable",
    "build_report",
    "default_report_dir",
    "print_report",
    "report_from_session",
    "with_simulation",
    "write_report",
]

# Without a budget, the report plans this share of what contacting every reachable customer up
# to their caps would cost in the period (and says so).
DEFAULT_BUDGET_SHARE = 0.25

SectionKey = Literal["lift", "health", "value", "budget", "simulation"]


@dataclass(frozen=True)
class ReportTable:
    """A table of the report: a caption, and rows of which the first holds the headings."""

    caption: str
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class ReportSection:
    """One section: its sentences (``lines``), tables and charts, in reading order."""

    key: SectionKey
    heading: str
    lines: tuple[str, ...]
    tables: tuple[ReportTable, ...] = ()
    charts: tuple[Chart, ...] = ()


@dataclass(frozen=True)
class ClvSummary:
    """Customer lifetime value over the customers valued, or why there is none (``reason``).
    ``source`` says whether the values are the stored ones the engine uses or were computed
    for this report with the configured models."""

    customers: int
    mean: float | None
    median: float | None
    total: float | None
    top_tenth_share: float | None
    source: Literal["stored", "computed"] | None
    scored_at: datetime | None
    by_commitment: tuple[tuple[str, int, float], ...] = ()
    reason: str | None = None


@dataclass(frozen=True)
class MeasurementReport:
    """What the brand's messages achieved and what they cost the relationship, at ``as_of``."""

    as_of: datetime
    brand: str
    lift: tuple[LiftRow, ...]
    health: RelationshipHealth
    investment: InvestmentPlan | None
    clv: ClvSummary
    learned_values: pl.DataFrame | None
    simulation: SimulationSummary | None
    sections: tuple[ReportSection, ...]

    def section(self, key: SectionKey) -> ReportSection:
        return next(s for s in self.sections if s.key == key)


def default_report_dir(store: Store) -> Path:
    """Where ``regard report`` writes by default and the console looks for the last simulation:
    ``report`` beside the SQLite database, else ``report`` in the working directory."""
    url = make_url(str(store.engine.url))
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(str(url.database)).parent / "report"
    return Path("report")


def build_report(
    store: Store,
    *,
    as_of: datetime | None = None,
    budget: float | None = None,
    by: str = "commitment",
    simulate_customers: int | None = None,
    scenario: Path | None = None,
) -> MeasurementReport:
    """The report on the store at ``as_of`` (now). ``budget`` for the period of
    ``[measurement.invest]`` (by default a quarter of what full reach would cost); ``by``:
    commitment, lifecycle or rfm. The simulator runs only when ``simulate_customers`` is given
    (on ``scenario``, by default the shipped one). Reads only."""
    moment = as_of or datetime.now(UTC)
    # Drawn with their PNGs too: write_report puts a PNG copy of each chart beside the page.
    with with_png():
        with unit_of_work(store) as session:
            report = report_from_session(
                session, brand=store.brand, as_of=moment, budget=budget, by=by
            )
        if simulate_customers is None:
            return report
        summary = run_simulation(customers=simulate_customers, scenario=scenario, at=moment)
    return with_simulation(report, summary)


def with_simulation(
    report: MeasurementReport, simulation: SimulationSummary | None
) -> MeasurementReport:
    """The report with its simulator section showing ``simulation``."""
    sections = tuple(
        _simulation_section(simulation) if s.key == "simulation" else s for s in report.sections
    )
    return replace(report, simulation=simulation, sections=sections)


def report_from_session(
    session: Session,
    *,
    brand: BrandConfig,
    as_of: datetime,
    budget: float | None = None,
    by: str = "commitment",
    simulation: SimulationSummary | None = None,
    compute_values: bool = True,
) -> MeasurementReport:
    """The report from an open session (the console's request, or ``build_report``). With
    ``compute_values`` false, customer value is only read as stored, never fitted values
    computed here (a page load stays quick however many customers there are)."""
    if by not in AXES:
        raise InvalidInput(f"there is no axis {by!r}: choose one of {', '.join(AXES)}")
    if budget is not None and budget <= 0:
        raise InvalidInput(f"the budget must be more than 0, not {budget:g}")
    axis: Axis = by
    lift = tuple(measure_lift(session, brand=brand, now=as_of))
    health = relationship_health(session, brand=brand, as_of=as_of)
    plan, budget_lines = _plan(session, brand=brand, budget=budget, by=axis)
    clv = _clv_summary(session, brand=brand, as_of=as_of, compute=compute_values)
    stored = values_repository.touchpoint_values(session)
    learned = stored if stored.height else None
    sections = (
        _lift_section(lift, brand=brand),
        _health_section(health),
        _value_section(clv, learned),
        _budget_section(plan, budget_lines),
        _simulation_section(simulation),
    )
    return MeasurementReport(
        as_of=as_of,
        brand=brand.name,
        lift=lift,
        health=health,
        investment=plan,
        clv=clv,
        learned_values=learned,
        simulation=simulation,
        sections=sections,
    )


# Lift


def _points(value: float) -> str:
    return f"{value * 100:+.1f} pts"


def _signed_money(value: float) -> str:
    return f"{value:+,.2f}"


def _share(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def _per_customer(arm: dict[str, float]) -> str:
    return f"{arm['revenue'] / arm['customers']:,.2f}" if arm["customers"] else "-"


def _said(estimate: Estimate, *, percent: bool) -> str:
    if estimate.difference is None or estimate.low is None or estimate.high is None:
        return estimate.reason or "-"
    show = _points if percent else _signed_money
    return f"{show(estimate.difference)} ({show(estimate.low)} to {show(estimate.high)})"


def _interval(label: str, estimate: Estimate) -> Interval:
    return Interval(label, estimate.difference, estimate.low, estimate.high, estimate.reason)


def _lift_section(rows: tuple[LiftRow, ...], *, brand: BrandConfig) -> ReportSection:
    heading = "Lift over the control groups"
    if not rows:
        return ReportSection(
            "lift",
            heading,
            (
                "No decisions to measure yet: lift needs touchpoints with a control group "
                "([measurement.holdout] share, or a touchpoint's own holdout).",
            ),
        )
    options = brand.measurement.outcome
    table: list[tuple[str, ...]] = [
        (
            "Touchpoint",
            "Treated",
            "Control",
            "Converted (treated vs control)",
            "Conversion lift",
            "Revenue per customer (treated vs control)",
            "Revenue lift per customer",
            "Opt-outs (treated / control)",
            "Complaints",
        )
    ]
    for row in rows:
        t, c = row.treated, row.control
        table.append(
            (
                row.touchpoint,
                as_count(t["customers"]),
                as_count(c["customers"]),
                f"{_share(t['converted'], t['customers'])} vs "
                f"{_share(c['converted'], c['customers'])}",
                _said(row.conversion, percent=True),
                f"{_per_customer(t)} vs {_per_customer(c)}",
                _said(row.revenue, percent=False),
                f"{as_count(t['opted_out'])} / {as_count(c['opted_out'])}",
                as_count(t["complained"]),
            )
        )
    measured = [r for r in rows if r.conversion.difference is not None]
    above = [r.touchpoint for r in measured if (r.conversion.low or 0.0) > 0]
    richer = [r.touchpoint for r in rows if (r.revenue.low or 0.0) > 0]
    lines = [
        f"{len(measured)} of {len(rows)} touchpoints have enough data for an interval (at "
        f"least {options.min_per_arm} customers in each arm and a conversion; "
        f"{options.confidence:.0%} intervals, a conversion is {options.event} within "
        f"{options.window.days} days); the others say why rather than show a number.",
    ]
    if above:
        lines.append(
            "Conversion lift above zero across the whole interval: " + ", ".join(above) + "."
        )
    elif measured:
        lines.append("No touchpoint's conversion interval lies wholly above zero yet.")
    if richer:
        lines.append(
            "Revenue per customer above zero across the whole interval: " + ", ".join(richer) + "."
        )
    charts = (
        interval_chart(
            [_interval(r.touchpoint, r.conversion) for r in rows],
            title="Conversion lift per touchpoint",
            x_label="Conversion lift (percentage points)",
            value_format=_points,
        ),
        interval_chart(
            [_interval(r.touchpoint, r.revenue) for r in rows],
            title="Revenue lift per customer, per touchpoint",
            x_label="Revenue per customer, treated minus control",
            value_format=_signed_money,
        ),
    )
    return ReportSection(
        "lift",
        heading,
        tuple(lines),
        (ReportTable("Each touchpoint beside its control group", tuple(table)),),
        charts,
    )


# Relationship health


def _health_section(health: RelationshipHealth) -> ReportSection:
    charts = tuple(health_charts(health))
    surveyed = int(health.commitment_transitions["customers"].sum())
    moved = int(
        health.commitment_transitions.filter(pl.col("from_group") != pl.col("to_group"))[
            "customers"
        ].sum()
    )
    lines = [
        "Opt-out and complaint rates of the messages sent, with the "
        f"{_percent_line(health.complaint_line)} complaint line (mailbox providers filter a "
        "sender above it), fatigue (customers at their caps), commitment movement between "
        "survey waves and lifecycle movement.",
        (
            f"{as_count(surveyed)} customers answered two survey waves; {as_count(moved)} of "
            "them changed commitment group: the matrix shows from which group to which."
            if surveyed
            else "No customer has answered two survey waves yet: no commitment movement to show."
        ),
    ]
    return ReportSection("health", "Relationship health", tuple(lines), (), charts)


def _percent_line(share: float) -> str:
    return f"{share * 100:.2f}".rstrip("0").rstrip(".") + "%"


# Customer value


def _no_value(reason: str) -> ClvSummary:
    return ClvSummary(0, None, None, None, None, None, None, reason=reason)


def _clv_summary(
    session: Session, *, brand: BrandConfig, as_of: datetime, compute: bool
) -> ClvSummary:
    stored = report_repository.customer_values(session)
    source: Literal["stored", "computed"]
    if stored.height:
        values = stored.select("customer_id", pl.col("expected_value").alias("clv"))
        scored_at: datetime | None = stored["scored_at"].max()  # type: ignore[assignment]
        source = "stored"
    elif not compute:
        return _no_value("no values stored yet (regard measure values stores them)")
    else:
        try:
            values = clv_service.expected_values(session, brand=brand, as_of=as_of)
        except (ConfigurationError, InvalidInput) as exc:
            return _no_value(exc.message)
        scored_at, source = as_of, "computed"
    if values.height == 0:
        return _no_value("no customer has bought yet")
    amounts = values["clv"].fill_null(0.0).sort(descending=True)
    total = float(amounts.sum())
    tenth = max(1, amounts.len() // 10)
    members = report_repository.memberships(session, prefix="commitment:")
    by_group = (
        values.join(members, on="customer_id", how="inner")
        .group_by("segment")
        .agg(pl.len().alias("customers"), pl.col("clv").fill_null(0.0).mean().alias("mean"))
        .sort("mean", descending=True)
    )
    return ClvSummary(
        customers=values.height,
        mean=total / values.height,
        median=float(amounts.quantile(0.5, "midpoint") or 0.0),
        total=total,
        top_tenth_share=float(amounts.head(tenth).sum()) / total if total else None,
        source=source,
        scored_at=scored_at,
        by_commitment=tuple(
            (segment_label(str(r["segment"])), int(r["customers"]), float(r["mean"]))
            for r in by_group.iter_rows(named=True)
        ),
    )


def _value_section(clv: ClvSummary, learned: pl.DataFrame | None) -> ReportSection:
    lines: list[str] = []
    tables: list[ReportTable] = []
    charts: list[Chart] = []
    if clv.reason is not None or clv.mean is None:
        lines.append(f"Customer lifetime value: {clv.reason}.")
    else:
        when = f" on {clv.scored_at:%Y-%m-%d}" if clv.scored_at else ""
        origin = (
            f"as the engine stored them{when}"
            if clv.source == "stored"
            else "computed for this report with the configured models (not stored yet: "
            "regard measure values)"
        )
        lines.append(
            f"{as_count(clv.customers)} customers with a purchase are valued, {origin}: "
            f"a mean lifetime value of {as_money(clv.mean)}, a median of "
            f"{as_money(clv.median or 0.0)} and {as_money(clv.total or 0.0)} in all"
            + (
                f"; the most valuable tenth hold {clv.top_tenth_share:.0%} of it."
                if clv.top_tenth_share is not None
                else "."
            )
        )
        if clv.by_commitment:
            charts.append(
                bar_chart(
                    [(name, mean) for name, _count, mean in clv.by_commitment],
                    title="Mean customer lifetime value by commitment group",
                    x_label="Mean lifetime value",
                    value_format=as_money,
                )
            )
    if learned is None:
        lines.append(
            "Learned touchpoint values have not been refreshed yet (regard measure values): "
            "the engine uses the configured values."
        )
    else:
        rows: list[tuple[str, ...]] = [
            (
                "Touchpoint",
                "Segment",
                "Channel",
                "Configured",
                "Measured",
                "Treated customers",
                "Weight of the measurement",
                "Learned",
            )
        ]
        for r in learned.iter_rows(named=True):
            rows.append(
                (
                    str(r["touchpoint"]),
                    str(r["segment"]),
                    str(r["channel"]),
                    as_money(r["configured"]),
                    "-" if r["measured"] is None else as_money(r["measured"]),
                    as_count(r["customers"]),
                    f"{r['weight']:.0%}",
                    as_money(r["learned"]),
                )
            )
        lines.append(
            "Learned touchpoint values blend the measured value of one engagement with the "
            "configured value, weighted by how precise the measurement is: a noisy one barely "
            "moves the configured value."
        )
        tables.append(ReportTable("Touchpoint values: configured, measured, learned", tuple(rows)))
    return ReportSection("value", "Customer value", tuple(lines), tuple(tables), tuple(charts))


# Budget


def _plan(
    session: Session, *, brand: BrandConfig, budget: float | None, by: Axis
) -> tuple[InvestmentPlan | None, tuple[str, ...]]:
    lines: list[str] = []
    try:
        if budget is None:
            problem, _notes = build_problem(session, brand=brand, budget=1.0, by=by)
            full = sum(cell.cost * cell.capacity for cell in problem.cells)
            budget = round(full * DEFAULT_BUDGET_SHARE, 2)
            if budget <= 0:
                return None, ("No budget recommendation: no segment can be reached at a cost.",)
            lines.append(
                f"No budget was given: this plans {as_money(budget)}, a quarter of the "
                f"{as_money(full)} that contacting every reachable customer up to their caps "
                "would cost (regard report --budget N for another)."
            )
        plan = recommend_investment(session, brand=brand, budget=budget, by=by)
    except InvalidInput as exc:
        return None, (f"No budget recommendation: {exc.message}.",)
    return plan, tuple(lines)


def _budget_section(plan: InvestmentPlan | None, lines: tuple[str, ...]) -> ReportSection:
    heading = "Budget recommendation"
    if plan is None:
        return ReportSection("budget", heading, lines)
    found = plan.recommendation
    said = [
        *lines,
        f"Budget {as_money(found.budget)} for {plan.period.days} days, by {plan.by}: spend "
        f"{as_money(found.spend)} for an expected incremental value of {as_money(found.value)} "
        f"(net {as_money(found.net)}; values {plan.values_source}).",
        f"One more unit of budget is worth {found.budget_dual:,.2f} net"
        + (
            "."
            if found.budget_dual > 0
            else ": the rest returns less than it costs, or the caps are reached."
        ),
    ]
    if plan.comparison:
        said.append(plan.comparison)
    said.extend(f"Note: {note}." for note in plan.notes)
    segments: list[tuple[str, ...]] = [
        ("Segment", "Contacts", "Spend", "Value", "Per 1 spent", "Next 1 returns")
    ]
    for s in found.segments:
        segments.append(
            (
                plan.label(s.segment),
                as_count(s.contacts),
                as_money(s.spend),
                as_money(s.value),
                f"{s.return_per_unit:,.2f}" + ("" if s.funded else " (not funded)"),
                f"{s.next_return:,.2f}",
            )
        )
    cells: list[tuple[str, ...]] = [
        ("Segment", "Channel", "Contacts", "Of reachable", "Spend", "Value")
    ]
    for cell in found.cells:
        if cell.capacity <= 0:
            continue
        cells.append(
            (
                plan.label(cell.segment),
                cell.channel,
                as_count(cell.contacts),
                f"{cell.contacts / cell.capacity:.0%}",
                as_money(cell.spend),
                as_money(cell.value),
            )
        )
    return ReportSection(
        "budget",
        heading,
        tuple(said),
        (
            ReportTable(f"Recommended contacts by {plan.by} segment", tuple(segments)),
            ReportTable("By segment and channel", tuple(cells)),
        ),
        investment_charts(plan),
    )


# The simulator


def _simulation_section(simulation: SimulationSummary | None) -> ReportSection:
    heading = "The simulator: Regard against frequency caps and spray and pray"
    if simulation is None:
        return ReportSection(
            "simulation",
            heading,
            (
                "Not simulated for this report: regard report --simulate-customers N runs the "
                "relationship simulator (or regard simulate on its own).",
            ),
        )
    lines = (
        f"{as_count(simulation.customers)} simulated customers over {simulation.weeks} weeks "
        f"(seed {simulation.seed}), simulated on {simulation.simulated_at:%Y-%m-%d %H:%M} UTC: "
        "the same population and the same random draws under Regard's contact policy and "
        f"optimiser, frequency caps only (at most {simulation.cap} messages per customer per "
        "week), and spray and pray (every touchpoint to everyone on every channel).",
        simulation.headline,
    )
    tables = [ReportTable("The three policies side by side", simulation.rows)]
    tables += [
        ReportTable(f"Commitment groups at the start (rows) and the end (columns): {name}", rows)
        for name, rows in simulation.transitions
    ]
    return ReportSection("simulation", heading, lines, tuple(tables), simulation.charts)


# The terminal


def print_report(report: MeasurementReport, console: Console) -> None:
    """The report in the terminal: each section's sentences and tables. A section with tables
    of its own names its charts (they are in the HTML); one without shows each chart's
    numbers as a table."""
    console.rule(f"Measurement report: {escape(report.brand)}, {report.as_of:%Y-%m-%d %H:%M} UTC")
    for section in report.sections:
        console.print(f"\n[bold]{escape(section.heading)}[/]", highlight=False)
        for line in section.lines:
            console.print(escape(line), highlight=False, soft_wrap=True)
        for table in section.tables:
            console.print(_rich_table(table))
        if section.tables and section.charts:
            titles = "; ".join(chart.title for chart in section.charts)
            console.print(f"Charts in the HTML report: {escape(titles)}.", highlight=False)
        elif section.charts:
            for chart in section.charts:
                console.print(_rich_table(ReportTable(chart.title, chart.table)))


def _rich_table(table: ReportTable) -> Table:
    shown = Table(title=escape(table.caption))
    if not table.rows:
        return shown
    for index, heading in enumerate(table.rows[0]):
        shown.add_column(escape(heading), justify="left" if index == 0 else "right")
    for row in table.rows[1:]:
        shown.add_row(*(escape(cell) for cell in row))
    return shown
