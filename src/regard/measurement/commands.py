"""``regard measure``: what the brand's messages achieved over their control groups."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.markup import escape
from rich.table import Table

from regard import runtime, terminal
from regard.measurement.lift import Estimate, LiftRow, measure_lift
from regard.measurement.outcomes import Breakdown
from regard.store.database import unit_of_work

app = typer.Typer(no_args_is_help=True)
console = terminal.console()


@app.command()
def lift(
    touchpoint: str | None = typer.Option(None, help="Only this touchpoint."),
    by: str | None = typer.Option(None, help="Per segment, channel or week."),
) -> None:
    """Outcomes of each touchpoint, treated beside its control group, and the lift with its
    interval (or why there is too little data for one)."""
    if by not in (None, "segment", "channel", "week"):
        raise typer.BadParameter("--by is segment, channel or week")
    breakdown: Breakdown | None = by  # type: ignore[assignment]
    store = runtime.store()
    with unit_of_work(store) as session:
        rows = measure_lift(
            session, brand=store.brand, now=datetime.now(UTC), touchpoint=touchpoint, by=breakdown
        )
    print_lift(rows, by=by)


def print_lift(rows: list[LiftRow], *, by: str | None) -> None:
    """The lift table, one line per touchpoint (and group)."""
    if not rows:
        console.print("No decisions to measure yet.")
        return
    table = Table(
        "touchpoint",
        *([by] if by else []),
        "treated",
        "control",
        "converted",
        "conversion lift",
        "revenue / customer",
        "revenue lift",
        "opt-outs",
        "complaints",
        title="Lift over the control group",
    )
    for row in rows:
        t, c = row.treated, row.control
        table.add_row(
            escape(row.touchpoint),
            *([escape(row.group or "-")] if by else []),
            f"{t['customers']:.0f}",
            f"{c['customers']:.0f}",
            f"{_share(t['converted'], t['customers'])} vs {_share(c['converted'], c['customers'])}",
            _estimate(row.conversion, percent=True),
            f"{_mean(t)} vs {_mean(c)}",
            _estimate(row.revenue, percent=False),
            f"{t['opted_out']:.0f} / {c['opted_out']:.0f}",
            f"{t['complained']:.0f}",
        )
    console.print(table)


def _share(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def _mean(arm: dict[str, float]) -> str:
    return f"{arm['revenue'] / arm['customers']:.2f}" if arm["customers"] else "-"


def _estimate(estimate: Estimate, *, percent: bool) -> str:
    if estimate.difference is None or estimate.low is None or estimate.high is None:
        return estimate.reason or "-"
    if percent:
        return (
            f"{estimate.difference * 100:+.1f} pts "
            f"({estimate.low * 100:+.1f} to {estimate.high * 100:+.1f})"
        )
    return f"{estimate.difference:+.2f} ({estimate.low:+.2f} to {estimate.high:+.2f})"
