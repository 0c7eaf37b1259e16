"""The optimiser against hand-worked cases and against HiGHS's exact optimum of the same model."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl
import pytest

from regard.decisions.exact import solve_exactly
from regard.decisions.optimiser import ChannelBudget, Plan, best_sends, optimise
from regard.errors import InvalidInput

NOW = datetime(2026, 11, 23, 9, tzinfo=UTC)
CHANNELS = ("email", "push", "sms")


def options_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Options from (customer, candidate, channel, value) rows; the rest defaults to 0/False."""
    return pl.DataFrame(
        [
            {
                "customer_id": row.get("customer", 1),
                "candidate_id": row["candidate"],
                "channel": row.get("channel", "email"),
                "send_at": NOW,
                "value": float(row["value"]),
                "cost": float(row.get("cost", 0.0)),
                "penalty": float(row.get("penalty", 0.0)),
                "promotional": row.get("promotional", False),
                "exempt": row.get("exempt", False),
            }
            for row in rows
        ],
        schema={
            "customer_id": pl.Int64,
            "candidate_id": pl.Int64,
            "channel": pl.String,
            "send_at": pl.Datetime("us", "UTC"),
            "value": pl.Float64,
            "cost": pl.Float64,
            "penalty": pl.Float64,
            "promotional": pl.Boolean,
            "exempt": pl.Boolean,
        },
    )


def customers_frame(**caps: Any) -> pl.DataFrame:
    return pl.DataFrame({"customer_id": [1], **{k: [v] for k, v in caps.items()}})


def sent(plan: Plan) -> set[tuple[int, int, str]]:
    return {
        (row["customer_id"], row["candidate_id"], row["channel"])
        for row in plan.chosen.iter_rows(named=True)
    }


def test_one_channel_per_candidate() -> None:
    options = options_frame(
        [
            {"candidate": 1, "channel": "email", "value": 5},
            {"candidate": 1, "channel": "sms", "value": 3},
        ]
    )
    plan = optimise(options, customers_frame(), {})
    assert sent(plan) == {(1, 1, "email")}
    assert plan.value == pytest.approx(5.0)
    assert plan.bound == pytest.approx(5.0)
    assert plan.gap == pytest.approx(0.0)


def test_total_cap() -> None:
    options = options_frame([{"candidate": k, "value": v} for k, v in ((1, 1), (2, 3), (3, 2))])
    plan = optimise(options, customers_frame(cap_total=2), {})
    assert sent(plan) == {(1, 2, "email"), (1, 3, "email")}
    assert plan.value == pytest.approx(5.0)


def test_promotional_cap() -> None:
    options = options_frame(
        [
            {"candidate": 1, "value": 5, "promotional": True},
            {"candidate": 2, "value": 4, "promotional": True},
            {"candidate": 3, "value": 1},
        ]
    )
    plan = optimise(options, customers_frame(cap_promotional=1), {})
    assert sent(plan) == {(1, 1, "email"), (1, 3, "email")}


def test_channel_cap_moves_a_candidate_to_its_second_channel() -> None:
    # Greedy by value alone would give the email to candidate 1 (10) and leave 2 with nothing.
    options = options_frame(
        [
            {"candidate": 1, "channel": "email", "value": 10},
            {"candidate": 1, "channel": "sms", "value": 9},
            {"candidate": 2, "channel": "email", "value": 8},
        ]
    )
    plan = optimise(options, customers_frame(cap_email=1), {})
    assert sent(plan) == {(1, 1, "sms"), (1, 2, "email")}
    assert plan.value == pytest.approx(17.0)
    assert plan.bound == pytest.approx(17.0)


def test_negative_net_value_is_not_sent() -> None:
    options = options_frame([{"candidate": 1, "value": 1, "cost": 0.5, "penalty": 0.6}])
    plan = optimise(options, customers_frame(), {})
    assert plan.chosen.height == 0
    assert plan.value == 0.0


@pytest.mark.parametrize(("interruption", "expected"), [(1.0, set()), (0.5, {1, 2})])
def test_interruption_cost_is_charged_once(interruption: float, expected: set[int]) -> None:
    options = options_frame([{"candidate": 1, "value": 0.3}, {"candidate": 2, "value": 0.4}])
    plan = optimise(options, customers_frame(interruption_cost=interruption), {})
    assert {row[1] for row in sent(plan)} == expected
    assert plan.value == pytest.approx(0.2 if expected else 0.0)


def test_capacity_keeps_the_best_sends() -> None:
    options = options_frame(
        [{"customer": c, "candidate": 1, "value": v} for c, v in ((1, 3), (2, 2), (3, 1))]
    )
    customers = pl.DataFrame({"customer_id": [1, 2, 3]})
    plan = optimise(options, customers, {"email": ChannelBudget(capacity=2)})
    assert {row[0] for row in sent(plan)} == {1, 2}
    assert plan.value == pytest.approx(5.0)
    assert plan.usage.filter(pl.col("channel") == "email")["sends"].item() == 2


def test_budget_spends_where_value_per_cost_is_highest() -> None:
    options = options_frame(
        [
            {"customer": 1, "candidate": 1, "channel": "sms", "value": 3.0, "cost": 1.0},
            {"customer": 1, "candidate": 1, "channel": "email", "value": 1.5},
            {"customer": 2, "candidate": 1, "channel": "sms", "value": 2.0, "cost": 1.0},
            {"customer": 3, "candidate": 1, "channel": "sms", "value": 1.6, "cost": 1.0},
        ]
    )
    customers = pl.DataFrame({"customer_id": [1, 2, 3]})
    plan = optimise(options, customers, {"sms": ChannelBudget(budget=2.0)})
    exact = solve_exactly(options, customers, {"sms": ChannelBudget(budget=2.0)})
    assert exact is not None
    assert plan.value == pytest.approx(exact.value)
    assert plan.chosen.filter(pl.col("channel") == "sms")["cost"].sum() <= 2.0


def test_exempt_critical_message_passes_the_caps() -> None:
    options = options_frame(
        [{"candidate": 1, "value": 1, "exempt": True}, {"candidate": 2, "value": 5}]
    )
    plan = optimise(options, customers_frame(cap_total=0, cap_email=0), {})
    assert sent(plan) == {(1, 1, "email")}


def test_reduced_value_includes_the_channel_price() -> None:
    options = options_frame(
        [{"customer": c, "candidate": 1, "value": v} for c, v in ((1, 3), (2, 2), (3, 1))]
    )
    customers = pl.DataFrame({"customer_id": [1, 2, 3]})
    plan = optimise(options, customers, {"email": ChannelBudget(capacity=2)})
    price = plan.multipliers["email"][0]
    assert 1.0 <= price <= 2.0
    assert plan.chosen["reduced_value"].to_list() == pytest.approx([3 - price, 2 - price])


def test_repeated_option_is_refused() -> None:
    options = options_frame([{"candidate": 1, "value": 1}, {"candidate": 1, "value": 2}])
    with pytest.raises(InvalidInput):
        optimise(options, customers_frame(), {})


def test_promotional_must_be_the_same_on_each_channel() -> None:
    options = options_frame(
        [
            {"candidate": 1, "channel": "email", "value": 1, "promotional": True},
            {"candidate": 1, "channel": "sms", "value": 1},
        ]
    )
    with pytest.raises(InvalidInput):
        optimise(options, customers_frame(), {})


def test_customer_without_a_row_is_refused() -> None:
    options = options_frame([{"customer": 2, "candidate": 1, "value": 1}])
    with pytest.raises(InvalidInput):
        optimise(options, customers_frame(), {})


# ---------------------------------------------------------------------------------------------
# Random instances against HiGHS


def random_instance(
    seed: int,
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, ChannelBudget]]:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 301))
    k = int(rng.integers(2, 7))
    h = len(CHANNELS)
    customer = np.repeat(np.arange(1, n + 1), k * h)
    candidate = np.tile(np.repeat(np.arange(1, k + 1), h), n)
    channel = np.tile(np.array(CHANNELS), n * k)
    code = np.tile(np.arange(h), n * k)
    keep = rng.random(customer.size) < 0.8
    value = np.repeat(rng.gamma(2.0, 1.0, n * k), h) * rng.uniform(0.2, 1.0, customer.size)
    cost = np.array([0.01, 0.02, 0.3])[code]
    options = pl.DataFrame(
        {
            "customer_id": customer,
            "candidate_id": candidate,
            "channel": channel,
            "send_at": [NOW] * customer.size,
            "value": value,
            "cost": cost,
            "penalty": rng.random(customer.size) * 0.3,
            "promotional": np.repeat(rng.random(n * k) < 0.5, h),
            "exempt": np.repeat(rng.random(n * k) < 0.05, h),
        }
    ).filter(pl.Series(keep))

    def maybe(values: np.ndarray[Any, Any], share: float) -> list[int | None]:
        return [None if rng.random() < share else int(v) for v in values]

    customers = pl.DataFrame(
        {
            "customer_id": np.arange(1, n + 1),
            "cap_total": maybe(rng.integers(0, 4, n), 0.2),
            "cap_promotional": maybe(rng.integers(0, 3, n), 0.3),
            "cap_email": maybe(rng.integers(0, 3, n), 0.3),
            "cap_push": maybe(rng.integers(0, 2, n), 0.3),
            "cap_sms": maybe(rng.integers(0, 2, n), 0.3),
            "interruption_cost": np.where(rng.random(n) < 0.4, rng.random(n) * 0.6, 0.0),
        },
        schema_overrides={f"cap_{c}": pl.Int64 for c in ("total", "promotional", *CHANNELS)},
    )
    budgets: dict[str, ChannelBudget] = {}
    if rng.random() < 0.8:
        budgets["email"] = ChannelBudget(capacity=int(n * rng.uniform(0.3, 1.0)))
    if rng.random() < 0.6:
        budgets["push"] = ChannelBudget(capacity=int(n * rng.uniform(0.1, 0.5)))
    if rng.random() < 0.6:
        budgets["sms"] = ChannelBudget(budget=float(n * 0.3 * rng.uniform(0.05, 0.3)))
    return options, customers, budgets


def violations(
    chosen: pl.DataFrame, customers: pl.DataFrame, budgets: dict[str, ChannelBudget]
) -> list[str]:
    """Every constraint of the model the chosen rows break."""
    found = []
    per_candidate = chosen.group_by("customer_id", "candidate_id").len()["len"]
    if per_candidate.len() and int(per_candidate.max()) > 1:  # type: ignore[arg-type]
        found.append("two channels for one candidate")
    capped = chosen.filter(~pl.col("exempt"))
    counts = (
        capped.group_by("customer_id")
        .agg(
            pl.len().alias("total"),
            pl.col("promotional").sum().alias("promotional"),
            *[(pl.col("channel") == c).sum().alias(c) for c in CHANNELS],
        )
        .join(customers, on="customer_id")
    )
    for name, cap in [("total", "cap_total"), ("promotional", "cap_promotional")] + [
        (c, f"cap_{c}") for c in CHANNELS
    ]:
        if counts.filter(pl.col(name) > pl.col(cap)).height:
            found.append(f"{cap} exceeded")
    for channel, limit in budgets.items():
        on = chosen.filter(pl.col("channel") == channel)
        if limit.capacity is not None and on.height > limit.capacity:
            found.append(f"{channel} capacity exceeded")
        if limit.budget is not None and on["cost"].sum() > limit.budget + 1e-9:
            found.append(f"{channel} budget exceeded")
    return found


@pytest.mark.parametrize("seed", range(60))
def test_random_instance_within_one_percent_of_highs(seed: int) -> None:
    options, customers, budgets = random_instance(seed)
    plan = optimise(options, customers, budgets)
    exact = solve_exactly(options, customers, budgets, time_limit=30.0)
    assert exact is not None
    assert exact.optimal
    assert violations(exact.chosen, customers, budgets) == []
    assert violations(plan.chosen, customers, budgets) == []
    assert plan.value >= 0.99 * exact.value - 1e-9
    assert plan.value <= exact.value + 1e-6
    assert plan.bound >= exact.value - 1e-6
    assert plan.gap == pytest.approx((plan.bound - plan.value) / plan.bound)


@pytest.mark.parametrize("seed", range(3))
def test_same_input_same_plan(seed: int) -> None:
    options, customers, budgets = random_instance(seed)
    first = optimise(options, customers, budgets)
    second = optimise(options, customers, budgets)
    assert first.chosen.equals(second.chosen)
    assert (first.value, first.bound, first.iterations) == (
        second.value,
        second.bound,
        second.iterations,
    )


def test_row_order_does_not_matter() -> None:
    options, customers, budgets = random_instance(11)
    plan = optimise(options, customers, budgets)
    shuffled = options.sample(fraction=1.0, shuffle=True, seed=3)
    again = optimise(shuffled, customers, budgets)
    key = ["customer_id", "candidate_id", "channel"]
    assert again.chosen.sort(key).equals(plan.chosen.sort(key))
    assert again.value == pytest.approx(plan.value)


# ---------------------------------------------------------------------------------------------
# One customer's sub-problem, exactly, against brute force


def brute_force(
    values: np.ndarray[Any, Any],
    promotional: np.ndarray[Any, Any],
    cap_total: int,
    cap_promotional: int,
    cap_channel: np.ndarray[Any, Any],
) -> float:
    """The best value over every assignment of a customer's candidates to a channel or none."""
    h_count, k_count = values.shape
    best = 0.0
    for assignment in itertools.product(range(-1, h_count), repeat=k_count):
        chosen = [(k, h) for k, h in enumerate(assignment) if h >= 0]
        if any(not np.isfinite(values[h, k]) for k, h in chosen):
            continue
        if len(chosen) > cap_total or sum(promotional[k] for k, _ in chosen) > cap_promotional:
            continue
        if any(sum(1 for _, g in chosen if g == h) > cap_channel[h] for h in range(h_count)):
            continue
        best = max(best, sum(values[h, k] for k, h in chosen))
    return best


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(4))
def test_best_sends_is_the_brute_force_optimum(seed: int, dtype: type) -> None:
    rng = np.random.default_rng(seed)
    m, h_count, k_count = 400, 3, int(rng.integers(2, 6))
    # Small integers make ties (and zero-value cycles in the residual graph) common.
    values: np.ndarray[Any, Any] = rng.integers(-2, 8, (h_count, m, k_count)).astype(dtype)
    values[rng.random(values.shape) < 0.25] = -np.inf
    promotional = rng.random((m, k_count)) < 0.5
    cap_total = rng.integers(0, 5, m).astype(np.int32)
    cap_promotional = rng.integers(0, 3, m).astype(np.int32)
    cap_channel = rng.integers(0, 3, (m, h_count)).astype(np.int32)
    choice = best_sends(
        values,
        promotional,
        cap_total=cap_total,
        cap_promotional=cap_promotional,
        cap_channel=cap_channel,
    )
    for c in range(m):
        sends = [(k, int(h)) for k, h in enumerate(choice[c]) if h >= 0]
        assert all(values[h, c, k] > 0 for k, h in sends)
        assert len(sends) <= cap_total[c]
        assert sum(promotional[c, k] for k, _ in sends) <= cap_promotional[c]
        for h in range(h_count):
            assert sum(1 for _, g in sends if g == h) <= cap_channel[c, h]
        expected = brute_force(
            values[:, c, :], promotional[c], cap_total[c], cap_promotional[c], cap_channel[c]
        )
        assert sum(float(values[h, c, k]) for k, h in sends) == pytest.approx(expected)


def test_best_sends_goes_on_from_an_optimal_start() -> None:
    # Candidate 0 alone on email is the best single send; the best pair moves it to sms.
    values = np.array([[[10.0, 8.0]], [[9.0, -np.inf]]])
    start = np.array([[0, -1]], dtype=np.int8)
    choice = best_sends(
        values,
        np.array([[False, False]]),
        cap_total=np.array([2], dtype=np.int32),
        cap_promotional=np.array([2], dtype=np.int32),
        cap_channel=np.array([[1, 1]], dtype=np.int32),
        start=start,
    )
    assert choice.tolist() == [[1, 0]]


def test_best_sends_swaps_a_promotional_candidate_for_another() -> None:
    # One promotional send allowed: candidate 0 (promotional) holds email (10); the best pair
    # gives email to candidate 2 (not promotional) and the promotional place to candidate 1 on
    # sms: 9.5 + 4, along the path source, 2, email, 0, promotional node, 1, sms, sink.
    values = np.array([[[10.0, -np.inf, 9.5]], [[-np.inf, 4.0, -np.inf]]])
    choice = best_sends(
        values,
        np.array([[True, True, False]]),
        cap_total=np.array([2], dtype=np.int32),
        cap_promotional=np.array([1], dtype=np.int32),
        cap_channel=np.array([[1, 1]], dtype=np.int32),
        start=np.array([[0, -1, -1]], dtype=np.int8),
    )
    assert choice.tolist() == [[-1, 1, 0]]
