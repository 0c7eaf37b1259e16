"""Learned touchpoint values: the measured lift per segment takes over from the configured
value as evidence accumulates.

A touchpoint's configured value per segment (``value = { default = 3.0, "rfm:champions" =
5.0 }``) is the brand's prior belief of what one message is worth to a customer of that
segment when the customer takes it up: the engine and investment allocation multiply it by the
channel's engagement chance. The holdouts measure it: the revenue lift per customer (treated
minus control, ``regard.measurement.lift``) is what the touchpoint earned per customer offered
it, engaged or not, so divided by the treated customers' engagement rate it is the value of one
engagement, the configured value's unit. The learned value is the credibility-weighted blend

    learned = Z x measured + (1 - Z) x configured,   Z = tau^2 / (tau^2 + se^2)

with se the measurement's standard error (from its interval) and tau^2 how far true values
stray from the configured ones: the squared gap between measured and configured values over
every pair measured, less the part of it their noise explains, averaged by precision (the
method of moments of empirical Bayes; Buhlmann credibility with the noise measured rather
than assumed). A precise measurement of a touchpoint the brand misjudged takes over; a noisy
one (revenue is skewed: one large order moves a small group's mean) barely moves the
configured value, whatever its sign; and where the measurements agree with the configured
values within their noise, tau^2 is 0 and the configured values stand. With no estimate (too
little data, no control group) Z is 0. ``prior_customers`` (k) replaces all this with the
fixed weight Z = n / (n + k), n the treated customers measured: the configured value counts
as k customers' evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from statistics import NormalDist

import polars as pl
from sqlalchemy.orm import Session

from regard.config import BrandConfig
from regard.measurement.lift import LiftRow, measure_lift

__all__ = [
    "DEFAULT_SEGMENT",
    "LEARNED_SCHEMA",
    "configured_values",
    "learn_values",
    "learned_values",
    "measured_values",
    "per_engagement",
    "true_spread",
]

# The key of a touchpoint's value for customers in none of its listed segments.
DEFAULT_SEGMENT = "default"

_MEASURED_SCHEMA = {
    "touchpoint": pl.String(),
    "segment": pl.String(),
    "customers": pl.Float64(),
    "measured": pl.Float64(),
    "error": pl.Float64(),
}
# Keeps an exact measurement (no error at all) from dividing by zero.
_TINY = 1e-12
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


def measured_values(
    rows: Sequence[LiftRow], *, segment: str | None = None, confidence: float = 0.95
) -> pl.DataFrame:
    """The value of one engagement measured by ``lift`` rows, as touchpoint, segment,
    customers (treated), measured and error: the revenue lift per treated customer over the
    treated customers' engagement rate, and its standard error read off the interval (at
    ``confidence``), both null without an estimate or when no treated customer engaged. Rows
    without a group are the touchpoint as a whole and stand for ``segment`` (``default`` when
    not given)."""
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    return pl.DataFrame(
        [
            {
                "touchpoint": row.touchpoint,
                "segment": row.group if row.group is not None else (segment or DEFAULT_SEGMENT),
                "customers": row.treated.get("customers", 0.0),
                "measured": per_engagement(row, row.revenue.difference),
                "error": per_engagement(row, _standard_error(row, z)),
            }
            for row in rows
        ],
        schema=_MEASURED_SCHEMA,
    )


def _standard_error(row: LiftRow, z: float) -> float | None:
    low, high = row.revenue.low, row.revenue.high
    return None if low is None or high is None else (high - low) / (2 * z)


def per_engagement(row: LiftRow, amount: float | None) -> float | None:
    """``amount`` per treated customer of ``row`` (its revenue lift, or that lift's error) over
    the share of treated customers who engaged: per engagement."""
    customers = row.treated.get("customers", 0.0)
    engaged = row.treated.get("engaged", 0.0)
    if amount is None or customers <= 0 or engaged <= 0:
        return None
    return amount * customers / engaged


def learned_values(
    configured: pl.DataFrame,
    measured: pl.DataFrame,
    *,
    prior_customers: float | None = None,
    confidence: float = 0.95,
) -> pl.DataFrame:
    """Each configured (touchpoint, segment) value blended with its measurement (see the
    module docstring); one row per configured pair, in its order (``LEARNED_SCHEMA``).
    Measurements of pairs the brand did not configure are left out: the engine values only
    the segments a touchpoint lists.

    A measurement whose interval (at ``confidence``) holds the configured value does not
    contradict the brand: it leaves the value be (weight 0). And a blend never crosses zero on
    a measurement whose interval holds zero, widened to hold ``confidence`` over all the pairs
    measured together: a touchpoint the brand values is not learned to lose money, nor one it
    gives no value learned to earn some, until the measurement is sure of the sign. It stops
    at 0."""
    if prior_customers is not None and prior_customers <= 0:
        raise ValueError("prior_customers must be positive")
    joined = configured.join(
        measured.select(_MEASURED_SCHEMA.keys()),
        on=["touchpoint", "segment"],
        how="left",
        maintain_order="left",
    ).with_columns(
        pl.when(pl.col("error").is_null())
        .then(None)
        .otherwise(pl.col("measured"))
        .alias("measured")
    )
    margin = NormalDist().inv_cdf(0.5 + confidence / 2) * pl.col("error")
    low, high = pl.col("measured") - margin, pl.col("measured") + margin
    agrees = (low <= pl.col("configured")) & (pl.col("configured") <= high)
    known = pl.col("measured").is_not_null() & ~agrees.fill_null(False)
    if prior_customers is not None:
        evidence = pl.when(known).then(pl.col("customers")).otherwise(0.0)
        weight = evidence / (evidence + prior_customers)
    else:
        spread = true_spread(joined.filter(pl.col("measured").is_not_null()))
        variance = pl.col("error") ** 2
        weight = pl.when(known & (spread > 0)).then(spread / (spread + variance)).otherwise(0.0)
    blend = pl.col("weight") * pl.col("measured").fill_null(0.0) + (
        1.0 - pl.col("weight")
    ) * pl.col("configured")
    # A sign flip must hold over every pair measured at once (Bonferroni): among fifty pairs at
    # 95%, two or three would otherwise look sure of a sign by chance alone.
    pairs = max(1, joined.select(pl.col("measured").is_not_null().sum()).item())
    strict = NormalDist().inv_cdf(1 - (1 - confidence) / (2 * pairs)) * pl.col("error")
    unsure = (pl.col("measured") - strict <= 0) & (pl.col("measured") + strict >= 0)
    crosses = (blend * pl.col("configured") < 0) | ((pl.col("configured") == 0) & (blend != 0))
    return (
        joined.with_columns(pl.col("customers").fill_null(0.0), weight.alias("weight"))
        .with_columns(pl.when(known & unsure & crosses).then(0.0).otherwise(blend).alias("value"))
        .select(LEARNED_SCHEMA.keys())
        .match_to_schema(LEARNED_SCHEMA)
    )


def true_spread(measured: pl.DataFrame) -> float:
    """tau^2: the variance of true values around the configured ones, by the method of
    moments over the pairs of ``measured`` (configured, measured, error): the squared gap
    less the squared error, averaged with each pair weighted by its precision (1 / error^2,
    so a noisy pair says little), never below 0."""
    if measured.is_empty():
        return 0.0
    variance = pl.col("error") ** 2
    precision = 1.0 / (variance + _TINY)
    excess = (pl.col("measured") - pl.col("configured")) ** 2 - variance
    found = measured.select(((precision * excess).sum() / precision.sum()).alias("spread")).item()
    return max(float(found), 0.0) if found is not None else 0.0


def learn_values(
    session: Session,
    *,
    brand: BrandConfig,
    now: datetime,
    prior_customers: float | None = None,
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
    confidence = brand.measurement.outcome.confidence
    measured = pl.concat(
        [
            measured_values(by_segment, confidence=confidence),
            measured_values(overall, confidence=confidence),
        ]
    )
    return learned_values(
        configured_values(brand),
        measured,
        prior_customers=prior_customers,
        confidence=confidence,
    )
