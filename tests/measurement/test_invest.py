"""Investment allocation: the LP worked by hand, its invariants, and the service on the store."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest
from rich.console import Console

from regard.config import BrandConfig
from regard.errors import InvalidInput
from regard.measurement import invest_commands, values_repository
from regard.measurement.invest import Cell, InvestmentProblem, Tranche, recommend
from regard.measurement.invest_service import (
    investment_charts,
    learned_cell_values,
    recommend_investment,
)
from regard.segments.models import SegmentMembership
from regard.store.database import Store, unit_of_work
from regard.touchpoints.options import ChannelContent, TouchpointDefinition
from tests.segments.support import add_customer, set_preferences

HALVES = (Tranche(share=0.5, factor=1.0), Tranche(share=0.5, factor=0.5))


def hand_worked(budget: float = 12.0) -> InvestmentProblem:
    """Net per contact and tranche (value x factor - cost), gross return per unit spent:
    A email 3 (4.0) then 1 (2.0); A sms 1 (1.5) then -0.5; B email 0.5 (1.5) then -0.25;
    B sms 8 (5.0) then 3 (2.5), 2 contacts each. With 12 to spend: B sms first (4), A email's
    first half (5), then 1.5 of B sms's second tranche (3): value 20 + 27.5, dual 3/2."""
    return InvestmentProblem(
        budget=budget,
        cells=(
            Cell(segment="A", channel="email", cost=1.0, value=4.0, capacity=10.0),
            Cell(segment="A", channel="sms", cost=2.0, value=3.0, capacity=10.0),
            Cell(segment="B", channel="email", cost=1.0, value=1.5, capacity=10.0),
            Cell(segment="B", channel="sms", cost=2.0, value=10.0, capacity=4.0),
        ),
        tranches=HALVES,
    )


def test_the_hand_worked_optimum_and_its_dual() -> None:
    found = recommend(hand_worked())
    contacts = {(c.segment, c.channel): c.contacts for c in found.cells}
    assert contacts == pytest.approx(
        {("A", "email"): 5.0, ("A", "sms"): 0.0, ("B", "email"): 0.0, ("B", "sms"): 3.5}
    )
    assert found.spend == pytest.approx(12.0)
    assert found.value == pytest.approx(47.5)
    assert found.budget_dual == pytest.approx(1.5)
    by_segment = {s.segment: s for s in found.segments}
    # B's next unit buys more of its second sms tranche (5 a contact for 2): 2.5 per 1 spent.
    assert by_segment["B"].next_return == pytest.approx(2.5)
    assert by_segment["A"].next_return == pytest.approx(2.0)
    assert by_segment["A"].return_per_unit == pytest.approx(4.0)


def test_a_budget_worth_more_than_every_good_contact_is_not_all_spent() -> None:
    found = recommend(hand_worked(budget=1_000.0))
    # Every tranche with a positive net is bought in full; the rest of the budget is left.
    # A email 10 x 1, A sms 5 x 2, B email 5 x 1, B sms 4 x 2.
    assert found.spend == pytest.approx(10 + 10 + 5 + 8)
    assert found.budget_dual == pytest.approx(0.0)
    assert found.unspent == pytest.approx(1_000 - 33)


@pytest.mark.parametrize("budget", [0.5, 3.0, 7.0, 12.0, 20.0, 50.0])
def test_caps_and_budget_are_never_exceeded_and_better_tranches_fill_first(budget: float) -> None:
    problem = hand_worked(budget)
    found = recommend(problem)
    assert found.spend <= budget + 1e-6
    for cell, plan in zip(problem.cells, found.cells, strict=True):
        assert plan.contacts <= cell.capacity + 1e-6
        # Diminishing returns: the value bought is what filling the tranches in order gives.
        left, expected = plan.contacts, 0.0
        for tranche in HALVES:
            taken = min(left, tranche.share * cell.capacity)
            expected += taken * tranche.factor * cell.value
            left -= taken
        assert plan.value == pytest.approx(expected)


def test_a_segment_limit_across_channels_holds() -> None:
    problem = hand_worked(budget=1_000.0)
    limited = InvestmentProblem(
        budget=problem.budget, cells=problem.cells, tranches=HALVES, segment_limits={"A": 6.0}
    )
    found = recommend(limited)
    assert sum(c.contacts for c in found.cells if c.segment == "A") == pytest.approx(6.0)


@pytest.mark.parametrize(
    ("budget", "cells", "message"),
    [
        (0.0, hand_worked().cells, "a budget of 0 buys no contact"),
        (-5.0, hand_worked().cells, "0 or more"),
        (10.0, (), "nothing to spend on"),
        (10.0, (Cell("A", "email", cost=1.0, value=1.0, capacity=0.0),), "nothing to spend on"),
        (10.0, (Cell("A", "email", cost=0.0, value=1.0, capacity=5.0),), "cost more than 0"),
    ],
)
def test_problems_without_an_answer_say_why(
    budget: float, cells: tuple[Cell, ...], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        recommend(InvestmentProblem(budget=budget, cells=cells, tranches=HALVES))


def test_rising_returns_are_refused() -> None:
    rising = (Tranche(share=0.5, factor=0.5), Tranche(share=0.5, factor=1.0))
    with pytest.raises(InvalidInput, match="must diminish"):
        recommend(InvestmentProblem(budget=1.0, cells=hand_worked().cells, tranches=rising))


# The store: Convertible users are worth 3.0 a message, Entrenched ones 0.2 (a discount they
# would have bought without).
def invest_brand(store: Store) -> BrandConfig:
    offer = TouchpointDefinition(
        name="camping_offer",
        label="Camping offer",
        topic="offers:camping",
        campaign=True,
        channels=(
            ChannelContent(channel="email", content="offer"),
            ChannelContent(channel="sms", content="offer-sms"),
        ),
        value={"default": 1.0, "commitment:Convertible": 3.0, "commitment:Entrenched": 0.2},
    )
    return store.brand.model_copy(update={"touchpoints": (offer,)})


def populate(store: Store) -> None:
    now = datetime.now(UTC)
    groups = {"Convertible": 6, "Entrenched": 4, "Average": 2}
    with_ids: list[tuple[str, int]] = []
    for group, count in groups.items():
        for index in range(count):
            customer = add_customer(store)
            consents = [("offers:camping", "email", "opted-in")]
            if index % 2 == 0:
                consents.append(("offers:camping", "sms", "opted-in"))
            set_preferences(store, customer, *consents)
            with_ids.append((group, customer))
    with unit_of_work(store) as session:
        session.add_all(
            SegmentMembership(segment=f"commitment:{group}", customer_id=customer, entered_at=now)
            for group, customer in with_ids
        )


def test_the_service_compares_commitment_groups_on_the_store(store: Store) -> None:
    populate(store)
    brand = invest_brand(store)
    with unit_of_work(store) as session:
        plan = recommend_investment(session, brand=brand, budget=0.05, by="commitment")
    found = plan.recommendation
    assert found.spend <= 0.05 + 1e-9
    by_segment = {s.segment: s for s in found.segments}
    assert set(by_segment) == {
        "commitment:Convertible",
        "commitment:Entrenched",
        "commitment:Average",
    }
    convertible = by_segment["commitment:Convertible"]
    entrenched = by_segment["commitment:Entrenched"]
    assert convertible.return_per_unit > entrenched.return_per_unit
    assert plan.comparison.startswith("Spending on Convertible users returns")
    assert "Entrenched users" in plan.comparison
    # Capacity: opted-in members x the channel's caps (texts: 2 a week; email has no cap of its
    # own: one a day); the promotional caps on no channel (3 a week) limit the segment.
    cells = {(c.segment, c.channel): c for c in found.cells}
    assert cells["commitment:Convertible", "email"].capacity == pytest.approx(6 * 7)
    assert cells["commitment:Convertible", "sms"].capacity == pytest.approx(3 * 2)
    for cell in found.cells:
        assert cell.contacts <= cell.capacity + 1e-6
    for segment in by_segment.values():
        members = {"commitment:Convertible": 6, "commitment:Entrenched": 4}.get(segment.segment, 2)
        assert segment.contacts <= members * 3 + 1e-6  # 3 promotional a week, any channel
    marginal, spend = investment_charts(plan)
    assert marginal.svg.startswith("<svg")
    assert "Convertible" in marginal.alt
    assert spend.table[0][0] == ""
    assert len(spend.table) == 4


def test_an_empty_store_says_how_to_start(store: Store) -> None:
    with unit_of_work(store) as session, pytest.raises(InvalidInput, match="segment eval"):
        recommend_investment(session, brand=invest_brand(store), budget=100.0, by="lifecycle")


def test_measured_values_replace_the_configured_ones(store: Store) -> None:
    populate(store)
    measured = {("commitment:Entrenched", "email"): 5.0}
    with unit_of_work(store) as session:
        plan = recommend_investment(
            session, brand=invest_brand(store), budget=0.01, by="commitment", values=measured
        )
    assert plan.values_source == "measured"
    best = max(plan.recommendation.segments, key=lambda s: s.return_per_unit)
    assert best.segment == "commitment:Entrenched"


def test_learned_values_replace_the_configured_ones_and_each_cell_says_which(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    populate(store)
    brand = invest_brand(store)
    # As regard measure values stores them: Entrenched users turned out to be worth 5.0 over
    # every channel; the default measured on texts only; Convertible's row has no weight yet.
    learned = pl.DataFrame(
        {
            "touchpoint": ["camping_offer"] * 3,
            "segment": ["commitment:Entrenched", "default", "commitment:Convertible"],
            "channel": ["all", "sms", "all"],
            "configured": [0.2, 1.0, 3.0],
            "measured": [5.5, 2.2, None],
            "learned": [5.0, 2.0, 3.0],
            "weight": [0.9, 0.8, 0.0],
            "customers": [9_000.0, 4_000.0, 0.0],
        }
    )
    with unit_of_work(store) as session:
        configured = recommend_investment(session, brand=brand, budget=0.05, by="commitment")
    assert configured.values_source == "configured"
    before = {s.segment: s for s in configured.recommendation.segments}["commitment:Entrenched"]
    with unit_of_work(store) as session:
        values_repository.replace_touchpoint_values(session, learned, measured_at=datetime.now(UTC))
    with unit_of_work(store) as session:
        plan = recommend_investment(session, brand=brand, budget=0.05, by="commitment")
    with unit_of_work(store) as session:
        per_contact = learned_cell_values(session, brand=brand, by="commitment")
    engagement = {c: brand.policy.channels[c].engagement for c in ("email", "sms")}
    # Average users are not listed by the offer: its default, learned on texts only; the
    # Convertible value has no measurement behind it and stays configured.
    assert per_contact == pytest.approx(
        {
            ("commitment:Entrenched", "email"): 5.0 * engagement["email"],
            ("commitment:Entrenched", "sms"): 5.0 * engagement["sms"],
            ("commitment:Average", "sms"): 2.0 * engagement["sms"],
        }
    )
    assert plan.values_source == "learned"
    assert {cell: plan.source(*cell) for cell in plan.sources} == {
        ("commitment:Entrenched", "email"): "learned",
        ("commitment:Entrenched", "sms"): "learned",
        ("commitment:Average", "sms"): "learned",
        ("commitment:Average", "email"): "configured",
        ("commitment:Convertible", "email"): "configured",
        ("commitment:Convertible", "sms"): "configured",
    }
    entrenched = {s.segment: s for s in plan.recommendation.segments}["commitment:Entrenched"]
    assert entrenched.return_per_unit > before.return_per_unit

    recorded = Console(width=200, record=True)
    monkeypatch.setattr(invest_commands, "console", recorded)
    invest_commands.print_plan(plan)
    text = recorded.export_text()
    assert "From" in text
    assert "values learned for 3 of 6 segment and channel pairs, configured for the rest" in text
