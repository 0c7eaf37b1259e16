"""``/admin/report``: the measurement report, the same sections as ``regard report`` writes,
from live data. Charts are server-side SVG, each with its sentence and its numbers; nothing on
the page is personal data (``aggregates.view``). The simulator's section shows the simulation
the last ``regard report`` stored; the page never simulates."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from regard.console.report import STYLE, read_report, report_body
from regard.measurement.invest_service import AXES
from regard.measurement.report import default_report_dir
from regard.web.admin.access import PREFIX, SignedIn, check_csrf, require
from regard.web.admin.pages import SECTIONS, render
from regard.web.deps import SessionDep, StoreDep

router = APIRouter(prefix=PREFIX, include_in_schema=False, dependencies=[Depends(check_csrf)])

SECTIONS.append(("aggregates.view", "Measurement report", f"{PREFIX}/report"))


@router.get("/report")
def report_page(
    request: Request,
    session: SessionDep,
    store: StoreDep,
    who: Annotated[SignedIn, Depends(require("aggregates.view"))],
    budget: Annotated[float | None, Query(gt=0)] = None,
    by: Annotated[str, Query(pattern="^(commitment|lifecycle|rfm)$")] = "commitment",
) -> Response:
    """Lift per touchpoint, relationship health, customer value, the budget recommendation and
    the last simulation."""
    # Where ``regard report`` writes by default (beside the SQLite database), unless the app
    # was given another folder. The stored charts are Regard's own SVG from that folder; the
    # content security policy refuses any script in a page regardless.
    folder: Path = getattr(request.app.state, "report_dir", None) or default_report_dir(store)
    report = read_report(
        session, brand=store.brand, now=datetime.now(UTC), report_dir=folder, budget=budget, by=by
    )
    return render(
        request,
        "admin/report.html",
        {
            "who": who,
            "report": report,
            "body": report_body(report),
            "style": STYLE,
            "budget": budget,
            "by": by,
            "axes": AXES,
        },
    )
