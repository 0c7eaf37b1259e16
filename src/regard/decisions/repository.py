"""All SQL of decisions: the engine lock, runs, decisions and the outbox, written in bulk."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import Session

from regard.decisions.models import Decision, DecisionRun, EngineLock, OutboxMessage
from regard.store.inserts import upsert
from regard.touchpoints.models import Candidate

ENGINE = "engine"
_CHUNK = 2_000


def take_lock(
    session: Session, *, holder: str, now: datetime, hold_for: timedelta, name: str = ENGINE
) -> bool:
    """Take the lock ``name`` (by default the engine's) unless another holder has it until
    after ``now``; whether it was taken. A lock is a row of ``engine_locks``, so it holds for
    every machine sharing the database."""
    session.execute(
        upsert(session, EngineLock)
        .values(name=name, holder=None, until=None)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    taken = session.execute(  # type: ignore[attr-defined]
        update(EngineLock)
        .where(
            EngineLock.name == name,
            or_(EngineLock.until.is_(None), EngineLock.until <= now),
        )
        .values(holder=holder, until=now + hold_for),
        execution_options={"synchronize_session": False},
    ).rowcount  # an UPDATE's result is a CursorResult
    return bool(taken)


def release_lock(session: Session, *, holder: str, name: str = ENGINE) -> None:
    """Give the lock ``name`` back, if ``holder`` still has it."""
    session.execute(
        update(EngineLock)
        .where(EngineLock.name == name, EngineLock.holder == holder)
        .values(holder=None, until=None),
        execution_options={"synchronize_session": False},
    )


def lock_holder(session: Session, *, now: datetime) -> str | None:
    found = session.get(EngineLock, ENGINE)
    if found is None or found.until is None or found.until < now:
        return None
    return found.holder


def add_run(session: Session, run: DecisionRun) -> DecisionRun:
    session.add(run)
    session.flush()
    return run


def add_decisions(session: Session, rows: Sequence[dict[str, Any]]) -> dict[int, int]:
    """Insert decisions; each candidate's new decision id."""
    ids: dict[int, int] = {}
    for start in range(0, len(rows), _CHUNK):
        result = session.execute(
            insert(Decision).returning(Decision.id, Decision.candidate_id),
            list(rows[start : start + _CHUNK]),
        )
        ids.update({candidate_id: decision_id for decision_id, candidate_id in result.all()})
    return ids


def add_outbox(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Queue messages, skipping any whose idempotency key is queued already; how many were new."""
    added = 0
    for start in range(0, len(rows), _CHUNK):
        result = session.execute(
            upsert(session, OutboxMessage)
            .values(list(rows[start : start + _CHUNK]))
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(OutboxMessage.id)
        )
        added += len(result.all())
    return added


def settle_candidates(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Each candidate's new status and ``not_before`` (id, status, not_before)."""
    for start in range(0, len(rows), _CHUNK):
        session.execute(update(Candidate), list(rows[start : start + _CHUNK]))


def decisions_of(
    session: Session,
    *,
    customer_id: int | None = None,
    touchpoint: str | None = None,
    run_id: int | None = None,
    limit: int = 100,
) -> Sequence[Decision]:
    statement = select(Decision).order_by(Decision.decided_at.desc(), Decision.id.desc())
    if customer_id is not None:
        statement = statement.where(Decision.customer_id == customer_id)
    if touchpoint is not None:
        statement = statement.where(Decision.touchpoint == touchpoint)
    if run_id is not None:
        statement = statement.where(Decision.run_id == run_id)
    return session.scalars(statement.limit(limit)).all()


def summary(
    session: Session, *, run_id: int | None = None, since: datetime | None = None
) -> list[tuple[str, str, str, int]]:
    """(touchpoint, outcome, reason, decisions) counted."""
    statement = select(
        Decision.touchpoint, Decision.outcome, Decision.reason, func.count()
    ).group_by(Decision.touchpoint, Decision.outcome, Decision.reason)
    if run_id is not None:
        statement = statement.where(Decision.run_id == run_id)
    if since is not None:
        statement = statement.where(Decision.decided_at >= since)
    return [(t, o, r, int(n)) for t, o, r, n in session.execute(statement).all()]


def runs(session: Session, *, limit: int = 20) -> Sequence[DecisionRun]:
    return session.scalars(
        select(DecisionRun)
        .order_by(DecisionRun.started_at.desc(), DecisionRun.id.desc())
        .limit(limit)
    ).all()
