"""The segments API: definitions, checks, evaluation, sizes, trends and members.

Reading needs a read key and evaluating a write key, each sent as ``Authorization: Bearer <key>``.
Segments are the engines' (``rfm:<group>``, ``lifecycle:<stage>``, ``commitment:<group>``) and
the brand's own from ``regard.toml``; an unknown name is ``404`` with the nearest known one. A rule
that does not parse or type-check is ``400`` with its line, column and pointer under
``error.details``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from regard.config import BrandConfig
from regard.segments import service, views
from regard.segments.language import parse, to_json
from regard.segments.schemas import (
    Checked,
    CheckIn,
    Evaluated,
    EvaluateIn,
    MembersPage,
    MemberView,
    RunView,
    SegmentDetail,
    SegmentList,
    SegmentView,
)
from regard.web.deps import ReadKeyDep, SessionDep, StoreDep, WriteKeyDep

router = APIRouter(prefix="/api", tags=["segments"])

# Customer ids are 64-bit: a larger cursor is not one of ours.
_LARGEST_ID = 2**63 - 1


@router.get("/segments", response_model=SegmentList)
def list_segments(session: SessionDep, store: StoreDep, _key: ReadKeyDep) -> SegmentList:
    """Every segment with its size now, its last evaluation and its trend."""
    summaries = service.list_segments(session, brand=store.brand)
    return SegmentList(segments=[_view(summary, brand=store.brand) for summary in summaries])


@router.post("/segments/check", response_model=Checked)
def check_segment(body: CheckIn, store: StoreDep, _key: ReadKeyDep) -> Checked:
    """Parse and type-check a rule, given as text or as its JSON tree."""
    checked = views.check(brand=store.brand, rule=body.rule, tree=body.tree)
    return Checked.of(checked)


@router.post("/segments/evaluate", response_model=Evaluated)
def evaluate_segments(
    body: EvaluateIn, session: SessionDep, store: StoreDep, _key: WriteKeyDep
) -> Evaluated:
    """Evaluate segments now (or as on ``as_of``) and record who entered and who exited."""
    if body.names is not None:
        views.unknown_segments(body.names, brand=store.brand)
    as_of = body.as_of or datetime.now(UTC)
    summaries = service.evaluate_segments(session, brand=store.brand, as_of=as_of, names=body.names)
    return Evaluated(
        as_of=as_of,
        segments=[_view(summary, brand=store.brand) for summary in summaries],
    )


@router.get("/segments/{name}", response_model=SegmentDetail)
def read_segment(
    name: str,
    session: SessionDep,
    store: StoreDep,
    _key: ReadKeyDep,
    runs: Annotated[int, Query(ge=1, le=1000, description="How many runs of history.")] = 30,
) -> SegmentDetail:
    """One segment: its size and trend, its rule (the brand's own) and its size over time."""
    views.require_segment(session, name, brand=store.brand)
    [summary] = service.list_segments(session, brand=store.brand, names=[name])
    definition = views.custom_definition(name, brand=store.brand)
    return SegmentDetail(
        **_view(summary, brand=store.brand).model_dump(),
        rule=None if definition is None else definition.rule,
        tree=None if definition is None else to_json(parse(definition.rule)),
        runs=[RunView.of(run) for run in views.runs_of(session, name, limit=runs)],
    )


@router.get("/segments/{name}/members", response_model=MembersPage)
def segment_members(
    name: str,
    session: SessionDep,
    store: StoreDep,
    _key: ReadKeyDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="Members per page.")] = 100,
    after: Annotated[
        int | None, Query(ge=0, le=_LARGEST_ID, description="The `next` of the previous page.")
    ] = None,
) -> MembersPage:
    """The customers in a segment now, by id, with when they entered; a page at a time."""
    views.require_segment(session, name, brand=store.brand)
    page, following = views.members_page(session, name, after=after, limit=limit)
    return MembersPage(
        segment=name, members=[MemberView.of(member) for member in page], next=following
    )


def _view(summary: service.SegmentSummary, *, brand: BrandConfig) -> SegmentView:
    return SegmentView.of(summary, description=views.describe(summary.name, brand=brand))
