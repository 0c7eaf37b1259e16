"""The simulator's comparison of the three policies as a section of the measurement report, and
kept as JSON so that the console can show the most recent one without simulating on a page load.

The stored summary holds what the report shows (the headline, the comparison table, each chart
with its sentence and table, the commitment transitions per policy): no customer, simulated or
real, appears in it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from regard.console.charts import Chart
from regard.errors import InvalidInput
from regard.simulation.report import build_charts, headline, summary_rows, transition_rows
from regard.simulation.run import SimulationResult, simulate
from regard.simulation.scenario import load_scenario

__all__ = [
    "SIMULATION_FILE",
    "SimulationSummary",
    "load_simulation",
    "run_simulation",
    "save_simulation",
    "summarise_simulation",
]

SIMULATION_FILE = "simulation.json"
_VERSION = 1

Rows = tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class SimulationSummary:
    """One simulator run, as the report shows it. ``charts`` carry PNGs only when just drawn."""

    customers: int
    weeks: int
    seed: int
    cap: int
    simulated_at: datetime
    seconds: float
    headline: str
    rows: Rows
    charts: tuple[Chart, ...]
    transitions: tuple[tuple[str, Rows], ...]

    def to_json(self) -> str:
        charts = [
            {"title": c.title, "alt": c.alt, "table": c.table, "svg": c.svg} for c in self.charts
        ]
        return json.dumps(
            {
                "version": _VERSION,
                "customers": self.customers,
                "weeks": self.weeks,
                "seed": self.seed,
                "cap": self.cap,
                "simulated_at": self.simulated_at.isoformat(),
                "seconds": self.seconds,
                "headline": self.headline,
                "rows": self.rows,
                "charts": charts,
                "transitions": self.transitions,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> SimulationSummary:
        data: dict[str, Any] = json.loads(text)
        if data.get("version") != _VERSION:
            raise ValueError(f"unknown version {data.get('version')!r}")
        return cls(
            customers=int(data["customers"]),
            weeks=int(data["weeks"]),
            seed=int(data["seed"]),
            cap=int(data["cap"]),
            simulated_at=datetime.fromisoformat(data["simulated_at"]),
            seconds=float(data["seconds"]),
            headline=str(data["headline"]),
            rows=_rows(data["rows"]),
            charts=tuple(
                Chart(
                    svg=str(c["svg"]),
                    alt=str(c["alt"]),
                    table=_rows(c["table"]),
                    title=str(c["title"]),
                )
                for c in data["charts"]
            ),
            transitions=tuple((str(name), _rows(rows)) for name, rows in data["transitions"]),
        )


def _rows(value: Any) -> Rows:
    return tuple(tuple(str(cell) for cell in row) for row in value)


def summarise_simulation(result: SimulationResult, *, at: datetime) -> SimulationSummary:
    """The report's view of a simulator run: its table, headline, charts (with PNGs) and the
    commitment transitions of each policy."""
    charts = tuple(replace(item.chart, png=item.png) for item in build_charts(result))
    return SimulationSummary(
        customers=result.customers,
        weeks=result.weeks,
        seed=result.scenario.seed,
        cap=result.scenario.caps_only.per_week,
        simulated_at=at,
        seconds=result.seconds,
        headline=headline(result),
        rows=tuple(summary_rows(result)),
        charts=charts,
        transitions=tuple(
            (outcome.label, tuple(transition_rows(result, outcome.key)))
            for outcome in result.outcomes
        ),
    )


def run_simulation(
    *, customers: int, scenario: Path | None, at: datetime, weeks: int | None = None
) -> SimulationSummary:
    """Simulate ``customers`` (the scenario's weeks, or ``weeks``) under the three policies."""
    if customers < 1:
        raise InvalidInput("the simulation needs at least one customer")
    result = simulate(load_scenario(scenario), customers=customers, weeks=weeks)
    return summarise_simulation(result, at=at)


def save_simulation(summary: SimulationSummary, out: Path) -> Path:
    """Write ``simulation.json`` into ``out`` (created if need be); returns its path."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / SIMULATION_FILE
    path.write_text(summary.to_json(), encoding="utf-8")
    return path


def load_simulation(out: Path) -> SimulationSummary | None:
    """The simulation last stored in ``out``, or None when there is none. A file that cannot be
    read is an error naming it."""
    path = out / SIMULATION_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return SimulationSummary.from_json(text)
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(
            f"{path} is not a simulation Regard stored ({exc}); run 'regard report' again"
        ) from None
