"""``/admin/overview``: the relationship with the whole base in figures and charts.

Every chart is server-side SVG with its numbers in a table beside it and a sentence as its text
alternative; nothing on the page is personal data (``aggregates.view``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from regard.console.overview import COMPLAINT_RATE_LIMIT, overview_charts, read_overview
from regard.web.admin.access import PREFIX, SignedIn, check_csrf, require
from regard.web.admin.pages import SECTIONS, render
from regard.web.deps import SessionDep, StoreDep

router = APIRouter(prefix=PREFIX, include_in_schema=False, dependencies=[Depends(check_csrf)])

SECTIONS.append(("aggregates.view", "Overview figures and charts", f"{PREFIX}/overview"))

# The page's charts in reading order, each under its heading.
CHART_ORDER: tuple[tuple[str, str], ...] = (
    ("growth", "Customers and growth"),
    ("commitment", "Commitment mix"),
    ("lifecycle", "Lifecycle stages"),
    ("opt_in_channels", "Opt-in rate per channel"),
    ("opt_in_topics", "Opt-in rate per topic"),
    ("opt_in_grid", "Who may be sent each topic on each channel"),
    ("messages", "Messages sent, held and dropped"),
    ("opt_outs", "Opt-outs"),
    ("complaints", "Complaint rate"),
)


@router.get("/overview")
def overview_page(
    request: Request,
    session: SessionDep,
    store: StoreDep,
    who: Annotated[SignedIn, Depends(require("aggregates.view"))],
    weeks: Annotated[int, Query(ge=1, le=104)] = 12,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
) -> Response:
    """Growth, commitment, lifecycle, opt-in rates, message outcomes, opt-outs and complaints."""
    figures = read_overview(
        session, brand=store.brand, now=datetime.now(UTC), weeks=weeks, days=days
    )
    charts = overview_charts(figures)
    return render(
        request,
        "admin/figures.html",
        {
            "who": who,
            "figures": figures,
            "charts": [(key, heading, charts[key]) for key, heading in CHART_ORDER],
            "weeks": weeks,
            "days": days,
            "complaint_limit": COMPLAINT_RATE_LIMIT,
        },
    )
