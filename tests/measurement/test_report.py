"""The measurement report: each section carries the numbers of the store, says "too little data"
where there is, and its HTML holds every chart's text alternative and table, and no person."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console

from regard.measurement.models import CustomerValue, TouchpointValue
from regard.measurement.report import (
    build_report,
    default_report_dir,
    print_report,
    write_report,
)
from regard.measurement.report_simulation import SIMULATION_FILE, load_simulation
from regard.simulation.scenario import default_scenario_text
from regard.store.database import Store, unit_of_work
from tests.measurement.report_support import AS_OF, PERSONAL, populate


@pytest.fixture
def groups(store: Store) -> dict[str, list[int]]:
    return populate(store)


def test_the_sections_carry_the_stores_numbers(store: Store, groups: dict[str, list[int]]) -> None:
    report = build_report(store, as_of=AS_OF, budget=0.05)
    assert report.brand == store.brand.name
    assert [s.key for s in report.sections] == ["lift", "health", "value", "budget", "simulation"]

    lift = {row.touchpoint: row for row in report.lift}
    camping = lift["camping_offer"]
    assert camping.treated["customers"] == 16
    assert camping.control["customers"] == 8
    assert camping.conversion.difference == pytest.approx(8 / 16 - 1 / 8)
    assert camping.conversion.low is not None
    assert camping.conversion.high is not None
    assert camping.revenue.difference == pytest.approx(8 * 40 / 16 - 40 / 8)
    news = lift["spring_news"]
    assert news.conversion.difference is None
    assert news.conversion.reason == "too little data: 3 treated and 1 in control, at least 5 each"

    section = report.section("lift")
    [table] = section.tables
    rows = {row[0]: row for row in table.rows[1:]}
    assert rows["camping_offer"][4] == "+37.5 pts (" + rows["camping_offer"][4].split("(")[1]
    assert rows["camping_offer"][3] == "50.0% vs 12.5%"
    assert rows["spring_news"][4].startswith("too little data")
    assert section.lines[0].startswith("1 of 2 touchpoints have enough data")
    conversion_chart = section.charts[0]
    assert "camping_offer: +37.5 pts" in conversion_chart.alt
    assert "spring_news: too little data" in conversion_chart.alt

    assert report.health is not None
    matrix = report.health.commitment_transitions
    assert int(matrix["customers"].sum()) == 3
    health = report.section("health")
    assert "3 customers answered two survey waves" in health.lines[1]
    assert [c.title for c in health.charts][2] == "Commitment movement between surveys"

    plan = report.investment
    assert plan is not None
    assert plan.recommendation.budget == pytest.approx(0.05)
    budget = report.section("budget")
    assert plan.comparison in budget.lines
    assert "Convertible users" in plan.comparison
    assert budget.charts[0].title.startswith("Return of one more unit of budget")

    value = report.section("value")
    assert "customer value is not configured" in value.lines[0]
    assert "not been refreshed" in value.lines[1]
    assert report.simulation is None
    assert report.section("simulation").lines[0].startswith("Not simulated")


def test_without_a_budget_a_quarter_of_full_reach_is_planned(
    store: Store, groups: dict[str, list[int]]
) -> None:
    report = build_report(store, as_of=AS_OF)
    assert report.investment is not None
    budget = report.section("budget")
    assert budget.lines[0].startswith("No budget was given: this plans")
    assert "a quarter of the" in budget.lines[0]


def test_an_empty_store_says_what_is_missing(store: Store) -> None:
    report = build_report(store, as_of=AS_OF, budget=10.0)
    assert report.lift == ()
    assert report.section("lift").lines[0].startswith("No decisions to measure yet")
    assert report.investment is None
    assert report.section("budget").lines[0].startswith("No budget recommendation: nothing to")
    assert "No customer has answered two survey waves yet" in report.section("health").lines[1]


def test_stored_values_are_shown(store: Store, groups: dict[str, list[int]]) -> None:
    now = datetime.now(UTC)
    with unit_of_work(store) as session:
        session.add_all(
            CustomerValue(
                customer_id=customer,
                expected_value=10.0 * (index + 1),
                probability_alive=0.8,
                scored_at=now,
            )
            for index, customer in enumerate(groups["treated"][:4])
        )
        session.add(
            TouchpointValue(
                touchpoint="camping_offer",
                segment="default",
                channel="all",
                configured=1.0,
                measured=15.0,
                learned=1.2,
                weight=0.016,
                customers=16.0,
                measured_at=now,
            )
        )
    report = build_report(store, as_of=AS_OF, budget=0.05)
    assert report.clv.customers == 4
    assert report.clv.mean == pytest.approx(25.0)
    assert report.clv.source == "stored"
    value = report.section("value")
    assert value.lines[0].startswith("4 customers with a purchase are valued, as the engine")
    assert "mean lifetime value of 25.00" in value.lines[0]
    [table] = value.tables
    assert table.rows[1] == (
        "camping_offer", "default", "all", "1.00", "15.00", "16", "2%", "1.20",
    )  # fmt: skip
    by_group = value.charts[0]
    assert by_group.title == "Mean customer lifetime value by commitment group"
    # Treated customers 0 and 2 are Entrenched (10, 30), 1 and 3 Convertible (20, 40).
    assert "Convertible: 30.00" in by_group.alt
    assert "Entrenched: 20.00" in by_group.alt


def test_the_html_has_every_chart_with_its_words_and_numbers_and_no_person(
    sqlite_store: Store, tmp_path: Path
) -> None:
    populate(sqlite_store)
    scenario = tmp_path / "scenario.toml"
    scenario.write_text(
        default_scenario_text().replace("weeks = 26", "weeks = 2"),
        encoding="utf-8",
    )
    report = build_report(
        sqlite_store, as_of=AS_OF, budget=0.05, simulate_customers=300, scenario=scenario
    )
    assert report.simulation is not None
    assert report.simulation.customers == 300
    assert report.simulation.weeks == 2
    out = tmp_path / "report"
    page = write_report(report, out)
    assert page == out / "index.html"
    text = page.read_text(encoding="utf-8")
    shown = html.unescape(text)
    charts = [chart for section in report.sections for chart in section.charts]
    assert len(charts) >= 2 + 4 + 2 + 10
    assert text.count("<svg") == len(charts)
    for chart in charts:
        assert chart.alt in shown
        assert f"{chart.title}: the numbers" in shown
        for row in chart.table[1:]:
            assert row[0] in shown
    assert len(list(out.glob("*.png"))) == len(charts)
    assert "<script" not in text
    for personal in PERSONAL:
        assert personal not in shown
    assert "Spray and pray sent" in shown
    stored = load_simulation(out)
    assert stored is not None
    assert (out / SIMULATION_FILE).exists()
    assert stored.headline == report.simulation.headline
    assert [c.alt for c in stored.charts] == [c.alt for c in report.simulation.charts]
    assert default_report_dir(sqlite_store) == tmp_path / "report"


def test_the_terminal_shows_the_same_tables(sqlite_store: Store) -> None:
    populate(sqlite_store)
    report = build_report(sqlite_store, as_of=AS_OF, budget=0.05)
    console = Console(width=400, record=True)
    print_report(report, console)
    text = console.export_text()
    assert "Each touchpoint beside its control group" in text
    assert "camping_offer" in text
    assert "too little data: 3 treated and 1 in control" in text
    assert "Commitment movement between surveys" in text
    assert "Recommended contacts by commitment segment" in text
    assert "Not simulated for this report" in text
    assert "Charts in the HTML report: Conversion lift per touchpoint;" in text
    for personal in PERSONAL:
        assert personal not in text
