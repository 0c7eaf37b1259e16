"""``regard touchpoints`` (the catalogue, its triggers) and ``regard journey map``."""

from __future__ import annotations

from collections.abc import Sequence

import typer
from rich.markup import escape
from rich.table import Table

from regard import runtime, terminal
from regard.config import BrandConfig
from regard.store.database import unit_of_work
from regard.touchpoints import journey, repository, triggers
from regard.touchpoints.options import TouchpointDefinition

app = typer.Typer(no_args_is_help=True)
journey_app = typer.Typer(no_args_is_help=True)
console = terminal.console()


@app.command(name="list")
def list_() -> None:
    """The catalogue: each touchpoint's topic, trigger, audience, channels and deadline, and
    how many candidates wait for a decision."""
    store = runtime.store()
    with unit_of_work(store) as session:
        pending = repository.pending_count(session)
    print_catalogue(store.brand, pending)


def print_catalogue(brand: BrandConfig, pending: dict[str, int]) -> None:
    table = Table(
        "touchpoint",
        "topic",
        "importance",
        "trigger",
        "for",
        "channels",
        "deadline",
        "pending",
        title=f"{brand.name}: {len(brand.touchpoints)} touchpoints",
    )
    table.columns[-1].justify = "right"
    for touchpoint in brand.touchpoints:
        topic = brand.topic(touchpoint.topic)
        table.add_row(
            escape(touchpoint.name),
            escape(touchpoint.topic),
            topic.importance if topic else "-",
            escape(touchpoint.trigger_text),
            escape(", ".join(touchpoint.segments) or "everyone"),
            ", ".join(c.channel for c in touchpoint.channels),
            _duration(touchpoint),
            f"{pending.get(touchpoint.name, 0):,}",
        )
    console.print(table)


def _duration(touchpoint: TouchpointDefinition) -> str:
    if touchpoint.deadline is None:
        return "-"
    hours = touchpoint.deadline.total_seconds() / 3600
    return f"{hours:g}h" if hours < 48 else f"{hours / 24:g}d"


@app.command()
def trigger(
    as_of: str | None = typer.Option(
        None, "--as-of", help="Run as at this ISO date and time (UTC if no zone); now."
    ),
) -> None:
    """Run every event and schedule trigger once: new candidates, each made once."""
    store = runtime.store()
    with unit_of_work(store) as session:
        done = triggers.run_triggers(session, brand=store.brand, now=terminal.moment(as_of))
    print_triggered(done)


def print_triggered(done: Sequence[triggers.Triggered]) -> None:
    table = Table("touchpoint", "trigger", "new candidates", "skipped", title="Triggers")
    table.columns[2].justify = "right"
    for row in done:
        skipped = "; ".join(f"{n:,} {why}" for why, n in row.skipped.items()) or "-"
        table.add_row(escape(row.touchpoint), row.kind, f"{row.created:,}", escape(skipped))
    console.print(table)


@journey_app.command(name="map")
def map_(
    as_of: str | None = typer.Option(
        None, "--as-of", help="Map as at this ISO date and time (UTC if no zone); now."
    ),
) -> None:
    """Which touchpoints reach each lifecycle stage and segment, by which channels, and where
    there are gaps (nothing but offers) and pile-ups (too many offers a week)."""
    store = runtime.store()
    with unit_of_work(store) as session:
        found = journey.read_journey(session, brand=store.brand, now=terminal.moment(as_of))
    print_journey(found)


def print_journey(found: journey.JourneyMap) -> None:
    table = Table(
        "segment",
        "members",
        "reached by (share of members, messages a week)",
        "offers a week",
        "",
        title=f"Journey map (last {found.window_days} days)",
    )
    table.columns[1].justify = table.columns[3].justify = "right"
    for row in found.rows:
        reaches = "\n".join(
            escape(f"{r.touchpoint} ({', '.join(r.channels)}): {r.share:.0%}, {r.per_week:.2g}/wk")
            for r in sorted(row.reaches, key=lambda r: -r.share)
        )
        flags = [
            *(["[bold red]gap[/]"] if row.gap else []),
            *(["[bold yellow]pile-up[/]"] if row.pile_up else []),
        ]
        table.add_row(
            escape(row.segment),
            f"{row.members:,}",
            reaches or "[italic]nothing[/]",
            f"{row.promotional_per_week:.1f}",
            " ".join(flags),
        )
    console.print(table)
    if found.gaps:
        console.print(
            f"Gaps: {', '.join(found.gaps)}: no touchpoint but offers reaches "
            f"{journey.GAP_SHARE:.0%} of them.",
            highlight=False,
        )
    if found.pile_ups:
        console.print(
            f"Pile-ups: {', '.join(found.pile_ups)}: more than "
            f"{found.pile_up_per_week:g} offers a week may reach them.",
            highlight=False,
        )
