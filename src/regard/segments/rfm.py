"""Recency, frequency and monetary scores, and the named groups of the recency x frequency grid.

Pure Polars: frames in, frames out, no database. Every step is a vectorised expression, so one
plan scores a million customers at once; ``rfm_plan`` hands the plan back uncollected for callers
that collect several segment plans together. docs/segments.md is the marketer's description.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from regard.errors import InvalidInput
from regard.segments.options import RfmOptions

Frame = pl.DataFrame | pl.LazyFrame

# The named groups, best first; docs/segments.md has the grid that places each one.
RFM_GROUPS = pl.Enum(
    [
        "champions",
        "loyal_customers",
        "potential_loyalists",
        "new_customers",
        "promising",
        "need_attention",
        "about_to_sleep",
        "cannot_lose_them",
        "at_risk",
        "hibernating",
    ]
)

PURCHASES_SCHEMA = pl.Schema(
    {
        "customer_id": pl.Int64(),
        "occurred_at": pl.Datetime("us", "UTC"),
        "amount": pl.Float64(),
    }
)


def purchases_from_events(events: Frame, *, options: RfmOptions) -> pl.LazyFrame:
    """The purchase events of ``events`` as a purchases frame (customer_id, occurred_at, amount).

    ``events`` has ``customer_id``, ``type`` and ``occurred_at``. The amount is read from
    ``properties`` under ``options.amount_property``: a struct field, or a key of JSON text (as
    the store keeps properties). Without a ``properties`` column, a column named after the
    amount property is used. A missing or non-numeric amount is null: the purchase still counts
    for frequency and adds nothing to monetary.
    """
    plan = events.lazy()
    schema = plan.collect_schema()
    name = options.amount_property
    amount: pl.Expr
    if "properties" in schema:
        kind = schema["properties"]
        if isinstance(kind, pl.Struct):
            fields = {field.name for field in kind.fields}
            amount = pl.col("properties").struct.field(name) if name in fields else pl.lit(None)
        else:
            amount = pl.col("properties").str.json_path_match(f"$.{name}")
    elif name in schema:
        amount = pl.col(name)
    else:
        amount = pl.lit(None)
    return plan.filter(pl.col("type").is_in(options.purchase_event_types)).select(
        pl.col("customer_id").cast(pl.Int64),
        pl.col("occurred_at").cast(pl.Datetime("us", "UTC")),
        amount.cast(pl.Float64, strict=False).alias("amount"),
    )


def rfm(
    purchases: Frame, customers: Frame, *, as_of: datetime, options: RfmOptions
) -> pl.DataFrame:
    """Score every customer of ``customers`` on recency, frequency and monetary value.

    One row per row of ``customers``, in its order: ``customer_id``, ``recency_days``,
    ``frequency``, ``monetary``, ``r``, ``f``, ``m`` (1-5), ``rfm`` ("545"), ``rfm_group``.
    Customers without a purchase in the window have frequency 0, monetary 0 and nulls for the
    rest.
    """
    return rfm_plan(purchases, customers, as_of=as_of, options=options).collect()


def rfm_plan(
    purchases: Frame, customers: Frame, *, as_of: datetime, options: RfmOptions
) -> pl.LazyFrame:
    """The uncollected plan of ``rfm``."""
    as_of = utc_instant(as_of)
    window_start = as_of - timedelta(days=options.window_days)
    measures = (
        purchases.lazy()
        .filter(pl.col("occurred_at").is_between(window_start, as_of, closed="both"))
        .group_by("customer_id")
        .agg(
            pl.col("occurred_at").max().alias("last_at"),
            pl.len().cast(pl.Int64).alias("frequency"),
            # Summed in whole cents: exact, so the same purchases give the same scores whatever
            # order Polars adds them in (a float sum can differ in its last bit, and a customer
            # tied on frequency would then flip across a quintile edge).
            ((pl.col("amount") * 100).round().cast(pl.Int64).sum() / 100).alias("monetary"),
        )
    )
    # Each score ranks on its own measure, then on the other two, then on customer_id (the
    # longer-standing customer first), so equal values split the same way on every run and
    # whatever order the rows came in.
    scored = measures.with_columns(
        _quintile("last_at", "frequency", "monetary").alias("r"),
        _quintile("frequency", "monetary", "last_at").alias("f"),
        _quintile("monetary", "frequency", "last_at").alias("m"),
        (pl.lit(as_of) - pl.col("last_at")).dt.total_days().alias("recency_days"),
    )
    return (
        customers.lazy()
        .select(pl.col("customer_id").cast(pl.Int64))
        .join(scored, on="customer_id", how="left", maintain_order="left")
        .select(
            "customer_id",
            "recency_days",
            pl.col("frequency").fill_null(0),
            pl.col("monetary").fill_null(0.0),
            "r",
            "f",
            "m",
            pl.concat_str("r", "f", "m").alias("rfm"),
            _group().alias("rfm_group"),
        )
    )


def utc_instant(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is refused rather than guessed at."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput("as_of must carry a time zone", details={"as_of": moment.isoformat()})
    return moment.astimezone(UTC)


def _quintile(measure: str, *tie_breakers: str) -> pl.Expr:
    """1-5 by position among the customers with purchases, 5 for the best fifth.

    The position is an ordinal rank (0 for the worst); the score is ceil(5 x (position + 1) / n),
    so the best customer on a measure always scores 5 and each score holds a fifth of them.
    """
    keys = [measure, *tie_breakers, "customer_id"]
    order = pl.arg_sort_by(keys, descending=[False] * (len(keys) - 1) + [True])
    position = order.arg_sort().cast(pl.Int64)
    count = pl.len().cast(pl.Int64)
    return ((position + 1) * 5 + count - 1).floordiv(count).cast(pl.Int8)


# (group, recency scores, frequency scores): the usual grid, every one of its 25 cells once.
_GRID: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...] = (
    ("champions", (5,), (4, 5)),
    ("loyal_customers", (3, 4), (4, 5)),
    ("potential_loyalists", (4, 5), (2, 3)),
    ("new_customers", (5,), (1,)),
    ("promising", (4,), (1,)),
    ("need_attention", (3,), (3,)),
    ("about_to_sleep", (3,), (1, 2)),
    ("cannot_lose_them", (1, 2), (5,)),
    ("at_risk", (1, 2), (3, 4)),
    ("hibernating", (1, 2), (1, 2)),
)


_GROUP_OF_CELL = {
    recency * 10 + frequency: name
    for name, recencies, frequencies in _GRID
    for recency in recencies
    for frequency in frequencies
}


def _group() -> pl.Expr:
    cell = pl.col("r").cast(pl.Int16) * 10 + pl.col("f")
    return cell.replace_strict(_GROUP_OF_CELL, return_dtype=RFM_GROUPS)
