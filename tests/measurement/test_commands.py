"""``regard measure lift`` and ``regard measure health`` as commands: the tables, and what they
say with nothing to measure."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
from rich.console import Console

from regard.measurement import commands
from regard.measurement.health import (
    COMPLAINT_LINE,
    GROUPS,
    LIFECYCLE_STAGES,
    RATE_COUNTS,
    transition_matrix,
    weekly_rates,
)
from regard.measurement.health_service import RelationshipHealth
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


def test_health_on_an_empty_store_prints_every_table(cli: Run) -> None:
    done = cli("measure", "health", "--weeks", "2")
    assert done.returncode == 0, done.stderr
    for title in (
        "Rates per week (complaint line 0.3%)",
        "Rates per channel",
        "At their caps now",
        "Commitment movement: no customer has answered two surveys yet.",
        "Lifecycle movement: 90 days ago (rows) to now",
    ):
        assert title in done.stdout
    assert "too little data: 0 sent, at least 500 needed" in done.stdout
    assert "won_back" in done.stdout
    refused = cli("measure", "health", "--weeks", "0")
    assert refused.returncode != 0


def _health() -> RelationshipHealth:
    """One week over the complaint line, one with too little data; one customer moved from
    Shallow to Average, one lifecycle stage kept."""
    line = COMPLAINT_LINE
    weeks = [date(2026, 3, 2), date(2026, 3, 9)]
    counts = pl.DataFrame(
        {
            "week": weeks,
            "sent": [1000, 40],
            "delivered": [990, 40],
            "opted_out": [5, 0],
            "complained": [4, 0],
        },
        schema_overrides=dict.fromkeys(RATE_COUNTS, pl.Int64),
    )
    rates = weekly_rates(
        pl.DataFrame(
            [
                {
                    "outbox_id": i,
                    "channel": "email",
                    "sent_at": datetime(w.year, w.month, w.day, 10, tzinfo=UTC),
                    "delivered": i < d,
                    "opted_out": i < o,
                    "complained": i < c,
                }
                for w, s, d, o, c in counts.iter_rows()
                for i in range(s)
            ]
        ),
        weeks=weeks,
    )
    moved = pl.DataFrame({"from_group": ["Shallow"], "to_group": ["Average"]})
    stages = pl.DataFrame({"from_stage": ["active"], "to_stage": ["active"]})
    return RelationshipHealth(
        as_of=datetime(2026, 3, 11, tzinfo=UTC),
        rates=rates,
        rates_by_channel=rates.drop("week").head(1).with_columns(channel=pl.lit("email")),
        fatigue=pl.DataFrame(
            {
                "channel": ["email", "all"],
                "reachable": [200, 200],
                "at_cap": [50, 20],
                "share": [0.25, 0.1],
            }
        ),
        commitment_transitions=transition_matrix(
            moved, labels=GROUPS, names=("from_group", "to_group")
        ),
        lifecycle_transitions=transition_matrix(
            stages, labels=LIFECYCLE_STAGES, names=("from_stage", "to_stage")
        ),
        complaint_line=line,
        rates_by_touchpoint=rates.drop("week").head(0).with_columns(touchpoint=pl.lit("x")),
        min_sent=500,
        lifecycle_period=timedelta(days=90),
    )


def test_the_health_tables_mark_the_line(monkeypatch: pytest.MonkeyPatch) -> None:
    recorded = Console(width=250, record=True)
    monkeypatch.setattr(commands, "console", recorded)
    commands.print_health(_health())
    text = recorded.export_text()
    week = next(line for line in text.splitlines() if "2026-03-02" in line)
    assert "0.40% !" in week
    assert "complaints above the 0.3% line" in week
    quiet = next(line for line in text.splitlines() if "2026-03-09" in line)
    assert "too little data: 40 sent, at least 500 needed" in quiet
    assert "!" not in quiet
    assert "every channel" in text
    assert "25.0%" in text
    shallow = next(line for line in text.splitlines() if line.strip(" │┃").startswith("Shallow"))
    assert "1 (100%)" in shallow
