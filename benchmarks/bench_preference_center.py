"""The preference center under load, on loopback against the embedded SQLite store.

Builds a store of customers (each with some consent history already in the ledger), serves it
with ``regard serve`` in its own process, and drives three workloads from this process:

* ``page``: GET of the preference page through a signed link;
* ``save``: POST of the page's form (a real change, so the ledger grows on every save);
* ``unsubscribe``: the RFC 8058 one-click POST.

For each: the maximum throughput with 100 concurrent clients (closed loop), then latency at a
fixed offered load (open loop: request *i* is due at ``start + i / rate`` and its latency counts
from that moment, so a slow answer delays nothing it should not hide). The baseline is the same
server's ``/healthz``: the cost of HTTP, the framework and the load generator, with no database.
The target is p95 under 50 ms at 200 requests a second, with no errors. The server runs as
``regard serve --workers N`` with one worker per core, as recommended for production; the load
generator shares the same machine.

    python benchmarks/bench_preference_center.py
    python benchmarks/bench_preference_center.py --customers 20000 --seconds 30 --rate 200
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import polars as pl
from sqlalchemy import select

from regard import runtime
from regard.config import Settings
from regard.customers.importers import import_file
from regard.customers.models import Customer
from regard.demo.generator import BRAND_CONFIG
from regard.preferences import links, service
from regard.preferences.service import ConsentChange, Origin, SettingChange
from regard.store import migrate
from regard.store.database import open_store, unit_of_work

TARGET_P95_MS = 50.0
ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    form: list[tuple[str, str]] | dict[str, str] | None = None


@dataclass
class Figures:
    sent: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def throughput(self) -> float:
        return (self.sent - self.errors) / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _environment(directory: Path) -> dict[str, str]:
    return {
        **os.environ,
        "REGARD_DATABASE_URL": f"sqlite:///{directory / 'regard.db'}",
        "REGARD_BRAND_CONFIG": str(directory / "regard.toml"),
        "REGARD_MAIL_DIR": str(directory / "mail"),
    }


def build_store(directory: Path, *, customers: int) -> tuple[list[str], list[str]]:
    """Customers with a consent history; returns center and unsubscribe tokens, one each."""
    os.environ.update(_environment(directory))
    (directory / "regard.toml").write_bytes(BRAND_CONFIG.read_bytes())
    store = open_store(Settings())
    migrate.upgrade(store.engine)
    runtime.use_store(store)
    people = directory / "customers.csv"
    pl.select(n=pl.int_range(0, customers)).select(
        external_id=pl.format("c{}", pl.col("n")),
        email=pl.format("member{}@example.com", pl.col("n")),
        first_name=pl.lit("Sam"),
    ).write_csv(people)
    import_file(store, people, kind="customers", source="shop")
    center: list[str] = []
    unsubscribe: list[str] = []
    start = datetime.now(UTC) - timedelta(days=400)
    rng = random.Random(11)
    with unit_of_work(store) as session:
        ids = list(session.scalars(select(Customer.id).order_by(Customer.id)))
    for offset in range(0, len(ids), 500):
        with unit_of_work(store) as session:
            for customer_id in ids[offset : offset + 500]:
                service.record(
                    session,
                    customer_id,
                    brand=store.brand,
                    origin=Origin(
                        source="import",
                        actor="import:crm",
                        occurred_at=start + timedelta(days=rng.randint(0, 300)),
                    ),
                    consents=[
                        ConsentChange("product-news", "email", "opted-in"),
                        ConsentChange("offers:camping", "email", "opted-in"),
                    ],
                )
                service.record(
                    session,
                    customer_id,
                    brand=store.brand,
                    origin=Origin(source="center", actor="customer"),
                    settings=[SettingChange("frequency", "weekly")],
                )
                center.append(links.issue(session, customer_id, purpose="center"))
                unsubscribe.append(
                    links.issue(
                        session,
                        customer_id,
                        purpose="unsubscribe",
                        topic="offers:camping",
                        channel="email",
                    )
                )
    store.engine.dispose()
    return center, unsubscribe


def save_form(rng: random.Random) -> list[tuple[str, str]]:
    """What the page submits when a customer ticks a few boxes and changes their timing."""
    form = {
        "action": "save",
        "frequency": rng.choice(["as-it-happens", "daily", "weekly", "monthly"]),
        "quiet_start": "21:00",
        "quiet_end": "08:00",
        "time_zone": "Europe/Amsterdam",
        "consent:orders:email": "on",
        "consent:service:email": "on",
    }
    for topic in ("product-news", "offers:camping", "offers:footwear", "events"):
        if rng.random() < 0.5:
            form[f"consent:{topic}:email"] = "on"
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    return [*form.items(), *(("days", day) for day in days[: rng.randint(2, 7)])]


async def _send(session: aiohttp.ClientSession, base: str, request: Request) -> bool:
    async with session.request(
        request.method, base + request.path, data=request.form, allow_redirects=False
    ) as response:
        await response.read()
        return response.status < 400


async def closed_loop(
    base: str, make: Callable[[int], Request], *, clients: int, seconds: float
) -> Figures:
    latencies: list[float] = []
    errors = 0
    sent = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client() -> None:
            nonlocal errors, sent
            while time.perf_counter() < deadline:
                request = make(sent)
                sent += 1
                began = time.perf_counter()
                try:
                    ok = await _send(session, base, request)
                except aiohttp.ClientError:
                    ok = False
                latencies.append((time.perf_counter() - began) * 1000)
                errors += not ok

        began = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        return Figures(sent, errors, time.perf_counter() - began, latencies)


async def open_loop(
    base: str, make: Callable[[int], Request], *, rate: float, seconds: float
) -> Figures:
    total = int(rate * seconds)
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter() + 0.2

        async def one(index: int) -> None:
            nonlocal errors
            due = start + index / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                ok = await _send(session, base, make(index))
            except aiohttp.ClientError:
                ok = False
            latencies.append((time.perf_counter() - due) * 1000)
            errors += not ok

        await asyncio.gather(*(one(i) for i in range(total)))
        return Figures(total, errors, time.perf_counter() - start, latencies)


def _wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    import urllib.request

    for _ in range(300):
        if process.poll() is not None:
            raise SystemExit("the server stopped while starting")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1):  # noqa: S310
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=30.0, help="open-loop duration")
    parser.add_argument("--burst-seconds", type=float, default=10.0, help="closed-loop duration")
    parser.add_argument(
        "--save-rates",
        type=lambda text: [float(r) for r in text.split(",") if r],
        default=[100.0, 150.0],
        help="lower offered loads for the save (comma-separated)",
    )
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="server processes (one per core)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="regard-bench-center-") as tmp:
        directory = Path(tmp)
        began = time.perf_counter()
        center, unsubscribe = build_store(directory, customers=args.customers)
        print(
            f"store: {args.customers:,} customers with consent history, "
            f"built in {time.perf_counter() - began:.1f} s"
        )
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("regard")),
                "serve",
                "--port",
                str(port),
                "--workers",
                str(args.workers),
            ],
            env={**_environment(directory), "REGARD_ENVIRONMENT": "development"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_until_up(base, server)
            rng = random.Random(5)
            workloads: dict[str, Callable[[int], Request]] = {
                "healthz (baseline)": lambda i: Request("GET", "/healthz"),
                "page": lambda i: Request("GET", f"/p/{rng.choice(center)}"),
                "save": lambda i: Request("POST", f"/p/{rng.choice(center)}", save_form(rng)),
                "unsubscribe": lambda i: Request(
                    "POST", f"/u/{rng.choice(unsubscribe)}", ONE_CLICK
                ),
            }
            results: dict[str, tuple[Figures, Figures]] = {}
            for name, make in workloads.items():
                burst = asyncio.run(
                    closed_loop(base, make, clients=args.clients, seconds=args.burst_seconds)
                )
                steady = asyncio.run(open_loop(base, make, rate=args.rate, seconds=args.seconds))
                results[name] = (burst, steady)
                print(
                    f"{name:<20} max {burst.throughput:8,.0f} req/s ({args.clients} clients, "
                    f"{burst.errors} errors) | at {args.rate:.0f} req/s for {args.seconds:.0f} s: "
                    f"p50 {steady.percentile(50):6.1f} ms  p95 {steady.percentile(95):6.1f} ms  "
                    f"p99 {steady.percentile(99):6.1f} ms  errors {steady.errors}",
                    flush=True,
                )
            # Where the save's latency turns: the same open loop at lower offered loads.
            for rate in args.save_rates:
                steady = asyncio.run(
                    open_loop(base, workloads["save"], rate=rate, seconds=args.seconds)
                )
                print(
                    f"{'save':<20} at {rate:.0f} req/s for {args.seconds:.0f} s: "
                    f"p50 {steady.percentile(50):6.1f} ms  p95 {steady.percentile(95):6.1f} ms  "
                    f"p99 {steady.percentile(99):6.1f} ms  errors {steady.errors}",
                    flush=True,
                )
        finally:
            server.terminate()
            server.wait(timeout=30)
        floor = results["healthz (baseline)"][0].throughput
        print()
        for name, (burst, steady) in results.items():
            if name.startswith("healthz"):
                continue
            p95 = steady.percentile(95)
            verdict = "meets" if p95 < TARGET_P95_MS and steady.errors == 0 else "MISSES"
            print(
                f"{name:<12} throughput {burst.throughput / floor:5.2f}x of the baseline; "
                f"p95 {p95:.1f} ms = {p95 / TARGET_P95_MS:.2f}x the 50 ms target ({verdict})"
            )


if __name__ == "__main__":
    main()
