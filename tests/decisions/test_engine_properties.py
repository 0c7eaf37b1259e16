"""Invariants of the whole decision core, policy then optimiser, over random frames (hypothesis).

Whatever the data: every send is an option the policy allowed (so the policy's invariants hold
for sends: a lawful basis, no send after an opt-out, no promotional call, inside the allowed
window); at most one send per candidate; no cap exceeded, counting what was already sent (the
caps frame is the room left after history); every candidate ends as exactly one decision.
"""

from __future__ import annotations

from typing import Any
from unittest import mock

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings

from regard.decisions import shards
from regard.decisions.engine import decide
from regard.decisions.inputs import EngineInputs
from regard.decisions.optimiser import ChannelBudget
from tests.decisions.test_policy_properties import world_frames, worlds

CHANNELS = ("email", "sms", "push", "voice", "postal")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_sends_are_allowed_options_within_every_cap(world: dict[str, Any]) -> None:
    result = decide(
        EngineInputs(**world_frames(world)),
        policy=world["policy"],
        budgets={"sms": ChannelBudget(capacity=1)},
        now=world["now"],
    )
    decisions = result.decisions
    sent = decisions.filter(pl.col("outcome") == "sent").with_columns(
        pl.col("channel").cast(pl.String)
    )
    options = result.policy.options.with_columns(pl.col("channel").cast(pl.String))

    # Every candidate ends as exactly one decision.
    assert sorted(decisions["candidate_id"].to_list()) == sorted(
        c["candidate_id"] for c in world["candidates"]
    )
    # Every send is an option the policy allowed, at the moment it allowed.
    allowed = sent.join(
        options.select("candidate_id", "channel", "send_at"),
        on=["candidate_id", "channel", "send_at"],
        how="anti",
    )
    assert allowed.is_empty()
    # The brand's limit on texts holds.
    assert sent.filter(pl.col("channel") == "sms").height <= 1
    # No cap exceeded: the room left after history, per customer.
    counted = sent.join(
        options.select("candidate_id", "channel", "promotional", "exempt"),
        on=["candidate_id", "channel"],
    ).filter(~pl.col("exempt"))
    caps = {row["customer_id"]: row for row in result.policy.caps.iter_rows(named=True)}
    for (customer_id,), mine in counted.group_by("customer_id"):
        room = caps[customer_id]
        assert room["cap_total"] is None or mine.height <= room["cap_total"]
        promotional = mine.filter(pl.col("promotional")).height
        assert room["cap_promotional"] is None or promotional <= room["cap_promotional"]
        for channel in CHANNELS:
            cap = room.get(f"cap_{channel}")
            assert cap is None or mine.filter(pl.col("channel") == channel).height <= cap


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_decisions_follow_the_candidates_whatever_their_ids_and_order(
    world: dict[str, Any],
) -> None:
    frames = world_frames(world)
    budgets = {"sms": ChannelBudget(capacity=1)}
    plain = decide(
        EngineInputs(**frames), policy=world["policy"], budgets=budgets, now=world["now"]
    )
    # Far-apart ids (as after years of runs) in another row order: the same decisions, one per
    # candidate, in the order the candidates came.
    spread = frames["candidates"].with_columns(
        (pl.col("candidate_id") * 1_000_003 + 7).alias("candidate_id")
    )
    spread = spread.reverse()
    moved = decide(
        EngineInputs(**{**frames, "candidates": spread}),
        policy=world["policy"],
        budgets=budgets,
        now=world["now"],
    )
    assert moved.decisions["candidate_id"].to_list() == spread["candidate_id"].to_list()
    back = moved.decisions.with_columns((pl.col("candidate_id") - 7) // 1_000_003)
    assert back.sort("candidate_id").equals(plain.decisions.sort("candidate_id"))
    assert (
        plain.decisions["candidate_id"].to_list() == frames["candidates"]["candidate_id"].to_list()
    )


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_a_run_that_keeps_no_explanation_decides_the_same(world: dict[str, Any]) -> None:
    frames = world_frames(world)
    budgets = {"sms": ChannelBudget(capacity=1)}
    explained = decide(
        EngineInputs(**frames), policy=world["policy"], budgets=budgets, now=world["now"]
    )
    lean = decide(
        EngineInputs(**frames),
        policy=world["policy"],
        budgets=budgets,
        now=world["now"],
        explain=False,
    )
    assert lean.decisions.equals(explained.decisions)
    assert lean.policy.options.equals(explained.policy.options)
    assert (lean.value, lean.bound) == (explained.value, explained.bound)
    with pytest.raises(RuntimeError, match="explain=False"):
        _ = lean.policy.blocked


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_a_run_split_into_shards_decides_as_one(world: dict[str, Any]) -> None:
    budgets = {"sms": ChannelBudget(capacity=1)}
    given_order = world_frames(world)
    reversed_order = {**given_order, "candidates": given_order["candidates"].reverse()}
    for frames in (given_order, reversed_order):

        def run(frames: dict[str, pl.DataFrame] = frames) -> Any:
            return decide(
                EngineInputs(**frames), policy=world["policy"], budgets=budgets, now=world["now"]
            )

        whole = run()
        with mock.patch.object(shards, "SHARD_CANDIDATES", 2):  # a shard per customer or two
            split = run()
        assert split.decisions.equals(whole.decisions)  # in the candidates' order, as one run
        assert split.policy.options.equals(whole.policy.options)
        assert split.policy.caps.equals(whole.policy.caps)
        assert (split.value, split.bound) == (whole.value, whole.bound)
        for name in ("blocked", "verdicts"):
            keys = ["candidate_id", "channel"] if name == "blocked" else ["candidate_id"]
            mine, theirs = getattr(split.policy, name), getattr(whole.policy, name)
            assert mine.sort(keys).equals(theirs.sort(keys))
