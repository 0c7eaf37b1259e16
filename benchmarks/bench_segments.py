"""Segments in memory: RFM, lifecycle, commitment and 20 custom segments against SQLite's SQL.

Builds its own seeded data with Polars and numpy (customers with two traits, purchases over two
years, commitment answers for 30% of customers), then times Regard's engines on the frames in
memory: ``rfm``, ``lifecycle``, commitment ``score``, the feature columns the 20 segments read
(one Polars group_by over the purchases) and the 20 compiled segments. Each step is the best of
``--repeat`` runs. The baseline loads the same data into an SQLite file (not timed) and runs the
same segments written as SQL (NTILE(5) for RFM, a lifecycle approximation with the average
interval instead of the median and no won-back, NTILE(4) for the users' commitment groups),
each result stored in a table, and prints the ratio SQL time / Regard time.

    python benchmarks/bench_segments.py                                  # 1,000,000 / 10,000,000
    python benchmarks/bench_segments.py --customers 100000 --events 1000000   # a quick run
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import polars as pl

from regard.commitment.scoring import score
from regard.config import CommitmentOptions
from regard.segments.compile import CompiledSegment, FeatureSpec, compile_segment
from regard.segments.features import event_measures
from regard.segments.language import parse
from regard.segments.options import SegmentOptions
from regard.segments.schema import ValueType, default_schema
from regard.segments.service import engine_columns

TARGET_SECONDS = 5.0
AS_OF = datetime(2026, 11, 23, tzinfo=UTC)
SPAN_SECONDS = 2 * 365 * 86_400
DAY = 86_400
PLANS = ("free", "pro", "team")

# The 20 custom segments, in the segment language and as the equivalent SQL over s_base.
SEGMENTS: tuple[tuple[str, str], ...] = (
    ("count(purchase, 90d) >= 3", "c90 >= 3"),
    ("sum(purchase.amount, 365d) > 500", "s365 > 500"),
    ('rfm_group = "champions" and trait.plan = "pro"', "rfm_group = 'champions' AND plan = 'pro'"),
    (
        'lifecycle = "at_risk" and sum(purchase.amount, 365d) > 200',
        "lifecycle = 'at_risk' AND s365 > 200",
    ),
    (
        'lifecycle in ("lapsed", "at_risk") and commitment in ("Convertible", "Shallow")',
        "lifecycle IN ('lapsed', 'at_risk') AND commitment IN ('Convertible', 'Shallow')",
    ),
    (
        'commitment = "Entrenched" and count(purchase, 30d) >= 1',
        "commitment = 'Entrenched' AND c30 >= 1",
    ),
    ("r >= 4 and f >= 4", "r >= 4 AND f >= 4"),
    ('m = 5 and not lifecycle = "new"', "m = 5 AND NOT lifecycle = 'new'"),
    ("last(purchase) > 180 and count(purchase, 730d) >= 5", "last_days > 180 AND c730 >= 5"),
    ("trait.age < 30 and count(purchase, 180d) >= 2", "age < 30 AND c180 >= 2"),
    (
        'rfm_group in ("at_risk", "cannot_lose_them")',
        "rfm_group IN ('at_risk', 'cannot_lose_them')",
    ),
    ('lifecycle = "won_back"', "lifecycle = 'won_back'"),
    (
        'commitment in ("Available", "Ambivalent") and trait.plan != "free"',
        "commitment IN ('Available', 'Ambivalent') AND plan != 'free'",
    ),
    (
        "sum(purchase.amount, 30d) >= 100 or count(purchase, 7d) >= 2",
        "s30 >= 100 OR c7 >= 2",
    ),
    (
        'lifecycle = "new" and sum(purchase.amount, 90d) > 50',
        "lifecycle = 'new' AND s90 > 50",
    ),
    (
        'rfm_group = "hibernating" and commitment = "Average"',
        "rfm_group = 'hibernating' AND commitment = 'Average'",
    ),
    ('trait.plan = "team" and last(purchase) <= 30', "plan = 'team' AND last_days <= 30"),
    ("f <= 2 and m >= 4", "f <= 2 AND m >= 4"),
    (
        'lifecycle = "active" and commitment = "Entrenched" and trait.age >= 40',
        "lifecycle = 'active' AND commitment = 'Entrenched' AND age >= 40",
    ),
    (
        'count(purchase, 365d) = 0 and trait.plan in ("pro", "team")',
        "c365 = 0 AND plan IN ('pro', 'team')",
    ),
)

T = TypeVar("T")


def build_data(
    *, customers: int, events: int, seed: int
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Customers (with traits), purchases and commitment answers, all seeded."""
    rng = np.random.default_rng(seed)
    people = pl.DataFrame(
        {
            "customer_id": np.arange(customers, dtype=np.int64),
            "trait__plan": np.array(PLANS)[rng.integers(0, 3, customers)],
            "trait__age": rng.integers(18, 80, customers).astype(np.float64),
        }
    )
    # Skewed: low ids buy far more often, and about a tenth of customers never buy.
    buyers = max(1, int(customers * 0.9))
    ids = (buyers * rng.random(events) ** 2).astype(np.int64)
    offsets = rng.integers(0, SPAN_SECONDS, events)
    start = int(AS_OF.timestamp()) - SPAN_SECONDS
    purchases = pl.DataFrame(
        {
            "customer_id": ids,
            "occurred_at": (start + offsets) * 1_000_000,
            "amount": np.round(rng.lognormal(3.5, 0.8, events), 2),
        }
    ).with_columns(pl.col("occurred_at").cast(pl.Datetime("us", "UTC")))
    surveyed = rng.choice(customers, size=int(customers * 0.3), replace=False)
    n = len(surveyed)

    def on(low: int, high: int) -> npt.NDArray[np.float64]:
        return rng.integers(low, high + 1, n).astype(np.float64)

    answers = pl.DataFrame(
        {
            "customer_id": np.sort(surveyed).astype(np.int64),
            "is_user": rng.random(n) < 0.7,
            "satisfaction": on(0, 10),
            "emotional_fit": on(0, 10),
            "involvement": on(1, 5),
            "best_alternative": on(0, 10),
            "considering_switching": on(1, 5),
            "rating_brand": on(0, 10),
            "rating_current": on(0, 10),
        }
    )
    return people, purchases, answers


def best_of(repeat: int, work: Callable[[], T]) -> tuple[float, T]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    assert result is not None
    return best, result


def feature_frame(
    purchases: pl.DataFrame, base: pl.DataFrame, specs: list[FeatureSpec]
) -> pl.DataFrame:
    """The count/sum/last columns the segments read, as ``read_features`` computes them from
    the purchases in memory (``event_measures``), joined onto ``base``."""
    wanted = {spec.column: spec for spec in specs if spec.column not in base.columns}
    measures = event_measures(
        purchases.rename({"amount": "property:amount"}), list(wanted.values()), as_of=AS_OF
    )
    fills = [
        pl.col(spec.column).fill_null(spec.when_missing)
        for spec in wanted.values()
        if spec.when_missing is not None
    ]
    return base.join(measures, on="customer_id", how="left", maintain_order="left").with_columns(
        fills
    )


def run_regard(
    people: pl.DataFrame, purchases: pl.DataFrame, answers: pl.DataFrame, repeat: int
) -> tuple[dict[str, float], list[int]]:
    customers = people.select("customer_id")
    schema = default_schema(
        traits={"plan": ValueType.STRING, "age": ValueType.NUMBER}, events={"purchase": ("amount",)}
    )
    times: dict[str, float] = {}
    # As evaluate_segments computes them: one collect, only the columns segments read.
    times["rfm+lifecycle"], (scores, stages) = best_of(
        repeat,
        lambda: engine_columns(purchases, customers, as_of=AS_OF, options=SegmentOptions()),
    )
    times["commitment"], scored = best_of(repeat, lambda: score(answers, CommitmentOptions()))
    commitment = scored.select("customer_id", pl.col("group").cast(pl.String).alias("commitment"))

    def compiled() -> list[CompiledSegment]:
        return [compile_segment(parse(text), schema=schema, source=text) for text, _ in SEGMENTS]

    rules = compiled()
    specs = [spec for rule in rules for spec in rule.features]

    def features() -> pl.DataFrame:
        base = people.with_columns(
            stages["stage"].cast(pl.String).alias("lifecycle"),
            scores["rfm_group"].cast(pl.String).alias("rfm_group"),
            scores["r"],
            scores["f"],
            scores["m"],
        ).join(commitment, on="customer_id", how="left", maintain_order="left")
        return feature_frame(purchases, base, specs)

    times["features"], frame = best_of(repeat, features)

    def evaluate() -> pl.DataFrame:
        rules = compiled()
        return frame.select(
            "customer_id", *(rule.expression.alias(f"s{i}") for i, rule in enumerate(rules))
        )

    times["segments"], members = best_of(repeat, evaluate)
    counts = [int(members[f"s{i}"].sum()) for i in range(len(SEGMENTS))]
    return times, counts


def load_sqlite(
    path: Path, people: pl.DataFrame, purchases: pl.DataFrame, answers: pl.DataFrame
) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA temp_store = MEMORY")
    db.execute("PRAGMA cache_size = -2000000")
    db.execute("CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, plan TEXT, age REAL)")
    db.executemany("INSERT INTO customers VALUES (?, ?, ?)", people.iter_rows())
    db.execute("CREATE TABLE purchases (customer_id INTEGER, occurred_at INTEGER, amount REAL)")
    epoch = purchases.select(
        "customer_id", pl.col("occurred_at").dt.epoch("s").alias("occurred_at"), "amount"
    )
    for chunk in epoch.iter_slices(1_000_000):
        db.executemany("INSERT INTO purchases VALUES (?, ?, ?)", chunk.iter_rows())
    db.execute("CREATE INDEX purchases_customer ON purchases (customer_id, occurred_at)")
    columns = "customer_id INTEGER PRIMARY KEY, is_user INTEGER, " + ", ".join(
        f"{name} REAL" for name in answers.columns[2:]
    )
    marks = ", ".join("?" for _ in answers.columns)
    db.execute(f"CREATE TABLE answers ({columns})")
    db.executemany(f"INSERT INTO answers VALUES ({marks})", answers.iter_rows())
    db.commit()
    db.execute("ANALYZE")
    return db


def run_sql(db: sqlite3.Connection, repeat: int) -> tuple[dict[str, float], list[int]]:
    a = int(AS_OF.timestamp())
    grid = (
        "CASE WHEN r = 5 AND f >= 4 THEN 'champions' "
        "WHEN r IN (3, 4) AND f >= 4 THEN 'loyal_customers' "
        "WHEN r >= 4 AND f IN (2, 3) THEN 'potential_loyalists' "
        "WHEN r = 5 AND f = 1 THEN 'new_customers' "
        "WHEN r = 4 AND f = 1 THEN 'promising' "
        "WHEN r = 3 AND f = 3 THEN 'need_attention' "
        "WHEN r = 3 AND f <= 2 THEN 'about_to_sleep' "
        "WHEN r <= 2 AND f = 5 THEN 'cannot_lose_them' "
        "WHEN r <= 2 AND f IN (3, 4) THEN 'at_risk' "
        "WHEN r <= 2 THEN 'hibernating' END"
    )
    steps: dict[str, list[str]] = {
        "rfm": [
            f"CREATE TEMP TABLE s_measures AS SELECT customer_id, max(occurred_at) AS last_at, "
            f"count(*) AS frequency, sum(amount) AS monetary FROM purchases "
            f"WHERE occurred_at BETWEEN {a - 365 * DAY} AND {a} GROUP BY customer_id",
            "CREATE TEMP TABLE s_rfm AS SELECT customer_id, "
            "NTILE(5) OVER (ORDER BY last_at, frequency, monetary, customer_id DESC) AS r, "
            "NTILE(5) OVER (ORDER BY frequency, monetary, last_at, customer_id DESC) AS f, "
            "NTILE(5) OVER (ORDER BY monetary, frequency, last_at, customer_id DESC) AS m "
            "FROM s_measures",
            "CREATE INDEX s_rfm_customer ON s_rfm (customer_id)",
        ],
        "lifecycle": [
            f"CREATE TEMP TABLE s_history AS SELECT customer_id, min(occurred_at) AS first_at, "
            f"max(occurred_at) AS last_at, count(*) AS n FROM purchases "
            f"WHERE occurred_at <= {a} GROUP BY customer_id",
            f"CREATE TEMP TABLE s_life AS SELECT customer_id, last_at, CASE "
            f"WHEN idle > min(usual * 4, 365) THEN 'lapsed' "
            f"WHEN idle > usual * 2 THEN 'at_risk' "
            f"WHEN tenure <= 30 THEN 'new' ELSE 'active' END AS stage FROM ("
            f"SELECT customer_id, last_at, ({a} - last_at) / 86400.0 AS idle, "
            f"({a} - first_at) / 86400.0 AS tenure, "
            f"max(coalesce((last_at - first_at) / 86400.0 / nullif(n - 1, 0), 30), 30) AS usual "
            f"FROM s_history)",
            "CREATE INDEX s_life_customer ON s_life (customer_id)",
        ],
        "commitment": [
            "CREATE TEMP TABLE s_commit AS "
            "SELECT customer_id, CASE NTILE(4) OVER (ORDER BY "
            "(satisfaction + emotional_fit) / 2.0 - best_alternative "
            "- (considering_switching - 1) / 4.0 + (involvement - 1) / 4.0) "
            "WHEN 1 THEN 'Convertible' WHEN 2 THEN 'Shallow' WHEN 3 THEN 'Average' "
            "ELSE 'Entrenched' END AS commitment FROM answers WHERE is_user "
            "UNION ALL SELECT customer_id, CASE "
            "WHEN rating_brand - rating_current >= 2 THEN 'Available' "
            "WHEN rating_brand - rating_current >= 0 THEN 'Ambivalent' "
            "WHEN rating_brand - rating_current >= -2 THEN 'Weakly unavailable' "
            "ELSE 'Strongly unavailable' END FROM answers WHERE NOT is_user",
            "CREATE INDEX s_commit_customer ON s_commit (customer_id)",
        ],
        "features": [
            "CREATE TEMP TABLE s_features AS SELECT customer_id, "
            + ", ".join(
                f"sum(occurred_at >= {a - days * DAY}) AS c{days}"
                for days in (7, 30, 90, 180, 365, 730)
            )
            + ", "
            + ", ".join(
                f"sum(CASE WHEN occurred_at >= {a - days * DAY} THEN amount ELSE 0 END) AS s{days}"
                for days in (30, 90, 365)
            )
            + f", ({a} - max(occurred_at)) / 86400 AS last_days FROM purchases "
            f"WHERE occurred_at <= {a} GROUP BY customer_id",
            "CREATE INDEX s_features_customer ON s_features (customer_id)",
            "CREATE TEMP TABLE s_base AS SELECT c.customer_id, c.plan, c.age, "
            f"coalesce(l.stage, 'prospect') AS lifecycle, r.r, r.f, r.m, {grid} AS rfm_group, "
            "k.commitment, "
            + ", ".join(f"coalesce(x.c{d}, 0) AS c{d}" for d in (7, 30, 90, 180, 365, 730))
            + ", "
            + ", ".join(f"coalesce(x.s{d}, 0) AS s{d}" for d in (30, 90, 365))
            + ", x.last_days FROM customers c "
            "LEFT JOIN s_life l ON l.customer_id = c.customer_id "
            "LEFT JOIN s_rfm r ON r.customer_id = c.customer_id "
            "LEFT JOIN s_commit k ON k.customer_id = c.customer_id "
            "LEFT JOIN s_features x ON x.customer_id = c.customer_id",
        ],
        "segments": [
            f"CREATE TEMP TABLE seg_{i} AS SELECT customer_id FROM s_base WHERE {where}"
            for i, (_, where) in enumerate(SEGMENTS)
        ],
    }
    temp = ["s_measures", "s_rfm", "s_history", "s_life", "s_commit", "s_features", "s_base"]
    temp += [f"seg_{i}" for i in range(len(SEGMENTS))]
    best = {step: float("inf") for step in steps}
    for _ in range(repeat):
        for name in temp:
            db.execute(f"DROP TABLE IF EXISTS {name}")
        for step, statements in steps.items():
            started = time.perf_counter()
            for statement in statements:
                db.execute(statement)
            best[step] = min(best[step], time.perf_counter() - started)
    counts = [
        int(db.execute(f"SELECT count(*) FROM seg_{i}").fetchone()[0]) for i in range(len(SEGMENTS))
    ]
    return best, counts


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--no-sql", action="store_true", help="skip the SQLite baseline")
    args = parser.parse_args()

    started = time.perf_counter()
    people, purchases, answers = build_data(
        customers=args.customers, events=args.events, seed=args.seed
    )
    print(
        f"data: {people.height:,} customers, {purchases.height:,} purchases, "
        f"{answers.height:,} commitment answers, built in {time.perf_counter() - started:.1f} s"
    )
    ours, our_counts = run_regard(people, purchases, answers, args.repeat)
    total = sum(ours.values())
    verdict = "meets" if total < TARGET_SECONDS else "MISSES"
    print(f"regard, in memory (best of {args.repeat}):")
    for step, seconds in ours.items():
        print(f"  {step:13s} {seconds:7.3f} s")
    print(f"  {'total':13s} {total:7.3f} s (target {TARGET_SECONDS:g} s: {verdict})")
    print(f"  members per segment: {our_counts}")
    if args.no_sql:
        return
    with tempfile.TemporaryDirectory(prefix="regard-bench-") as tmp:
        started = time.perf_counter()
        db = load_sqlite(Path(tmp) / "segments.db", people, purchases, answers)
        print(f"sqlite: loaded and indexed in {time.perf_counter() - started:.1f} s (not timed)")
        theirs, their_counts = run_sql(db, args.repeat)
        db.close()
    sql_total = sum(theirs.values())
    print(f"sqlite, the same segments as SQL (best of {args.repeat}):")
    for step, seconds in theirs.items():
        mine = ours.get(step)
        ratio = f"   ratio {seconds / mine:6.1f}x" if mine else ""
        print(f"  {step:11s} {seconds:7.3f} s{ratio}")
    both = theirs["rfm"] + theirs["lifecycle"]
    print(f"  rfm+lifecycle {both:5.3f} s   ratio {both / ours['rfm+lifecycle']:6.1f}x")
    print(f"  {'total':11s} {sql_total:7.3f} s   ratio {sql_total / total:6.1f}x")
    print(f"  members per segment: {their_counts}")
    print("PostgreSQL baseline: not run in this benchmark (SQLite only).")


if __name__ == "__main__":
    main()
