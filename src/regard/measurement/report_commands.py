"""``regard report``: the measurement report, in the terminal and as an HTML page."""

from __future__ import annotations

from pathlib import Path

import typer

from regard import runtime, terminal
from regard.measurement.invest_service import AXES
from regard.measurement.report import (
    build_report,
    default_report_dir,
    print_report,
    with_simulation,
    write_report,
)
from regard.measurement.report_simulation import load_simulation
from regard.simulation.scenario import load_scenario

console = terminal.console()


def report(
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Folder for index.html and the charts; by default 'report' beside the SQLite "
        "database (where the console looks for the last simulation).",
    ),
    budget: float | None = typer.Option(
        None,
        "--budget",
        min=0.01,
        help="Money to plan for the period; by default a quarter of what full reach costs.",
    ),
    by: str = typer.Option(
        "commitment", "--by", help=f"Segments to plan by: {', '.join(AXES)}.", show_default=True
    ),
    simulate_customers: int | None = typer.Option(
        None,
        "--simulate-customers",
        min=1,
        help="Simulated customers; by default the scenario's own number.",
    ),
    no_simulate: bool = typer.Option(
        False,
        "--no-simulate",
        help="Do not run the simulator: show the last simulation stored in --out, if any.",
    ),
    scenario: Path | None = typer.Option(
        None, "--scenario", help="A simulator scenario TOML file; by default the shipped one."
    ),
) -> None:
    """Lift with intervals per touchpoint, relationship health, customer value, a budget
    recommendation and the simulator's comparison of three policies, written as HTML."""
    if by not in AXES:
        raise typer.BadParameter(f"choose one of {', '.join(AXES)}", param_hint="--by")
    if no_simulate and simulate_customers is not None:
        raise typer.BadParameter(
            "give --simulate-customers or --no-simulate, not both", param_hint="--no-simulate"
        )
    store = runtime.store()
    folder = out or default_report_dir(store)
    customers = None if no_simulate else simulate_customers or load_scenario(scenario).customers
    found = build_report(
        store, budget=budget, by=by, simulate_customers=customers, scenario=scenario
    )
    if found.simulation is None:
        found = with_simulation(found, load_simulation(folder))
    print_report(found, console)
    html = write_report(found, folder)
    console.print(f"\nReport: {html}", highlight=False, soft_wrap=True)
