"""The campaign planner's figures and its one action.

A campaign touchpoint is previewed (``regard.decisions.preview``) and launched
(``regard.touchpoints.triggers``) for an audience the planner may narrow to some of the
touchpoint's segments (any segment, when the touchpoint is for everyone) and to some of its
channels; the launch keeps the channels chosen and the engine offers only those. Launched
campaigns show their progress from the database: candidates made, decided, and their messages
by outbox state.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from regard.config import BrandConfig
from regard.decisions.models import Decision, OutboxMessage
from regard.decisions.preview import Preview, preview_campaign
from regard.errors import InvalidInput, NotFound
from regard.privacy import audit
from regard.privacy.audit import Actor
from regard.segments.service import segment_names
from regard.store.database import Store
from regard.touchpoints import triggers
from regard.touchpoints.models import CampaignLaunch, Candidate
from regard.touchpoints.options import TouchpointDefinition

__all__ = [
    "LaunchProgress",
    "audience_choices",
    "campaign_touchpoint",
    "campaigns",
    "launch",
    "launch_progress",
    "narrowed",
    "preview",
]


@dataclass(frozen=True)
class LaunchProgress:
    """One launch of a campaign and how far its messages have got."""

    launch_id: int
    launched_at: datetime
    launched_by: str
    audience: int
    candidates: int
    pending: int
    decided: int
    # Decisions by outcome (sent, held, dropped); a held candidate is decided again later.
    outcomes: dict[str, int]
    # Its messages by outbox state (queued, sending, retry, sent, failed, cancelled, ambiguous).
    outbox: dict[str, int]


def campaigns(brand: BrandConfig) -> list[TouchpointDefinition]:
    """The catalogue's campaign touchpoints (those staff launch)."""
    return [tp for tp in brand.touchpoints if tp.campaign]


def campaign_touchpoint(brand: BrandConfig, name: str) -> TouchpointDefinition:
    """The campaign touchpoint ``name``; ``NotFound`` when there is none by that name."""
    found = brand.touchpoint(name)
    if found is None or not found.campaign:
        raise NotFound(f"there is no campaign {name!r}")
    return found


def audience_choices(brand: BrandConfig, touchpoint: TouchpointDefinition) -> list[str]:
    """The segments the audience may be narrowed to: the touchpoint's own, or every segment
    when it is for everyone."""
    return list(touchpoint.segments) if touchpoint.segments else segment_names(brand)


def narrowed(
    brand: BrandConfig,
    name: str,
    *,
    segments: Sequence[str] = (),
    channels: Sequence[str] = (),
) -> BrandConfig:
    """The brand with campaign ``name`` narrowed to ``segments`` and ``channels`` (each empty:
    the touchpoint's own). A choice the touchpoint does not allow is ``InvalidInput``."""
    touchpoint = campaign_touchpoint(brand, name)
    allowed_segments = audience_choices(brand, touchpoint)
    unknown = [s for s in segments if s not in allowed_segments]
    if unknown:
        raise InvalidInput(
            f"campaign {name!r} may not be sent to {', '.join(unknown)}",
            details={"segments": unknown},
        )
    offered = [c.channel for c in touchpoint.channels]
    refused = [c for c in channels if c not in offered]
    if refused:
        raise InvalidInput(
            f"campaign {name!r} has no content for {', '.join(refused)}",
            details={"channels": refused},
        )
    update: dict[str, object] = {}
    if segments:
        update["segments"] = tuple(dict.fromkeys(segments))
    if channels:
        update["channels"] = tuple(c for c in touchpoint.channels if c.channel in channels)
    if not update:
        return brand
    changed = touchpoint.model_copy(update=update)
    catalogue = tuple(changed if tp.name == name else tp for tp in brand.touchpoints)
    return brand.model_copy(update={"touchpoints": catalogue})


def preview(
    store: Store,
    name: str,
    *,
    segments: Sequence[str] = (),
    channels: Sequence[str] = (),
    by: str,
    now: datetime,
) -> Preview:
    """The dry run of launching campaign ``name`` now for the chosen audience and channels;
    nothing is kept."""
    brand = narrowed(store.brand, name, segments=segments, channels=channels)
    return preview_campaign(dataclasses.replace(store, brand=brand), name, by=by, now=now)


def launch(
    session: Session,
    name: str,
    *,
    brand: BrandConfig,
    segments: Sequence[str] = (),
    channels: Sequence[str] = (),
    actor: Actor,
    now: datetime,
) -> triggers.Triggered:
    """Launch campaign ``name`` for everyone now in the chosen segments (the touchpoint's own
    when none are chosen), on the chosen channels (all of its own when none are chosen), and
    audit it. Flushes, never commits."""
    done = triggers.launch_campaign(
        session,
        name,
        # Only the audience is narrowed here: the launch checks and keeps the channels itself.
        brand=narrowed(brand, name, segments=segments),
        by=actor.label,
        now=now,
        channels=channels,
    )
    audit.record(
        session,
        actor=actor,
        action="campaign.launched",
        target=f"campaign:{name}",
        details={
            "launch_id": done.launch_id,
            "candidates": done.created,
            "segments": list(segments),
            "channels": list(channels),
        },
        at=now,
    )
    return done


def launch_progress(session: Session, name: str, *, limit: int = 20) -> list[LaunchProgress]:
    """The latest ``limit`` launches of campaign ``name``, newest first, with their progress."""
    launches = session.scalars(
        select(CampaignLaunch)
        .where(CampaignLaunch.touchpoint == name)
        .order_by(CampaignLaunch.launched_at.desc(), CampaignLaunch.id.desc())
        .limit(limit)
    ).all()
    found = []
    for launched in launches:
        ids = select(Candidate.id).where(
            Candidate.touchpoint == name, Candidate.key == f"campaign:{launched.id}"
        )
        statuses = dict(
            session.execute(
                select(Candidate.status, func.count())
                .where(Candidate.id.in_(ids))
                .group_by(Candidate.status)
            ).all()
        )
        decided = session.scalar(
            select(func.count(distinct(Decision.candidate_id))).where(
                Decision.candidate_id.in_(ids)
            )
        )
        outcomes = dict(
            session.execute(
                select(Decision.outcome, func.count())
                .where(Decision.candidate_id.in_(ids))
                .group_by(Decision.outcome)
            ).all()
        )
        outbox = dict(
            session.execute(
                select(OutboxMessage.status, func.count())
                .join(Decision, Decision.id == OutboxMessage.decision_id)
                .where(Decision.candidate_id.in_(ids))
                .group_by(OutboxMessage.status)
            ).all()
        )
        found.append(
            LaunchProgress(
                launch_id=launched.id,
                launched_at=launched.launched_at,
                launched_by=launched.launched_by,
                audience=launched.audience,
                candidates=sum(int(n) for n in statuses.values()),
                pending=int(statuses.get("pending", 0)),
                decided=int(decided or 0),
                outcomes={str(k): int(v) for k, v in outcomes.items()},
                outbox={str(k): int(v) for k, v in outbox.items()},
            )
        )
    return found
