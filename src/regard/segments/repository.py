"""All SQL of segment memberships and runs; memberships move as frames, never row by row.

A first evaluation of a large base stores millions of memberships at once, so the writes go
straight to the driver, as the bulk writers of ``regard.customers.repository`` do: one prepared
statement executed over chunks of rows on SQLite, COPY on PostgreSQL.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from contextlib import closing
from datetime import UTC, datetime
from typing import Any

import polars as pl
from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from regard.segments.models import SegmentMembership, SegmentRun
from regard.store.types import SQLITE_TIMESTAMP_FORMAT

_MEMBERS_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.Int64(),
    "segment": pl.String(),
    "customer_id": pl.Int64(),
}
# Rows per fetch and per executemany: large enough to amortise the calls, small enough that a
# batch of Python tuples stays a few hundred megabytes at most.
_BATCH_ROWS = 250_000
# How SQLite keeps a UTC timestamp (SQLITE_TIMESTAMP_FORMAT), in Polars' words.
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S%.f"


def current_members(session: Session, segments: Sequence[str]) -> pl.DataFrame:
    """The open memberships (id, segment, customer_id) of ``segments``.

    Millions of them after a first evaluation: SQLite hands each segment's over as one text of
    "id,customer_id" lines, PostgreSQL through ``COPY``, rather than as Python rows.
    """
    session.flush()
    driver: Any = session.connection().connection.driver_connection
    pairs = {"id": pl.Int64(), "customer_id": pl.Int64()}
    if _is_sqlite(session):
        frames = []
        with closing(driver.cursor()) as cursor:
            for segment in dict.fromkeys(segments):
                cursor.execute(
                    "SELECT group_concat(id || ',' || customer_id, char(10)) "
                    "FROM segment_memberships WHERE segment = ? AND exited_at IS NULL",
                    (segment,),
                )
                (text,) = cursor.fetchone()
                if text:
                    found = pl.read_csv(
                        text.encode(), has_header=False, new_columns=list(pairs), schema=pairs
                    )
                    frames.append(
                        found.select("id", pl.lit(segment).alias("segment"), "customer_id")
                    )
        return pl.concat(frames) if frames else pl.DataFrame(schema=_MEMBERS_SCHEMA)
    from psycopg import sql

    statement = sql.SQL(
        "COPY (SELECT id, segment, customer_id FROM segment_memberships "
        "WHERE segment = ANY({}) AND exited_at IS NULL) TO STDOUT WITH (FORMAT csv)"
    ).format(sql.Literal(list(segments)))
    buffer = io.BytesIO()
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for block in copy:
            buffer.write(block)
    if not buffer.tell():
        return pl.DataFrame(schema=_MEMBERS_SCHEMA)
    return pl.read_csv(
        buffer.getvalue(),
        has_header=False,
        new_columns=list(_MEMBERS_SCHEMA),
        schema=_MEMBERS_SCHEMA,
    )


def open_memberships(session: Session, entered: pl.DataFrame, *, at: datetime) -> None:
    """Start a membership for each (segment, customer_id) of ``entered``."""
    if entered.is_empty():
        return
    rows = entered.select("segment", "customer_id")
    session.flush()
    driver: Any = session.connection().connection.driver_connection
    if _is_sqlite(session):
        # One INSERT ... SELECT per segment and batch, over the customer ids as a JSON array:
        # SQLite walks the array itself, twice as fast as binding the rows one by one.
        entered_at = at.astimezone(UTC).strftime(SQLITE_TIMESTAMP_FORMAT)
        with closing(driver.cursor()) as cursor:
            for (segment,), members in rows.sort("segment", "customer_id").group_by(
                "segment", maintain_order=True
            ):
                for chunk in members.iter_slices(_BATCH_ROWS):
                    cursor.execute(
                        "INSERT INTO segment_memberships (segment, customer_id, entered_at) "
                        "SELECT ?, value, ? FROM json_each(?)",
                        (segment, entered_at, _json_ids(chunk["customer_id"])),
                    )
        return
    stamp = pl.lit(at.astimezone(UTC).isoformat()).alias("entered_at")
    with driver.cursor() as cursor:
        for chunk in rows.iter_slices(1_000_000):
            buffer = io.BytesIO()
            chunk.with_columns(stamp).write_csv(buffer, include_header=False)
            with cursor.copy(
                "COPY segment_memberships (segment, customer_id, entered_at) "
                "FROM STDIN WITH (FORMAT csv)"
            ) as copy:
                copy.write(buffer.getvalue())


def close_memberships(session: Session, membership_ids: pl.Series, *, at: datetime) -> None:
    """End the memberships with these ids."""
    if membership_ids.is_empty():
        return
    session.flush()
    driver: Any = session.connection().connection.driver_connection
    if _is_sqlite(session):
        exited_at = at.astimezone(UTC).strftime(SQLITE_TIMESTAMP_FORMAT)
        with closing(driver.cursor()) as cursor:
            for chunk in membership_ids.to_frame("id").iter_slices(_BATCH_ROWS):
                cursor.execute(
                    "UPDATE segment_memberships SET exited_at = ? "
                    "WHERE id IN (SELECT value FROM json_each(?))",
                    (exited_at, _json_ids(chunk["id"])),
                )
        return
    with driver.cursor() as cursor:
        cursor.execute(
            "UPDATE segment_memberships SET exited_at = %s WHERE id = ANY(%s)",
            (at, membership_ids.cast(pl.Int64).to_list()),
        )


def add_runs(session: Session, runs: Sequence[SegmentRun]) -> None:
    session.add_all(runs)
    session.flush()


def segment_sizes(session: Session) -> dict[str, int]:
    """How many customers are in each segment now."""
    statement = (
        select(SegmentMembership.segment, func.count())
        .where(SegmentMembership.exited_at.is_(None))
        .group_by(SegmentMembership.segment)
    )
    return dict(session.execute(statement).all())


def recent_runs(session: Session, *, per_segment: int) -> list[SegmentRun]:
    """The latest ``per_segment`` runs of every segment, by segment then newest first."""
    position = (
        func.row_number()
        .over(
            partition_by=SegmentRun.segment,
            order_by=(SegmentRun.evaluated_at.desc(), SegmentRun.id.desc()),
        )
        .label("position")
    )
    ranked = select(SegmentRun.id, position).subquery()
    statement = (
        select(SegmentRun)
        .join(ranked, ranked.c.id == SegmentRun.id)
        .where(ranked.c.position <= per_segment)
        .order_by(SegmentRun.segment, SegmentRun.evaluated_at.desc(), SegmentRun.id.desc())
    )
    return list(session.scalars(statement))


def _json_ids(ids: pl.Series) -> str:
    """Integer ids as a JSON array, for SQLite's json_each."""
    return "[" + ",".join(map(str, ids.cast(pl.Int64).to_list())) + "]"


def _is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def crosstab(session: Session, rows: str, columns: str) -> dict[tuple[str, str], int]:
    """Customers in both a segment named ``rows...`` and one named ``columns...`` now, counted
    per pair (e.g. commitment group against lifecycle stage), names without their prefixes."""
    a = aliased(SegmentMembership)
    b = aliased(SegmentMembership)
    found = session.execute(
        select(a.segment, b.segment, func.count())
        .join(b, b.customer_id == a.customer_id)
        .where(
            a.segment.startswith(rows),
            b.segment.startswith(columns),
            a.exited_at.is_(None),
            b.exited_at.is_(None),
        )
        .group_by(a.segment, b.segment)
    ).all()
    return {
        (row_name.removeprefix(rows), column_name.removeprefix(columns)): int(count)
        for row_name, column_name, count in found
    }
