"""``regard delivery``: the complaint-rate breaker's streams, and resuming a halted one."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.markup import escape
from rich.table import Table

from regard import runtime, terminal
from regard.delivery import breaker
from regard.store.database import unit_of_work

app = typer.Typer(no_args_is_help=True)
console = terminal.console()


@app.command()
def streams() -> None:
    """Each sending stream the breaker has moved: its state, and its rate now."""
    store = runtime.store()
    options = store.brand.delivery.breaker
    now = datetime.now(UTC)
    table = Table("stream", "state", "complaints", "sent", "now", title="Complaint-rate breaker")
    with unit_of_work(store) as session:
        for row in breaker.streams(session):
            reading = breaker.read(session, row.stream, now, options=options)
            table.add_row(
                escape(row.stream),
                row.state,
                f"{reading.complaints:,}",
                f"{reading.deliveries:,}",
                escape(reading.note),
            )
    console.print(table)


@app.command()
def resume(
    stream: str = typer.Argument(..., help="The stream, e.g. email:news.example or sms."),
) -> None:
    """Let a halted (or slowed) stream send again; complaints before now stop counting."""
    with unit_of_work(runtime.store()) as session:
        breaker.resume(session, stream, now=datetime.now(UTC))
    console.print(f"Stream {escape(stream)} resumed: sending goes on at the normal pace.")
