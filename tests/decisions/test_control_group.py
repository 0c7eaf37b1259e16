"""Control groups in the decision core and over the store: a customer in a touchpoint's control
group is held for good with reason control-group, never sent it, and never decided again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from sqlalchemy import select

from regard.decisions import service
from regard.decisions.engine import decide
from regard.decisions.inputs import EngineInputs
from regard.decisions.models import Decision
from regard.decisions.optimiser import ChannelBudget
from regard.decisions.reasons import sentence
from regard.measurement.holdouts import ControlGroups, control_groups, in_control_group
from regard.store.database import Store, unit_of_work
from regard.touchpoints.models import Candidate
from tests.decisions.support import NEWSLETTER_DAY, newsletter
from tests.decisions.test_policy_properties import world_frames, worlds
from tests.touchpoints.support import CATALOGUE, brand_with_touchpoints

HALF = ControlGroups(shares={"tp-0": 0.5, "tp-1": 0.5, "tp-2": 0.5}, salt="test")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_a_control_group_customer_never_gets_a_send_for_that_touchpoint(
    world: dict[str, Any],
) -> None:
    frames = world_frames(world)
    result = decide(
        EngineInputs(**frames),
        policy=world["policy"],
        budgets={"sms": ChannelBudget(capacity=1)},
        now=world["now"],
        control=HALF,
    )
    decisions = result.decisions
    candidates = frames["candidates"].join(
        frames["topics"].select("topic", "importance"), on="topic", how="left"
    )
    drawn = in_control_group(candidates["customer_id"], candidates["touchpoint"], groups=HALF)
    fragile = candidates["importance"].is_in(["critical", "transactional"]).fill_null(False)
    expected = candidates.filter(drawn & ~fragile)["candidate_id"].sort().to_list()

    held_out = decisions.filter(pl.col("reason") == "control-group")
    assert held_out["candidate_id"].sort().to_list() == expected
    assert set(held_out["outcome"]) <= {"held"}
    sent = decisions.filter(pl.col("outcome") == "sent")
    assert not set(sent["candidate_id"]) & set(expected)
    # Every candidate still ends as exactly one decision.
    assert sorted(decisions["candidate_id"].to_list()) == sorted(
        candidates["candidate_id"].to_list()
    )


def _salt_holding_out(first: int, second: int) -> str:
    """A salt that puts ``first`` in the newsletter's control group and ``second`` out of it."""
    for attempt in range(1_000):
        groups = ControlGroups(shares={"newsletter": 0.5}, salt=f"s{attempt}")
        drawn = in_control_group(
            pl.Series([first, second]), pl.Series(["newsletter"] * 2), groups=groups
        ).to_list()
        if drawn == [True, False]:
            return groups.salt
    raise AssertionError("no salt found")


def test_the_engine_holds_the_control_group_for_good(store: Store, shop: dict[str, int]) -> None:
    ana, ben = shop["ana"], shop["ben"]
    base = brand_with_touchpoints(CATALOGUE)
    salt = _salt_holding_out(ana, ben)
    store.brand = base.model_validate(
        {
            **base.model_dump(),
            "measurement": {"holdout": {"share": 0.5, "salt": salt}},
        }
    )
    assert set(control_groups(store.brand).shares) == {"newsletter", "spring_camping"}
    service.run_engine(store, now=NEWSLETTER_DAY - timedelta(days=1))
    newsletter(store)

    service.run_engine(store, now=NEWSLETTER_DAY)
    service.run_engine(store, now=NEWSLETTER_DAY + timedelta(hours=2))

    with unit_of_work(store) as session:
        rows = session.execute(
            select(Decision.customer_id, Decision.outcome, Decision.reason, Decision.params).where(
                Decision.touchpoint == "newsletter"
            )
        ).all()
        statuses = dict(
            session.execute(
                select(Candidate.customer_id, Candidate.status).where(
                    Candidate.touchpoint == "newsletter"
                )
            ).all()
        )
    held = [row for row in rows if row.customer_id == ana]
    # Decided once, never again: the candidate is settled.
    assert [(row.outcome, row.reason) for row in held] == [("held", "control-group")]
    assert statuses[ana] == "control"
    assert sentence("held", held[0].reason, held[0].params, name="Ana") == (
        "Held: Ana is in the control group for newsletter, so that its effect can be measured."
    )
    assert all(row.reason != "control-group" for row in rows if row.customer_id == ben)
    assert statuses[ben] != "control"


def test_orders_are_never_held_out() -> None:
    brand = brand_with_touchpoints(
        [{**tp, "holdout": 0.5} if tp["name"] == "order_ready" else tp for tp in CATALOGUE]
    )
    assert "order_ready" not in control_groups(brand).shares
