"""All SQL of delivery feedback: matching messages, feedback rows, suppressions, the breaker."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Result, Select, and_, delete, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from regard.customers.models import Event, Identity
from regard.decisions.models import OutboxMessage
from regard.delivery.models import BreakerAlert, BreakerStream, MessageFeedback, Suppression

_CHUNK = 500
# Feedback that shows the customer paid attention to a message.
ENGAGEMENT_KINDS = ("opened", "clicked", "replied")


def _insert(session: Session, model: type[Any]) -> Any:
    """An INSERT that can skip rows colliding with a unique constraint, on either database.

    Callers ask it to return the new row's id: with RETURNING, whether a row came back is the
    only reliable sign that it was inserted (the row count is not known then).
    """
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


def _rowcount(result: Result[Any]) -> int:
    # INSERT, UPDATE and DELETE answer with a CursorResult, which counts the rows touched.
    return int(cast(CursorResult[Any], result).rowcount)


def outbox_message(session: Session, outbox_id: int) -> OutboxMessage | None:
    return session.get(OutboxMessage, outbox_id)


def outbox_by_provider_id(
    session: Session, *, channel: str, provider_id: str
) -> OutboxMessage | None:
    """The message a provider knows by ``provider_id`` (or by our own id, which it may echo)."""
    found = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.channel == channel, OutboxMessage.provider_id == provider_id)
        .order_by(OutboxMessage.id)
        .limit(1)
    ).first()
    if found is not None:
        return found
    return session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.channel == channel, OutboxMessage.message_id == provider_id)
        .order_by(OutboxMessage.id)
        .limit(1)
    ).first()


def outbox_by_message_id(session: Session, message_ids: Iterable[str]) -> OutboxMessage | None:
    """The email whose Message-ID is one of ``message_ids`` (spellings with and without <>)."""
    return session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.message_id.in_(list(message_ids)))
        .order_by(OutboxMessage.id)
        .limit(1)
    ).first()


def insert_feedback(
    session: Session,
    *,
    key: str,
    outbox_id: int,
    channel: str,
    stream: str,
    kind: str,
    bounce: str | None,
    occurred_at: datetime,
    received_at: datetime,
) -> bool:
    """Store one piece of feedback unless its key is already stored; True when it is new."""
    statement = (
        _insert(session, MessageFeedback)
        .values(
            key=key,
            outbox_id=outbox_id,
            channel=channel,
            stream=stream,
            kind=kind,
            bounce=bounce,
            occurred_at=occurred_at,
            received_at=received_at,
        )
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(MessageFeedback.id)
    )
    return session.execute(statement).first() is not None


def insert_event(
    session: Session,
    *,
    customer_id: int,
    type_: str,
    source: str,
    message_id: str,
    occurred_at: datetime,
    received_at: datetime,
    properties: dict[str, Any],
) -> bool:
    """One event on the customer's timeline, once per (source, message id)."""
    statement = (
        _insert(session, Event)
        .values(
            customer_id=customer_id,
            type=type_,
            source=source,
            message_id=message_id,
            occurred_at=occurred_at,
            received_at=received_at,
            properties=properties,
            personal=None,
        )
        .on_conflict_do_nothing(index_elements=["source", "message_id"])
        .returning(Event.id)
    )
    return session.execute(statement).first() is not None


def address_lookups(session: Session, customer_id: int, *, kind: str) -> list[bytes]:
    """The blind indexes of the customer's identities of ``kind`` (email, phone)."""
    return [
        bytes(lookup)
        for lookup in session.scalars(
            select(Identity.lookup).where(
                Identity.customer_id == customer_id, Identity.kind == kind
            )
        )
    ]


def insert_suppression(
    session: Session,
    *,
    customer_id: int,
    channel: str,
    reason: str,
    address: bytes | None,
    outbox_id: int | None,
    at: datetime,
) -> bool:
    """Suppress ``channel`` for the customer for ``reason``, once; True when it is new."""
    statement = (
        _insert(session, Suppression)
        .values(
            customer_id=customer_id,
            channel=channel,
            reason=reason,
            address=address,
            outbox_id=outbox_id,
            at=at,
        )
        .on_conflict_do_nothing(index_elements=["customer_id", "channel", "reason"])
        .returning(Suppression.id)
    )
    return session.execute(statement).first() is not None


def suppressed_pairs(session: Session, pairs: Iterable[tuple[int, str]]) -> set[tuple[int, str]]:
    """Which of these (customer id, channel) pairs are suppressed."""
    wanted = list(dict.fromkeys(pairs))
    found: set[tuple[int, str]] = set()
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        customers = {customer_id for customer_id, _ in chunk}
        rows = session.execute(
            select(Suppression.customer_id, Suppression.channel)
            .where(Suppression.customer_id.in_(customers))
            .distinct()
        ).all()
        asked = set(chunk)
        found.update(pair for pair in ((int(c), str(ch)) for c, ch in rows) if pair in asked)
    return found


def suppressions_of(who: Select[Any]) -> Select[int, str, str, datetime]:
    """(customer_id, channel, reason, at) of the customers ``who`` selects."""
    return select(
        Suppression.customer_id, Suppression.channel, Suppression.reason, Suppression.at
    ).where(Suppression.customer_id.in_(who))


def first_engagement() -> Select[int, datetime]:
    """(outbox_id, engaged_at): when each engaged-with message was first opened, clicked or
    replied to."""
    return (
        select(MessageFeedback.outbox_id, func.min(MessageFeedback.occurred_at).label("engaged_at"))
        .where(MessageFeedback.kind.in_(ENGAGEMENT_KINDS))
        .group_by(MessageFeedback.outbox_id)
    )


def move_suppressions(session: Session, *, survivor_id: int, merged_id: int) -> None:
    """The merged profile's suppressions become the survivor's (one per channel and reason)."""
    theirs = aliased(Suppression)
    session.execute(
        update(Suppression)
        .where(
            Suppression.customer_id == merged_id,
            ~exists().where(
                theirs.customer_id == survivor_id,
                theirs.channel == Suppression.channel,
                theirs.reason == Suppression.reason,
            ),
        )
        .values(customer_id=survivor_id)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        delete(Suppression)
        .where(Suppression.customer_id == merged_id)
        .execution_options(synchronize_session=False)
    )


def lift_suppression(session: Session, *, customer_id: int, channel: str) -> int:
    """Remove the customer's suppressions of ``channel``; how many there were."""
    result = session.execute(
        delete(Suppression)
        .where(Suppression.customer_id == customer_id, Suppression.channel == channel)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result)


# The breaker.


def count_complaints(session: Session, *, stream: str, since: datetime, until: datetime) -> int:
    return (
        session.scalar(
            select(func.count()).where(
                MessageFeedback.stream == stream,
                MessageFeedback.kind == "complained",
                MessageFeedback.occurred_at >= since,
                MessageFeedback.occurred_at <= until,
            )
        )
        or 0
    )


def count_sent(
    session: Session, *, channel: str, domain: str | None, since: datetime, until: datetime
) -> int:
    """Messages of ``channel`` sent in the window; for email, those whose Message-ID is of
    ``domain`` (the sender's domain is the right-hand side of each Message-ID)."""
    conditions = [
        OutboxMessage.channel == channel,
        OutboxMessage.sent_at.is_not(None),
        OutboxMessage.sent_at >= since,
        OutboxMessage.sent_at <= until,
    ]
    if domain is not None:
        conditions.append(
            or_(
                func.lower(OutboxMessage.message_id).like(f"%@{domain}>"),
                func.lower(OutboxMessage.message_id).like(f"%@{domain}"),
            )
        )
    return session.scalar(select(func.count()).where(and_(*conditions))) or 0


def breaker_stream(
    session: Session, stream: str, *, for_update: bool = False
) -> BreakerStream | None:
    statement = select(BreakerStream).where(BreakerStream.stream == stream)
    if for_update:
        statement = statement.with_for_update()
    return session.scalars(statement).one_or_none()


def breaker_streams(session: Session) -> list[BreakerStream]:
    return list(session.scalars(select(BreakerStream).order_by(BreakerStream.stream)))


def add_alert(session: Session, alert: BreakerAlert) -> None:
    session.add(alert)


def alerts(session: Session, *, stream: str | None = None, limit: int = 100) -> list[BreakerAlert]:
    statement = select(BreakerAlert).order_by(BreakerAlert.at.desc(), BreakerAlert.id.desc())
    if stream is not None:
        statement = statement.where(BreakerAlert.stream == stream)
    return list(session.scalars(statement.limit(limit)))


def add_stream(session: Session, row: BreakerStream) -> None:
    session.add(row)


def latest_sent(
    session: Session, customer_id: int, *, channel: str, since: datetime
) -> OutboxMessage | None:
    """The last message sent to the customer on ``channel`` since ``since``."""
    return session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.customer_id == customer_id,
            OutboxMessage.channel == channel,
            OutboxMessage.status == "sent",
            OutboxMessage.sent_at >= since,
        )
        .order_by(OutboxMessage.sent_at.desc(), OutboxMessage.id.desc())
        .limit(1)
    ).first()
