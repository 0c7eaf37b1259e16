"""Bulk import of events: Regard's importer against a naive one-ORM-insert-per-row baseline.

Builds its own data (customers, then an events CSV referring to them), imports it into a fresh
SQLite file and a fresh PostgreSQL database, and prints rows per second, peak memory and the
ratio to the baseline. Each import runs in a child process so that its peak memory is its own.

    python benchmarks/bench_import.py                 # 1,000,000 events
    python benchmarks/bench_import.py --rows 5000000  # the peak-memory run
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

TARGETS = {"sqlite": 100_000, "postgresql": 50_000}
POSTGRES_ADMIN = "host=127.0.0.1 user=postgres dbname=postgres connect_timeout=3"


def build_data(directory: Path, *, customers: int, rows: int) -> tuple[Path, Path]:
    """A customers file and an events file in the importers' CSV form."""
    customer_file = directory / "customers.csv"
    pl.select(id=pl.int_range(0, customers)).select(
        external_id=pl.col("id").cast(pl.String).str.pad_start(7, "0"),
        email=pl.format("member{}@example.com", pl.col("id")),
        loyalty_tier=pl.when(pl.col("id") % 3 == 0)
        .then(pl.lit("gold"))
        .otherwise(pl.lit("silver")),
    ).write_csv(customer_file)
    event_file = directory / "events.csv"
    chunk = 1_000_000
    types = pl.Series(["order_completed", "page_viewed", "order_ready"])
    categories = pl.Series(["tents", "boots", "jackets", "packs"])
    with event_file.open("wb") as handle:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            seq = pl.col("seq")
            frame = pl.select(seq=pl.int_range(start, start + n)).select(
                external_id=((seq * 7_919) % customers).cast(pl.String).str.pad_start(7, "0"),
                type=seq.mod(3).replace_strict(
                    dict(enumerate(types.to_list())), return_dtype=pl.String
                ),
                occurred_at=(
                    pl.datetime(2024, 1, 1, time_zone="UTC")
                    + pl.duration(seconds=seq * 13 % 60_000_000)
                ).dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
                message_id=pl.format("evt-{}", seq),
                amount=((seq * 37) % 20_000) / 100,
                sku_category=seq.mod(4).replace_strict(
                    dict(enumerate(categories.to_list())), return_dtype=pl.String
                ),
            )
            frame.write_csv(handle, include_header=start == 0)
    return customer_file, event_file


def fresh_database(kind: str, directory: Path, tag: str) -> str | None:
    if kind == "sqlite":
        return f"sqlite:///{directory / f'{tag}.db'}"
    try:
        import psycopg

        name = f"regard_bench_{tag}"
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {name}")
    except Exception as exc:
        print(f"  (PostgreSQL unavailable: {exc})")
        return None
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def child(args: argparse.Namespace) -> None:
    """Runs in its own process: one import (or the baseline), figures printed as JSON."""
    from regard.config import Settings
    from regard.customers.importers import import_file
    from regard.store import migrate
    from regard.store.database import open_store

    directory = Path(args.dir)
    store = open_store(Settings(database_url=args.url, key_file=directory / "bench.keys"))
    migrate.upgrade(store.engine)
    loaded = import_file(store, Path(args.customers), kind="customers", source="shop")
    started = time.perf_counter()
    if args.mode == "regard":
        summary = import_file(store, Path(args.events), kind="events", source="shop")
        imported, rows = summary.imported, summary.rows
    else:
        imported = rows = naive_import(store, Path(args.events), limit=args.limit)
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "rows": rows,
                "imported": imported,
                "seconds": seconds,
                "peak_mib": peak_kib / 1024,
                "customers": loaded.created,
            }
        )
    )


def naive_import(store: object, path: Path, *, limit: int) -> int:
    """The baseline: read a row, look its customer up, one ORM insert, flush; commit at the end."""
    import csv
    from datetime import UTC, datetime

    from regard.customers.identities import external_claim
    from regard.customers.models import Event, Identity
    from regard.store.database import Store, unit_of_work

    assert isinstance(store, Store)
    count = 0
    with path.open(encoding="utf-8", newline="") as handle, unit_of_work(store) as session:
        for record in csv.DictReader(handle):
            identity = external_claim(record["external_id"], default_namespace="shop")
            customer_id = (
                session.query(Identity.customer_id)
                .filter(Identity.lookup == identity.lookup(store.vault))
                .scalar()
            )
            session.add(
                Event(
                    customer_id=customer_id,
                    type=record["type"],
                    occurred_at=datetime.fromisoformat(record["occurred_at"]),
                    received_at=datetime.now(UTC),
                    source="shop",
                    message_id=record["message_id"],
                    properties={
                        "amount": float(record["amount"]),
                        "sku_category": record["sku_category"],
                    },
                )
            )
            session.flush()
            count += 1
            if count >= limit:
                break
    return count


def run_child(
    mode: str, url: str, directory: Path, customers: Path, events: Path, limit: int
) -> dict[str, float]:
    output = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            "--mode",
            mode,
            "--url",
            url,
            "--dir",
            str(directory),
            "--customers-file",
            str(customers),
            "--events",
            str(events),
            "--limit",
            str(limit),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--baseline-rows", type=int, default=20_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--mode")
    parser.add_argument("--url")
    parser.add_argument("--dir")
    parser.add_argument("--customers-file", dest="customers_file")
    parser.add_argument("--events")
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()
    if args.child:
        args.customers = args.customers_file
        child(args)
        return
    with tempfile.TemporaryDirectory(prefix="regard-bench-") as tmp:
        directory = Path(tmp)
        started = time.perf_counter()
        customers, events = build_data(directory, customers=args.customers, rows=args.rows)
        size_mib = events.stat().st_size / 2**20
        print(
            f"data: {args.customers:,} customers, {args.rows:,} events "
            f"({size_mib:,.0f} MiB CSV) built in {time.perf_counter() - started:.1f} s"
        )
        for kind in args.databases.split(","):
            url = fresh_database(kind, directory, "regard")
            if url is None:
                continue
            ours = run_child("regard", url, directory, customers, events, 0)
            base_url = fresh_database(kind, directory, "naive")
            assert base_url is not None
            naive = run_child("naive", base_url, directory, customers, events, args.baseline_rows)
            ours_rate = ours["rows"] / ours["seconds"]
            naive_rate = naive["rows"] / naive["seconds"]
            verdict = "meets" if ours_rate >= TARGETS[kind] else "MISSES"
            print(
                f"{kind:10s} regard: {ours['rows']:,.0f} rows in {ours['seconds']:.1f} s = "
                f"{ours_rate:,.0f} rows/s (target {TARGETS[kind]:,}: {verdict}), "
                f"peak {ours['peak_mib']:,.0f} MiB\n"
                f"{'':10s} naive ORM, one insert per row: {naive['rows']:,.0f} rows in "
                f"{naive['seconds']:.1f} s = {naive_rate:,.0f} rows/s\n"
                f"{'':10s} ratio: {ours_rate / naive_rate:,.1f}x"
            )


if __name__ == "__main__":
    main()
