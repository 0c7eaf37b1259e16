"""``regard measure``: what the brand's messages achieved over their control groups, and what
they cost in the relationship."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import typer
from rich.markup import escape
from rich.table import Table

from regard import runtime, terminal
from regard.measurement.health_service import MAX_WEEKS, RelationshipHealth, relationship_health
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


@app.command()
def health(
    weeks: int = typer.Option(12, min=1, max=MAX_WEEKS, help="Weeks of rates, this one the last."),
) -> None:
    """Relationship health beside revenue: opt-out and complaint rates per week and channel
    (weeks over the complaint line marked), customers at their caps, and how commitment and
    lifecycle stages moved."""
    store = runtime.store()
    with unit_of_work(store) as session:
        found = relationship_health(
            session, brand=store.brand, as_of=datetime.now(UTC), weeks=weeks
        )
    print_health(found)


def print_health(found: RelationshipHealth) -> None:
    """The rates (per week, then per channel), fatigue and both transition matrices."""
    line = f"{found.complaint_line:.1%}"
    console.print(
        _rates_table(found.rates, "week", title=f"Rates per week (complaint line {line})")
    )
    console.print(_rates_table(found.rates_by_channel, "channel", title="Rates per channel"))
    fatigue = Table("channel", "reachable", "at their caps", "share", title="At their caps now")
    for row in found.fatigue.iter_rows(named=True):
        fatigue.add_row(
            "every channel" if row["channel"] == "all" else row["channel"],
            f"{row['reachable']:,}",
            f"{row['at_cap']:,}",
            "-" if row["share"] is None else f"{row['share']:.1%}",
        )
    console.print(fatigue)
    if found.commitment_transitions["customers"].sum():
        console.print(
            _matrix_table(
                found.commitment_transitions,
                ("from_group", "to_group"),
                title="Commitment movement: previous survey (rows) to latest (columns)",
            )
        )
    else:
        console.print("Commitment movement: no customer has answered two surveys yet.")
    console.print(
        _matrix_table(
            found.lifecycle_transitions,
            ("from_stage", "to_stage"),
            title=(
                f"Lifecycle movement: {found.lifecycle_period.days} days ago (rows) to now "
                "(columns)"
            ),
        )
    )


def _rates_table(frame: pl.DataFrame, key: str, *, title: str) -> Table:
    table = Table(
        key, "sent", "delivered", "opted out", "complained", "opt-out rate", "complaint rate",
        "", title=title,
    )  # fmt: skip
    for row in frame.iter_rows(named=True):
        over = bool(row["over_line"])
        table.add_row(
            escape(str(row[key])),
            f"{row['sent']:,}",
            f"{row['delivered']:,}",
            f"{row['opted_out']:,}",
            f"{row['complained']:,}",
            _rate(row["opt_out_rate"]),
            # Over the line: red, with a "!" and the note, so it shows without colour too.
            f"[bold red]{_rate(row['complaint_rate'])} ![/]"
            if over
            else _rate(row["complaint_rate"]),
            escape(row["note"] or ""),
        )
    return table


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _matrix_table(frame: pl.DataFrame, names: tuple[str, str], *, title: str) -> Table:
    start, end = names
    labels = frame[end].unique(maintain_order=True).to_list()
    table = Table("", *labels, "customers", title=title)
    for label, cells in frame.group_by(start, maintain_order=True):
        counts = cells["customers"].to_list()
        shares = cells["share"].to_list()
        table.add_row(
            escape(str(label[0])),
            *(
                "." if not count else f"{count:,} ({share:.0%})"
                for count, share in zip(counts, shares, strict=True)
            ),
            f"{sum(counts):,}",
        )
    return table
