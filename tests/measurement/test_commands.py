"""``regard measure lift`` as a command: the table, and what it says with nothing to measure."""

from __future__ import annotations

import pytest
from rich.console import Console

from regard.measurement import commands
from regard.measurement.lift import Estimate, LiftRow
from tests.cli import Run

ARM = {
    "customers": 400.0,
    "delivered": 390.0,
    "engaged": 80.0,
    "converted": 40.0,
    "revenue": 2000.0,
    "opted_out": 1.0,
    "complained": 0.0,
}


def test_nothing_to_measure_says_so(cli: Run) -> None:
    done = cli("measure", "lift")
    assert done.returncode == 0, done.stderr
    assert "No decisions to measure yet." in done.stdout
    refused = cli("measure", "lift", "--by", "colour")
    assert refused.returncode != 0


def test_the_table_shows_the_interval_or_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [
        LiftRow(
            touchpoint="spring_camping",
            group=None,
            treated=ARM,
            control=ARM | {"customers": 100.0, "converted": 5.0, "revenue": 300.0},
            conversion=Estimate(0.05, 0.001, 0.09),
            revenue=Estimate.none("too little data: no revenue yet"),
        )
    ]
    recorded = Console(width=250, record=True)
    monkeypatch.setattr(commands, "console", recorded)
    commands.print_lift(rows, by=None)
    text = recorded.export_text()
    assert "spring_camping" in text
    assert "+5.0 pts (+0.1 to +9.0)" in text
    assert "10.0% vs 5.0%" in text
    assert "too little data: no revenue yet" in text
