"""Query results as Polars frames without a Python object per value.

Reads of whole columns (every customer, every purchase, every consent) are too many rows for
ORM objects or even Python tuples: each database hands its result over in bulk instead.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from sqlalchemy import (
    ColumnElement,
    Executable,
    LargeBinary,
    Select,
    case,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

__all__ = ["fetch_frame"]

# Rows per fetch on the cursor path: large enough to amortise the calls, small enough that a
# batch of Python tuples stays a few hundred megabytes at most.
_BATCH_ROWS = 250_000
# How SQLite keeps a UTC timestamp (regard.store.types.SQLITE_TIMESTAMP_FORMAT), for Polars.
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S%.f"


def fetch_frame(
    session: Session, statement: Executable, schema: dict[str, pl.DataType]
) -> pl.DataFrame:
    """The rows of ``statement`` as a frame with ``schema``, in its order of columns and rows.

    On SQLite the database writes the whole result as one CSV text (``group_concat``) that
    Polars parses, with no Python object per value; elsewhere, and where the text would be too
    large for SQLite, the rows are fetched from the driver's cursor in batches and turned into
    columns. A value that is not of its column's type is null, on either path. SQLite's
    timestamp text is parsed here, in one vectorised pass.
    """
    sqlite = session.get_bind().dialect.name == "sqlite"
    fetched = {
        name: pl.String() if sqlite and isinstance(kind, pl.Datetime) else kind
        for name, kind in schema.items()
    }
    frame = (
        _sqlite_text_frame(session, statement, fetched)
        if sqlite and isinstance(statement, Select)
        else None
    )
    if frame is None:
        frame = _cursor_frame(session, statement, fetched)
    times = [
        pl.col(name).str.to_datetime(_SQLITE_TIME, time_zone="UTC", time_unit="us")
        for name, kind in schema.items()
        if fetched[name] != kind
    ]
    return frame.with_columns(times) if times else frame


def _cursor_frame(
    session: Session, statement: Executable, fetched: dict[str, pl.DataType]
) -> pl.DataFrame:
    result = session.connection().execute(statement)
    batches: list[pl.DataFrame] = []
    try:
        cursor = result.cursor
        while rows := cursor.fetchmany(_BATCH_ROWS):
            columns = zip(*rows, strict=True)
            batches.append(
                pl.DataFrame(
                    [
                        pl.Series(name, values, dtype=kind, strict=False)
                        for (name, kind), values in zip(fetched.items(), columns, strict=True)
                    ]
                )
            )
    finally:
        result.close()
    return pl.concat(batches) if batches else pl.DataFrame(schema=fetched)


def _sqlite_text_frame(
    session: Session, statement: Select[Any], fetched: dict[str, pl.DataType]
) -> pl.DataFrame | None:
    """The result as CSV that SQLite builds: text quoted (quotes doubled), NULL an empty field,
    reals with the 17 digits that give back the same double (text in a numeric column stays
    text, so Polars makes it null as the cursor path does). None when the text would be too
    long for SQLite; the caller then fetches rows.

    ``group_concat`` over a subquery that has an ORDER BY keeps that order: SQLite does not
    flatten an ordered subquery into an aggregate.
    """
    inner = statement.subquery()
    fields: list[ColumnElement[Any]] = []
    for column, kind in zip(inner.c, fetched.values(), strict=True):
        quoted = literal('"') + func.replace(column, '"', '""') + literal('"')
        if kind == pl.String():
            fields.append(func.ifnull(quoted, ""))
            continue
        fields.append(
            case(
                (func.typeof(column) == "integer", column),
                (func.typeof(column) == "real", func.printf("%!.17g", column)),
                (func.typeof(column) == "text", quoted),
                else_=literal(""),
            )
        )
    line = fields[0]
    for field in fields[1:]:
        line = line.op("||")(",").op("||")(field)
    whole = select(cast(func.group_concat(line, "\n"), LargeBinary))
    try:
        text = session.connection().execute(whole).scalar()
    except OperationalError as error:
        if "too big" in str(error.orig):
            return None
        raise
    if not text:
        return pl.DataFrame(schema=fetched)
    read = {name: pl.Int8() if kind == pl.Boolean() else kind for name, kind in fetched.items()}
    frame = pl.read_csv(
        bytes(text),
        has_header=False,
        new_columns=list(fetched),
        schema=read,
        ignore_errors=True,
    )
    return frame.with_columns(
        pl.col(name).cast(pl.Boolean) for name, kind in fetched.items() if kind == pl.Boolean()
    )
