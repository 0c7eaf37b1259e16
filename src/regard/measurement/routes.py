"""``GET /api/measurement/lift``: each touchpoint's outcomes beside its control group, and the
lift with its interval. ``GET /api/measurement/health``: relationship health beside revenue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from fastapi import APIRouter, Query

from regard.measurement.health_service import MAX_WEEKS, relationship_health
from regard.measurement.lift import measure_lift
from regard.web.deps import ReadKeyDep, SessionDep, StoreDep

router = APIRouter(prefix="/api/measurement", tags=["measurement"])


@router.get("/lift")
def lift(
    session: SessionDep,
    store: StoreDep,
    _key: ReadKeyDep,
    touchpoint: str | None = Query(None, max_length=80),
    by: Literal["segment", "channel", "week"] | None = Query(None),
) -> dict[str, object]:
    """Per touchpoint (and segment, channel or week): both arms' counts, the conversion lift
    (difference in proportions, Newcombe interval) and the revenue lift per customer (bootstrap
    interval); a lift without enough data has no number but its ``reason``."""
    rows = measure_lift(
        session, brand=store.brand, now=datetime.now(UTC), touchpoint=touchpoint, by=by
    )
    return {
        "by": by,
        "confidence": store.brand.measurement.outcome.confidence,
        "rows": [row.as_dict() for row in rows],
    }


@router.get("/health")
def health(
    session: SessionDep,
    store: StoreDep,
    _key: ReadKeyDep,
    weeks: int = Query(12, ge=1, le=MAX_WEEKS),
    lifecycle_days: int = Query(90, ge=1, le=3650),
    as_of: datetime | None = Query(None, description="ISO 8601 with a time zone; default now."),
) -> dict[str, object]:
    """Relationship health: opt-out and complaint rates per week, channel and touchpoint (each
    week's ``over_line`` against ``complaint_line``; a rate with too little data is null, with a
    ``note``), the share of reachable customers at their caps per channel (``all``: every
    channel), and the commitment and lifecycle transition matrices (one row per cell, zero
    cells included)."""
    found = relationship_health(
        session,
        brand=store.brand,
        as_of=as_of or datetime.now(UTC),
        weeks=weeks,
        lifecycle_period=timedelta(days=lifecycle_days),
    )
    return found.as_dict()
