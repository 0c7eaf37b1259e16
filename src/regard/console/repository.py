"""All SQL of the console's figures: counts the database aggregates, a few rows each.

Periods are bucketed in the database by comparing with each period's start (a ``CASE`` over
the boundaries), which reads the same on SQLite and PostgreSQL and returns one row per period
rather than one per customer or message.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from regard.customers.models import Customer
from regard.decisions.models import Decision, OutboxMessage
from regard.delivery.models import MessageFeedback
from regard.preferences.models import ConsentEntry
from regard.segments.models import SegmentMembership

__all__ = [
    "complaints_by_period",
    "count_customers",
    "customers_created_by_period",
    "latest_outcomes",
    "open_memberships",
    "opt_outs_by_period",
    "sent_by_period",
]


def count_customers(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Customer)) or 0)


def customers_created_by_period(
    session: Session, *, starts: Sequence[datetime], until: datetime
) -> dict[int, int]:
    """Profiles created in each period (index into ``starts``; the last ends at ``until``)."""
    return _by_period(session, Customer.created_at, Customer.id, starts=starts, until=until)


def open_memberships(session: Session, *, segments: Sequence[str]) -> dict[str, int]:
    """Current members of each named segment (stays not exited); absent when none."""
    rows = session.execute(
        select(SegmentMembership.segment, func.count())
        .where(SegmentMembership.segment.in_(segments), SegmentMembership.exited_at.is_(None))
        .group_by(SegmentMembership.segment)
    ).all()
    return {segment: int(count) for segment, count in rows}


def latest_outcomes(
    session: Session, *, since: datetime, until: datetime
) -> list[tuple[str, str, int]]:
    """(outcome, reason, candidates): each candidate counted once, by its latest decision in
    [since, until). A candidate held in one run and sent in the next counts as sent."""
    latest = (
        select(func.max(Decision.id))
        .where(Decision.decided_at >= since, Decision.decided_at < until)
        .group_by(Decision.candidate_id)
    )
    rows = session.execute(
        select(Decision.outcome, Decision.reason, func.count())
        .where(Decision.id.in_(latest))
        .group_by(Decision.outcome, Decision.reason)
    ).all()
    return [(outcome, reason, int(count)) for outcome, reason, count in rows]


def opt_outs_by_period(
    session: Session, *, starts: Sequence[datetime], until: datetime
) -> dict[int, int]:
    """Customers who opted out of anything in each period, by when they said it (ledger)."""
    return _by_period(
        session,
        ConsentEntry.occurred_at,
        ConsentEntry.customer_id,
        starts=starts,
        until=until,
        where=(ConsentEntry.kind == "consent", ConsentEntry.state == "opted-out"),
    )


def sent_by_period(
    session: Session, *, starts: Sequence[datetime], until: datetime
) -> dict[int, int]:
    """Messages handed to a provider in each period (outbox ``sent_at``)."""
    return _by_period(
        session,
        OutboxMessage.sent_at,
        OutboxMessage.id,
        starts=starts,
        until=until,
        where=(OutboxMessage.sent_at.is_not(None),),
    )


def complaints_by_period(
    session: Session, *, starts: Sequence[datetime], until: datetime
) -> dict[int, int]:
    """Messages complained about in each period, by when the complaint came (one per
    message, however many reports of it arrived)."""
    return _by_period(
        session,
        MessageFeedback.occurred_at,
        MessageFeedback.outbox_id,
        starts=starts,
        until=until,
        where=(MessageFeedback.kind == "complained",),
    )


def _by_period(
    session: Session,
    at: InstrumentedAttribute[Any],
    counted: InstrumentedAttribute[Any],
    *,
    starts: Sequence[datetime],
    until: datetime,
    where: Sequence[ColumnElement[bool]] = (),
) -> dict[int, int]:
    """Distinct ``counted`` values per period of ``at``: {period index: count}."""
    if not starts:
        return {}
    period = case(
        *((at < start, index) for index, start in enumerate(starts[1:])),
        else_=len(starts) - 1,
    )
    # Grouped in an outer select: PostgreSQL does not see a CASE with bound parameters in the
    # GROUP BY as the same expression as the one selected.
    inner = (
        select(period.label("period"), counted.label("counted"))
        .where(at >= starts[0], at < until, *where)
        .subquery()
    )
    rows = session.execute(
        select(inner.c.period, func.count(inner.c.counted.distinct())).group_by(inner.c.period)
    ).all()
    return {int(index): int(count) for index, count in rows}


# --- One customer's page and the deliveries page: a few rows each, never the whole base. ---


def open_segments_of(session: Session, customer_id: int) -> Sequence[SegmentMembership]:
    """The segments the customer is in now (stays not exited), by name."""
    return session.scalars(
        select(SegmentMembership)
        .where(
            SegmentMembership.customer_id == customer_id,
            SegmentMembership.exited_at.is_(None),
        )
        .order_by(SegmentMembership.segment)
    ).all()


def outbox_of_decisions(session: Session, decision_ids: Sequence[int]) -> dict[int, OutboxMessage]:
    """The outbox message each decision queued, by decision id (held and dropped have none)."""
    if not decision_ids:
        return {}
    rows = session.scalars(
        select(OutboxMessage).where(OutboxMessage.decision_id.in_(sorted(set(decision_ids))))
    ).all()
    return {row.decision_id: row for row in rows}


def dead_letters(session: Session, *, limit: int) -> Sequence[OutboxMessage]:
    """Messages given up on (``failed``), most recently changed first."""
    return session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.status == "failed")
        .order_by(OutboxMessage.updated_at.desc(), OutboxMessage.id.desc())
        .limit(limit)
    ).all()


def outbox_message(session: Session, outbox_id: int) -> OutboxMessage | None:
    """One outbox message, its row locked on PostgreSQL until the transaction ends."""
    return session.scalars(
        select(OutboxMessage).where(OutboxMessage.id == outbox_id).with_for_update()
    ).first()
