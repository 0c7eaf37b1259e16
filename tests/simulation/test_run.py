"""A whole simulation: deterministic with its seed, and the default scenario's headline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from polars.testing import assert_frame_equal

from regard.errors import InvalidInput
from regard.simulation.policies import RegardPolicy, Standing
from regard.simulation.population import generate_population, group_of
from regard.simulation.run import SimulationResult, days_of, simulate
from regard.simulation.scenario import GROUPS, load_scenario, parse_scenario


@pytest.fixture(scope="module")
def small() -> SimulationResult:
    return simulate(load_scenario(), customers=1_500, weeks=6)


def test_the_same_seed_gives_the_same_run(small: SimulationResult) -> None:
    again = simulate(load_scenario(), customers=1_500, weeks=6)
    assert_frame_equal(small.summary(), again.summary())


def test_the_same_seed_gives_the_same_population() -> None:
    scenario = load_scenario()
    first = generate_population(scenario, customers=300)
    second = generate_population(scenario, customers=300)
    assert np.array_equal(first.interest, second.interest)
    assert np.array_equal(first.commitment, second.commitment)


def test_commitment_groups_follow_the_latent_scale() -> None:
    assert group_of(np.array([1.0, 0.99, 0.5, 0.01, 0.0])).tolist() == [0, 0, 4, 7, 7]
    assert len(GROUPS) == 8


def test_spray_and_pray_pays_in_the_relationship(small: SimulationResult) -> None:
    regard, spray = small.outcome("regard"), small.outcome("spray")
    assert spray.total("messages") > regard.total("messages")
    assert spray.total("opt_outs") > regard.total("opt_outs")
    assert spray.total("complaints") > regard.total("complaints")
    assert spray.revenue_per_message < regard.revenue_per_message
    assert spray.total("revenue") - spray.total("cost") < regard.total("revenue") - regard.total(
        "cost"
    )
    assert spray.moved_down > regard.moved_down


def test_every_policy_counts_every_week(small: SimulationResult) -> None:
    assert [o.key for o in small.outcomes] == ["regard", "caps", "spray"]
    for outcome in small.outcomes:
        assert outcome.weekly.height == 6
        assert int(outcome.transitions.sum()) == 1_500


def test_caps_only_keeps_its_weekly_cap(small: SimulationResult) -> None:
    cap = small.scenario.caps_only.per_week
    assert small.outcome("caps").weekly["messages"].max() <= cap * 1_500  # type: ignore[operator]


def test_an_invalid_scenario_names_the_problem(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="touchpoints"):
        parse_scenario("[channels]\nemail = { cost = 0.1, engagement = 0.2 }\n")
    with pytest.raises(InvalidInput, match="cannot read"):
        load_scenario(tmp_path / "missing.toml")


def test_regard_keeps_stated_quiet_hours_and_the_caps() -> None:
    scenario = load_scenario().with_size(customers=800, weeks=1)
    population = generate_population(scenario)
    regard = RegardPolicy(scenario, population)
    n = population.size
    standing = Standing(
        opted_out=np.zeros((n, 3), dtype=bool),
        complained=np.zeros((n, 3), dtype=bool),
        sent_this_week=np.zeros(n, dtype=np.int32),
    )
    tuesday = days_of(scenario)[1]
    sends = regard.plan(tuesday, standing)
    assert sends.size > 0
    local = (sends.hour + tuesday.offsets[population.zone[sends.customer]]) % 24
    quiet = (local >= scenario.population.quiet_start) | (local < scenario.population.quiet_end)
    assert not (quiet & population.stated_quiet[sends.customer]).any()
    # At most one promotional message a day per customer (the default cap).
    assert np.bincount(sends.customer).max() == 1
