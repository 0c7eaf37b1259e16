"""Learned touchpoint values: the measured lift per segment takes over from the configured
value as evidence accumulates.

A touchpoint's configured value per segment (``value = { default = 3.0, "rfm:champions" =
5.0 }``) is the brand's prior belief of what one message is worth to a customer of that
segment when the customer takes it up: the engine and investment allocation multiply it by the
channel's engagement chance. The holdouts measure it: the revenue lift per customer (treated
minus control, ``regard.measurement.lift``) is what the touchpoint earned per customer offered
it, engaged or not, so divided by the treated customers' engagement rate it is the value of one
engagement, the configured value's unit. The learned value is the credibility-weighted blend

    learned = Z x measured + (1 - Z) x configured,   Z = n / (n + k)

with n the treated customers measured and k (``prior_customers``) how many customers' worth
of evidence the configured value counts as (Buhlmann credibility: k is the ratio of the
noise in one customer's outcome to the spread of true values). With no estimate (too little
data, no control group) Z is 0 and the configured value stands; with many customers the
measurement replaces it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import polars as pl
from sqlalchemy.orm import Session

from regard.config import BrandConfig
from regard.measurement.lift import LiftRow, measure_lift

__all__ = [
    "DEFAULT_PRIOR_CUSTOMERS",
    "DEFAULT_SEGMENT",
    "LEARNED_SCHEMA",
    "configured_values",
    "learn_values",
    "learned_values",
    "measured_values",
    "per_engagement",
]

# The configured value counts as the evidence of this many measured customers.
DEFAULT_PRIOR_CUSTOMERS = 1_000.0
# The key of a touchpoint's value for customers in none of its listed segments.
DEFAULT_SEGMENT = "default"

_MEASURED_SCHEMA = {
    "touchpoint": pl.String(),
    "segment": pl.String(),
    "customers": pl.Float64(),
    "measured": pl.Float64(),
}
LEARNED_SCHEMA = {
    "touchpoint": pl.String(),
    "segment": pl.String(),
    "configured": pl.Float64(),
    "measured": pl.Float64(),
    "customers": pl.Float64(),
    "weight": pl.Float64(),
    "value": pl.Float64(),
}


def configured_values(brand: BrandConfig) -> pl.DataFrame:
    """touchpoint, segment (``default`` included) and configured value of every touchpoint."""
    return pl.DataFrame(
        [
            {"touchpoint": tp.name, "segment": segment, "configured": float(value)}
            for tp in brand.touchpoints
            for segment, value in tp.value.items()
        ],
        schema={"touchpoint": pl.String(), "segment": pl.String(), "configured": pl.Float64()},
    )


def measured_values(rows: Sequence[LiftRow], *, segment: str | None = None) -> pl.DataFrame:
    """The value of one engagement measured by ``lift`` rows, as touchpoint, segment,
    customers (treated) and measured: the revenue lift per treated customer over the treated
    customers' engagement rate (null without an estimate, or when no treated customer engaged).
    Rows without a group are the touchpoint as a whole and stand for ``segment`` (``default``
    when not given)."""
    return pl.DataFrame(
        [
            {
                "touchpoint": row.touchpoint,
                "segment": row.group if row.group is not None else (segment or DEFAULT_SEGMENT),
                "customers": row.treated.get("customers", 0.0),
                "measured": per_engagement(row),
            }
            for row in rows
        ],
        schema=_MEASURED_SCHEMA,
    )


def per_engagement(row: LiftRow) -> float | None:
    """``row``'s revenue lift per treated customer, over the share of treated customers who
    engaged: what one engagement earned."""
    lift = row.revenue.difference
    customers = row.treated.get("customers", 0.0)
    engaged = row.treated.get("engaged", 0.0)
    if lift is None or customers <= 0 or engaged <= 0:
        return None
    return lift * customers / engaged


def learned_values(
    configured: pl.DataFrame,
    measured: pl.DataFrame,
    *,
    prior_customers: float = DEFAULT_PRIOR_CUSTOMERS,
) -> pl.DataFrame:
    """Each configured (touchpoint, segment) value blended with its measurement (see the
    module docstring); one row per configured pair, in its order (``LEARNED_SCHEMA``).
    Measurements of pairs the brand did not configure are left out: the engine values only
    the segments a touchpoint lists."""
    if prior_customers <= 0:
        raise ValueError("prior_customers must be positive")
    joined = configured.join(
        measured.select(_MEASURED_SCHEMA.keys()),
        on=["touchpoint", "segment"],
        how="left",
        maintain_order="left",
    )
    evidence = pl.when(pl.col("measured").is_not_null()).then(pl.col("customers")).otherwise(0.0)
    weight = (evidence / (evidence + prior_customers)).alias("weight")
    return (
        joined.with_columns(pl.col("customers").fill_null(0.0), weight)
        .with_columns(
            (
                pl.col("weight") * pl.col("measured").fill_null(0.0)
                + (1.0 - pl.col("weight")) * pl.col("configured")
            ).alias("value")
        )
        .select(LEARNED_SCHEMA.keys())
        .match_to_schema(LEARNED_SCHEMA)
    )


def learn_values(
    session: Session,
    *,
    brand: BrandConfig,
    now: datetime,
    prior_customers: float = DEFAULT_PRIOR_CUSTOMERS,
) -> pl.DataFrame:
    """The learned value of every configured (touchpoint, segment) from the holdouts in the
    store at ``now``: per segment from the lift by segment, ``default`` from each touchpoint's
    lift over all its customers. Reads only."""
    # Customers in no segment form a group of their own in the lift by segment: not a segment.
    by_segment = [
        row
        for row in measure_lift(session, brand=brand, now=now, by="segment")
        if row.group is not None
    ]
    overall = measure_lift(session, brand=brand, now=now)
    measured = pl.concat([measured_values(by_segment), measured_values(overall)])
    return learned_values(configured_values(brand), measured, prior_customers=prior_customers)
