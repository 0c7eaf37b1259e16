"""``regard invest``: how to spend a budget on segments and channels, and what it returns."""

from __future__ import annotations

import typer
from rich.table import Table

from regard import runtime, terminal
from regard.measurement import invest_service
from regard.measurement.invest_service import AXES, InvestmentPlan, as_money
from regard.store.database import unit_of_work

console = terminal.console()


def invest(
    budget: float = typer.Option(..., "--budget", help="Money to spend in the period."),
    by: str = typer.Option(
        "commitment", "--by", help=f"Segments to compare: {', '.join(AXES)}.", show_default=True
    ),
) -> None:
    """Recommend contacts per segment and channel that return the most for the budget."""
    if by not in AXES:
        raise typer.BadParameter(f"choose one of {', '.join(AXES)}", param_hint="--by")
    store = runtime.store()
    with unit_of_work(store) as session:
        plan = invest_service.recommend_investment(session, brand=store.brand, budget=budget, by=by)
    print_plan(plan)


def print_plan(plan: InvestmentPlan) -> None:
    """The recommendation as two tables (segments, then segments by channel) and its sentences."""
    recommendation = plan.recommendation
    days = plan.period.days
    segments = Table(
        title=f"Budget {as_money(recommendation.budget)} for {days} days, by {plan.by}"
    )
    for heading in ("Segment", "Contacts", "Spend", "Value", "Per 1 spent", "Next 1 returns"):
        segments.add_column(heading, justify="left" if heading == "Segment" else "right")
    for segment in recommendation.segments:
        segments.add_row(
            plan.label(segment.segment),
            f"{segment.contacts:,.0f}",
            as_money(segment.spend),
            as_money(segment.value),
            f"{segment.return_per_unit:,.2f}" + ("" if segment.funded else "*"),
            f"{segment.next_return:,.2f}",
        )
    console.print(segments)
    cells = Table(title="By channel")
    for heading in ("Segment", "Channel", "Contacts", "Of reachable", "Spend", "Value", "From"):
        cells.add_column(
            heading, justify="left" if heading in ("Segment", "Channel", "From") else "right"
        )
    for cell in recommendation.cells:
        if cell.capacity <= 0:
            continue
        cells.add_row(
            plan.label(cell.segment),
            cell.channel,
            f"{cell.contacts:,.0f}",
            f"{cell.contacts / cell.capacity:.0%}",
            as_money(cell.spend),
            as_money(cell.value),
            plan.source(cell.segment, cell.channel),
        )
    console.print(cells)
    lines = [
        f"Spend {as_money(recommendation.spend)} of {as_money(recommendation.budget)} for an "
        f"expected incremental value of {as_money(recommendation.value)} "
        f"(net {as_money(recommendation.net)}; {_sources(plan)}).",
        f"One more unit of budget is worth {recommendation.budget_dual:,.2f} net"
        + (
            "."
            if recommendation.budget_dual > 0
            else ": the rest of the budget returns less than it costs or the caps are reached."
        ),
    ]
    if any(not s.funded for s in recommendation.segments):
        lines.append("* not funded: what its first contacts would return.")
    if plan.comparison:
        lines.append(plan.comparison)
    lines.extend(f"Note: {note}." for note in plan.notes)
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)


def _sources(plan: InvestmentPlan) -> str:
    """Where the values per contact came from, in words."""
    if plan.values_source == "configured":
        return "values configured"
    rest = sum(1 for source in plan.sources.values() if source == "configured")
    if not rest:
        return f"values {plan.values_source}"
    return (
        f"values {plan.values_source} for {len(plan.sources) - rest} of {len(plan.sources)} "
        "segment and channel pairs, configured for the rest"
    )
