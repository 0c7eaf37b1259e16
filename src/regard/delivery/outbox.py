"""All SQL of the outbox's delivery: claiming due messages, taking back dead workers' leases,
and recording what became of each message.

A claim is one ``WITH due AS (SELECT ... FOR UPDATE SKIP LOCKED) UPDATE ... FROM due
RETURNING``: on PostgreSQL any number of workers claim at once and never the same row; on SQLite
the statement is the one writer of its moment. The claim is committed before anything is sent,
so a message in ``sending`` whose lease has passed is one a worker may have handed over before
it died: ambiguous, never silently sent again.

Every write after the claim names the worker (``claimed_by``): a worker that lost its lease to
another records nothing over the other's work.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    CursorResult,
    Select,
    Table,
    and_,
    bindparam,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from regard.decisions.models import Decision, OutboxMessage

# Due again when their time comes: new messages and temporary failures.
DUE = ("queued", "retry")
# last_error of a message whose send may have reached the provider; kept after a later send,
# so the report still lists it.
AMBIGUOUS_PREFIX = "ambiguous:"
LEASE_EXPIRED = f"{AMBIGUOUS_PREFIX} the worker stopped while sending (its lease expired)"

_TABLE = cast(Table, OutboxMessage.__table__)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What to write for one claimed message once its attempt is over."""

    outbox_id: int
    # sent, retry, failed, cancelled or ambiguous.
    status: str
    due_at: datetime | None = None
    sent_at: datetime | None = None
    message_id: str | None = None
    provider_id: str | None = None
    last_error: str | None = None


def expire_leases(session: Session, *, now: datetime) -> list[int]:
    """Messages left ``sending`` past their lease become ``ambiguous``; their ids."""
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == "sending", OutboxMessage.lease_until < now)
        .values(
            # due_at stays: it was due when claimed, and keeps its place in the queue.
            status="ambiguous",
            lease_until=None,
            last_error=LEASE_EXPIRED,
            updated_at=now,
        )
        .returning(OutboxMessage.id),
        execution_options={"synchronize_session": False},
    )
    return [row[0] for row in result.all()]


def claim(
    session: Session,
    *,
    worker: str,
    now: datetime,
    limit: int,
    lease: timedelta,
    retry_ambiguous: bool = True,
    channels: Sequence[str] | None = None,
) -> list[OutboxMessage]:
    """Take up to ``limit`` messages due at ``now`` for ``worker``: ``sending`` until
    ``now + lease``, one attempt more. Ambiguous messages are due too when ``retry_ambiguous``
    (at-least-once). Only messages on ``channels``, when given. The caller commits before
    sending anything."""
    statuses = (*DUE, "ambiguous") if retry_ambiguous else DUE
    if channels is not None and not channels:
        return []
    on = OutboxMessage.channel.in_(tuple(channels)) if channels is not None else true()
    # The due rows are locked in a CTE, which PostgreSQL runs exactly once: as an IN (...)
    # subquery the planner may run it again while updating, and take other rows the second time.
    due = (
        select(OutboxMessage.id)
        .where(OutboxMessage.status.in_(statuses), OutboxMessage.due_at <= now, on)
        .order_by(OutboxMessage.due_at, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("due")
    )
    claimed = session.scalars(
        update(OutboxMessage)
        .where(OutboxMessage.id == due.c.id)
        .values(
            status="sending",
            claimed_by=worker,
            lease_until=now + lease,
            attempts=OutboxMessage.attempts + 1,
            updated_at=now,
        )
        .returning(OutboxMessage),
        execution_options={"synchronize_session": False, "populate_existing": True},
    ).all()
    return sorted(claimed, key=lambda message: message.id)


def record(session: Session, outcomes: Sequence[Outcome], *, worker: str, now: datetime) -> int:
    """Write each message's outcome, where ``worker`` still holds it; how many were written.

    A message taken back as ambiguous while this worker was still sending is still this
    worker's (nobody claimed it since) and gets the outcome it really had."""
    if not outcomes:
        return 0
    statement = (
        update(_TABLE)
        .where(
            _TABLE.c.id == bindparam("b_id"),
            _TABLE.c.claimed_by == worker,
            # Spelled out: an executemany takes no expanding IN.
            or_(_TABLE.c.status == "sending", _TABLE.c.status == "ambiguous"),
        )
        .values(
            status=bindparam("b_status"),
            due_at=func.coalesce(bindparam("b_due_at"), _TABLE.c.due_at),
            sent_at=bindparam("b_sent_at"),
            message_id=func.coalesce(bindparam("b_message_id"), _TABLE.c.message_id),
            provider_id=func.coalesce(bindparam("b_provider_id"), _TABLE.c.provider_id),
            last_error=func.coalesce(bindparam("b_last_error"), _TABLE.c.last_error),
            lease_until=None,
            updated_at=now,
        )
    )
    rows: list[dict[str, Any]] = [
        {
            "b_id": outcome.outbox_id,
            "b_status": outcome.status,
            "b_due_at": outcome.due_at,
            "b_sent_at": outcome.sent_at,
            "b_message_id": outcome.message_id,
            "b_provider_id": outcome.provider_id,
            "b_last_error": outcome.last_error[:300] if outcome.last_error else None,
        }
        for outcome in outcomes
    ]
    result = cast(CursorResult[Any], session.execute(statement, rows))
    return int(result.rowcount)


def ambiguous(session: Session, *, limit: int = 100) -> Sequence[OutboxMessage]:
    """Messages that are, or were, ambiguous (sent again since, or left alone), newest first."""
    return session.scalars(
        select(OutboxMessage)
        .where(
            or_(
                OutboxMessage.status == "ambiguous",
                OutboxMessage.last_error.startswith(AMBIGUOUS_PREFIX, autoescape=True),
            )
        )
        .order_by(OutboxMessage.updated_at.desc(), OutboxMessage.id.desc())
        .limit(limit)
    ).all()


def status_counts(session: Session) -> dict[str, int]:
    """Messages in the outbox by status."""
    rows = session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    ).all()
    return {status: int(count) for status, count in rows}


def next_due(session: Session, *, statuses: Iterable[str] = DUE) -> datetime | None:
    """When the earliest message waiting in ``statuses`` falls due."""
    return session.scalar(
        select(func.min(OutboxMessage.due_at)).where(
            and_(OutboxMessage.status.in_(tuple(statuses)), OutboxMessage.due_at.is_not(None))
        )
    )


def decided_touchpoints(session: Session, decision_ids: Iterable[int]) -> dict[int, str]:
    """The touchpoint each decision was about (a digest's outbox row keeps only "digest")."""
    ids = sorted(set(decision_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(Decision.id, Decision.touchpoint).where(Decision.id.in_(ids))
    ).all()
    return {int(decision_id): str(touchpoint) for decision_id, touchpoint in rows}


def candidates_of(decision_ids: Iterable[int]) -> Select[Any]:
    """The candidates of these decisions, as the sub-select the engine's inputs take."""
    return select(Decision.candidate_id).where(Decision.id.in_(sorted(set(decision_ids))))


def problem_counts(session: Session) -> dict[str, int]:
    """Cancelled and failed messages by their reason (the text before any detail)."""
    rows = session.execute(
        select(OutboxMessage.status, OutboxMessage.last_error, func.count())
        .where(OutboxMessage.status.in_(("cancelled", "failed")))
        .group_by(OutboxMessage.status, OutboxMessage.last_error)
    ).all()
    counts: dict[str, int] = {}
    for status, error, count in rows:
        reason = f"{status}: {(error or 'no reason').split(':')[0]}"
        counts[reason] = counts.get(reason, 0) + int(count)
    return dict(sorted(counts.items(), key=lambda item: -item[1]))
