"""``/admin/touchpoints``: the brand's touchpoint catalogue in words, and the journey map: a grid
of stage and segment x touchpoint coloured by how much each cell is contacted, with gaps and
pile-ups marked and its numbers in a table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from regard.console.journey import journey_chart
from regard.touchpoints import repository
from regard.touchpoints.journey import GAP_SHARE, read_journey
from regard.web.admin.access import PREFIX, SignedIn, check_csrf, require
from regard.web.admin.pages import SECTIONS, render
from regard.web.deps import SessionDep, StoreDep

router = APIRouter(prefix=PREFIX, include_in_schema=False, dependencies=[Depends(check_csrf)])

SECTIONS.append(("touchpoints.view", "Touchpoints and the journey map", f"{PREFIX}/touchpoints"))

MEASURES: dict[str, str] = {
    "share": "share of each row's members reached",
    "customers": "members reached",
    "per_week": "messages a reached member gets a week",
}


def in_words(span: timedelta | None) -> str:
    """A deadline as a person says it: ``48 hours``, ``7 days``, ``none``."""
    if span is None:
        return "none"
    seconds = int(span.total_seconds())
    for unit, size in (("week", 604_800), ("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


@router.get("/touchpoints")
def touchpoints_page(
    request: Request,
    session: SessionDep,
    store: StoreDep,
    who: Annotated[SignedIn, Depends(require("touchpoints.view"))],
    measure: Annotated[Literal["share", "customers", "per_week"], Query()] = "share",
) -> Response:
    """The catalogue (topic, importance, trigger, channels, deadline, value per segment) and
    the journey map."""
    brand = store.brand
    pending = repository.pending_count(session)
    catalogue = []
    for tp in brand.touchpoints:
        topic = brand.topic(tp.topic)
        catalogue.append(
            {
                "tp": tp,
                "importance": topic.importance if topic else "",
                "deadline": in_words(tp.deadline),
                "pending": pending.get(tp.name, 0),
            }
        )
    journey = read_journey(session, brand=brand, now=datetime.now(UTC))
    chart = (
        journey_chart(journey, touchpoints=[tp.name for tp in brand.touchpoints], measure=measure)
        if journey.rows and brand.touchpoints
        else None
    )
    return render(
        request,
        "admin/touchpoints.html",
        {
            "who": who,
            "catalogue": catalogue,
            "journey": journey,
            "chart": chart,
            "measure": measure,
            "measures": MEASURES,
            "gap_share": GAP_SHARE,
        },
    )
