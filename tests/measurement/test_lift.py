"""The lift's statistics against worked examples, and "too little data" said in words."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from regard.measurement import lift
from regard.measurement.lift import (
    bootstrap_mean_difference,
    lift_rows,
    newcombe_interval,
    wilson_interval,
)
from regard.measurement.options import OutcomeOptions


def test_wilson_interval_matches_newcombes_worked_example() -> None:
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion": 81/263.
    low, high = wilson_interval(81, 263, confidence=0.95)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)


@pytest.mark.parametrize(
    ("treated", "control", "expected"),
    [
        # Newcombe (1998), "Interval estimation for the difference between independent
        # proportions", method 10, examples (a) and (d).
        ((56, 70), (48, 80), (0.2, 0.0524, 0.3339)),
        ((9, 10), (3, 10), (0.6, 0.1705, 0.8090)),
    ],
)
def test_newcombe_interval_matches_the_papers_examples(
    treated: tuple[int, int], control: tuple[int, int], expected: tuple[float, float, float]
) -> None:
    found = newcombe_interval(treated, control, confidence=0.95)
    assert found.difference is not None
    assert found.low is not None
    assert found.high is not None
    assert (round(found.difference, 4), round(found.low, 4), round(found.high, 4)) == expected


def test_newcombe_by_hand_from_the_two_wilson_intervals() -> None:
    l1, u1 = wilson_interval(30, 200, confidence=0.9)
    l2, u2 = wilson_interval(10, 150, confidence=0.9)
    p1, p2 = 30 / 200, 10 / 150
    found = newcombe_interval((30, 200), (10, 150), confidence=0.9)
    assert found.low == pytest.approx(p1 - p2 - ((p1 - l1) ** 2 + (u2 - p2) ** 2) ** 0.5)
    assert found.high == pytest.approx(p1 - p2 + ((u1 - p1) ** 2 + (p2 - l2) ** 2) ** 0.5)


def test_the_bootstrap_is_the_same_with_the_same_seed_and_covers_the_difference() -> None:
    rng = np.random.default_rng(7)
    treated = rng.lognormal(3.0, 1.0, size=300)  # 300 buyers among 2,000 customers
    control = rng.lognormal(3.0, 1.0, size=20)  # 20 buyers among 500
    first = bootstrap_mean_difference(
        treated, 2_000, control, 500, confidence=0.95, resamples=2_000, seed=3
    )
    again = bootstrap_mean_difference(
        treated, 2_000, control, 500, confidence=0.95, resamples=2_000, seed=3
    )
    other = bootstrap_mean_difference(
        treated, 2_000, control, 500, confidence=0.95, resamples=2_000, seed=4
    )
    assert first == again
    assert first != other
    assert first.difference == pytest.approx(treated.sum() / 2_000 - control.sum() / 500)
    assert first.low is not None
    assert first.high is not None
    assert first.difference is not None
    assert first.low < first.difference < first.high


def test_the_bootstrap_agrees_with_a_plain_resampling_loop() -> None:
    """Drawing the number of buyers, then which buyers, is the same resample as drawing every
    customer: the intervals agree within bootstrap noise."""
    rng = np.random.default_rng(11)
    values = np.concatenate([rng.exponential(50.0, size=40), np.zeros(360)])
    control = np.concatenate([rng.exponential(50.0, size=20), np.zeros(380)])
    plain = np.array(
        [
            rng.choice(values, values.size).mean() - rng.choice(control, control.size).mean()
            for _ in range(4_000)
        ]
    )
    fast = bootstrap_mean_difference(
        values[values > 0], 400, control[control > 0], 400,
        confidence=0.9, resamples=4_000, seed=1,
    )  # fmt: skip
    low, high = np.quantile(plain, [0.05, 0.95])
    assert fast.low == pytest.approx(low, abs=0.8)
    assert fast.high == pytest.approx(high, abs=0.8)


def _table(rows: list[tuple[str, int, int, float, list[float]]]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "touchpoint": "spring_camping",
                "arm": arm,
                "customers": customers,
                "delivered": 0,
                "engaged": 0,
                "converted": converted,
                "revenue": revenue,
                "opted_out": 0,
                "complained": 0,
                "revenue_values": values,
            }
            for arm, customers, converted, revenue, values in rows
        ],
        schema_overrides={"revenue_values": pl.List(pl.Float64)},
    )


def test_too_little_data_says_so_instead_of_a_number() -> None:
    options = OutcomeOptions(min_per_arm=50)
    few = lift_rows(
        _table([("treated", 400, 12, 600.0, [50.0] * 12), ("control", 20, 0, 0.0, [])]),
        options=options,
    )[0]
    assert few.conversion.difference is None
    assert few.conversion.reason == (
        "too little data: 400 treated and 20 in control, at least 50 each"
    )
    assert few.revenue.difference is None

    none_bought = lift_rows(
        _table([("treated", 400, 0, 0.0, []), ("control", 100, 0, 0.0, [])]), options=options
    )[0]
    assert none_bought.conversion.reason == "too little data: no conversions yet"
    assert none_bought.revenue.reason == "too little data: no revenue yet"

    no_control = lift_rows(_table([("treated", 400, 12, 600.0, [50.0] * 12)]), options=options)[0]
    assert no_control.conversion.reason == "no control group"


def test_enough_data_gives_the_lift_and_its_interval() -> None:
    row = lift_rows(
        _table([("treated", 80, 48, 480.0, [10.0] * 48), ("control", 70, 56, 560.0, [10.0] * 56)]),
        options=OutcomeOptions(min_per_arm=50),
    )[0]
    assert row.conversion.difference == pytest.approx(-0.2)
    assert row.conversion.low == pytest.approx(-0.3339, abs=1e-4)
    assert row.revenue.difference == pytest.approx(480 / 80 - 560 / 70)
    assert row.as_dict()["treated"] == {
        "customers": 80.0,
        "delivered": 0.0,
        "engaged": 0.0,
        "converted": 48.0,
        "revenue": 480.0,
        "opted_out": 0.0,
        "complained": 0.0,
    }


def test_many_buyers_give_the_same_interval_as_drawing_each_buyer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(5)
    treated = rng.lognormal(3.0, 1.2, size=6_000)
    control = rng.lognormal(3.0, 1.2, size=5_500)

    def interval() -> tuple[float, float]:
        found = bootstrap_mean_difference(
            treated, 30_000, control, 30_000, confidence=0.95, resamples=2_000, seed=9
        )
        assert found.low is not None
        assert found.high is not None
        return found.low, found.high

    limit = interval()
    monkeypatch.setattr(lift, "EXACT_BUYERS", 10**9)
    exact = interval()
    assert limit == pytest.approx(exact, abs=0.05)
