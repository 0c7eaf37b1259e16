"""All SQL of the customer data hub."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, selectinload

from regard.customers.models import Customer, CustomerMerge, Event, Identity

# Well under SQLite's and PostgreSQL's limits on bound parameters.
_CHUNK = 5_000


def customer_ids_by_lookup(session: Session, lookups: Iterable[bytes]) -> dict[bytes, int]:
    """Which customer each known blind-index value belongs to."""
    wanted = list(dict.fromkeys(lookups))
    found: dict[bytes, int] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        rows = session.execute(
            select(Identity.lookup, Identity.customer_id).where(Identity.lookup.in_(chunk))
        )
        found.update({bytes(lookup): customer_id for lookup, customer_id in rows})
    return found


def load_customers(session: Session, ids: Iterable[int]) -> dict[int, Customer]:
    wanted = list(set(ids))
    loaded: dict[int, Customer] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        for customer in session.scalars(select(Customer).where(Customer.id.in_(chunk))):
            loaded[customer.id] = customer
    return loaded


def get_customer(session: Session, customer_id: int) -> Customer | None:
    return session.scalars(
        select(Customer)
        .where(Customer.id == customer_id)
        .options(selectinload(Customer.identities))
    ).one_or_none()


def survivor_of(session: Session, merged_id: int) -> int | None:
    """Where a merged profile went, following merges of merges."""
    current, seen = merged_id, set[int]()
    while current not in seen:
        seen.add(current)
        nxt = session.scalar(
            select(CustomerMerge.survivor_id)
            .where(CustomerMerge.merged_id == current)
            .order_by(CustomerMerge.id.desc())
            .limit(1)
        )
        if nxt is None:
            return None if current == merged_id else current
        if session.get(Customer, nxt) is not None:
            return nxt
        current = nxt
    return None


def move_customer_data(session: Session, *, survivor_id: int, merged_id: int) -> tuple[int, int]:
    """Give the survivor the merged profile's identities and events. Returns both counts."""
    identities = session.execute(
        update(Identity)
        .where(Identity.customer_id == merged_id)
        .values(customer_id=survivor_id)
        .execution_options(synchronize_session=False)
    ).rowcount
    events = session.execute(
        update(Event)
        .where(Event.customer_id == merged_id)
        .values(customer_id=survivor_id)
        .execution_options(synchronize_session=False)
    ).rowcount
    return identities, events


def delete_customer(session: Session, customer_id: int) -> None:
    session.execute(delete(Customer).where(Customer.id == customer_id))


def list_merges(session: Session, *, limit: int = 100) -> Sequence[CustomerMerge]:
    return session.scalars(
        select(CustomerMerge).order_by(CustomerMerge.id.desc()).limit(limit)
    ).all()


def count_customers(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Customer)) or 0


def count_events(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Event)) or 0


def recent_events(session: Session, customer_id: int, *, limit: int = 50) -> Sequence[Event]:
    return session.scalars(
        select(Event)
        .where(Event.customer_id == customer_id)
        .order_by(Event.occurred_at.desc(), Event.id.desc())
        .limit(limit)
    ).all()


def touch_seen(session: Session, seen: dict[int, tuple[datetime, datetime]]) -> None:
    """Widen each customer's first/last seen to include the (earliest, latest) given."""
    if not seen:
        return
    first_rows = [{"cid": cid, "ts": first} for cid, (first, _) in seen.items()]
    last_rows = [{"cid": cid, "ts": last} for cid, (_, last) in seen.items()]
    table = Customer.__table__
    session.execute(
        update(table)
        .where(table.c.id == bindparam("cid"))
        .where(or_(table.c.first_seen_at.is_(None), table.c.first_seen_at > bindparam("ts")))
        .values(first_seen_at=bindparam("ts")),
        first_rows,
    )
    session.execute(
        update(table)
        .where(table.c.id == bindparam("cid"))
        .where(or_(table.c.last_seen_at.is_(None), table.c.last_seen_at < bindparam("ts")))
        .values(last_seen_at=bindparam("ts")),
        last_rows,
    )


def existing_message_ids(session: Session, *, source: str, message_ids: Iterable[str]) -> set[str]:
    """Which of these message ids this source has already had stored as events."""
    wanted = list(dict.fromkeys(message_ids))
    found: set[str] = set()
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        found.update(
            session.scalars(
                select(Event.message_id).where(Event.source == source, Event.message_id.in_(chunk))
            )
        )
    return found


def add_events_once(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert events (dicts of :class:`Event` attributes), each (source, message id) once.

    One already stored, even by a concurrent transaction, is skipped: a replay never fails.
    """
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        statement: Insert = postgresql_insert(Event).on_conflict_do_nothing(
            index_elements=["source", "message_id"]
        )
    elif dialect == "sqlite":
        statement = sqlite_insert(Event).on_conflict_do_nothing(
            index_elements=["source", "message_id"]
        )
    else:
        statement = insert(Event)
    session.execute(statement, list(rows))
