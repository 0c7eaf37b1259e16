"""``/admin/segments``: every segment with its size, last change and trend; one segment's rule,
size over time, and a form that checks an edited rule (errors at their position), counts whom it
would hold now and gives the ``regard.toml`` block to paste. Definitions are read-only while
Regard runs, so the form stores nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from regard.console.segments import check_and_count, toml_snippet, trend_chart, trend_sparkline
from regard.errors import InvalidInput
from regard.segments import service, views
from regard.web.admin.access import PREFIX, SignedIn, check_csrf, require
from regard.web.admin.pages import SECTIONS, FormDep, _text, render
from regard.web.deps import SessionDep, StoreDep

router = APIRouter(prefix=PREFIX, include_in_schema=False, dependencies=[Depends(check_csrf)])

SECTIONS.append(("segments.view", "Segments", f"{PREFIX}/segments"))

# Runs drawn on one segment's page.
HISTORY_RUNS = 30

Reader = Annotated[SignedIn, Depends(require("segments.view"))]
Editor = Annotated[SignedIn, Depends(require("segments.edit"))]


@router.get("/segments")
def segments_page(request: Request, session: SessionDep, store: StoreDep, who: Reader) -> Response:
    """Every segment: members now, who entered and left at its last evaluation, its trend."""
    summaries = service.list_segments(session, brand=store.brand)
    rows = [
        (
            summary,
            views.kind_of(summary.name),
            views.describe(summary.name, brand=store.brand),
            trend_sparkline(summary.name, summary.trend),
        )
        for summary in summaries
    ]
    return render(request, "admin/segments.html", {"who": who, "rows": rows})


def _segment_page(
    request: Request,
    session: SessionDep,
    store: StoreDep,
    who: SignedIn,
    name: str,
    *,
    rule: str | None = None,
    description: str | None = None,
) -> Response:
    views.require_segment(session, name, brand=store.brand)
    [summary] = service.list_segments(session, brand=store.brand, names=[name])
    definition = views.custom_definition(name, brand=store.brand)
    runs = views.runs_of(session, name, limit=HISTORY_RUNS)
    checked = None
    if rule is not None:
        checked = check_and_count(session, rule, brand=store.brand, as_of=datetime.now(UTC))
    shown_rule = rule if rule is not None else (definition.rule if definition else "")
    shown_description = (
        description if description is not None else (definition.description if definition else "")
    )
    return render(
        request,
        "admin/segment.html",
        {
            "who": who,
            "summary": summary,
            "kind": views.kind_of(name),
            "description": views.describe(name, brand=store.brand),
            "definition": definition,
            "chart": trend_chart(name, runs) if runs else None,
            "checked": checked,
            "rule": shown_rule,
            "rule_description": shown_description,
            "toml": toml_snippet(name, shown_rule, description=shown_description)
            if checked is not None and checked.ok
            else None,
        },
        status=400 if checked is not None and not checked.ok else 200,
    )


@router.get("/segments/{name}")
def segment_page(
    request: Request, name: str, session: SessionDep, store: StoreDep, who: Reader
) -> Response:
    """One segment: what it holds, its rule, its size at each evaluation, the edit form."""
    return _segment_page(request, session, store, who, name)


@router.post("/segments/{name}/check")
def segment_check(
    request: Request,
    name: str,
    session: SessionDep,
    store: StoreDep,
    who: Editor,
    form: FormDep,
) -> Response:
    """Check an edited rule: its errors at their position, or whom it would hold now and the
    ``regard.toml`` block that saves it. Nothing is stored."""
    views.require_segment(session, name, brand=store.brand)
    if views.kind_of(name) != "custom":
        raise InvalidInput(f"{name} is computed by Regard, not defined by a rule")
    rule = _text(form, "rule").replace("\r\n", "\n")
    return _segment_page(
        request,
        session,
        store,
        who,
        name,
        rule=rule,
        description=_text(form, "description").strip(),
    )
