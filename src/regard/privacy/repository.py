"""All SQL of staff accounts, staff sessions and the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from regard.privacy.models import AuditEntry, StaffMember, StaffSession


def staff_by_lookup(session: Session, lookup: bytes) -> StaffMember | None:
    return session.scalars(
        select(StaffMember).where(StaffMember.email_lookup == lookup)
    ).one_or_none()


def list_staff(session: Session) -> Sequence[StaffMember]:
    return session.scalars(select(StaffMember).order_by(StaffMember.id)).all()


def count_active_admins(session: Session) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(StaffMember)
            .where(StaffMember.role == "admin", StaffMember.disabled_at.is_(None))
        )
        or 0
    )


def session_by_token_hash(
    session: Session, token_hash: str
) -> tuple[StaffSession, StaffMember] | None:
    row = session.execute(
        select(StaffSession, StaffMember)
        .join(StaffMember, StaffMember.id == StaffSession.staff_id)
        .where(StaffSession.token_hash == token_hash)
    ).one_or_none()
    return None if row is None else (row[0], row[1])


def live_sessions_of(session: Session, staff_id: int) -> Sequence[StaffSession]:
    return session.scalars(
        select(StaffSession).where(
            StaffSession.staff_id == staff_id, StaffSession.revoked_at.is_(None)
        )
    ).all()


def count_entries(
    session: Session,
    *,
    action: str,
    since: datetime,
    subject_lookup: bytes | None = None,
    client: str | None = None,
) -> tuple[int, datetime | None]:
    """How many ``action`` entries since ``since`` for a subject or a client, and the oldest."""
    query = select(func.count(), func.min(AuditEntry.at)).where(
        AuditEntry.action == action, AuditEntry.at >= since
    )
    if subject_lookup is not None:
        query = query.where(AuditEntry.subject_lookup == subject_lookup)
    if client is not None:
        query = query.where(AuditEntry.client == client)
    count, oldest = session.execute(query).one()
    return int(count), oldest


@dataclass(frozen=True)
class AuditFilter:
    """What to show of the audit log; every part optional."""

    actor_kind: str | None = None
    actor_id: int | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _filtered(query: Select[AuditEntry], wanted: AuditFilter) -> Select[AuditEntry]:
    if wanted.actor_kind is not None:
        query = query.where(AuditEntry.actor_kind == wanted.actor_kind)
    if wanted.actor_id is not None:
        query = query.where(AuditEntry.actor_id == wanted.actor_id)
    if wanted.action is not None:
        # "staff." finds every staff action; "staff.login" only that one.
        if wanted.action.endswith("."):
            query = query.where(AuditEntry.action.startswith(wanted.action, autoescape=True))
        else:
            query = query.where(AuditEntry.action == wanted.action)
    if wanted.since is not None:
        query = query.where(AuditEntry.at >= wanted.since)
    if wanted.until is not None:
        query = query.where(AuditEntry.at < wanted.until)
    return query


def audit_page(
    session: Session, wanted: AuditFilter, *, offset: int, limit: int
) -> Sequence[AuditEntry]:
    query = _filtered(select(AuditEntry), wanted)
    return session.scalars(
        query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).offset(offset).limit(limit)
    ).all()


def audit_count(session: Session, wanted: AuditFilter) -> int:
    query = _filtered(select(AuditEntry), wanted)
    return session.scalar(select(func.count()).select_from(query.subquery())) or 0


def audit_entries(
    session: Session, wanted: AuditFilter, *, batch: int = 1000
) -> Sequence[AuditEntry]:
    """Every matching entry, oldest first (for an export)."""
    query = _filtered(select(AuditEntry), wanted)
    return session.scalars(
        query.order_by(AuditEntry.at, AuditEntry.id).execution_options(yield_per=batch)
    ).all()


def audit_actions(session: Session) -> Sequence[str]:
    return session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action)).all()
