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
) -> LiftRow:
    """A lift row; every treated customer engaged unless ``engaged`` says otherwise."""
    revenue = Estimate(lift, lift, lift) if lift is not None else Estimate.none("too little data")
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
