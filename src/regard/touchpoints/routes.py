"""The touchpoints API: the catalogue, the journey map, running triggers, launching campaigns.

Reading needs a read key; running triggers and launching a campaign need a write key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from regard.touchpoints import journey, repository, triggers
from regard.web.deps import ReadKeyDep, SessionDep, StoreDep, WriteKeyDep

router = APIRouter(prefix="/api", tags=["touchpoints"])


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TouchpointView(_Answer):
    name: str
    label: str
    topic: str
    importance: str
    trigger: str = Field(description="What makes it happen, in words.")
    trigger_kind: str = Field(description="event, schedule or campaign")
    segments: list[str] = Field(description="Who it is for; empty: everyone.")
    channels: list[dict[str, str]]
    asks_response: bool
    once_per_customer: bool
    deadline_seconds: float | None
    value: dict[str, float]
    pending: int = Field(description="Candidates waiting for a decision.")


class ReachView(_Answer):
    touchpoint: str
    importance: str
    channels: list[str]
    customers: int
    share: float
    per_week: float


class JourneyRowView(_Answer):
    segment: str
    members: int
    reaches: list[ReachView]
    promotional_per_week: float
    gap: bool
    pile_up: bool


class JourneyView(_Answer):
    window_days: int
    pile_up_per_week: float
    rows: list[JourneyRowView]
    gaps: list[str]
    pile_ups: list[str]


class TriggerRun(_Answer):
    touchpoint: str
    kind: str
    created: int
    skipped: dict[str, int]


class Moment(_Answer):
    at: AwareDatetime | None = Field(default=None, description="As at this moment; now if unset.")


class Launch(_Answer):
    by: str = Field(min_length=1, max_length=120, description="Who launches it.")
    channels: list[str] | None = Field(
        default=None,
        max_length=5,
        description="The touchpoint's channels its messages may use; absent or empty: all.",
    )


@router.get("/touchpoints", response_model=list[TouchpointView])
def list_touchpoints(session: SessionDep, store: StoreDep, _key: ReadKeyDep) -> list[Any]:
    """The brand's touchpoint catalogue, with the candidates each has waiting."""
    brand = store.brand
    pending = repository.pending_count(session)
    views = []
    for tp in brand.touchpoints:
        topic = brand.topic(tp.topic)
        views.append(
            TouchpointView(
                name=tp.name,
                label=tp.label,
                topic=tp.topic,
                importance=topic.importance if topic else "",
                trigger=tp.trigger_text,
                trigger_kind=tp.trigger_kind,
                segments=list(tp.segments),
                channels=[c.model_dump() for c in tp.channels],
                asks_response=tp.asks_response,
                once_per_customer=tp.once_per_customer,
                deadline_seconds=tp.deadline.total_seconds() if tp.deadline else None,
                value=tp.value,
                pending=pending.get(tp.name, 0),
            )
        )
    return views


@router.get("/journey", response_model=JourneyView)
def journey_map(session: SessionDep, store: StoreDep, _key: ReadKeyDep) -> JourneyView:
    """Which touchpoints reach each lifecycle stage and segment, by which channels, how often,
    and where there are gaps and pile-ups."""
    found = journey.read_journey(session, brand=store.brand, now=datetime.now(UTC))
    return JourneyView(
        window_days=found.window_days,
        pile_up_per_week=found.pile_up_per_week,
        rows=[
            JourneyRowView(
                segment=row.segment,
                members=row.members,
                reaches=[
                    ReachView(
                        touchpoint=r.touchpoint,
                        importance=r.importance,
                        channels=list(r.channels),
                        customers=r.customers,
                        share=r.share,
                        per_week=r.per_week,
                    )
                    for r in row.reaches
                ],
                promotional_per_week=row.promotional_per_week,
                gap=row.gap,
                pile_up=row.pile_up,
            )
            for row in found.rows
        ],
        gaps=found.gaps,
        pile_ups=found.pile_ups,
    )


def _runs(done: list[triggers.Triggered]) -> list[TriggerRun]:
    return [
        TriggerRun(touchpoint=t.touchpoint, kind=t.kind, created=t.created, skipped=t.skipped)
        for t in done
    ]


@router.post("/touchpoints/trigger", response_model=list[TriggerRun])
def run_triggers(
    body: Moment, session: SessionDep, store: StoreDep, _key: WriteKeyDep
) -> list[TriggerRun]:
    """Run every event and schedule trigger once; each trigger makes a candidate once."""
    done = triggers.run_triggers(session, brand=store.brand, now=body.at or datetime.now(UTC))
    return _runs(done)


@router.post("/campaigns/{name}/launch", response_model=TriggerRun, status_code=201)
def launch_campaign(
    name: str, body: Launch, session: SessionDep, store: StoreDep, _key: WriteKeyDep
) -> TriggerRun:
    """Launch a campaign touchpoint for everyone in its audience now, on the chosen channels
    (every channel it has when none are chosen)."""
    done = triggers.launch_campaign(
        session,
        name,
        brand=store.brand,
        by=body.by,
        now=datetime.now(UTC),
        channels=body.channels,
    )
    return _runs([done])[0]
