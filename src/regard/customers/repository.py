"""All SQL of the customer data hub."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from contextlib import closing
from datetime import UTC, datetime
from typing import Any

import polars as pl
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.orm import Session, selectinload

from regard.customers.models import Customer, CustomerMerge, Event, Identity
from regard.store.types import SQLITE_TIMESTAMP_FORMAT

# Well under SQLite's and PostgreSQL's limits on bound parameters.
_CHUNK = 5_000


def customer_ids_by_lookup(session: Session, lookups: Iterable[bytes]) -> dict[bytes, int]:
    """Which customer each known blind-index value belongs to.

    Batches ask for tens of thousands at once, so this goes straight to the driver: one
    ``= ANY(array)`` on PostgreSQL, chunks of ``IN (?, ...)`` on SQLite.
    """
    wanted = list(dict.fromkeys(lookups))
    if not wanted:
        return {}
    found: dict[bytes, int] = {}
    driver = session.connection().connection.driver_connection
    with closing(driver.cursor()) as cursor:  # type: ignore[union-attr]
        if session.get_bind().dialect.name == "postgresql":
            cursor.execute(
                "SELECT lookup, customer_id FROM identities WHERE lookup = ANY(%s)", (wanted,)
            )
            found.update({bytes(lookup): cid for lookup, cid in cursor.fetchall()})
            return found
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            cursor.execute(
                f"SELECT lookup, customer_id FROM identities WHERE lookup IN ({marks})", chunk
            )
            found.update({bytes(lookup): cid for lookup, cid in cursor.fetchall()})
    return found


def load_customers(session: Session, ids: Iterable[int]) -> dict[int, Customer]:
    wanted = list(set(ids))
    loaded: dict[int, Customer] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        for customer in session.scalars(select(Customer).where(Customer.id.in_(chunk))):
            loaded[customer.id] = customer
    return loaded


def reserve_ids(session: Session, model: type[Customer | Identity], count: int) -> list[int]:
    """``count`` fresh primary keys for ``model``'s table, safe against concurrent writers.

    Nothing is asked of the database for ``count`` 0.

    PostgreSQL draws them from the table's sequence. SQLite has one writer at a time: taking the
    write lock first (a no-op UPDATE) makes the current maximum final until this transaction ends.
    """
    if count == 0:
        return []
    table = model.__tablename__
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"
            ),
            {"table": table, "n": count},
        )
        return [int(value) for (value,) in rows]
    session.execute(text(f"UPDATE {table} SET id = id WHERE 0"))
    start = session.scalar(select(func.coalesce(func.max(model.id), 0))) or 0
    return list(range(start + 1, start + 1 + count))


def insert_profiles(
    session: Session, customers: list[dict[str, Any]], identities: list[dict[str, Any]]
) -> None:
    """New customers and their identities, ids included, in one INSERT per table."""
    if customers:
        session.execute(insert(Customer), customers)
    if identities:
        session.execute(insert(Identity), identities)


def customer_exists(session: Session, customer_id: int) -> bool:
    """Whether the profile exists, without loading (or decrypting) any of it."""
    return session.scalar(select(Customer.id).where(Customer.id == customer_id)) is not None


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
    identities = session.execute(  # type: ignore[attr-defined]
        update(Identity)
        .where(Identity.customer_id == merged_id)
        .values(customer_id=survivor_id)
        .execution_options(synchronize_session=False)
    ).rowcount  # an UPDATE's result is a CursorResult
    events = session.execute(  # type: ignore[attr-defined]
        update(Event)
        .where(Event.customer_id == merged_id)
        .values(customer_id=survivor_id)
        .execution_options(synchronize_session=False)
    ).rowcount
    return identities, events


def delete_customer(session: Session, customer_id: int) -> None:
    # The caller has taken the row out of the session; nothing there needs synchronising.
    session.execute(
        delete(Customer)
        .where(Customer.id == customer_id)
        .execution_options(synchronize_session=False)
    )


def lookups_of(session: Session, customer_id: int) -> list[bytes]:
    """The blind-index values of one customer's identities."""
    return [
        bytes(lookup)
        for lookup in session.scalars(
            select(Identity.lookup).where(Identity.customer_id == customer_id)
        )
    ]


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


EVENT_COLUMNS = ("customer_id", "type", "occurred_at", "message_id", "properties", "personal")


def insert_events(
    session: Session, events: pl.DataFrame, *, source: str, received_at: datetime
) -> int:
    """Insert events in bulk, skipping any already stored for (source, message id).

    ``events`` has the columns of ``EVENT_COLUMNS`` (occurred_at in UTC). Returns how many
    were new. SQLite takes one prepared statement executed many times; PostgreSQL takes COPY
    into a temporary table and one INSERT ... ON CONFLICT DO NOTHING.
    """
    if events.height == 0:
        return 0
    driver = session.connection().connection.driver_connection
    if session.get_bind().dialect.name == "sqlite":
        received = received_at.astimezone(UTC).strftime(SQLITE_TIMESTAMP_FORMAT)
        rows = events.select(
            pl.col("customer_id"),
            pl.col("type"),
            pl.col("occurred_at").dt.strftime(SQLITE_TIMESTAMP_FORMAT),
            pl.lit(received).alias("received_at"),
            pl.lit(source).alias("source"),
            pl.col("message_id"),
            pl.col("properties"),
            pl.col("personal"),
        ).rows()
        before = driver.total_changes  # type: ignore[union-attr]
        driver.executemany(  # type: ignore[union-attr]
            "INSERT INTO events (customer_id, type, occurred_at, received_at, source, "
            "message_id, properties, personal) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (source, message_id) DO NOTHING",
            rows,
        )
        inserted: int = driver.total_changes - before  # type: ignore[union-attr]
        return inserted
    with driver.cursor() as cursor:  # type: ignore[union-attr]
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS import_events (customer_id bigint, type text, "
            "occurred_at timestamptz, message_id text, properties jsonb, personal bytea) "
            "ON COMMIT DELETE ROWS"
        )
        # bytea travels through CSV in PostgreSQL's hex form.
        hex_personal = pl.lit("\\x") + pl.col("personal").bin.encode("hex")
        _copy_frame(
            cursor,
            "import_events",
            events.select(*EVENT_COLUMNS[:-1], hex_personal.alias("personal")),
        )
        cursor.execute(
            "INSERT INTO events (customer_id, type, occurred_at, received_at, source, "
            "message_id, properties, personal) SELECT customer_id, type, occurred_at, %s, %s, "
            "message_id, properties, personal FROM import_events "
            "ON CONFLICT (source, message_id) DO NOTHING",
            (received_at, source),
        )
        inserted = cursor.rowcount
        cursor.execute("TRUNCATE import_events")
        return inserted


def _copy_frame(cursor: Any, table: str, frame: pl.DataFrame) -> None:
    """COPY a frame into a PostgreSQL table, as CSV written by Polars."""
    buffer = io.BytesIO()
    frame.write_csv(buffer, include_header=False, datetime_format="%Y-%m-%dT%H:%M:%S%.6f%z")
    columns = ", ".join(frame.columns)
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)") as copy:
        copy.write(buffer.getvalue())


def touch_seen(session: Session, events: pl.DataFrame) -> None:
    """Widen each customer's first and last seen to cover these events (customer_id, occurred_at).

    One set-based UPDATE per batch, and only rows that change are written.
    """
    if events.height == 0:
        return
    spans = events.group_by("customer_id").agg(
        pl.col("occurred_at").min().alias("first_at"), pl.col("occurred_at").max().alias("last_at")
    )
    driver = session.connection().connection.driver_connection
    sqlite = session.get_bind().dialect.name == "sqlite"
    with closing(driver.cursor()) as cursor:  # type: ignore[union-attr]
        if sqlite:
            cursor.execute(
                "CREATE TEMP TABLE IF NOT EXISTS seen_batch "
                "(customer_id INTEGER PRIMARY KEY, first_at TEXT, last_at TEXT)"
            )
            cursor.execute("DELETE FROM seen_batch")
            cursor.executemany(
                "INSERT INTO seen_batch VALUES (?, ?, ?)",
                spans.select(
                    "customer_id",
                    pl.col("first_at").dt.strftime(SQLITE_TIMESTAMP_FORMAT),
                    pl.col("last_at").dt.strftime(SQLITE_TIMESTAMP_FORMAT),
                ).rows(),
            )
        else:
            cursor.execute(
                "CREATE TEMP TABLE IF NOT EXISTS seen_batch (customer_id bigint PRIMARY KEY, "
                "first_at timestamptz, last_at timestamptz) ON COMMIT DELETE ROWS"
            )
            cursor.execute("TRUNCATE seen_batch")
            _copy_frame(cursor, "seen_batch", spans)
        cursor.execute(
            "UPDATE customers SET "
            "first_seen_at = CASE WHEN customers.first_seen_at IS NULL "
            "OR customers.first_seen_at > s.first_at THEN s.first_at "
            "ELSE customers.first_seen_at END, "
            "last_seen_at = CASE WHEN customers.last_seen_at IS NULL "
            "OR customers.last_seen_at < s.last_at THEN s.last_at "
            "ELSE customers.last_seen_at END "
            "FROM seen_batch AS s WHERE customers.id = s.customer_id "
            "AND (customers.first_seen_at IS NULL OR customers.first_seen_at > s.first_at "
            "OR customers.last_seen_at IS NULL OR customers.last_seen_at < s.last_at)"
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
