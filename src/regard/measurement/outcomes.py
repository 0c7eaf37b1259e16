"""What happened after each decision, control and treated side by side: pure Polars over columns.

The unit is a candidate (one touchpoint for one customer) at its first decision. Its arm is
``control`` when the engine held it for the touchpoint's control group, else ``treated``, whatever
the policy then decided: comparing everyone offered to the policy with everyone held out (intent
to treat) keeps the two arms alike, so the difference between them is the touchpoint's effect.

Per unit, counted from its first decision:

- **delivered**, **engaged** (opened, clicked or replied), **complained**: feedback on the
  messages sent for it (control units have none);
- **converted** and **revenue**: an event of ``[measurement.outcome] event`` within ``window``
  after the decision, and the sum of their amounts;
- **opted out**: an opt-out in the consent ledger within the window.

``outcome_table`` then sums the units per touchpoint (and segment, channel or week) and arm. A
control unit has no channel: by channel, each channel's treated units are set beside the whole
touchpoint's control group.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

import polars as pl

__all__ = [
    "ARMS",
    "COUNTS",
    "Breakdown",
    "outcome_table",
    "unit_outcomes",
]

Breakdown = Literal["segment", "channel", "week"]
ARMS = ("treated", "control")
COUNTS = ("customers", "delivered", "engaged", "converted", "revenue", "opted_out", "complained")
ENGAGED_KINDS = ("opened", "clicked", "replied")
_TIME = pl.Datetime("us", "UTC")

UNITS_SCHEMA = pl.Schema(
    {
        "candidate_id": pl.Int64(),
        "customer_id": pl.Int64(),
        "touchpoint": pl.String(),
        "decided_at": _TIME,
        "control": pl.Boolean(),
        "channel": pl.String(),
    }
)


def units_from_decisions(decisions: pl.DataFrame, *, control_reason: str) -> pl.DataFrame:
    """One row per candidate from its decisions (candidate_id, customer_id, touchpoint,
    decided_at, reason, outcome, channel): first decision time, arm, channel it was sent on."""
    return (
        decisions.lazy()
        .group_by("candidate_id")
        .agg(
            pl.col("customer_id").first(),
            pl.col("touchpoint").first(),
            pl.col("decided_at").min(),
            (pl.col("reason") == control_reason).any().alias("control"),
            pl.col("channel").filter(pl.col("outcome") == "sent").first(),
        )
        .collect()
        .match_to_schema(UNITS_SCHEMA)
    )


def unit_outcomes(
    units: pl.DataFrame,
    *,
    messages: pl.DataFrame,
    feedback: pl.DataFrame,
    conversions: pl.DataFrame,
    opt_outs: pl.DataFrame,
    window: timedelta,
) -> pl.DataFrame:
    """``units`` (``UNITS_SCHEMA``) with delivered, engaged, complained, converted, revenue and
    opted_out.

    ``messages``: outbox_id, candidate_id. ``feedback``: outbox_id, kind. ``conversions``:
    customer_id, occurred_at, amount. ``opt_outs``: customer_id, occurred_at.
    """
    per_message = (
        feedback.lazy()
        .group_by("outbox_id")
        .agg(
            (pl.col("kind") == "delivered").any().alias("delivered"),
            pl.col("kind").is_in(ENGAGED_KINDS).any().alias("engaged"),
            (pl.col("kind") == "complained").any().alias("complained"),
        )
    )
    per_candidate = (
        messages.lazy()
        .join(per_message, on="outbox_id", how="inner")
        .group_by("candidate_id")
        .agg(pl.col("delivered").any(), pl.col("engaged").any(), pl.col("complained").any())
    )
    base = units.lazy().select("candidate_id", "customer_id", "decided_at")
    bought = (
        _within(base, conversions.lazy(), window)
        .group_by("candidate_id")
        .agg(pl.len().alias("purchases"), pl.col("amount").fill_null(0.0).sum().alias("revenue"))
    )
    left = (
        _within(base, opt_outs.lazy(), window)
        .group_by("candidate_id")
        .agg(pl.len().alias("opt_out_entries"))
    )
    return (
        units.lazy()
        .join(per_candidate, on="candidate_id", how="left")
        .join(bought, on="candidate_id", how="left")
        .join(left, on="candidate_id", how="left")
        .with_columns(
            pl.col("delivered", "engaged", "complained").fill_null(False),
            (pl.col("purchases").fill_null(0) > 0).alias("converted"),
            pl.col("revenue").fill_null(0.0),
            (pl.col("opt_out_entries").fill_null(0) > 0).alias("opted_out"),
        )
        .drop("purchases", "opt_out_entries")
        .collect()
    )


def _within(base: pl.LazyFrame, events: pl.LazyFrame, window: timedelta) -> pl.LazyFrame:
    """Each (unit, event of its customer) with the event in (decided_at, decided_at + window]."""
    return base.join(events, on="customer_id", how="inner").filter(
        (pl.col("occurred_at") > pl.col("decided_at"))
        & (pl.col("occurred_at") <= pl.col("decided_at") + window)
    )


def outcome_table(
    outcomes: pl.DataFrame,
    *,
    by: Breakdown | None = None,
    segments: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Counts per touchpoint (and ``by``) and arm: customers, delivered, engaged, converted,
    revenue, opted_out, complained; with ``revenue_values`` (each unit's revenue, for the
    bootstrap). ``segments`` (customer_id, segment) is needed by segment: a customer counts
    in each segment they are in, and in ``(none)`` when in none.
    """
    frame = outcomes.lazy()
    keys = ["touchpoint"]
    if by == "segment":
        member = (segments if segments is not None else pl.DataFrame()).lazy()
        frame = frame.join(
            member.select(pl.col("customer_id").cast(pl.Int64), pl.col("segment").cast(pl.String)),
            on="customer_id",
            how="left",
        ).with_columns(pl.col("segment").fill_null("(none)"))
        keys.append("segment")
    elif by == "week":
        frame = frame.with_columns(pl.col("decided_at").dt.truncate("1w").dt.date().alias("week"))
        keys.append("week")
    elif by == "channel":
        keys.append("channel")
    arm = pl.when(pl.col("control")).then(pl.lit("control")).otherwise(pl.lit("treated"))
    table = (
        frame.with_columns(arm.alias("arm"))
        .group_by([*keys, "arm"])
        .agg(
            pl.len().alias("customers"),
            pl.col("delivered").sum(),
            pl.col("engaged").sum(),
            pl.col("converted").sum(),
            pl.col("revenue").sum(),
            pl.col("opted_out").sum(),
            pl.col("complained").sum(),
            pl.col("revenue").filter(pl.col("revenue") > 0).alias("revenue_values"),
        )
        .collect()
    )
    if by == "channel":
        # A held-out customer has no channel: each channel is measured against the whole
        # touchpoint's control group.
        control = table.filter(pl.col("arm") == "control").drop("channel")
        channels = table.filter(pl.col("arm") == "treated", pl.col("channel").is_not_null())
        table = pl.concat(
            [
                channels,
                channels.select("touchpoint", "channel")
                .unique()
                .join(control, on="touchpoint", how="inner")
                .select(channels.columns),
            ]
        )
    ints = [name for name in COUNTS if name != "revenue"]
    return table.with_columns(pl.col(ints).cast(pl.Int64)).sort([*keys, "arm"], nulls_last=True)
