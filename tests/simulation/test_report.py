"""The report: every chart as SVG and PNG, and the HTML page with every chart's text."""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from typer.testing import CliRunner

from regard.cli import app
from regard.simulation.report import build_charts, write_report
from regard.simulation.run import SimulationResult, simulate
from regard.simulation.scenario import load_scenario


@pytest.fixture(scope="module")
def tiny() -> SimulationResult:
    return simulate(load_scenario(), customers=300, weeks=2)


def test_the_report_has_every_charts_text_alternative(
    tiny: SimulationResult, tmp_path: Path
) -> None:
    files = write_report(tiny, out=tmp_path)
    page = files.html.read_text(encoding="utf-8")
    charts = build_charts(tiny)
    assert len(charts) >= 8
    for item in charts:
        assert html.escape(item.chart.alt) in page
        assert item.chart.title in page
    for policy in ("Regard", "Frequency caps only", "Spray and pray"):
        assert policy in page
    # Self-contained: nothing fetched from elsewhere.
    assert "<link" not in page
    assert 'src="' not in page
    for png in files.pngs:
        assert png.read_bytes().startswith(b"\x89PNG")
    for svg in files.svgs:
        assert svg.read_text(encoding="utf-8").startswith("<svg")


def test_regard_simulate_writes_its_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["simulate", "--customers", "200", "--weeks", "1", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "Spray and pray" in result.output
    assert (out / "report.html").exists()
    assert (out / "summary.csv").read_text(encoding="utf-8").startswith("policy,")
    assert (out / "revenue.svg").exists()
    assert (out / "revenue.png").exists()


def test_regard_simulate_reads_a_scenario_file(tmp_path: Path) -> None:
    scenario = tmp_path / "mine.toml"
    text = (Path(__file__).parents[2] / "src/regard/simulation/scenario.toml").read_text("utf-8")
    scenario.write_text(text.replace("per_week = 3", "per_week = 1"), encoding="utf-8")
    result = CliRunner().invoke(
        app,
        ["simulate", "--scenario", str(scenario), "--customers", "100", "--weeks", "1",
         "--out", str(tmp_path / "o")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "at most 1 messages" in (tmp_path / "o" / "report.html").read_text("utf-8")
