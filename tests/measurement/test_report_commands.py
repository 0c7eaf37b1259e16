"""``regard report`` as a command: the report in the terminal, the HTML where it says, the
simulator run or the last one reused, and clear refusals."""

from __future__ import annotations

from pathlib import Path

from regard.measurement.report_simulation import SIMULATION_FILE, load_simulation
from regard.simulation.scenario import default_scenario_text
from tests.cli import Run


def test_without_a_simulation_the_report_is_written_beside_the_database(
    cli: Run, tmp_path: Path
) -> None:
    done = cli("report", "--no-simulate")
    assert done.returncode == 0, done.stderr
    assert "Measurement report" in done.stdout
    assert "No decisions to measure yet:" in done.stdout
    assert "Not simulated for this report" in done.stdout
    page = tmp_path / "report" / "index.html"
    assert f"Report: {page}" in done.stdout.replace("\n", "")
    assert page.exists()
    assert "Lift over the control groups" in page.read_text(encoding="utf-8")


def test_the_simulation_runs_and_is_kept_for_the_next_report(cli: Run, tmp_path: Path) -> None:
    scenario = tmp_path / "small.toml"
    scenario.write_text(
        default_scenario_text().replace("weeks = 26", "weeks = 2"), encoding="utf-8"
    )
    out = tmp_path / "elsewhere"
    done = cli(
        "report", "--out", str(out), "--simulate-customers", "200", "--scenario", str(scenario)
    )
    assert done.returncode == 0, done.stderr
    assert "Spray and pray sent" in done.stdout
    stored = load_simulation(out)
    assert stored is not None
    assert (stored.customers, stored.weeks) == (200, 2)
    assert len(list(out.glob("simulation-*.png"))) == len(stored.charts)

    again = cli("report", "--out", str(out), "--no-simulate")
    assert again.returncode == 0, again.stderr
    assert stored.headline in again.stdout
    assert (out / SIMULATION_FILE).exists()


def test_bad_options_are_refused(cli: Run) -> None:
    wrong_axis = cli("report", "--no-simulate", "--by", "colour")
    assert wrong_axis.returncode == 2
    assert "commitment, lifecycle, rfm" in wrong_axis.stderr
    both = cli("report", "--no-simulate", "--simulate-customers", "10")
    assert both.returncode == 2
    assert "not both" in both.stderr
