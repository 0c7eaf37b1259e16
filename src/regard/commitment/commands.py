"""``regard commitment``: score the base, show one customer's commitment, import responses."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import typer
from rich.markup import escape
from rich.table import Table

from regard import runtime, terminal
from regard.commitment import imports, service
from regard.commitment.scoring import NON_USER_GROUPS, USER_GROUPS
from regard.preferences import views
from regard.store.database import unit_of_work

app = typer.Typer(no_args_is_help=True)
console = terminal.console()


def _number(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


@app.command()
def score() -> None:
    """Score every surveyed customer's latest response; print the groups and the cut points."""
    store = runtime.store()
    with unit_of_work(store) as session:
        base = service.score_base(session, brand=store.brand)
    cuts = service.base_cuts(base, brand=store.brand)
    counts = dict(
        base.group_by("group").len().select(pl.col("group").cast(pl.String), "len").iter_rows()
    )
    total = base.height
    table = Table("group", "customers", "share", title=f"Commitment of {total:,} customers")
    table.columns[1].justify = table.columns[2].justify = "right"
    for group in (*USER_GROUPS, *NON_USER_GROUPS, None):
        count = counts.get(group, 0)
        if group is None and count == 0:
            continue
        share = f"{count / total:.1%}" if total else "-"
        table.add_row(group or "not scored", f"{count:,}", share)
    console.print(table)
    if cuts is None:
        console.print("No user could be scored, so no cut points were used.")
    else:
        how = "configured" if store.brand.commitment.cut_points else "quartiles of the base"
        console.print(
            f"Cut points ({how}): Shallow from {cuts.shallow_from:.3f}, Average from "
            f"{cuts.average_from:.3f}, Entrenched from {cuts.entrenched_from:.3f}",
            highlight=False,
        )


@app.command()
def show(customer: str = typer.Argument(..., help="The customer's id or email address.")) -> None:
    """A customer's survey responses, each scored with today's cut points, and their group now."""
    store = runtime.store()
    with unit_of_work(store) as session:
        cid = views.find_customer(session, customer, brand=store.brand, vault=store.vault)
        found = service.history(session, cid, brand=store.brand)
    history = Table(
        "answered (UTC)",
        "source",
        "respondent",
        "score",
        "margin",
        "group",
        "words",
        title=f"Commitment survey responses of customer {found.customer_id}",
    )
    for row in found.history.iter_rows(named=True):
        history.add_row(
            row["responded_at"].strftime("%Y-%m-%d %H:%M"),
            escape(row["source"]),
            "user" if row["is_user"] else "non-user",
            _number(row["score"]),
            _number(row["margin"], 1),
            escape(row["group"] or "not scored"),
            "yes (encrypted)" if row["has_free_text"] else "-",
        )
    console.print(history)
    current = found.current
    if current is None:
        console.print(f"Customer {found.customer_id} has not answered the survey.")
        return
    console.print(
        f"[bold]Now: {escape(current['group'] or 'not scored')}[/] — {escape(current['reason'])}",
        highlight=False,
    )


@app.command(name="import")
def import_file(
    path: Path = typer.Argument(..., help="A .csv or .jsonl file of survey responses."),
    source: str = typer.Option("import", help="Where the responses came from: import, page, api."),
    rejects: Path | None = typer.Option(None, help="Where to list rejected rows."),
    batch_size: int = typer.Option(imports.DEFAULT_BATCH_SIZE, help="Rows per committed batch."),
) -> None:
    """Import commitment survey responses.

    Columns: email or customer_id; is_user (true/false); one column per survey item key;
    responded_at (with its time zone); optional text_<question> columns of free text.
    """
    summary = imports.import_response_file(
        runtime.store(), path, source=source, rejects_path=rejects, batch_size=batch_size
    )
    table = Table("file", "rows", "recorded", "rejected", title="Survey import summary")
    for column in table.columns[1:]:
        column.justify = "right"
    table.add_row(
        escape(path.name), f"{summary.rows:,}", f"{summary.recorded:,}", f"{summary.rejected:,}"
    )
    console.print(table)
    if summary.rejects_path is not None:
        console.print(
            f"{escape(path.name)}: {summary.rejected:,} rejected rows listed in "
            f"{escape(str(summary.rejects_path))}",
            highlight=False,
        )
