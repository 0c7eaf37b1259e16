"""What investment allocation reads from the store: segment sizes and who can be reached."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from regard.preferences.models import ConsentState
from regard.segments.models import SegmentMembership

__all__ = ["reachable_counts", "segment_sizes"]


def segment_sizes(session: Session, *, prefix: str) -> dict[str, int]:
    """Members now of every segment whose name starts with ``prefix`` (e.g. ``commitment:``)."""
    statement = (
        select(SegmentMembership.segment, func.count())
        .where(SegmentMembership.exited_at.is_(None), SegmentMembership.segment.startswith(prefix))
        .group_by(SegmentMembership.segment)
    )
    return {segment: int(count) for segment, count in session.execute(statement).all()}


def reachable_counts(
    session: Session, *, prefix: str, topics: Sequence[str]
) -> dict[tuple[str, str], int]:
    """Per (segment, channel): the members now who are opted in on that channel to at least one
    of ``topics``."""
    if not topics:
        return {}
    statement = (
        select(
            SegmentMembership.segment,
            ConsentState.channel,
            func.count(func.distinct(SegmentMembership.customer_id)),
        )
        .join(ConsentState, ConsentState.customer_id == SegmentMembership.customer_id)
        .where(
            SegmentMembership.exited_at.is_(None),
            SegmentMembership.segment.startswith(prefix),
            ConsentState.state == "opted-in",
            ConsentState.topic.in_(list(topics)),
        )
        .group_by(SegmentMembership.segment, ConsentState.channel)
    )
    return {
        (segment, channel): int(count) for segment, channel, count in session.execute(statement)
    }
