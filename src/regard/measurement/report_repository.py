"""What the measurement report reads beyond the services it composes: the stored customer
values (``regard.measurement.values_service`` writes them) and commitment memberships; the
stored touchpoint values come from ``regard.measurement.values_repository``."""

from __future__ import annotations

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from regard.measurement.models import CustomerValue
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
