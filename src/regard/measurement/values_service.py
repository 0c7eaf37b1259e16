"""Refresh the values the engine learns from measurement: every customer's expected value and
every touchpoint's learned value, stored for the engine to read (``regard.decisions.inputs``).

- **Customer values**: with ``[measurement.clv]`` configured, every customer with a purchase
  is valued (``clv_service.customer_values``: discounted expected value over the horizon, and
  the chance of still being active) and the values replace those stored. Without it there are
  none (the store's are cleared): the engine then leaves every value as it is.
- **Touchpoint values**: every configured (touchpoint, segment) value blended with the measured
  revenue lift by credibility (``touchpoint_values.learn_values``), on every channel together
  (channel ``all``: the value the engine uses); and each touchpoint's ``default`` value per
  channel it was sent on, from the lift by channel (each channel's treated customers against the
  touchpoint's whole control group), for reading and for investment.

The engine never fits or summarises purchases itself: at a million customers that is the work
of a refresh, once a day from the scheduler or on demand with ``regard measure values``.
Flushes, never commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl
from sqlalchemy.orm import Session

from regard.config import BrandConfig
from regard.measurement import clv_service, values_repository
from regard.measurement.lift import measure_lift
from regard.measurement.touchpoint_values import (
    DEFAULT_SEGMENT,
    configured_values,
    learn_values,
    learned_values,
    measured_values,
)
from regard.measurement.values_repository import ALL_CHANNELS, TOUCHPOINT_VALUES_SCHEMA

__all__ = [
    "REPLACED_SHARE",
    "ValuesRefresh",
    "channel_values",
    "clv_configured",
    "refresh_values",
]

# A learned value further than this share from the configured one has replaced it.
REPLACED_SHARE = 0.10


@dataclass(frozen=True)
class ValuesRefresh:
    """What a refresh stored.

    ``clv_configured``: whether ``[measurement.clv]`` has its parameters;
    ``customers_scored``: customers valued (0 when customer value is not configured);
    ``mean_expected_value``: their mean expected value (None when none); ``learned``: the
    touchpoint values stored; ``replaced``: how many of them moved more than 10% off the
    configured value; ``table``: the touchpoint values (touchpoint, segment, channel,
    configured, measured, learned, weight, customers) for display.
    """

    as_of: datetime
    clv_configured: bool
    customers_scored: int
    mean_expected_value: float | None
    learned: int
    replaced: int
    table: pl.DataFrame


def clv_configured(brand: BrandConfig) -> bool:
    """Whether ``[measurement.clv]`` has both models' parameters (``regard clv fit``)."""
    options = brand.measurement.clv
    return options.bg_nbd is not None and options.gamma_gamma is not None


def refresh_values(
    session: Session,
    *,
    brand: BrandConfig,
    as_of: datetime,
    prior_customers: float | None = None,
) -> ValuesRefresh:
    """Value every customer and learn every touchpoint's value from the store at ``as_of``, and
    store both in place of the previous ones. ``prior_customers``, when given, fixes how many
    measured customers' worth of evidence a configured value counts as; by default each
    measurement's weight follows from its noise (``touchpoint_values``)."""
    # Everything is read and computed before anything is written: the writes come last, close
    # to the commit.
    scored = _customer_values(session, brand=brand, as_of=as_of)
    table = pl.concat(
        [
            _over_all_channels(
                learn_values(session, brand=brand, now=as_of, prior_customers=prior_customers)
            ),
            channel_values(session, brand=brand, now=as_of, prior_customers=prior_customers),
        ]
    )
    values_repository.replace_customer_values(session, scored, scored_at=as_of)
    values_repository.replace_touchpoint_values(session, table, measured_at=as_of)
    session.flush()
    moved = (pl.col("learned") - pl.col("configured")).abs() > REPLACED_SHARE * pl.col(
        "configured"
    ).abs()
    return ValuesRefresh(
        as_of=as_of,
        clv_configured=clv_configured(brand),
        customers_scored=scored.height,
        mean_expected_value=(
            float(scored["expected_value"].mean()) if scored.height else None  # type: ignore[arg-type]
        ),
        learned=table.height,
        replaced=int(table.select(moved.sum()).item()),
        table=table,
    )


def _customer_values(session: Session, *, brand: BrandConfig, as_of: datetime) -> pl.DataFrame:
    if not clv_configured(brand):
        return pl.DataFrame(schema=values_repository.CUSTOMER_VALUES_SCHEMA)
    valued = clv_service.customer_values(session, brand=brand, as_of=as_of)
    return valued.select(
        "customer_id", pl.col("clv").alias("expected_value"), "probability_alive"
    ).filter(pl.col("expected_value").is_finite() & pl.col("probability_alive").is_finite())


def _over_all_channels(learned: pl.DataFrame) -> pl.DataFrame:
    return learned.select(
        "touchpoint",
        "segment",
        pl.lit(ALL_CHANNELS).alias("channel"),
        "configured",
        "measured",
        pl.col("value").alias("learned"),
        "weight",
        "customers",
    ).match_to_schema(TOUCHPOINT_VALUES_SCHEMA)


def channel_values(
    session: Session,
    *,
    brand: BrandConfig,
    now: datetime,
    prior_customers: float | None = None,
) -> pl.DataFrame:
    """Each touchpoint's ``default`` value on each channel it offers, blended with the revenue
    lift of the customers sent it on that channel (``TOUCHPOINT_VALUES_SCHEMA``)."""
    defaults = configured_values(brand).filter(pl.col("segment") == DEFAULT_SEGMENT)
    offered = pl.DataFrame(
        [
            {"touchpoint": tp.name, "channel": c.channel}
            for tp in brand.touchpoints
            for c in tp.channels
        ],
        schema={"touchpoint": pl.String(), "channel": pl.String()},
    )
    # learned_values blends per (touchpoint, segment): the channel stands in for the segment.
    configured = (
        offered.join(defaults.drop("segment"), on="touchpoint", how="inner", maintain_order="left")
        .rename({"channel": "segment"})
        .select("touchpoint", "segment", "configured")
    )
    measured = measured_values(
        [
            row
            for row in measure_lift(session, brand=brand, now=now, by="channel")
            if row.group is not None
        ],
        confidence=brand.measurement.outcome.confidence,
    )
    learned = learned_values(
        configured,
        measured,
        prior_customers=prior_customers,
        confidence=brand.measurement.outcome.confidence,
    )
    return learned.select(
        "touchpoint",
        pl.lit(DEFAULT_SEGMENT).alias("segment"),
        pl.col("segment").alias("channel"),
        "configured",
        "measured",
        pl.col("value").alias("learned"),
        "weight",
        "customers",
    ).match_to_schema(TOUCHPOINT_VALUES_SCHEMA)
