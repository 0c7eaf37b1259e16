"""``GET /api/measurement/lift``: each touchpoint's outcomes beside its control group, and the
lift with its interval."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Query

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
