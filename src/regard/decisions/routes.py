"""The decisions API: runs of the engine, decisions with their sentences, campaign previews.

Reading needs a read key; starting a run or previewing a campaign needs a write key. Sentences
name no one: the API says "the customer" where the console says the customer's name.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from regard.decisions import preview, repository, service
from regard.decisions.reasons import sentence
from regard.web.deps import ReadKeyDep, SessionDep, StoreDep, WriteKeyDep

router = APIRouter(prefix="/api", tags=["decisions"])


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DecisionView(_Answer):
    id: int
    run_id: int
    candidate_id: int
    customer_id: int
    touchpoint: str
    outcome: str = Field(description="sent, held or dropped")
    channel: str | None
    send_at: datetime | None
    value: float | None
    reason: str
    params: dict[str, Any]
    sentence: str
    decided_at: datetime


class RunView(_Answer):
    run_id: int
    candidates: int
    sent: int
    held: int
    dropped: int
    queued: int | None = None
    value: float
    bound: float = Field(description="No plan can be worth more: the plan's certificate.")
    gap: float
    seconds: float
    reasons: list[dict[str, Any]] | None = None


class PreviewView(_Answer):
    campaign: str
    audience: int
    reachable: int
    sent: int
    held: int
    dropped: int
    value: float
    cost: float
    reach: list[dict[str, Any]]
    suppressed: list[dict[str, Any]]
    refused: list[dict[str, Any]]
    warnings: list[str]


class RunRequest(_Answer):
    at: AwareDatetime | None = Field(default=None, description="Decide as at; now if unset.")


class PreviewRequest(_Answer):
    by: str = Field(default="api", min_length=1, max_length=120)
    at: AwareDatetime | None = None


@router.get("/decisions", response_model=list[DecisionView])
def list_decisions(
    session: SessionDep,
    _key: ReadKeyDep,
    customer_id: int | None = None,
    touchpoint: str | None = None,
    run_id: int | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
) -> list[DecisionView]:
    """Decisions, newest first, each with its reason and sentence."""
    found = repository.decisions_of(
        session, customer_id=customer_id, touchpoint=touchpoint, run_id=run_id, limit=limit
    )
    return [
        DecisionView(
            id=d.id,
            run_id=d.run_id,
            candidate_id=d.candidate_id,
            customer_id=d.customer_id,
            touchpoint=d.touchpoint,
            outcome=d.outcome,
            channel=d.channel,
            send_at=d.send_at,
            value=d.value,
            reason=d.reason,
            params=d.params,
            sentence=sentence(d.outcome, d.reason, d.params, name=None),
            decided_at=d.decided_at,
        )
        for d in found
    ]


@router.get("/decisions/summary", response_model=list[dict[str, Any]])
def summarise_decisions(
    session: SessionDep,
    _key: ReadKeyDep,
    run_id: int | None = None,
    since: AwareDatetime | None = None,
) -> list[dict[str, Any]]:
    """Decisions counted by touchpoint, outcome and reason."""
    return [
        {"touchpoint": t, "outcome": o, "reason": r, "decisions": n}
        for t, o, r, n in repository.summary(session, run_id=run_id, since=since)
    ]


@router.get("/engine/runs", response_model=list[RunView])
def list_runs(
    session: SessionDep, _key: ReadKeyDep, limit: int = Query(default=20, ge=1, le=500)
) -> list[RunView]:
    """The engine's latest runs, each with its certificate."""
    return [
        RunView(
            run_id=run.id,
            candidates=run.candidates,
            sent=run.sent,
            held=run.held,
            dropped=run.dropped,
            value=run.value,
            bound=run.bound,
            gap=(run.bound - run.value) / run.bound if run.bound > 0 else 0.0,
            seconds=run.seconds,
        )
        for run in repository.runs(session, limit=limit)
    ]


@router.post("/engine/runs", response_model=RunView, status_code=201)
def start_run(body: RunRequest, store: StoreDep, _key: WriteKeyDep) -> RunView:
    """Decide every candidate due now; 409 while another run is deciding."""
    report = service.run_engine(store, now=body.at or datetime.now(UTC))
    return RunView(
        run_id=report.run_id,
        candidates=report.candidates,
        sent=report.sent,
        held=report.held,
        dropped=report.dropped,
        queued=report.queued,
        value=report.value,
        bound=report.bound,
        gap=report.gap,
        seconds=report.seconds,
        reasons=[
            {"touchpoint": t, "outcome": o, "reason": r, "candidates": n}
            for (t, o, r), n in sorted(report.reasons.items())
        ],
    )


@router.post("/campaigns/{name}/preview", response_model=PreviewView)
def preview_campaign(
    name: str, body: PreviewRequest, store: StoreDep, _key: WriteKeyDep
) -> PreviewView:
    """What launching the campaign now would do (nothing is kept): reach by segment and
    channel, suppressions by reason, cost, expected value and spray-and-pray warnings."""
    found = preview.preview_campaign(store, name, by=body.by, now=body.at or datetime.now(UTC))
    return PreviewView(
        campaign=found.campaign,
        audience=found.audience,
        reachable=found.reachable,
        sent=found.sent,
        held=found.held,
        dropped=found.dropped,
        value=found.value,
        cost=found.cost,
        reach=[
            {"segment": s, "channel": c, "sends": n} for (s, c), n in sorted(found.reach.items())
        ],
        suppressed=[
            {"outcome": o, "reason": r, "candidates": n}
            for (o, r), n in sorted(found.suppressed.items())
        ],
        refused=[
            {"channel": c, "reason": r, "candidates": n}
            for (c, r), n in sorted(found.refused.items())
        ],
        warnings=found.warnings,
    )
