"""Lifecycle stages from purchase history: prospect, new, active, at risk, lapsed, won back.

Pure Polars, one vectorised plan for every customer at once. Each customer's own rhythm sets
their thresholds: the usual interval is the median number of days between their purchases,
never less than ``interval_floor_days`` (and exactly that after a single purchase). The rules,
in the order they are tried, are in docs/segments.md.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from regard.segments.options import LifecycleOptions
from regard.segments.rfm import Frame, utc_instant

STAGES = pl.Enum(["prospect", "new", "active", "at_risk", "lapsed", "won_back"])

_MICROSECONDS_PER_DAY = 86_400_000_000


def lifecycle(
    purchases: Frame, customers: Frame, *, as_of: datetime, options: LifecycleOptions
) -> pl.DataFrame:
    """The lifecycle stage of every customer of ``customers`` on ``as_of``.

    One row per row of ``customers``, in its order: ``customer_id``, ``stage``, ``since`` (when
    the customer entered the stage; null for prospects and active customers) and ``reason``,
    a sentence a marketer can read. Purchases after ``as_of`` are ignored.
    """
    return lifecycle_plan(purchases, customers, as_of=as_of, options=options).collect()


def lifecycle_plan(
    purchases: Frame, customers: Frame, *, as_of: datetime, options: LifecycleOptions
) -> pl.LazyFrame:
    """The uncollected plan of ``lifecycle``."""
    as_of = utc_instant(as_of)
    customer_id = pl.col("customer_id")
    # Sorted by customer then time, the gap before each purchase is one subtraction; the first
    # purchase of a customer has none. The two keys are sorted as one 128-bit integer (customer
    # in the high half, microseconds in the low), several times faster than Polars' sort on two
    # columns and the same order.
    order = pl.col("customer_id").cast(pl.Int128) * (1 << 64) + pl.col("occurred_at").dt.epoch(
        "us"
    ).cast(pl.Int128)
    timeline = (
        purchases.lazy()
        .select(pl.col("customer_id").cast(pl.Int64), "occurred_at")
        .filter(pl.col("occurred_at") <= as_of)
        .sort(order)
        # Sorted by customer: the group_by below takes Polars' sorted path (about twice as fast).
        .with_columns(pl.col("customer_id").set_sorted())
        .with_columns(
            pl.when(customer_id == customer_id.shift(1))
            .then(_days(pl.col("occurred_at") - pl.col("occurred_at").shift(1)))
            .alias("gap"),
            (customer_id != customer_id.shift(-1)).fill_null(True).alias("is_latest"),
        )
    )
    history = timeline.group_by("customer_id", maintain_order=True).agg(
        pl.col("occurred_at").min().alias("first_at"),
        pl.col("occurred_at").max().alias("last_at"),
        pl.len().alias("purchases"),
        pl.col("gap").median().alias("median_gap"),
        pl.col("gap").filter(pl.col("is_latest")).first().alias("latest_gap"),
        # The rhythm before the latest purchase, to tell whether that purchase ended a lapse.
        pl.col("gap").filter(~pl.col("is_latest")).median().alias("median_gap_before"),
    )
    floor = options.interval_floor_days
    usual = pl.max_horizontal(pl.col("median_gap"), pl.lit(floor)).fill_null(floor)
    usual_before = pl.max_horizontal(pl.col("median_gap_before"), pl.lit(floor))
    measured = history.with_columns(
        usual.alias("usual"),
        _lapse_after(usual_before.fill_null(floor), options).alias("lapse_after_before"),
        _days(pl.lit(as_of) - pl.col("last_at")).alias("idle"),
        _days(pl.lit(as_of) - pl.col("first_at")).alias("tenure"),
    ).with_columns(
        (pl.col("usual") * options.at_risk_multiple).alias("risk_after"),
        _lapse_after(pl.col("usual"), options).alias("lapse_after"),
    )
    staged = measured.with_columns(_stage(options).alias("stage"))
    return (
        customers.lazy()
        .select(pl.col("customer_id").cast(pl.Int64))
        .join(staged, on="customer_id", how="left", maintain_order="left")
        .with_columns(pl.col("stage").fill_null("prospect"))
        .select(
            "customer_id",
            pl.col("stage").cast(STAGES),
            _since().alias("since"),
            _reason(options).alias("reason"),
        )
    )


def _days(duration: pl.Expr) -> pl.Expr:
    """A duration as fractional days, exact to the microsecond."""
    return duration.dt.total_microseconds().cast(pl.Float64) / _MICROSECONDS_PER_DAY


def _lapse_after(usual: pl.Expr, options: LifecycleOptions) -> pl.Expr:
    by_rhythm = usual * options.lapsed_multiple
    if options.lapsed_after_days is None:
        return by_rhythm
    return pl.min_horizontal(by_rhythm, pl.lit(float(options.lapsed_after_days)))


def _stage(options: LifecycleOptions) -> pl.Expr:
    idle = pl.col("idle")
    # A comeback: the latest purchase came after a gap longer than the lapse threshold of the
    # rhythm before it, and recently enough to still be news.
    won_back = (pl.col("latest_gap") > pl.col("lapse_after_before")) & (
        idle <= options.won_back_days
    )
    return (
        pl.when(idle > pl.col("lapse_after"))
        .then(pl.lit("lapsed"))
        .when(idle > pl.col("risk_after"))
        .then(pl.lit("at_risk"))
        .when(pl.col("tenure") <= options.new_days)
        .then(pl.lit("new"))
        .when(won_back)
        .then(pl.lit("won_back"))
        .otherwise(pl.lit("active"))
    )


def _since() -> pl.Expr:
    stage, last_at = pl.col("stage"), pl.col("last_at")
    return (
        pl.when(stage == "new")
        .then(pl.col("first_at"))
        .when(stage == "won_back")
        .then(last_at)
        .when(stage == "at_risk")
        .then(last_at + _duration(pl.col("risk_after")))
        .when(stage == "lapsed")
        .then(last_at + _duration(pl.col("lapse_after")))
        .otherwise(None)
    )


def _duration(days: pl.Expr) -> pl.Expr:
    return pl.duration(microseconds=(days * _MICROSECONDS_PER_DAY).round().cast(pl.Int64))


def _reason(options: LifecycleOptions) -> pl.Expr:
    stage = pl.col("stage")
    idle, usual = _whole(pl.col("idle")), _whole(pl.col("usual"))
    floor = _number(options.interval_floor_days)
    # Whose rhythm set the threshold: their own, the floor, or the floor standing in for one.
    rhythm = (
        pl.when(pl.col("purchases") == 1)
        .then(pl.lit(f"the {floor} days assumed after one purchase"))
        .when(pl.col("median_gap") < options.interval_floor_days)
        .then(pl.lit(f"the {floor}-day minimum interval"))
        .otherwise(pl.format("their usual {}", usual))
    )
    lapse_days = options.lapsed_after_days
    lapse_rule = pl.format("more than {} {}", pl.lit(_times(options.lapsed_multiple)), rhythm)
    if lapse_days is not None:
        lapse_rule = (
            pl.when(pl.col("lapse_after") >= lapse_days)
            .then(pl.lit(f"more than the {lapse_days}-day limit"))
            .otherwise(lapse_rule)
        )
    return (
        pl.when(stage == "prospect")
        .then(pl.lit("prospect: no purchase yet"))
        .when(stage == "new")
        .then(pl.format("new: first purchase {} days ago", _whole(pl.col("tenure"))))
        .when(stage == "won_back")
        .then(
            pl.format(
                "won back: bought {} days ago after {} days without a purchase",
                idle,
                _whole(pl.col("latest_gap")),
            )
        )
        .when(stage == "at_risk")
        .then(
            pl.format(
                "at risk: no purchase for {} days, more than {} {}",
                idle,
                pl.lit(_times(options.at_risk_multiple)),
                rhythm,
            )
        )
        .when(stage == "lapsed")
        .then(pl.format("lapsed: no purchase for {} days, {}", idle, lapse_rule))
        .otherwise(
            pl.format(
                "active: last purchase {} days ago, within {} {}",
                idle,
                pl.lit(_times(options.at_risk_multiple)),
                rhythm,
            )
        )
    )


def _whole(days: pl.Expr) -> pl.Expr:
    """Days as a whole number for a sentence: 95, not 95.37."""
    return days.floor().cast(pl.Int64)


def _times(multiple: float) -> str:
    if multiple == 2:
        return "twice"
    return f"{_number(multiple)} times"


def _number(value: float) -> str:
    return f"{value:g}"
