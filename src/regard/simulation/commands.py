"""``regard simulate``: the relationship simulator, from the command line."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from regard import terminal
from regard.simulation.report import headline, summary_rows, write_report
from regard.simulation.run import simulate as run_simulation
from regard.simulation.scenario import load_scenario

console = terminal.console()


def simulate(
    scenario: Path | None = typer.Option(
        None, "--scenario", help="A scenario TOML file; by default the shipped scenario."
    ),
    customers: int | None = typer.Option(
        None, "--customers", min=1, help="Simulated customers (overrides the scenario)."
    ),
    weeks: int | None = typer.Option(
        None, "--weeks", min=1, help="Weeks to simulate (overrides the scenario)."
    ),
    out: Path = typer.Option(
        Path("simulation"), "--out", help="Folder for the report, charts and summary."
    ),
) -> None:
    """Run a synthetic population under Regard's policy, frequency caps only and spray and
    pray, and report revenue, messages, opt-outs, complaints and commitment drift."""
    chosen = load_scenario(scenario)
    result = run_simulation(chosen, customers=customers, weeks=weeks)
    rows = summary_rows(result)
    table = Table(title=f"{result.customers:,} customers, {result.weeks} weeks")
    for heading in rows[0]:
        table.add_column(heading, justify="left" if heading == "Policy" else "right")
    for row in rows[1:]:
        table.add_row(*row)
    console.print(table)
    console.print(headline(result), highlight=False)
    files = write_report(result, out=out)
    console.print(
        f"Report: {files.html} ({len(files.svgs)} charts as SVG and PNG, summary in "
        f"{files.table.name}); simulated in {result.seconds:.1f} s.",
        highlight=False,
    )
