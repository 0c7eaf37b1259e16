"""Generating the demo brand: Regard's column-wise generator against a naive per-row one.

Generates the demo into a temporary directory (1,000,000 customers and about 10,000,000 events
by default) in a child process, so that its peak memory is its own, and prints the time, rows per
second, file sizes, peak memory and the ratio to a baseline: the same kinds of rows made one at a
time with ``random``, ``datetime``, ``zoneinfo``, ``uuid``, ``phonenumbers`` and ``csv``, timed
on a sample of customers and extrapolated linearly.

    python benchmarks/bench_demo_generate.py                       # 1,000,000 customers
    python benchmarks/bench_demo_generate.py --customers 100000
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import phonenumbers

TARGET_SECONDS = 60.0
TARGET_CUSTOMERS = 1_000_000


def child(directory: Path, customers: int, seed: int) -> None:
    """Runs in its own process: one generation, its figures printed as JSON."""
    from regard.demo.generator import generate

    started = time.perf_counter()
    manifest = generate(directory, customers=customers, seed=seed)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "seconds": seconds,
                "customer_rows": manifest.customer_rows,
                "events": manifest.events,
                "bytes": sum(f.path.stat().st_size for f in manifest.files),
                "files": {f.path.name: f.rows for f in manifest.files},
                "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def naive(directory: Path, customers: int, *, events_per_customer: int) -> float:
    """The obvious way: one person, one phone check, one formatted timestamp at a time."""
    from regard.demo import catalogue

    rng = random.Random(7)
    countries = catalogue.COUNTRIES
    weights = [c.weight for c in countries]
    started = time.perf_counter()
    with (
        (directory / "naive_customers.csv").open("w", newline="") as people_file,
        (directory / "naive_events.csv").open("w", newline="") as events_file,
    ):
        people = csv.writer(people_file)
        events = csv.writer(events_file)
        people.writerow(["external_id", "email", "phone", "first_name", "last_name", "city"])
        events.writerow(["message_id", "type", "occurred_at", "external_id", "url", "amount"])
        message = 0
        for person in range(customers):
            country = rng.choices(countries, weights)[0]
            city = rng.choice(country.cities)
            first, last = rng.choice(country.first_names), rng.choice(country.last_names)
            local = f"{catalogue.ascii_slug(first)}.{catalogue.ascii_slug(last)}{person}"
            email = f"{local}@example.com"
            example = phonenumbers.example_number_for_type(
                country.code, phonenumbers.PhoneNumberType.MOBILE
            )
            assert example is not None
            national = phonenumbers.national_significant_number(example)
            while True:
                candidate = national[:-6] + f"{rng.randrange(10**6):06d}"
                number = phonenumbers.parse(candidate, country.code)
                if phonenumbers.is_valid_number(number):
                    break
            phone = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            people.writerow([1_000_000 + person, email, phone, first, last, city.name])
            zone = ZoneInfo(city.time_zone)
            cookie = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            for _ in range(events_per_customer):
                message += 1
                moment = datetime.fromtimestamp(rng.randrange(1_730_000_000, 1_793_000_000), zone)
                kind = rng.choice(("page_viewed", "page_viewed", "order_completed"))
                amount = round(rng.lognormvariate(4.2, 0.8), 2) if kind != "page_viewed" else ""
                events.writerow(
                    [
                        f"shop-{message}",
                        kind,
                        moment.isoformat(),
                        cookie,
                        f"{catalogue.SHOP_URL}/p/tents/{rng.randrange(1000, 1300)}",
                        amount,
                    ]
                )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=TARGET_CUSTOMERS)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sample", type=int, default=5_000, help="customers in the baseline")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.customers, args.seed)
        return

    with tempfile.TemporaryDirectory(prefix="bench-demo-") as temporary:
        directory = Path(temporary)
        result = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                str(directory / "demo"),
                "--customers",
                str(args.customers),
                "--seed",
                str(args.seed),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        ours = json.loads(result.stdout.strip().splitlines()[-1])
        per_customer = round(ours["events"] / args.customers)
        sample = min(args.sample, args.customers)
        naive_seconds = naive(directory, sample, events_per_customer=per_customer)

    seconds = ours["seconds"]
    rows = ours["customer_rows"] + ours["events"]
    baseline = naive_seconds * args.customers / sample
    print(f"demo generation: {args.customers:,} customers, seed {args.seed}")
    for name, count in ours["files"].items():
        print(f"  {name:<26} {count:>12,} rows")
    print(
        f"  ours:     {seconds:8.1f} s  {rows / seconds:>12,.0f} rows/s  "
        f"({ours['customer_rows']:,} customer rows + {ours['events']:,} events, "
        f"{ours['bytes'] / 1e9:.2f} GB written, peak {ours['peak_mb']:,.0f} MB)"
    )
    print(
        f"  baseline: {baseline:8.1f} s  {rows / baseline:>12,.0f} rows/s  "
        f"(naive per-row Python, {sample:,} customers timed in {naive_seconds:.1f} s, "
        f"extrapolated)"
    )
    print(f"  ratio:    {baseline / seconds:,.1f}x faster than the baseline")
    if args.customers >= TARGET_CUSTOMERS:
        verdict = "meets" if seconds < TARGET_SECONDS else "MISSES"
        print(
            f"  target:   under {TARGET_SECONDS:.0f} s for {TARGET_CUSTOMERS:,} customers: "
            f"{verdict}"
        )


if __name__ == "__main__":
    main()
