"""Segments from the store: ``evaluate_segments`` end to end on SQLite and PostgreSQL, against SQL.

Builds the seeded data of ``bench_segments.py`` (customers with two traits, purchases over two
years, commitment answers for 30% of customers), loads it into a real Regard store made by the
project's own migrations (customers with JSON traits, ``order_completed`` events with the amount
in JSON properties, commitment survey responses; bulk-loaded with raw SQL, not timed), and times
``evaluate_segments`` for every segment (RFM, lifecycle, commitment and the 20 custom segments of
``bench_segments.py``): reading the base, computing, and storing the memberships and runs, in one
committed transaction. It runs twice: the first evaluation stores every membership; the second,
a day later, moves only the customers whose segments changed.

In the same run, the same segments written as SQL (``bench_segments.run_sql``) run on SQLite and,
when a server answers at 127.0.0.1:5432 (user postgres), on PostgreSQL, each over its own simple
tables (integer times, a REAL amount, no JSON): the SQL side is flattered, see docs/benchmarks.md.

    python benchmarks/bench_segments_store.py                                  # 1M / 10M
    python benchmarks/bench_segments_store.py --customers 100000 --events 1000000
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import func, select

from bench_segments import AS_OF, DAY, SEGMENTS, build_data, load_sqlite, run_sql
from regard.config import Settings, default_brand_config
from regard.segments.models import SegmentMembership
from regard.segments.options import SegmentDefinition, SegmentOptions
from regard.segments.service import evaluate_segments
from regard.store import migrate
from regard.store.database import Store, open_store, unit_of_work
from regard.store.types import SQLITE_TIMESTAMP_FORMAT
from scratch_postgres import bench_postgres

TARGET_SECONDS = 30.0
BENCH_DATABASE = "regard_bench_segments"
NEXT_DAY = AS_OF + timedelta(days=1)


def bench_brand() -> Any:
    custom = tuple(
        SegmentDefinition(name=f"custom_{i:02d}", rule=rule)
        for i, (rule, _) in enumerate(SEGMENTS, start=1)
    )
    segments = SegmentOptions(traits={"plan": "string", "age": "number"}, custom=custom)
    return default_brand_config().model_copy(update={"segments": segments})


def rows_to_load(
    people: pl.DataFrame, purchases: pl.DataFrame, answers: pl.DataFrame
) -> dict[str, pl.DataFrame]:
    """The store's rows, as frames with the columns of its tables (times in UTC)."""
    now = pl.lit(AS_OF - timedelta(days=800))
    customers = people.select(
        (pl.col("customer_id") + 1).alias("id"),
        now.alias("created_at"),
        now.alias("updated_at"),
        pl.concat_str(
            pl.lit('{"plan": "'),
            "trait__plan",
            pl.lit('", "age": '),
            pl.col("trait__age").cast(pl.Int64),
            pl.lit("}"),
        ).alias("traits"),
        pl.lit("{}").alias("trait_origins"),
    )
    # Events in the order they happened, as a store receives them.
    events = (
        purchases.sort("occurred_at")
        .with_row_index("id", offset=1)
        .select(
            pl.col("id").cast(pl.Int64),
            (pl.col("customer_id") + 1).alias("customer_id"),
            pl.lit("order_completed").alias("type"),
            "occurred_at",
            pl.col("occurred_at").alias("received_at"),
            pl.lit("shop").alias("source"),
            pl.col("id").cast(pl.String).alias("message_id"),
            pl.concat_str(pl.lit('{"amount": '), "amount", pl.lit("}")).alias("properties"),
        )
    )
    items = [c for c in answers.columns if c not in ("customer_id", "is_user")]
    pieces: list[pl.Expr] = []
    for position, item in enumerate(items):
        pieces += [pl.lit(("{" if position == 0 else ", ") + f'"{item}": '), pl.col(item)]
    answer_json = pl.concat_str(*pieces, pl.lit("}"))
    responses = answers.select(
        (pl.col("customer_id") + 1).alias("customer_id"),
        pl.lit("commitment").alias("survey"),
        "is_user",
        answer_json.alias("answers"),
        pl.lit("import").alias("source"),
        now.alias("responded_at"),
        now.alias("recorded_at"),
    )
    return {"customers": customers, "events": events, "survey_responses": responses}


def load_store(store: Store, tables: dict[str, pl.DataFrame]) -> None:
    """Bulk-load the tables with raw SQL: executemany on SQLite, COPY on PostgreSQL."""
    raw = store.engine.raw_connection()
    try:
        driver: Any = raw.driver_connection
        cursor = driver.cursor()
        # The generated rows are consistent: no foreign-key check per row while loading.
        if store.dialect == "sqlite":
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.execute("PRAGMA foreign_keys=OFF")
        else:
            cursor.execute("SET session_replication_role = replica")
        index = "ix_events_customer_id_occurred_at"
        cursor.execute(f"DROP INDEX {index}")
        for table, frame in tables.items():
            columns = ", ".join(frame.columns)
            if store.dialect == "sqlite":
                typed = frame.with_columns(
                    pl.col(c).dt.strftime(SQLITE_TIMESTAMP_FORMAT)
                    for c, kind in frame.schema.items()
                    if isinstance(kind, pl.Datetime)
                )
                marks = ", ".join("?" for _ in frame.columns)
                for chunk in typed.iter_slices(500_000):
                    cursor.executemany(
                        f"INSERT INTO {table} ({columns}) VALUES ({marks})", chunk.iter_rows()
                    )
            else:
                for chunk in frame.iter_slices(1_000_000):
                    buffer = io.BytesIO()
                    chunk.write_csv(
                        buffer,
                        include_header=False,
                        datetime_format="%Y-%m-%dT%H:%M:%S%.6f%z",
                    )
                    with cursor.copy(
                        f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)"
                    ) as copy:
                        copy.write(buffer.getvalue())
        cursor.execute(f"CREATE INDEX {index} ON events (customer_id, occurred_at)")
        if store.dialect == "postgresql":
            for table in tables:
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
        cursor.execute("ANALYZE")
        driver.commit()
        if store.dialect == "sqlite":
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
        else:
            cursor.execute("SET session_replication_role = origin")
            driver.commit()
    finally:
        raw.close()


def evaluate(store: Store, as_of: Any) -> tuple[float, int, int, int]:
    """Seconds for one committed evaluation of every segment; members, entered, exited."""
    started = time.perf_counter()
    with unit_of_work(store) as session:
        summaries = evaluate_segments(session, brand=store.brand, as_of=as_of)
    seconds = time.perf_counter() - started
    members = sum(s.members for s in summaries)
    entered = sum(s.entered or 0 for s in summaries)
    exited = sum(s.exited or 0 for s in summaries)
    return seconds, members, entered, exited


def run_store(url: str, tmp: Path, tables: dict[str, pl.DataFrame]) -> dict[str, float]:
    settings = Settings(
        environment="development",
        database_url=url,
        key_file=tmp / "bench.keys",
        brand_config=tmp / "absent.toml",
    )
    store = open_store(settings, brand=bench_brand())
    try:
        migrate.upgrade(store.engine)
        started = time.perf_counter()
        load_store(store, tables)
        print(f"  loaded in {time.perf_counter() - started:.1f} s (not timed)", flush=True)
        figures: dict[str, float] = {}
        for label, as_of in (("first evaluation", AS_OF), ("second evaluation", NEXT_DAY)):
            seconds, members, entered, exited = evaluate(store, as_of)
            figures[label] = seconds
            verdict = "meets" if seconds < TARGET_SECONDS else "MISSES"
            print(
                f"  {label:18s} {seconds:7.3f} s  ({members:,} members, {entered:,} entered, "
                f"{exited:,} exited; target {TARGET_SECONDS:g} s: {verdict})",
                flush=True,
            )
        with unit_of_work(store) as session:
            stored = session.scalar(
                select(func.count()).where(SegmentMembership.exited_at.is_(None))
            )
        print(f"  open memberships stored: {stored:,}")
        return figures
    finally:
        store.engine.dispose()


def postgres_sql(statement: str) -> str:
    """bench_segments' SQLite SQL in PostgreSQL's words: boolean sums, least and greatest."""
    return (
        statement.replace("sum(occurred_at >= ", "count(*) FILTER (WHERE occurred_at >= ")
        .replace("min(usual * 4, 365)", "least(usual * 4, 365)")
        .replace("max(coalesce(", "greatest(coalesce(")
        .replace("FROM s_history)", "FROM s_history) AS h")
    )


def run_sql_postgres(
    url: str, people: pl.DataFrame, purchases: pl.DataFrame, answers: pl.DataFrame, repeat: int
) -> dict[str, float]:
    """The SQLite baseline's tables and statements on PostgreSQL, best of ``repeat``."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as db:
        epoch = purchases.select(
            "customer_id", pl.col("occurred_at").dt.epoch("s").alias("occurred_at"), "amount"
        )
        items = answers.columns[2:]
        ddl = (
            "CREATE TABLE customers (customer_id bigint PRIMARY KEY, plan text, age real);"
            "CREATE TABLE purchases (customer_id bigint, occurred_at bigint, amount real);"
            "CREATE TABLE answers (customer_id bigint PRIMARY KEY, is_user boolean, "
            + ", ".join(f"{name} real" for name in items)
            + ")"
        )
        for statement in ddl.split(";"):
            db.execute(statement)
        frames = {
            "customers": people.rename({"trait__plan": "plan", "trait__age": "age"}),
            "purchases": epoch,
            "answers": answers,
        }
        with db.cursor() as cursor:
            for table, frame in frames.items():
                for chunk in frame.iter_slices(1_000_000):
                    buffer = io.BytesIO()
                    chunk.write_csv(buffer, include_header=False)
                    with cursor.copy(f"COPY {table} FROM STDIN WITH (FORMAT csv)") as copy:
                        copy.write(buffer.getvalue())
        db.execute("CREATE INDEX purchases_customer ON purchases (customer_id, occurred_at)")
        db.execute("ANALYZE")
        shim = _PostgresShim(db)
        best, _ = run_sql(shim, repeat)  # type: ignore[arg-type]
    return best


class _PostgresShim:
    """Just enough of sqlite3.Connection for ``run_sql``: execute with the SQL translated."""

    def __init__(self, db: Any) -> None:
        self._db = db

    def execute(self, statement: str) -> Any:
        return self._db.execute(postgres_sql(statement))


def print_sql(label: str, figures: dict[str, float], ours: dict[str, float]) -> None:
    total = sum(figures.values())
    print(f"  {label}: " + ", ".join(f"{k} {v:.3f} s" for k, v in figures.items()))
    for step, seconds in ours.items():
        print(f"  total {total:7.3f} s; ratio SQL / Regard's {step}: {total / seconds:5.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each SQL baseline")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--no-sql", action="store_true", help="skip the SQL baselines")
    args = parser.parse_args()

    started = time.perf_counter()
    people, purchases, answers = build_data(
        customers=args.customers, events=args.events, seed=args.seed
    )
    tables = rows_to_load(people, purchases, answers)
    print(
        f"data: {people.height:,} customers, {purchases.height:,} purchase events, "
        f"{answers.height:,} commitment responses, built in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="regard-bench-store-") as name:
        tmp = Path(name)
        print("regard on sqlite, evaluate_segments from the store to stored memberships:")
        results["sqlite"] = run_store(f"sqlite:///{tmp / 'regard.db'}", tmp, tables)
        if not args.no_sql:
            db = load_sqlite(tmp / "baseline.db", people, purchases, answers)
            sql, _ = run_sql(db, args.repeat)
            db.close()
            print_sql("sqlite SQL baseline", sql, results["sqlite"])
        if not args.no_postgres:
            with bench_postgres(BENCH_DATABASE) as url:
                if url is not None:
                    print("regard on postgresql, evaluate_segments from the store:")
                    results["postgresql"] = run_store(url, tmp, tables)
                    if not args.no_sql:
                        drop_regard_schema(url)
                        pg = run_sql_postgres(url, people, purchases, answers, args.repeat)
                        print_sql("postgresql SQL baseline", pg, results["postgresql"])
    print(f"(one day is {DAY} s; as_of {AS_OF.isoformat()} then {NEXT_DAY.isoformat()})")


def drop_regard_schema(url: str) -> None:
    """The store's tables share names with the baseline's: drop Regard's schema first."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as db:
        db.execute("DROP SCHEMA public CASCADE")
        db.execute("CREATE SCHEMA public")


if __name__ == "__main__":
    main()
