"""Relationship health beside revenue: pure Polars over columns, no database.

- **Rates** of what the messages cost in goodwill, per week of sending, per channel and per
  touchpoint: messages sent, delivered, complained about (delivery feedback) and followed by an
  opt-out (the consent ledger). An opt-out counts against the last message sent to the customer
  before it (on its channel, when the entry names one) if that message went out at most
  ``window`` earlier; a message counts once however many topics the customer left. Both rates
  are over messages sent, as the complaint-rate breaker counts (regard.delivery.breaker), and a
  complaint rate above the breaker's halt line (0.3% by default) is flagged. With fewer than
  ``minimum`` messages sent a rate says too little: no number, but a note saying so.
- **Fatigue**: the share of reachable customers who are at their caps now, per channel and on
  every channel at once, read from the contact policy itself (``apply_policy``'s room left in
  each cap, after what was already sent in each cap's window and with the customer's own
  frequency choice), never counted a second way here.
- **Commitment movement**: each surveyed customer's Conversion Model group at their previous
  response against their latest, as an 8 x 8 matrix (zero cells included).
- **Lifecycle movement**: each customer's lifecycle stage at two dates, as a matrix over the
  stages, from the segments module's own lifecycle rules evaluated at each date.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from itertools import product
from typing import Literal

import numpy as np
import polars as pl

from regard.commitment.scoring import NON_USER_GROUPS, USER_GROUPS
from regard.decisions.inputs import EngineInputs
from regard.decisions.policy import apply_policy, suppressions_of
from regard.decisions.policy_frames import exact_us
from regard.decisions.policy_options import CHANNEL_ORDER, ContactPolicy
from regard.delivery.options import BreakerOptions
from regard.segments.lifecycle import STAGES, lifecycle
from regard.segments.options import LifecycleOptions
from regard.segments.rfm import Frame, utc_instant

__all__ = [
    "ALL_CHANNELS",
    "COMPLAINT_LINE",
    "GROUPS",
    "LIFECYCLE_STAGES",
    "MIN_SENT",
    "RATE_COUNTS",
    "commitment_transitions",
    "fatigue",
    "lifecycle_transitions",
    "message_outcomes",
    "rates_by",
    "transition_matrix",
    "week_starts",
    "weekly_rates",
]

# The complaint line is the breaker's: a stream above it halts (0.3% by default; a brand's own
# ``[delivery.breaker] halt_at`` replaces it).
COMPLAINT_LINE: float = BreakerOptions.model_fields["halt_at"].default
# Fewer messages sent than this and a rate says too little (the breaker's own minimum).
MIN_SENT: int = BreakerOptions.model_fields["min_deliveries"].default
GROUPS: tuple[str, ...] = (*USER_GROUPS, *NON_USER_GROUPS)
LIFECYCLE_STAGES: tuple[str, ...] = tuple(STAGES.categories.to_list())
# Fatigue's row for a customer's every channel at once.
ALL_CHANNELS = "all"
RATE_COUNTS = ("sent", "delivered", "opted_out", "complained")

_TIME = pl.Datetime("us", "UTC")
_COUNTS_SCHEMA = {name: pl.Int64() for name in RATE_COUNTS}


# ---------------------------------------------------------------------------------------------
# Rates


def message_outcomes(
    messages: pl.DataFrame,
    *,
    feedback: pl.DataFrame,
    opt_outs: pl.DataFrame,
    window: timedelta,
) -> pl.DataFrame:
    """``messages`` (outbox_id, customer_id, touchpoint, channel, sent_at: messages that left)
    with ``delivered``, ``complained`` and ``opted_out`` (Boolean) added.

    ``feedback``: outbox_id, kind (delivered, complained, ...). ``opt_outs``: customer_id,
    channel (null: the entry names none), occurred_at. An opt-out is laid at the door of the
    last message sent to the customer before it (on the entry's channel when it names one), if
    sent at most ``window`` earlier.
    """
    flags = (
        feedback.lazy()
        .group_by("outbox_id")
        .agg(
            (pl.col("kind") == "delivered").any().alias("delivered"),
            (pl.col("kind") == "complained").any().alias("complained"),
        )
    )
    sent = messages.select(
        pl.col("outbox_id").cast(pl.Int64),
        pl.col("customer_id").cast(pl.Int64),
        pl.col("channel").cast(pl.String),
        pl.col("sent_at").cast(_TIME),
    ).sort("sent_at")
    entries = opt_outs.select(
        pl.col("customer_id").cast(pl.Int64),
        pl.col("channel").cast(pl.String),
        pl.col("occurred_at").cast(_TIME),
    ).sort("occurred_at")
    on_channel = entries.filter(pl.col("channel").is_not_null()).join_asof(
        sent,
        left_on="occurred_at",
        right_on="sent_at",
        by=["customer_id", "channel"],
        strategy="backward",
        tolerance=window,
        check_sortedness=False,
    )
    anywhere = (
        entries.filter(pl.col("channel").is_null())
        .drop("channel")
        .join_asof(
            sent.drop("channel"),
            left_on="occurred_at",
            right_on="sent_at",
            by="customer_id",
            strategy="backward",
            tolerance=window,
            check_sortedness=False,
        )
    )
    blamed = (
        pl.concat([on_channel.select("outbox_id"), anywhere.select("outbox_id")])
        .drop_nulls()
        .unique()
        .with_columns(pl.lit(True).alias("opted_out"))
    )
    return (
        messages.lazy()
        .join(flags, on="outbox_id", how="left")
        .join(blamed.lazy(), on="outbox_id", how="left")
        .with_columns(pl.col("delivered", "complained", "opted_out").fill_null(False))
        .collect()
    )


def _with_rates(counts: pl.DataFrame, *, minimum: int, line: float) -> pl.DataFrame:
    """Counts with opt_out_rate and complaint_rate (null below ``minimum`` sent), over_line and
    a note."""
    enough = pl.col("sent") >= minimum
    complaint_rate = pl.when(enough).then(pl.col("complained") / pl.col("sent"))
    over = (complaint_rate > line).fill_null(False)
    too_little = pl.format(
        "too little data: {} sent, at least {} needed", pl.col("sent"), pl.lit(minimum)
    )
    return counts.with_columns(
        pl.when(enough).then(pl.col("opted_out") / pl.col("sent")).alias("opt_out_rate"),
        complaint_rate.alias("complaint_rate"),
        over.alias("over_line"),
        pl.when(~enough)
        .then(too_little)
        .when(over)
        .then(pl.lit(f"complaints above the {_percent(line)} line"))
        .otherwise(None)
        .cast(pl.String)
        .alias("note"),
    )


def _percent(share: float) -> str:
    return f"{share * 100:.2f}".rstrip("0").rstrip(".") + "%"


def _counted(outcomes: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    return outcomes.group_by(keys).agg(
        pl.len().cast(pl.Int64).alias("sent"),
        pl.col("delivered").sum().cast(pl.Int64),
        pl.col("opted_out").sum().cast(pl.Int64),
        pl.col("complained").sum().cast(pl.Int64),
    )


def week_starts(as_of: datetime, weeks: int) -> list[date]:
    """The Mondays (UTC) of the ``weeks`` weeks up to and including the week of ``as_of``."""
    if weeks < 1:
        raise ValueError("at least one week")
    day = utc_instant(as_of).date()
    this_week = day - timedelta(days=day.weekday())
    return [this_week - timedelta(weeks=back) for back in range(weeks - 1, -1, -1)]


def weekly_rates(
    outcomes: pl.DataFrame,
    *,
    weeks: Sequence[date],
    minimum: int = MIN_SENT,
    line: float = COMPLAINT_LINE,
) -> pl.DataFrame:
    """Per week of sending (each of ``weeks``, Mondays, in order; a week with nothing sent has
    zeros): week, sent, delivered, opted_out, complained, opt_out_rate, complaint_rate,
    over_line, note."""
    frame = outcomes.with_columns(pl.col("sent_at").dt.truncate("1w").dt.date().alias("week"))
    counts = _counted(frame, ["week"])
    every = pl.DataFrame({"week": list(weeks)}, schema={"week": pl.Date()})
    joined = every.join(counts, on="week", how="left").with_columns(
        pl.col(RATE_COUNTS).fill_null(0)
    )
    return _with_rates(joined, minimum=minimum, line=line).sort("week")


def rates_by(
    outcomes: pl.DataFrame,
    key: Literal["channel", "touchpoint"],
    *,
    include: Sequence[str] = (),
    minimum: int = MIN_SENT,
    line: float = COMPLAINT_LINE,
) -> pl.DataFrame:
    """The rates per channel or per touchpoint over all of ``outcomes``; ``include`` lists
    values to show even with nothing sent (the brand's channels, say). Sorted by ``key``."""
    counts = _counted(outcomes.with_columns(pl.col(key).cast(pl.String)), [key])
    listed = pl.DataFrame({key: list(include)}, schema={key: pl.String()})
    missing = listed.join(counts, on=key, how="anti").with_columns(
        pl.lit(0, dtype=pl.Int64).alias(name) for name in RATE_COUNTS
    )
    every = pl.concat([counts.select(key, *RATE_COUNTS), missing.select(key, *RATE_COUNTS)])
    return _with_rates(every, minimum=minimum, line=line).sort(key)


# ---------------------------------------------------------------------------------------------
# Fatigue


def fatigue(
    inputs: EngineInputs,
    *,
    policy: ContactPolicy,
    now: datetime,
    channels: Sequence[str] = CHANNEL_ORDER,
) -> pl.DataFrame:
    """How many reachable customers are at their caps now: channel (each of ``channels``, then
    ``"all"``), reachable, at_cap, share (null with nobody reachable).

    The room left in each cap is the contact policy's own (``apply_policy(...).caps`` over the
    customers of ``inputs``, with no candidates): what was sent within each cap's window, the
    brand's caps and the customer's own overall frequency. A customer is *at their cap on a
    channel* when the next promotional message there would be held for a cap: their own
    frequency or a brand-wide marketing cap is used up, the promotional cap, or the channel's
    cap. *Reachable* on a channel: an address there, not suppressed (complaint, hard bounce),
    erased or do-not-contact. ``"all"``: reachable on some channel, and at their cap on every
    channel they are reachable on.
    """
    now = utc_instant(now)
    customers = inputs.customers.sort("customer_id")
    caps = apply_policy(**inputs.frames(), policy=policy, now=now).caps.sort("customer_id")
    ids = customers["customer_id"].cast(pl.Int64).to_numpy()
    now_us = exact_us(now)
    suppressed, erased = suppressions_of(inputs.suppressions, ids, now_us)
    blocked = erased | customers["do_not_contact"].cast(pl.Boolean).fill_null(False).to_numpy()

    def used_up(column: str) -> np.ndarray:
        room = caps[column].fill_null(1).to_numpy()
        return np.asarray(room <= 0)

    anywhere = used_up("cap_total") | used_up("cap_promotional")
    rows: list[dict[str, object]] = []
    reachable_any = np.zeros(ids.size, dtype=bool)
    open_somewhere = np.zeros(ids.size, dtype=bool)
    for name in channels:
        h = CHANNEL_ORDER.index(name)
        address = customers[name].cast(pl.Boolean).fill_null(False).to_numpy()
        reachable = address & (suppressed[h] == 0) & ~blocked
        at_cap = reachable & (anywhere | used_up(f"cap_{name}"))
        reachable_any |= reachable
        open_somewhere |= reachable & ~at_cap
        rows.append(_fatigue_row(name, reachable, at_cap))
    rows.append(_fatigue_row(ALL_CHANNELS, reachable_any, reachable_any & ~open_somewhere))
    return pl.DataFrame(
        rows,
        schema={
            "channel": pl.String(),
            "reachable": pl.Int64(),
            "at_cap": pl.Int64(),
            "share": pl.Float64(),
        },
    )


def _fatigue_row(channel: str, reachable: np.ndarray, at_cap: np.ndarray) -> dict[str, object]:
    count, capped = int(reachable.sum()), int(at_cap.sum())
    return {
        "channel": channel,
        "reachable": count,
        "at_cap": capped,
        "share": capped / count if count else None,
    }


# ---------------------------------------------------------------------------------------------
# Movement between two moments


def transition_matrix(
    moves: pl.DataFrame, *, labels: Sequence[str], names: tuple[str, str]
) -> pl.DataFrame:
    """Every (from, to) pair of ``labels`` in order, zero cells included, with customers (how
    many moved so) and share (of the row's customers; null for an empty row).

    ``moves`` has one row per customer and the two columns ``names`` (from, to); a value not
    in ``labels`` is left out.
    """
    start, end = names
    counts = (
        moves.select(pl.col(start).cast(pl.String), pl.col(end).cast(pl.String))
        .group_by(start, end)
        .agg(pl.len().cast(pl.Int64).alias("customers"))
    )
    pairs = list(product(labels, labels))
    cells = pl.DataFrame(
        {start: [a for a, _ in pairs], end: [b for _, b in pairs]},
        schema={start: pl.String(), end: pl.String()},
    )
    joined = cells.join(counts, on=[start, end], how="left", maintain_order="left").with_columns(
        pl.col("customers").fill_null(0)
    )
    row_total = pl.col("customers").sum().over(start)
    return joined.with_columns(
        pl.when(row_total > 0).then(pl.col("customers") / row_total).alias("share")
    )


def commitment_transitions(
    responses: pl.DataFrame, *, since: datetime | None = None, until: datetime | None = None
) -> pl.DataFrame:
    """The Conversion Model group at each customer's previous response against their latest
    (or, from ``since``, their first response in the period against their last): from_group,
    to_group, customers, share, over the eight groups in order (users first).

    ``responses``: customer_id, responded_at, response_id, group (each response scored; null
    where it could not be). Unscored responses are left out; a customer with fewer than two
    scored responses (in the period) is not in the matrix.
    """
    frame = responses.filter(pl.col("group").is_not_null())
    if since is not None:
        frame = frame.filter(pl.col("responded_at") >= utc_instant(since))
    if until is not None:
        frame = frame.filter(pl.col("responded_at") <= utc_instant(until))
    ordered = frame.select(
        pl.col("customer_id").cast(pl.Int64),
        pl.col("group").cast(pl.String),
        "responded_at",
        "response_id",
    ).sort("customer_id", "responded_at", "response_id")
    before = pl.col("group").first() if since is not None else pl.col("group").get(pl.len() - 2)
    moves = (
        ordered.filter(pl.len().over("customer_id") >= 2)
        .group_by("customer_id")
        .agg(before.alias("from_group"), pl.col("group").last().alias("to_group"))
    )
    return transition_matrix(moves, labels=GROUPS, names=("from_group", "to_group"))


def lifecycle_transitions(
    purchases: Frame,
    customers: Frame,
    *,
    as_of: datetime,
    period: timedelta,
    options: LifecycleOptions,
) -> pl.DataFrame:
    """Each customer's lifecycle stage ``period`` before ``as_of`` against their stage on
    ``as_of``: from_stage, to_stage, customers, share, over the stages in order.

    Both stages come from ``regard.segments.lifecycle`` (purchases after each date unseen); a
    customer with no purchase by the earlier date was a prospect then.
    """
    as_of = utc_instant(as_of)
    before = lifecycle(purchases, customers, as_of=as_of - period, options=options)
    after = lifecycle(purchases, customers, as_of=as_of, options=options)
    moves = pl.DataFrame(
        {"from_stage": before["stage"].cast(pl.String), "to_stage": after["stage"].cast(pl.String)}
    )
    return transition_matrix(moves, labels=LIFECYCLE_STAGES, names=("from_stage", "to_stage"))
