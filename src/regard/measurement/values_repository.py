"""All SQL of the values the engine learns from measurement: customer values, learned touchpoint
values, and the scheduler's once-a-day turn to refresh them.

A refresh replaces every customer's value at once (a million rows on a large base), so the
write goes straight to the driver, as ``regard.segments.repository`` does: one prepared
statement executed over chunks of rows on SQLite, COPY on PostgreSQL. The engine reads only
its candidates' customers (``customer_values_of``), in the query that reads its candidates'
values.
"""

from __future__ import annotations

import io
from contextlib import closing
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
from sqlalchemy import Select, delete, func, insert, select
from sqlalchemy.orm import Session

from regard.decisions import repository as decisions_repository
from regard.measurement.models import CustomerValue, TouchpointValue
from regard.store.frames import fetch_frame
from regard.store.types import SQLITE_TIMESTAMP_FORMAT

__all__ = [
    "ALL_CHANNELS",
    "CUSTOMER_VALUES_SCHEMA",
    "TOUCHPOINT_VALUES_SCHEMA",
    "customer_values_of",
    "engine_touchpoint_values",
    "release_turn",
    "replace_customer_values",
    "replace_touchpoint_values",
    "take_turn",
    "touchpoint_values",
]

# The channel of a touchpoint value measured over every channel together: the engine's.
ALL_CHANNELS = "all"
# The scheduler's turn to refresh the values, kept beside the engine's lock.
VALUES_TURN = "values-refresh"
_BATCH_ROWS = 250_000

CUSTOMER_VALUES_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.Int64(),
    "expected_value": pl.Float64(),
    "probability_alive": pl.Float64(),
}
TOUCHPOINT_VALUES_SCHEMA: dict[str, pl.DataType] = {
    "touchpoint": pl.String(),
    "segment": pl.String(),
    "channel": pl.String(),
    "configured": pl.Float64(),
    "measured": pl.Float64(),
    "learned": pl.Float64(),
    "weight": pl.Float64(),
    "customers": pl.Float64(),
}


def replace_customer_values(session: Session, values: pl.DataFrame, *, scored_at: datetime) -> None:
    """Every customer's value becomes the one in ``values`` (``CUSTOMER_VALUES_SCHEMA``);
    customers not in it have none."""
    session.execute(delete(CustomerValue))
    if values.is_empty():
        return
    rows = values.select(CUSTOMER_VALUES_SCHEMA.keys()).cast(CUSTOMER_VALUES_SCHEMA)  # type: ignore[arg-type]
    session.flush()
    driver: Any = session.connection().connection.driver_connection
    if session.get_bind().dialect.name == "sqlite":
        stamp = scored_at.astimezone(UTC).strftime(SQLITE_TIMESTAMP_FORMAT)
        with closing(driver.cursor()) as cursor:
            for chunk in rows.iter_slices(_BATCH_ROWS):
                cursor.executemany(
                    "INSERT INTO customer_values "
                    "(customer_id, expected_value, probability_alive, scored_at) "
                    "VALUES (?, ?, ?, ?)",
                    [(*row, stamp) for row in chunk.iter_rows()],
                )
        return
    stamped = rows.with_columns(pl.lit(scored_at.astimezone(UTC).isoformat()).alias("scored_at"))
    with driver.cursor() as cursor:
        for chunk in stamped.iter_slices(1_000_000):
            buffer = io.BytesIO()
            chunk.write_csv(buffer, include_header=False)
            with cursor.copy(
                "COPY customer_values (customer_id, expected_value, probability_alive, "
                "scored_at) FROM STDIN WITH (FORMAT csv)"
            ) as copy:
                copy.write(buffer.getvalue())


def replace_touchpoint_values(
    session: Session, values: pl.DataFrame, *, measured_at: datetime
) -> None:
    """The learned touchpoint values become those of ``values`` (``TOUCHPOINT_VALUES_SCHEMA``)."""
    session.execute(delete(TouchpointValue))
    rows = [
        {**row, "measured_at": measured_at}
        for row in values.select(TOUCHPOINT_VALUES_SCHEMA.keys()).iter_rows(named=True)
    ]
    if rows:
        session.execute(insert(TouchpointValue), rows)


def touchpoint_values(session: Session) -> pl.DataFrame:
    """Every stored touchpoint value (``TOUCHPOINT_VALUES_SCHEMA``)."""
    return fetch_frame(
        session,
        select(
            TouchpointValue.touchpoint,
            TouchpointValue.segment,
            TouchpointValue.channel,
            TouchpointValue.configured,
            TouchpointValue.measured,
            TouchpointValue.learned,
            TouchpointValue.weight,
            TouchpointValue.customers,
        ).order_by(TouchpointValue.touchpoint, TouchpointValue.segment, TouchpointValue.channel),
        TOUCHPOINT_VALUES_SCHEMA,
    )


def engine_touchpoint_values() -> Select[str, str, float | None, float]:
    """touchpoint, segment, measured and weight of the values over every channel that have a
    measurement: what the engine blends with the configured value it has now."""
    return select(
        TouchpointValue.touchpoint,
        TouchpointValue.segment,
        TouchpointValue.measured,
        TouchpointValue.weight,
    ).where(
        TouchpointValue.channel == ALL_CHANNELS,
        TouchpointValue.measured.is_not(None),
        TouchpointValue.weight > 0,
    )


def customer_values_of(who: Select[Any]) -> Select[Any]:
    """customer_id, expected_value of the customers ``who`` selects that have a value, and the
    mean expected value of every customer valued (the base the factor is relative to)."""
    base = select(func.avg(CustomerValue.expected_value)).scalar_subquery()
    return select(
        CustomerValue.customer_id, CustomerValue.expected_value, base.label("mean_value")
    ).where(CustomerValue.customer_id.in_(who))


def take_turn(session: Session, *, holder: str, now: datetime, every: timedelta) -> bool:
    """Take the scheduler's turn to refresh the values unless one was taken less than ``every``
    ago (on this machine or any other sharing the database); whether it was taken."""
    return decisions_repository.take_lock(
        session, holder=holder, now=now, hold_for=every, name=VALUES_TURN
    )


def release_turn(session: Session, *, holder: str) -> None:
    """Give the turn back (a refresh that failed): the next scheduled run tries again."""
    decisions_repository.release_lock(session, holder=holder, name=VALUES_TURN)
