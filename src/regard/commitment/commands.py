"""``regard commitment``: score the base, show one customer's commitment, import responses,
calibrate against what customers did next."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import typer
from rich.markup import escape
from rich.table import Table

from regard import runtime, terminal
from regard.commitment import imports, service
from regard.commitment.scoring import NON_USER_GROUPS, USER_GROUPS
from regard.errors import InvalidInput
from regard.preferences import views
from regard.segments import calibration
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
        base = service.score_and_remember(session, brand=store.brand, at=datetime.now(UTC))
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
    table = Table(
        "file", "rows", "recorded", "already recorded", "rejected", title="Survey import summary"
    )
    for column in table.columns[1:]:
        column.justify = "right"
    table.add_row(
        escape(path.name),
        f"{summary.rows:,}",
        f"{summary.recorded:,}",
        f"{summary.unchanged:,}",
        f"{summary.rejected:,}",
    )
    console.print(table)
    if summary.rejects_path is not None:
        console.print(
            f"{escape(path.name)}: {summary.rejected:,} rejected rows listed in "
            f"{escape(str(summary.rejects_path))}",
            highlight=False,
        )


_WINDOW = re.compile(r"(\d+)([dwmy])")
_UNIT_DAYS = {"d": 1, "w": 7, "m": 30, "y": 365}


def _window_days(text: str) -> int:
    """``365d``, ``52w``, ``12m`` or ``1y`` in days (a month is 30 days, a year 365)."""
    match = _WINDOW.fullmatch(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise InvalidInput(
            f"--window {text!r}: write a whole number of days, weeks, months or years, "
            "like 365d, 52w, 12m or 1y"
        )
    return int(match.group(1)) * _UNIT_DAYS[match.group(2)]


def auc_table(found: calibration.Calibration) -> Table:
    """How well commitment (configured and refit), satisfaction and RFM predict staying."""
    aucs = found.aucs
    table = Table("predictor", "AUC", title="How well each predicts staying")
    table.columns[1].justify = "right"
    for name, value in (
        ("commitment, configured weights", aucs.commitment_configured),
        (f"commitment, refit ({found.folds}-fold cross-validated)", aucs.commitment_refit),
        ("satisfaction alone", aucs.satisfaction),
        ("RFM alone (r + f + m when they answered)", aucs.rfm),
    ):
        table.add_row(name, f"{value:.3f}")
    return table


@app.command()
def calibrate(
    window: str = typer.Option(
        "365d", help="A customer has lapsed without a purchase this long after answering."
    ),
    as_of: str | None = typer.Option(
        None, "--as-of", help="Calibrate as on this ISO date and time (UTC if no zone); now."
    ),
    write_toml: Path | None = typer.Option(
        None,
        "--write-toml",
        help="Also write the refit settings to this new file (never the brand's regard.toml).",
    ),
) -> None:
    """Refit the commitment weights and cut points on who lapsed, and compare how well
    commitment, satisfaction alone and RFM alone predict staying (AUC)."""
    days = _window_days(window)
    moment = terminal.moment(as_of)
    terminal.new_toml_file(write_toml, command="calibrate")
    store = runtime.store()
    with unit_of_work(store) as session:
        found = calibration.calibrate_store(
            session, brand=store.brand, as_of=moment, window_days=days
        )

    console.print(auc_table(found))
    console.print(
        f"{found.responses:,} users' responses, one per customer, as of "
        f"{moment:%Y-%m-%d %H:%M} UTC; {found.lapsed:,} lapsed ({found.lapse_rate:.1%}): no "
        f"purchase within {days} days of answering.",
        highlight=False,
    )
    left_out = []
    if found.too_recent:
        left_out.append(f"{found.too_recent:,} answered too recently for the window to have passed")
    if found.not_scored:
        left_out.append(f"{found.not_scored:,} not scored (non-users, or incomplete answers)")
    if left_out:
        console.print(f"Left out: {'; '.join(left_out)}.", highlight=False)
    console.print("AUC 0.5 is chance, 1.0 ranks every stayer above every lapser.", highlight=False)
    for note in found.notes:
        console.print(f"[bold yellow]Note:[/] {escape(note)}", highlight=False)
    snippet = found.toml()
    console.print(
        "\nTo use the refit settings, put these in regard.toml, replacing cut_points and "
        "\\[commitment.weights] if they are there (each may appear once):\n",
        highlight=False,
    )
    console.print(escape(snippet), highlight=False, soft_wrap=True)
    terminal.write_toml(write_toml, snippet)
