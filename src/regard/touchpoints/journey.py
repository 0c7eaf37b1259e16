"""The journey map: which touchpoints reach each lifecycle stage and segment, by which channels,
and where there are gaps and pile-ups.

For each row (every lifecycle stage, commitment group and custom segment with members) and each
touchpoint, the map counts the row's members the touchpoint reaches in a typical
``WINDOW_DAYS``: its audience (members of its segments, or everyone) and, for an event
touchpoint, only those who had its event in the window. It also estimates how many messages of
each touchpoint a member gets a week: a schedule's rate (7 a week daily, 1 weekly, 12/52
monthly; once in the window for a touchpoint a customer gets once); an event's count in the
window per reached customer; a campaign's launches in the window (a campaign not launched in the
window reaches nobody).

- **Gap**: no touchpoint other than promotional ones reaches at least ``GAP_SHARE`` of the row's
  members. Offers alone add nothing to a relationship: a stage only offers reach is unserved.
- **Pile-up**: the promotional messages a member may expect a week (the sum over promotional
  touchpoints of rate x share reached) exceed ``pile_up_per_week`` (by default the brand's
  weekly promotional cap of the contact policy, 3).

``journey_map`` is pure (frames in, a ``JourneyMap`` out); ``read_journey`` reads the frames
from the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from regard.config import BrandConfig
from regard.customers.models import Event
from regard.segments.models import SegmentMembership
from regard.segments.schema import COMMITMENT_GROUPS, LIFECYCLE_STAGES
from regard.touchpoints.models import CampaignLaunch
from regard.touchpoints.options import TouchpointDefinition

WINDOW_DAYS = 28
GAP_SHARE = 0.05
PILE_UP_PER_WEEK = 3.0
_WEEKS = WINDOW_DAYS / 7
_SCHEDULE_RATE = {"day": 7.0, "week": 1.0, "month": 12 / 52}


@dataclass(frozen=True)
class Reach:
    """One touchpoint reaching one row: how many of its members, and how often a week."""

    touchpoint: str
    importance: str
    channels: tuple[str, ...]
    customers: int
    share: float
    per_week: float


@dataclass(frozen=True)
class JourneyRow:
    segment: str
    members: int
    reaches: tuple[Reach, ...]
    promotional_per_week: float
    gap: bool
    pile_up: bool


@dataclass(frozen=True)
class JourneyMap:
    rows: tuple[JourneyRow, ...]
    window_days: int
    pile_up_per_week: float

    @property
    def gaps(self) -> list[str]:
        return [row.segment for row in self.rows if row.gap]

    @property
    def pile_ups(self) -> list[str]:
        return [row.segment for row in self.rows if row.pile_up]


def journey_map(
    touchpoints: Sequence[TouchpointDefinition],
    *,
    importance: Mapping[str, str],
    members: pl.DataFrame,
    rows: Sequence[str],
    event_counts: pl.DataFrame,
    launches: Mapping[str, int],
    pile_up_per_week: float = PILE_UP_PER_WEEK,
) -> JourneyMap:
    """The map over ``rows`` (segment names, in order).

    ``members``: (segment, customer_id) of current memberships; ``event_counts``: (type,
    customer_id, events) in the window; ``launches``: campaign launches in the window per
    touchpoint; ``importance``: each touchpoint's importance (its topic's).
    """
    customers = members.select("customer_id").unique()
    audiences = {tp.name: _audience(tp, members, customers, event_counts) for tp in touchpoints}
    built = []
    for segment in rows:
        inside = members.filter(pl.col("segment") == segment).select("customer_id").unique()
        size = inside.height
        reaches = []
        for tp in touchpoints:
            reached, per_week = audiences[tp.name]
            hit = inside.join(reached, on="customer_id", how="inner")
            if hit.is_empty():
                continue
            rate = _rate(tp, launches, per_week, hit)
            if rate == 0:
                continue  # a campaign not launched in the window reaches nobody in it
            reaches.append(
                Reach(
                    touchpoint=tp.name,
                    importance=importance[tp.name],
                    channels=tuple(c.channel for c in tp.channels),
                    customers=hit.height,
                    share=hit.height / size if size else 0.0,
                    per_week=rate,
                )
            )
        promotional = sum(r.per_week * r.share for r in reaches if r.importance == "promotional")
        served = any(r.importance != "promotional" and r.share >= GAP_SHARE for r in reaches)
        built.append(
            JourneyRow(
                segment=segment,
                members=size,
                reaches=tuple(reaches),
                promotional_per_week=promotional,
                gap=size > 0 and not served,
                pile_up=promotional > pile_up_per_week,
            )
        )
    return JourneyMap(tuple(built), WINDOW_DAYS, pile_up_per_week)


def _audience(
    tp: TouchpointDefinition,
    members: pl.DataFrame,
    customers: pl.DataFrame,
    event_counts: pl.DataFrame,
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Who the touchpoint reaches in the window, and (events) how often each of them."""
    audience = (
        members.filter(pl.col("segment").is_in(list(tp.segments))).select("customer_id").unique()
        if tp.segments
        else customers
    )
    if tp.event is None:
        return audience, None
    had = event_counts.filter(pl.col("type") == tp.event.event).select("customer_id", "events")
    reached = audience.join(had, on="customer_id", how="inner")
    return reached.select("customer_id"), reached


def _rate(
    tp: TouchpointDefinition,
    launches: Mapping[str, int],
    per_week: pl.DataFrame | None,
    hit: pl.DataFrame,
) -> float:
    """Messages a week a reached member may expect from the touchpoint."""
    if tp.once_per_customer:
        return 1 / _WEEKS  # at most once in the window, and then never again
    if tp.schedule is not None:
        return _SCHEDULE_RATE[tp.schedule.every]
    if tp.campaign:
        return launches.get(tp.name, 0) / _WEEKS
    assert per_week is not None
    events = hit.join(per_week, on="customer_id", how="inner")["events"]
    return float(events.sum()) / max(events.len(), 1) / _WEEKS


def read_journey(session: Session, *, brand: BrandConfig, now: datetime) -> JourneyMap:
    """The journey map of the brand's catalogue over the base as it stands now."""
    since = now - timedelta(days=WINDOW_DAYS)
    members = pl.DataFrame(
        session.execute(
            select(SegmentMembership.segment, SegmentMembership.customer_id).where(
                SegmentMembership.exited_at.is_(None)
            )
        ).all(),
        schema={"segment": pl.String(), "customer_id": pl.Int64()},
        orient="row",
    )
    types = sorted({tp.event.event for tp in brand.touchpoints if tp.event is not None})
    event_counts = pl.DataFrame(
        session.execute(
            select(Event.type, Event.customer_id, func.count())
            .where(Event.type.in_(types), Event.occurred_at > since, Event.occurred_at <= now)
            .group_by(Event.type, Event.customer_id)
        ).all(),
        schema={"type": pl.String(), "customer_id": pl.Int64(), "events": pl.Int64()},
        orient="row",
    )
    launches = dict(
        session.execute(
            select(CampaignLaunch.touchpoint, func.count())
            .where(CampaignLaunch.launched_at > since)
            .group_by(CampaignLaunch.touchpoint)
        ).all()
    )
    present = set(members["segment"].unique().to_list())
    listed = [
        *(f"lifecycle:{stage}" for stage in LIFECYCLE_STAGES),
        *(f"commitment:{group}" for group in COMMITMENT_GROUPS),
        *(definition.name for definition in brand.segments.custom),
    ]
    rows = [name for name in listed if name in present]
    importance = {}
    for tp in brand.touchpoints:
        topic = brand.topic(tp.topic)
        assert topic is not None  # the configuration checks every touchpoint's topic
        importance[tp.name] = topic.importance
    return journey_map(
        brand.touchpoints,
        importance=importance,
        members=members,
        rows=rows,
        event_counts=event_counts,
        launches={k: int(v) for k, v in launches.items()},
    )
