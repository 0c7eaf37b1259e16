"""Lift and outcome aggregation over 10,000,000 messages and 1,000,000 customers.

A seeded population built in memory: ten touchpoints decided for every customer over twelve
weeks (10,000,000 decided candidates), 5% of each touchpoint held out by the control-group hash,
every treated candidate sent (9.5 million messages) with its feedback (delivered, opened,
clicked, complaints), three million purchases and twenty thousand opt-outs. Timed: per-candidate
outcomes (``outcomes.unit_outcomes``), the table per touchpoint and arm (``outcome_table``) and
the lift with its intervals (``lift_rows``, Newcombe and a 1,000-resample bootstrap).

Baseline: the same aggregation written as SQL in SQLite (indexed tables, one GROUP BY), on a
1% sample of the customers with all their rows, scaled by 100. Run:
``.venv/bin/python benchmarks/bench_lift.py [--customers 1000000]``.
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from regard.measurement.holdouts import ControlGroups, in_control_group
from regard.measurement.lift import lift_rows
from regard.measurement.options import OutcomeOptions
from regard.measurement.outcomes import outcome_table, unit_outcomes

START = datetime(2026, 1, 5, tzinfo=UTC)
WEEKS = 12
TOUCHPOINTS = 10
WINDOW = timedelta(days=7)
_US = 1_000_000


def build(customers: int, seed: int) -> dict[str, pl.DataFrame]:
    """The frames measurement reads, for ``customers`` customers and ten touchpoints each."""
    rng = np.random.default_rng(seed)
    n = customers * TOUCHPOINTS
    customer = np.repeat(np.arange(1, customers + 1, dtype=np.int64), TOUCHPOINTS)
    touchpoint_index = np.tile(np.arange(TOUCHPOINTS), customers)
    names = [f"touchpoint_{i}" for i in range(TOUCHPOINTS)]
    start_us = int(START.timestamp() * _US)
    decided = start_us + rng.integers(0, WEEKS * 7 * 86_400, size=n) * _US
    touchpoint = pl.Series("touchpoint", np.array(names)[touchpoint_index])
    groups = ControlGroups(shares=dict.fromkeys(names, 0.05), salt="bench")
    control = in_control_group(pl.Series(customer), touchpoint, groups=groups).to_numpy()
    channel = np.where(rng.random(n) < 0.8, "email", "sms").astype(object)
    channel[control] = None  # a held-out customer is sent nothing
    units = pl.DataFrame(
        {
            "candidate_id": np.arange(1, n + 1, dtype=np.int64),
            "customer_id": customer,
            "touchpoint": touchpoint,
            "decided_at": pl.Series(decided).cast(pl.Datetime("us", "UTC")),
            "control": control,
            "channel": channel,
        }
    )
    treated = units.filter(~pl.col("control"))
    messages = pl.DataFrame(
        {"outbox_id": treated["candidate_id"], "candidate_id": treated["candidate_id"]}
    )
    m = messages.height
    kinds = []
    for kind, share in (
        ("delivered", 0.97),
        ("opened", 0.22),
        ("clicked", 0.04),
        ("complained", 0.0008),
    ):
        chosen = rng.random(m) < share
        kinds.append(
            pl.DataFrame({"outbox_id": messages["outbox_id"].filter(chosen), "kind": kind})
        )
    feedback = pl.concat(kinds)
    purchases = customers * 3
    conversions = pl.DataFrame(
        {
            "customer_id": rng.integers(1, customers + 1, size=purchases),
            "occurred_at": pl.Series(
                start_us + rng.integers(0, (WEEKS + 2) * 7 * 86_400, size=purchases) * _US
            ).cast(pl.Datetime("us", "UTC")),
            "amount": np.round(rng.lognormal(3.5, 0.9, size=purchases), 2),
        }
    )
    leavers = customers // 50
    opt_outs = pl.DataFrame(
        {
            "customer_id": rng.integers(1, customers + 1, size=leavers),
            "occurred_at": pl.Series(
                start_us + rng.integers(0, WEEKS * 7 * 86_400, size=leavers) * _US
            ).cast(pl.Datetime("us", "UTC")),
        }
    )
    return {
        "units": units,
        "messages": messages,
        "feedback": feedback,
        "conversions": conversions,
        "opt_outs": opt_outs,
    }


def measure(frames: dict[str, pl.DataFrame]) -> tuple[pl.DataFrame, float, float, float]:
    """(table, seconds for outcomes, for the table, for the lift)."""
    started = time.perf_counter()
    outcomes = unit_outcomes(
        frames["units"],
        messages=frames["messages"],
        feedback=frames["feedback"],
        conversions=frames["conversions"],
        opt_outs=frames["opt_outs"],
        window=WINDOW,
    )
    counted = time.perf_counter()
    table = outcome_table(outcomes)
    tabled = time.perf_counter()
    rows = lift_rows(table, options=OutcomeOptions())
    lifted = time.perf_counter()
    assert all(row.conversion.difference is not None for row in rows)
    return table, counted - started, tabled - counted, lifted - tabled


_SQL = """
WITH fb AS (
  SELECT outbox_id,
         max(kind = 'delivered') AS delivered,
         max(kind IN ('opened', 'clicked', 'replied')) AS engaged,
         max(kind = 'complained') AS complained
  FROM feedback GROUP BY outbox_id
), per_candidate AS (
  SELECT m.candidate_id, max(fb.delivered) AS delivered, max(fb.engaged) AS engaged,
         max(fb.complained) AS complained
  FROM messages m JOIN fb ON fb.outbox_id = m.outbox_id GROUP BY m.candidate_id
), bought AS (
  SELECT u.candidate_id, count(*) AS purchases, sum(c.amount) AS revenue
  FROM units u JOIN conversions c ON c.customer_id = u.customer_id
   AND c.occurred_at > u.decided_at AND c.occurred_at <= u.decided_at + :window
  GROUP BY u.candidate_id
), left_ AS (
  SELECT u.candidate_id, count(*) AS n
  FROM units u JOIN opt_outs o ON o.customer_id = u.customer_id
   AND o.occurred_at > u.decided_at AND o.occurred_at <= u.decided_at + :window
  GROUP BY u.candidate_id
)
SELECT u.touchpoint, u.control, count(*) AS customers,
       sum(coalesce(p.delivered, 0)), sum(coalesce(p.engaged, 0)),
       sum(coalesce(b.purchases, 0) > 0), sum(coalesce(b.revenue, 0)),
       sum(coalesce(l.n, 0) > 0), sum(coalesce(p.complained, 0))
FROM units u
LEFT JOIN per_candidate p ON p.candidate_id = u.candidate_id
LEFT JOIN bought b ON b.candidate_id = u.candidate_id
LEFT JOIN left_ l ON l.candidate_id = u.candidate_id
GROUP BY u.touchpoint, u.control
"""


def sqlite_baseline(frames: dict[str, pl.DataFrame], *, every: int) -> tuple[float, int]:
    """Seconds for the SQL aggregation over customers whose id is a multiple of ``every`` (and
    all their rows), and how many candidates that was. Times are epoch microseconds."""
    keep = pl.col("customer_id") % every == 0
    units = frames["units"].filter(keep)
    sample = {
        "units": units.with_columns(
            pl.col("decided_at").dt.epoch("us"), pl.col("control").cast(pl.Int8)
        ),
        "messages": frames["messages"].join(units.select("candidate_id"), on="candidate_id"),
        "conversions": frames["conversions"]
        .filter(keep)
        .with_columns(pl.col("occurred_at").dt.epoch("us")),
        "opt_outs": frames["opt_outs"]
        .filter(keep)
        .with_columns(pl.col("occurred_at").dt.epoch("us")),
    }
    sample["feedback"] = frames["feedback"].join(
        sample["messages"].select("outbox_id"), on="outbox_id"
    )
    db = sqlite3.connect(":memory:")
    for name, frame in sample.items():
        columns = ", ".join(frame.columns)
        db.execute(f"CREATE TABLE {name} ({columns})")
        marks = ", ".join("?" for _ in frame.columns)
        db.executemany(f"INSERT INTO {name} VALUES ({marks})", frame.iter_rows())
    db.execute("CREATE INDEX ix_conv ON conversions (customer_id, occurred_at)")
    db.execute("CREATE INDEX ix_opt ON opt_outs (customer_id, occurred_at)")
    db.execute("CREATE INDEX ix_fb ON feedback (outbox_id)")
    db.execute("CREATE INDEX ix_msg ON messages (candidate_id)")
    started = time.perf_counter()
    db.execute(_SQL, {"window": int(WINDOW.total_seconds()) * _US}).fetchall()
    return time.perf_counter() - started, units.height


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20260105)
    parser.add_argument("--sample-every", type=int, default=100)
    args = parser.parse_args()

    built = time.perf_counter()
    frames = build(args.customers, args.seed)
    print(
        f"built {frames['units'].height:,} decided candidates, "
        f"{frames['messages'].height:,} messages, {frames['feedback'].height:,} feedback, "
        f"{frames['conversions'].height:,} purchases for {args.customers:,} customers "
        f"in {time.perf_counter() - built:.1f} s"
    )
    table, outcomes_s, table_s, lift_s = measure(frames)
    total = outcomes_s + table_s + lift_s
    print(
        f"Regard (Polars): outcomes {outcomes_s:.2f} s, table {table_s:.2f} s, "
        f"lift {lift_s:.2f} s; total {total:.2f} s (target < 10 s)"
    )
    print(table.drop("revenue_values").head(4))
    sql_s, sampled = sqlite_baseline(frames, every=args.sample_every)
    scaled = sql_s * frames["units"].height / max(sampled, 1)
    print(
        f"SQLite SQL baseline: {sql_s:.2f} s on {sampled:,} candidates, "
        f"scaled to {scaled:.1f} s for all"
    )
    print(f"ratio: {scaled / total:.1f}x faster than the SQL baseline")


if __name__ == "__main__":
    main()
