"""Learned touchpoint values: the configured value until there is evidence, the measured lift
once there is much, a credibility-weighted blend between."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from regard.measurement.lift import Estimate, LiftRow
from regard.measurement.touchpoint_values import (
    LEARNED_SCHEMA,
    configured_values,
    learn_values,
    learned_values,
    measured_values,
)
from regard.store.database import Store, unit_of_work
from tests.touchpoints.support import brand_with_touchpoints


def _row(
    touchpoint: str,
    group: str | None,
    customers: float,
    lift: float | None,
    *,
    engaged: float | None = None,
    error: float = 0.0,
) -> LiftRow:
    """A lift row; every treated customer engaged unless ``engaged`` says otherwise; a 95%
    interval of ``error`` standard errors either side."""
    half = 1.959964 * error
    revenue = (
        Estimate(lift, lift - half, lift + half)
        if lift is not None
        else Estimate.none("too little data")
    )
    return LiftRow(
        touchpoint=touchpoint,
        group=group,
        treated={"customers": customers, "engaged": customers if engaged is None else engaged},
        control={"customers": customers / 10},
        conversion=Estimate.none("not used"),
        revenue=revenue,
    )


CONFIGURED = pl.DataFrame(
    {
        "touchpoint": ["welcome", "welcome", "welcome", "newsletter"],
        "segment": ["default", "rfm:champions", "commitment:Convertible", "default"],
        "configured": [3.0, 5.0, 4.0, 1.0],
    }
)


def test_the_measurement_takes_over_as_customers_accumulate() -> None:
    measured = measured_values(
        [
            _row("welcome", None, 3_000, 7.0),  # the touchpoint as a whole: "default"
            _row("welcome", "rfm:champions", 1_000, 9.0),
            _row("welcome", "commitment:Convertible", 40, None),  # too little data
            _row("welcome", "lifecycle:new", 5_000, 2.0),  # not configured: left out
        ]
    )
    learned = learned_values(CONFIGURED, measured, prior_customers=1_000)
    assert learned.schema == pl.Schema(LEARNED_SCHEMA)
    assert learned["segment"].to_list() == CONFIGURED["segment"].to_list()
    rows = {(r["touchpoint"], r["segment"]): r for r in learned.iter_rows(named=True)}
    # 3,000 customers against a prior worth 1,000: three quarters measured.
    assert rows["welcome", "default"]["weight"] == pytest.approx(0.75)
    assert rows["welcome", "default"]["value"] == pytest.approx(0.75 * 7.0 + 0.25 * 3.0)
    assert rows["welcome", "rfm:champions"]["value"] == pytest.approx(7.0)
    # No estimate: the configured value stands, whatever the count.
    assert rows["welcome", "commitment:Convertible"]["weight"] == 0.0
    assert rows["welcome", "commitment:Convertible"]["value"] == 4.0
    # Never measured at all.
    assert rows["newsletter", "default"]["value"] == 1.0
    assert rows["newsletter", "default"]["customers"] == 0.0
    # With a huge sample the measurement replaces the configured value.
    many = measured_values([_row("newsletter", None, 10_000_000, 0.25)])
    replaced = learned_values(CONFIGURED, many, prior_customers=1_000)
    assert replaced["value"][3] == pytest.approx(0.25, abs=1e-3)


def test_the_measured_lift_counts_as_the_value_of_one_engagement() -> None:
    """The lift is per customer offered the touchpoint, engaged or not; the configured value
    is per engagement (the engine multiplies it by the engagement chance)."""
    measured = measured_values(
        [
            _row("welcome", None, 2_000, 0.5, engaged=500),  # a quarter engaged
            _row("newsletter", None, 2_000, 0.5, engaged=0),  # nobody engaged: nothing learned
        ]
    )

    assert measured["measured"].to_list() == [pytest.approx(2.0), None]
    learned = learned_values(CONFIGURED, measured, prior_customers=1_000)
    newsletter = learned.filter(pl.col("touchpoint") == "newsletter").row(0, named=True)
    assert (newsletter["weight"], newsletter["value"]) == (0.0, 1.0)


def test_by_default_a_measurement_weighs_as_much_as_its_precision_earns() -> None:
    configured = pl.DataFrame(
        {
            "touchpoint": ["newsletter", "review_request", "win_back", "welcome"],
            "segment": ["default"] * 4,
            "configured": [1.0, 1.0, 1.0, 1.0],
        }
    )
    measured = measured_values(
        [
            _row("newsletter", None, 8_000, 9.0, error=0.5),  # misjudged, measured precisely
            _row("review_request", None, 1_000, -9.0, error=30.0),  # a noisy loss
            _row("win_back", None, 4_000, 5.0, error=1.0),
        ]
    )

    learned = {
        r["touchpoint"]: r for r in learned_values(configured, measured).iter_rows(named=True)
    }

    # The precise measurement takes over; the noisy one barely moves the configured value.
    assert learned["newsletter"]["weight"] > 0.99
    assert learned["newsletter"]["value"] == pytest.approx(9.0, abs=0.05)
    assert learned["review_request"]["weight"] < 0.2
    assert learned["review_request"]["value"] > -1.0
    assert learned["newsletter"]["weight"] > learned["win_back"]["weight"]
    assert learned["review_request"]["weight"] < learned["win_back"]["weight"]
    # Never measured: the configured value, whatever the others taught.
    assert (learned["welcome"]["weight"], learned["welcome"]["value"]) == (0.0, 1.0)


def test_a_measurement_unsure_of_its_sign_never_turns_a_value_negative() -> None:
    configured = pl.DataFrame(
        {
            "touchpoint": ["newsletter", "restock_reminder", "review_request", "post_help"],
            "segment": ["default"] * 4,
            "configured": [1.0, 2.0, 1.0, 1.0],
        }
    )
    measured = measured_values(
        [
            _row("newsletter", None, 8_000, 40.0, error=1.0),  # misjudged: teaches a wide spread
            # -30 +- 30.4: below the configured 2.0, but not surely below zero.
            _row("restock_reminder", None, 900, -30.0, error=15.5),
            _row("review_request", None, 9_000, -30.0, error=2.0),  # a sure loss
            # -30 +- 39: the configured 1.0 inside the interval; nothing contradicts it.
            _row("post_help", None, 900, -30.0, error=20.0),
        ]
    )

    learned = {
        r["touchpoint"]: r for r in learned_values(configured, measured).iter_rows(named=True)
    }

    assert learned["restock_reminder"]["weight"] > 0.5
    assert learned["restock_reminder"]["value"] == 0.0
    assert learned["review_request"]["value"] < -25.0
    assert learned["newsletter"]["value"] == pytest.approx(40.0, abs=0.1)
    assert (learned["post_help"]["weight"], learned["post_help"]["value"]) == (0.0, 1.0)


def test_a_sign_flip_must_be_sure_over_every_pair_measured_at_once() -> None:
    names = [f"touchpoint_{n}" for n in range(20)]
    configured = pl.DataFrame(
        {"touchpoint": names, "segment": ["default"] * 20, "configured": [2.0] * 20}
    )
    rows = [_row(name, None, 5_000, 40.0, error=1.0) for name in names[1:]]
    # -30 +- 27.4 at 95% alone is sure of its sign; among twenty pairs at once it is not.
    rows.append(_row(names[0], None, 5_000, -30.0, error=14.0))

    learned = learned_values(configured, measured_values(rows))

    first = learned.row(0, named=True)
    assert first["weight"] > 0.5
    assert first["value"] == 0.0


def test_measurements_that_agree_with_the_configured_values_leave_them_be() -> None:
    measured = measured_values(
        [
            _row("welcome", None, 3_000, 3.4, error=1.0),  # within its noise of 3.0
            _row("newsletter", None, 3_000, 0.2, error=2.0),  # within its noise of 1.0
        ]
    )

    learned = learned_values(CONFIGURED, measured)

    assert learned["weight"].to_list() == [0.0] * CONFIGURED.height
    assert learned["value"].to_list() == CONFIGURED["configured"].to_list()


def test_prior_strength_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        learned_values(CONFIGURED, measured_values([]), prior_customers=0)


def test_with_no_holdouts_yet_the_configured_values_stand(store: Store) -> None:
    brand = brand_with_touchpoints()
    with unit_of_work(store) as session:
        learned = learn_values(session, brand=brand, now=datetime(2026, 6, 1, tzinfo=UTC))
    configured = configured_values(brand)
    assert configured.height > 0
    assert learned["value"].to_list() == configured["configured"].to_list()
    assert (learned["weight"] == 0).all()
