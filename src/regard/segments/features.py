"""Columns read from the store in bulk: the frames the segment engines and rules run over.

Every read is one ``SELECT`` of plain columns fetched straight into Polars (no ORM objects):
JSON values are extracted by the database as text and typed here, so a badly typed trait or
property is null for that customer rather than an error for the whole base. The features frame
has one row per customer and one column per ``FeatureSpec`` (names from
``regard.segments.compile``).

In ``count``, ``sum`` and ``last`` the event type ``purchase`` stands for the brand's purchase
event types (``segments.rfm.purchase_event_types``); any other name is an event type as stored.
"""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import closing
from datetime import datetime, timedelta
from typing import Any

import polars as pl
from sqlalchemy import Executable, func, select
from sqlalchemy.orm import Session

from regard.config import BrandConfig
from regard.customers.models import Customer, Event
from regard.preferences.catalogue import default_allows
from regard.preferences.models import ConsentState, PreferenceProfile
from regard.segments.compile import FeatureSpec
from regard.segments.options import RfmOptions
from regard.segments.rfm import PURCHASES_SCHEMA, purchases_from_events, utc_instant
from regard.segments.schema import ValueType
from regard.store.frames import fetch_frame
from regard.store.types import SQLITE_TIMESTAMP_FORMAT

__all__ = [
    "PURCHASE",
    "read_customers",
    "read_features",
    "read_purchases",
]

# The event name that means "whatever the brand counts as a purchase".
PURCHASE = "purchase"

_TIMESTAMP = pl.Datetime("us", "UTC")
# How SQLite keeps a UTC timestamp (regard.store.types.SQLITE_TIMESTAMP_FORMAT), for Polars.
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S%.f"


def read_customers(session: Session) -> pl.DataFrame:
    """Every customer's id, ascending: the base every segment is evaluated over."""
    return _frame(session, select(Customer.id).order_by(Customer.id), {"customer_id": pl.Int64()})


def read_purchases(session: Session, *, options: RfmOptions, as_of: datetime) -> pl.DataFrame:
    """The purchases frame (customer_id, occurred_at, amount) of every purchase up to ``as_of``.

    One select of the purchase event types; the amount is extracted by the database. Ten
    million purchases are too many to fetch as Python rows: SQLite hands them over as CSV text
    it builds itself, a range of event ids at a time, and PostgreSQL through ``COPY``.
    """
    as_of = utc_instant(as_of)
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite" and sqlite3.sqlite_version_info >= (3, 38):
        events = _sqlite_purchases(session, options=options, as_of=as_of)
    elif dialect == "postgresql":
        events = _postgres_purchases(session, options=options, as_of=as_of)
    else:
        amount = options.amount_property
        events = _frame(
            session,
            select(
                Event.customer_id, Event.occurred_at, Event.properties[amount].as_string()
            ).where(Event.type.in_(options.purchase_event_types), Event.occurred_at <= as_of),
            {"customer_id": pl.Int64(), "occurred_at": _TIMESTAMP, amount: pl.String()},
        )
    # Every row is a purchase already: the type column is not worth fetching 10 million times.
    typed = events.with_columns(pl.lit(options.purchase_event_types[0]).alias("type"))
    purchases = purchases_from_events(typed, options=options).collect()
    return purchases.match_to_schema(PURCHASES_SCHEMA)


# Event ids per chunk of CSV text SQLite builds: tens of megabytes, far below its string limit.
_SQLITE_CHUNK_IDS = 500_000


def _sqlite_purchases(session: Session, *, options: RfmOptions, as_of: datetime) -> pl.DataFrame:
    """customer_id, occurred_at and the amount as text, each chunk of rows one text SQLite builds.

    The amount is its JSON text (``->``): a number exactly as written, a string in quotes.
    Fields are separated by the unit separator and rows by newlines, neither of which can
    appear raw in JSON text. Read this way the amount is what ``Event.properties[...]
    .as_string()`` gives: the same double, and SQLite's 1 and 0 for true and false.

    """
    driver: Any = session.connection().connection.driver_connection
    types = options.purchase_event_types
    marks = ", ".join("?" for _ in types)
    statement = (
        "SELECT CAST(group_concat(customer_id || char(31) || occurred_at || char(31) "
        "|| ifnull(properties -> ?, ''), char(10)) AS BLOB) "
        f"FROM events WHERE id >= ? AND id < ? AND type IN ({marks}) AND occurred_at <= ?"
    )
    path = f'$."{options.amount_property}"'
    until = as_of.replace(tzinfo=None).strftime(SQLITE_TIMESTAMP_FORMAT)

    chunks: list[bytes] = []
    with closing(driver.cursor()) as cursor:
        low, high = cursor.execute("SELECT min(id), max(id) FROM events").fetchone()
        if low is not None:
            for start in range(low, high + 1, _SQLITE_CHUNK_IDS):
                cursor.execute(statement, (path, start, start + _SQLITE_CHUNK_IDS, *types, until))
                (text,) = cursor.fetchone()
                if text:
                    chunks.append(text)
    columns = {"customer_id": pl.Int64(), "occurred_at": pl.String(), "amount": pl.String()}
    frame = (
        pl.read_csv(
            b"\n".join(chunks),
            has_header=False,
            separator="\x1f",
            quote_char=None,
            new_columns=list(columns),
            schema=columns,
        )
        if chunks
        else pl.DataFrame(schema=columns)
    )
    literal = pl.col("amount")
    amount = (
        pl.when(literal.str.starts_with('"'))
        .then(literal.str.strip_prefix('"').str.strip_suffix('"'))
        .when(literal == "true")
        .then(pl.lit("1"))
        .when(literal == "false")
        .then(pl.lit("0"))
        .otherwise(literal)
    )
    occurred = pl.col("occurred_at").str.to_datetime(_SQLITE_TIME, time_zone="UTC", time_unit="us")
    return frame.select("customer_id", occurred, amount.alias(options.amount_property))


def _postgres_purchases(session: Session, *, options: RfmOptions, as_of: datetime) -> pl.DataFrame:
    """The same columns through ``COPY ... TO STDOUT`` as CSV, times as epoch microseconds."""
    from psycopg import sql

    driver: Any = session.connection().connection.driver_connection
    statement = sql.SQL(
        "COPY (SELECT customer_id, "
        "(extract(epoch FROM occurred_at) * 1000000)::bigint, properties ->> {} "
        "FROM events WHERE type = ANY({}) AND occurred_at <= {}) TO STDOUT WITH (FORMAT csv)"
    ).format(
        sql.Literal(options.amount_property),
        sql.Literal(list(options.purchase_event_types)),
        sql.Literal(as_of),
    )
    buffer = io.BytesIO()
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for block in copy:
            buffer.write(block)
    columns = {"customer_id": pl.Int64(), "occurred_at": pl.Int64(), "amount": pl.String()}
    frame = (
        pl.read_csv(buffer.getvalue(), has_header=False, new_columns=list(columns), schema=columns)
        if buffer.tell()
        else pl.DataFrame(schema=columns)
    )
    occurred = pl.col("occurred_at").cast(_TIMESTAMP)
    return frame.with_columns(occurred).rename({"amount": options.amount_property})


def read_features(
    session: Session,
    specs: Iterable[FeatureSpec],
    *,
    base: pl.DataFrame,
    brand: BrandConfig,
    as_of: datetime,
    purchases: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """``base`` (customer_id and the engines' fields) with a column for every other spec.

    ``base`` already holds the fields the engines compute (lifecycle, rfm_group, r, f, m,
    commitment); traits, event counts, sums and recencies, consents and interests are read here,
    each kind in one select. ``purchases``, the frame of ``read_purchases`` for the same
    ``as_of`` when the caller has it, answers ``count``, ``last`` and ``sum`` of the amount of
    ``purchase`` without reading the purchases again.
    """
    as_of = utc_instant(as_of)
    wanted = {spec.column: spec for spec in specs if spec.column not in base.columns}
    frame = base
    traits = [spec for spec in wanted.values() if spec.source == "field"]
    if traits:
        frame = _join(frame, _read_traits(session, traits))
    events = [spec for spec in wanted.values() if spec.source in ("count", "sum", "last")]
    for event_type in dict.fromkeys(spec.arguments[0] for spec in events):
        of_type = [spec for spec in events if spec.arguments[0] == event_type]
        rfm = brand.segments.rfm
        if (
            event_type == PURCHASE
            and purchases is not None
            and all(s.arguments[1] == rfm.amount_property for s in of_type if s.source == "sum")
        ):
            in_memory = purchases.rename({"amount": f"property:{rfm.amount_property}"})
            frame = _join(frame, event_measures(in_memory, of_type, as_of=as_of))
            continue
        types = rfm.purchase_event_types if event_type == PURCHASE else (event_type,)
        frame = _join(frame, _read_event_measures(session, of_type, types=types, as_of=as_of))
    cells = [spec for spec in wanted.values() if spec.source == "subscribed"]
    if cells:
        frame = _join(frame, _read_consents(session, cells, base=base, brand=brand))
    interests = [spec for spec in wanted.values() if spec.source == "interest"]
    if interests:
        frame = _join(frame, _read_interests(session, interests))
    fills = [
        pl.col(spec.column).fill_null(spec.when_missing)
        for spec in wanted.values()
        if spec.when_missing is not None
    ]
    return frame.with_columns(fills) if fills else frame


def _read_traits(session: Session, specs: Sequence[FeatureSpec]) -> pl.DataFrame:
    names = [spec.arguments[0].removeprefix("trait.") for spec in specs]
    texts = _frame(
        session,
        select(Customer.id, *(Customer.traits[name].as_string() for name in names)),
        {"customer_id": pl.Int64(), **{spec.column: pl.String() for spec in specs}},
    )
    return texts.select("customer_id", *(_typed(spec) for spec in specs))


def _typed(spec: FeatureSpec) -> pl.Expr:
    """A trait's text as its declared type; text that is not of that type is null."""
    text = pl.col(spec.column)
    if spec.type is ValueType.NUMBER:
        value = text.cast(pl.Float64, strict=False)
    elif spec.type is ValueType.BOOLEAN:
        folded = text.str.to_lowercase()
        # PostgreSQL gives JSON true as "true", SQLite as "1".
        value = (
            pl.when(folded.is_in(["true", "1"]))
            .then(True)
            .when(folded.is_in(["false", "0"]))
            .then(False)
            .otherwise(pl.lit(None, dtype=pl.Boolean))
        )
    elif spec.type is ValueType.DATE:
        value = text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
    elif spec.type is ValueType.STRING_SET:
        listed = pl.when(text.str.starts_with("[")).then(text)
        value = listed.str.json_decode(pl.List(pl.String))
    else:
        value = text
    return value.alias(spec.column)


def _read_event_measures(
    session: Session,
    specs: Sequence[FeatureSpec],
    *,
    types: Sequence[str],
    as_of: datetime,
) -> pl.DataFrame:
    """count/sum/last of one event name: recencies in one grouped select, windows in another."""
    measures: list[pl.DataFrame] = []
    lasts = [spec for spec in specs if spec.source == "last"]
    if lasts:
        latest = _frame(
            session,
            select(Event.customer_id, func.max(Event.occurred_at))
            .where(Event.type.in_(types), Event.occurred_at <= as_of)
            .group_by(Event.customer_id),
            {"customer_id": pl.Int64(), "latest": _TIMESTAMP},
        )
        days = (pl.lit(as_of) - pl.col("latest")).dt.total_days()
        measures.append(latest.select("customer_id", *(days.alias(spec.column) for spec in lasts)))
    windowed = [spec for spec in specs if spec.source in ("count", "sum")]
    if windowed:
        longest = max(spec.window.days for spec in windowed if spec.window is not None)
        properties = list(dict.fromkeys(s.arguments[1] for s in windowed if s.source == "sum"))
        events = _frame(
            session,
            select(
                Event.customer_id,
                Event.occurred_at,
                *(Event.properties[name].as_string() for name in properties),
            ).where(
                Event.type.in_(types),
                Event.occurred_at >= as_of - timedelta(days=longest),
                Event.occurred_at <= as_of,
            ),
            {
                "customer_id": pl.Int64(),
                "occurred_at": _TIMESTAMP,
                **{f"property:{name}": pl.String() for name in properties},
            },
        )
        measures.append(event_measures(events, windowed, as_of=as_of))
    combined = measures[0]
    for measure in measures[1:]:
        combined = combined.join(measure, on="customer_id", how="full", coalesce=True)
    return combined


def event_measures(
    events: pl.DataFrame, specs: Sequence[FeatureSpec], *, as_of: datetime
) -> pl.DataFrame:
    """count/sum/last per customer from events (customer_id, occurred_at, property:<name>...)
    of one event name up to ``as_of``, in one group_by."""
    aggregates: list[pl.Expr] = []
    at = pl.col("occurred_at")
    for spec in specs:
        if spec.source == "last":
            aggregates.append((pl.lit(as_of) - at.max()).dt.total_days().alias(spec.column))
            continue
        assert spec.window is not None
        inside = at >= as_of - timedelta(days=spec.window.days)
        if spec.source == "count":
            aggregates.append(inside.sum().cast(pl.Int64).alias(spec.column))
        else:
            amount = pl.col(f"property:{spec.arguments[1]}").cast(pl.Float64, strict=False)
            aggregates.append(amount.filter(inside).sum().alias(spec.column))
    return events.group_by("customer_id").agg(aggregates)


def _read_consents(
    session: Session, specs: Sequence[FeatureSpec], *, base: pl.DataFrame, brand: BrandConfig
) -> pl.DataFrame:
    """Whether each customer may be sent each topic on each channel, defaults included."""
    cells = {(spec.arguments[0], spec.arguments[1]) for spec in specs}
    topics = {topic for topic, _ in cells}
    stated = _frame(
        session,
        select(
            ConsentState.customer_id,
            ConsentState.topic,
            ConsentState.channel,
            ConsentState.state,
        ).where(ConsentState.topic.in_(topics)),
        {
            "customer_id": pl.Int64(),
            "topic": pl.String(),
            "channel": pl.String(),
            "state": pl.String(),
        },
    )
    frame = base.select("customer_id")
    for spec in specs:
        topic_key, channel = spec.arguments[0], spec.arguments[1]
        topic = brand.topic(topic_key)
        default = topic is not None and channel in brand.channels and default_allows(topic, channel)
        said = stated.filter(
            (pl.col("topic") == topic_key) & (pl.col("channel") == channel)
        ).select("customer_id", (pl.col("state") == "opted-in").alias(spec.column))
        frame = frame.join(said, on="customer_id", how="left", maintain_order="left")
        frame = frame.with_columns(pl.col(spec.column).fill_null(default))
    return frame


def _read_interests(session: Session, specs: Sequence[FeatureSpec]) -> pl.DataFrame:
    profiles = _frame(
        session,
        select(
            PreferenceProfile.customer_id,
            PreferenceProfile.settings["interests"][""].as_string(),
        ),
        {"customer_id": pl.Int64(), "interests": pl.String()},
    )
    listed = (
        pl.when(pl.col("interests").str.starts_with("["))
        .then(pl.col("interests"))
        .str.json_decode(pl.List(pl.String))
    )
    return profiles.with_columns(listed.alias("interests")).select(
        "customer_id",
        *(
            pl.col("interests").list.contains(spec.arguments[0]).alias(spec.column)
            for spec in specs
        ),
    )


def _join(frame: pl.DataFrame, extra: pl.DataFrame) -> pl.DataFrame:
    return frame.join(extra, on="customer_id", how="left", maintain_order="left")


def _frame(session: Session, statement: Executable, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """The rows of ``statement`` as a frame with ``schema``, fetched without ORM objects."""
    return fetch_frame(session, statement, schema)
