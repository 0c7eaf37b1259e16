"""What the measurement report reads beyond the services it composes: the stored customer and
touchpoint values (``regard.measurement.values_service`` writes them)."""

from __future__ import annotations

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from regard.measurement.models import CustomerValue, TouchpointValue
from regard.segments.models import SegmentMembership
from regard.store.frames import fetch_frame

_TIME = pl.Datetime("us", "UTC")


def customer_values(session: Session) -> pl.DataFrame:
    """customer_id, expected_value, probability_alive, scored_at of every valued customer."""
    return fetch_frame(
        session,
        select(
            CustomerValue.customer_id,
            CustomerValue.expected_value,
            CustomerValue.probability_alive,
            CustomerValue.scored_at,
        ),
        {
            "customer_id": pl.Int64(),
            "expected_value": pl.Float64(),
            "probability_alive": pl.Float64(),
            "scored_at": _TIME,
        },
    )


def touchpoint_values(session: Session) -> pl.DataFrame:
    """Every stored touchpoint value: configured, measured, weight and learned, by touchpoint,
    segment and channel, in that order."""
    return fetch_frame(
        session,
        select(
            TouchpointValue.touchpoint,
            TouchpointValue.segment,
            TouchpointValue.channel,
            TouchpointValue.configured,
            TouchpointValue.measured,
            TouchpointValue.customers,
            TouchpointValue.weight,
            TouchpointValue.learned,
            TouchpointValue.measured_at,
        ).order_by(TouchpointValue.touchpoint, TouchpointValue.segment, TouchpointValue.channel),
        {
            "touchpoint": pl.String(),
            "segment": pl.String(),
            "channel": pl.String(),
            "configured": pl.Float64(),
            "measured": pl.Float64(),
            "customers": pl.Float64(),
            "weight": pl.Float64(),
            "learned": pl.Float64(),
            "measured_at": _TIME,
        },
    )


def memberships(session: Session, *, prefix: str) -> pl.DataFrame:
    """customer_id, segment of every current member of a segment whose name starts with
    ``prefix`` (``commitment:``)."""
    return fetch_frame(
        session,
        select(SegmentMembership.customer_id, SegmentMembership.segment).where(
            SegmentMembership.exited_at.is_(None),
            SegmentMembership.segment.startswith(prefix, autoescape=True),
        ),
        {"customer_id": pl.Int64(), "segment": pl.String()},
    )
