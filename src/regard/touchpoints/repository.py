"""All SQL of touchpoints: candidates in (skipping those already made), cursors, launches."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, tuple_, update
from sqlalchemy.orm import Session

from regard.customers.models import Customer, Event
from regard.segments.models import SegmentMembership
from regard.store.inserts import upsert
from regard.touchpoints.models import CampaignLaunch, Candidate, TriggerCursor

# Rows per INSERT: well under SQLite's limit of 32,766 bound parameters (8 columns a row).
_CHUNK = 2_000


def add_candidates(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert candidates, skipping any whose (touchpoint, customer, key) exists; how many were
    new."""
    added = 0
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start : start + _CHUNK]
        result = session.execute(
            upsert(session, Candidate)
            .values(list(chunk))
            .on_conflict_do_nothing(index_elements=["touchpoint", "customer_id", "key"])
            .returning(Candidate.id)
        )
        added += len(result.all())
    return added


def cursor(session: Session, touchpoint: str) -> TriggerCursor | None:
    return session.get(TriggerCursor, touchpoint)


def move_cursor(
    session: Session,
    touchpoint: str,
    *,
    at: datetime,
    last_event_id: int | None = None,
    last_slot_at: datetime | None = None,
) -> None:
    found = session.get(TriggerCursor, touchpoint)
    if found is None:
        found = TriggerCursor(touchpoint=touchpoint, last_event_id=0, updated_at=at)
        session.add(found)
    if last_event_id is not None:
        found.last_event_id = max(found.last_event_id, last_event_id)
    if last_slot_at is not None:
        found.last_slot_at = last_slot_at
    found.updated_at = at
    session.flush()


def events_after(
    session: Session, *, event_type: str, after_id: int, since: datetime
) -> tuple[list[tuple[int, int, datetime, dict[str, Any]]], int]:
    """Events of the type with an id above ``after_id`` (id, customer_id, occurred_at,
    properties), those that happened before ``since`` left out; and the highest id read."""
    last = session.scalar(
        select(func.max(Event.id)).where(Event.type == event_type, Event.id > after_id)
    )
    if last is None:
        return [], after_id
    rows = session.execute(
        select(Event.id, Event.customer_id, Event.occurred_at, Event.properties)
        .where(
            Event.type == event_type,
            Event.id > after_id,
            Event.id <= last,
            Event.occurred_at >= since,
        )
        .order_by(Event.id)
    ).all()
    return [(i, c, o, p) for i, c, o, p in rows], int(last)


def audience(session: Session, segments: Sequence[str]) -> list[int]:
    """Customers now in any of the segments, or every customer when none are named."""
    if not segments:
        return list(session.scalars(select(Customer.id).order_by(Customer.id)))
    return list(
        session.scalars(
            select(SegmentMembership.customer_id)
            .where(SegmentMembership.segment.in_(segments), SegmentMembership.exited_at.is_(None))
            .distinct()
            .order_by(SegmentMembership.customer_id)
        )
    )


def add_launch(session: Session, launch: CampaignLaunch) -> CampaignLaunch:
    session.add(launch)
    session.flush()
    return launch


def pending_count(session: Session) -> dict[str, int]:
    """Pending candidates per touchpoint."""
    rows = session.execute(
        select(Candidate.touchpoint, func.count())
        .where(Candidate.status == "pending")
        .group_by(Candidate.touchpoint)
    ).all()
    return {touchpoint: int(count) for touchpoint, count in rows}


def move_candidates(session: Session, *, survivor_id: int, merged_id: int) -> None:
    """A merged profile's candidates become the survivor's; those the survivor already has for
    the same trigger are dropped, so the one trigger still makes one candidate."""
    survivors = select(Candidate.touchpoint, Candidate.key).where(
        Candidate.customer_id == survivor_id
    )
    twins = tuple_(Candidate.touchpoint, Candidate.key).in_(survivors)
    session.execute(
        delete(Candidate).where(Candidate.customer_id == merged_id, twins),
        execution_options={"synchronize_session": False},
    )
    session.execute(
        update(Candidate).where(Candidate.customer_id == merged_id).values(customer_id=survivor_id),
        execution_options={"synchronize_session": False},
    )
