"""Delivery throughput: emails rendered and sent per second by delivery workers to a local SMTP
server (aiosmtpd) that discards them, and, in the same run, the naive baseline: each message on
a new SMTP connection.

- The SMTP sink runs in a process of its own (an in-process server would compete with the
  worker for the interpreter); it counts what it accepts.
- N messages (``--messages``) are queued in the outbox, one transactional email each to a
  customer of its own (orders need no marketing consent), rendered with the demo brand's
  order-ready template (a styled HTML frame with CSS to inline, a plain-text part, signed
  preference and unsubscribe links).
- Workers run as processes of their own (``regard``'s own ``Worker``, SMTP channel and batch
  renderer), started and ready before the clock starts: the time is from "go" to the outbox
  drained, start-up excluded. One worker on SQLite; 1, 2 and 4 workers on PostgreSQL (a fresh
  database of its own, dropped afterwards).
- The baseline sends the same rendered messages (rendered beforehand, not timed), each on a new
  ``smtplib`` connection, in one process.

Target: at least 500 emails/s with one worker.

    python benchmarks/bench_delivery.py --messages 20000
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scratch_postgres import bench_postgres

TARGET = 500.0
BENCH_DATABASE = "regard_bench_delivery"
TEMPLATES = Path(__file__).resolve().parents[1] / "src" / "regard" / "demo" / "templates"

BRAND = """\
name = "Northwind Outfitters"
time_zone = "Europe/Amsterdam"
region = "NL"
channels = ["email"]
topics = [{{ key = "orders", label = "Your orders", importance = "transactional" }}]

[[touchpoints]]
name = "order_ready"
label = "Your order is ready to collect"
topic = "orders"
event = {{ event = "order_ready" }}
channels = [{{ channel = "email", content = "order-ready-email" }}]
deadline = "48h"
value = {{ default = 3.0 }}

[messages]
templates = "templates"
sender = "Northwind Outfitters <shop@northwind.example>"

[delivery]
batch_size = {batch}
lease = "10m"
"""


# The sink: its own process, discarding and counting.


def serve_sink() -> None:
    """Runs in the sink's process: prints its port, counts messages until SIGTERM, then prints
    the count."""
    import threading

    from aiosmtpd.controller import Controller
    from tests.fault.smtp_sink import free_port

    class Discard:
        def __init__(self) -> None:
            self.count = 0

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            self.count += 1
            return "250 OK"

    handler = Discard()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    print(port, flush=True)
    done.wait()
    controller.stop()
    print(handler.count, flush=True)


class SinkProcess:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--sink"], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())

    def cpu_seconds(self) -> float:
        """CPU time the sink has used (Linux; 0 elsewhere): shows when the sink is the limit."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=30)
        return int(out.strip() or 0)


# A worker: its own process, started and ready before the clock starts.


def serve_worker(batch: int) -> None:
    """Runs in a worker's process: builds the worker, says ready, waits for go, drains."""
    from regard.config import get_settings
    from regard.delivery.channels import registry
    from regard.delivery.commands import renderer_for
    from regard.delivery.worker import Worker
    from regard.runtime import store as open_runtime_store

    settings = get_settings()
    store = open_runtime_store()
    worker = Worker(
        store,
        channels=registry.channels_for(settings=settings, brand=store.brand),
        render=renderer_for(store, settings),
        options=store.brand.delivery.model_copy(update={"batch_size": batch}),
    )
    with store.engine.connect():
        pass  # the first connection is start-up too
    print("ready", flush=True)
    sys.stdin.readline()
    summary = worker.run(once=True)
    worker.close()
    print(f"{summary.sent} {summary.claimed} {summary.batches}", flush=True)


def drain(env: dict[str, str], folder: Path, processes: int, batch: int) -> tuple[float, int]:
    """Seconds from go to the outbox drained by ``processes`` workers, and messages sent."""
    workers = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", "--batch", str(batch)],
            env=env,
            cwd=folder,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    for worker in workers:
        assert worker.stdout is not None
        if worker.stdout.readline().strip() != "ready":
            raise RuntimeError("a worker did not start")
    started = time.perf_counter()
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    sent = 0
    for worker in workers:
        assert worker.stdout is not None
        sent += int(worker.stdout.readline().split()[0])
    seconds = time.perf_counter() - started
    for worker in workers:
        worker.wait()
    return seconds, sent


# The shop: customers, queued messages, the environment a worker reads.


class Shop:
    def __init__(self, url: str, folder: Path, *, customers: int, batch: int, port: int) -> None:
        from tests.conftest import make_settings

        from regard.config import load_brand_config
        from regard.store import migrate
        from regard.store.database import open_store

        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        settings = make_settings(url, folder)
        settings.brand_config.write_text(BRAND.format(batch=batch), "utf-8")
        shutil.copytree(TEMPLATES, folder / "templates", dirs_exist_ok=True)
        self.settings = settings
        self.store = open_store(settings, brand=load_brand_config(settings.brand_config))
        migrate.upgrade(self.store.engine)
        self.customers = add_customers(self.store, customers)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("REGARD_")},
            "REGARD_ENVIRONMENT": "test",
            "REGARD_DATABASE_URL": url,
            "REGARD_ENCRYPTION_KEYS": settings.encryption_keys.get_secret_value(),
            "REGARD_BLIND_INDEX_KEY": settings.blind_index_key.get_secret_value(),
            "REGARD_BRAND_CONFIG": str(settings.brand_config),
            "REGARD_SMTP_HOST": "127.0.0.1",
            "REGARD_SMTP_PORT": str(port),
        }

    def queue(self) -> None:
        from tests.fault.support import queue

        queue(self.store, self.customers, now=datetime.now(UTC))

    def sent(self) -> int:
        from regard.delivery import outbox
        from regard.store.database import unit_of_work

        with unit_of_work(self.store) as session:
            return outbox.status_counts(session).get("sent", 0)

    def rendered(self, count: int) -> list[tuple[str, str, bytes]]:
        """Envelope sender, recipient and wire bytes of ``count`` queued messages, rendered."""
        from email.utils import parseaddr

        from sqlalchemy import select

        from regard.decisions.models import OutboxMessage
        from regard.delivery.commands import renderer_for
        from regard.messages.content import EmailContent
        from regard.store.database import unit_of_work

        render = renderer_for(self.store, self.settings)
        with unit_of_work(self.store) as session:
            messages = session.scalars(
                select(OutboxMessage).where(OutboxMessage.status == "queued").limit(count)
            ).all()
            found = []
            for content in render(session, messages):
                assert isinstance(content, EmailContent)
                found.append(
                    (
                        parseaddr(content.sender)[1],
                        parseaddr(content.to)[1],
                        content.as_bytes(),
                    )
                )
        return found

    def close(self) -> None:
        self.store.engine.dispose()


def add_customers(store: Any, count: int) -> list[int]:
    """``count`` customers with an email address and a name that needs encoding."""
    from regard.customers.identities import claim
    from regard.customers.service import ProfileUpdate, Resolver
    from regard.store.database import unit_of_work

    ids = []
    with unit_of_work(store) as session:
        resolver = Resolver(session, vault=store.vault, brand=store.brand)
        for n in range(count):
            resolution = resolver.resolve(
                ProfileUpdate(
                    source="shop",
                    observed_at=datetime.now(UTC),
                    identities=(claim("email", f"zoe{n}@example.com", region="NL", source="shop"),),
                    traits={"first_name": "Zoë", "last_name": f"Müller {n}"},
                )
            )
            ids.append(resolution.customer_id)
        resolver.flush()
    return ids


def naive(messages: list[tuple[str, str, bytes]], port: int) -> float:
    """Emails/s with a new SMTP connection (connect, EHLO, send, QUIT) per message."""
    started = time.perf_counter()
    for sender, recipient, data in messages:
        with smtplib.SMTP("127.0.0.1", port, local_hostname="bench") as smtp:
            smtp.sendmail(sender, [recipient], data)
    return len(messages) / (time.perf_counter() - started)


def kept(messages: list[tuple[str, str, bytes]], port: int) -> float:
    """Emails/s with the same messages on one kept connection: SMTP alone, nothing rendered."""
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port, local_hostname="bench") as smtp:
        for sender, recipient, data in messages:
            smtp.sendmail(sender, [recipient], data)
    return len(messages) / (time.perf_counter() - started)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500, help="messages claimed at once")
    parser.add_argument("--baseline", type=int, default=3_000, help="messages in the baseline")
    parser.add_argument("--workers", default="1,2,4", help="PostgreSQL worker processes to time")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--sink", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        serve_sink()
        return
    if args.worker:
        serve_worker(args.batch)
        return

    print(f"{args.messages:,} messages, batch {args.batch}, {os.cpu_count()} cores")
    print(f"load average at start: {load()}")
    sink = SinkProcess()
    expected = 0
    results: dict[str, float] = {}
    baseline = 0.0
    try:
        with tempfile.TemporaryDirectory() as tmp:
            if not args.no_sqlite:
                shop = Shop(
                    f"sqlite:///{Path(tmp) / 'sqlite' / 'regard.db'}",
                    Path(tmp) / "sqlite",
                    customers=args.messages,
                    batch=args.batch,
                    port=sink.port,
                )
                shop.queue()
                busy = sink.cpu_seconds()
                seconds, sent = drain(shop.env, shop.folder, 1, args.batch)
                busy = sink.cpu_seconds() - busy
                expected += sent
                assert shop.sent() == args.messages, "the outbox was not drained"
                results["sqlite, 1 worker"] = sent / seconds
                print(
                    f"sqlite, 1 worker: {sent / seconds:,.0f} emails/s ({seconds:.1f} s, "
                    f"sink busy {busy / seconds:.0%})"
                )
                shop.close()
            if not args.no_postgres:
                with bench_postgres(BENCH_DATABASE) as url:
                    if url is not None:
                        shop = Shop(
                            url,
                            Path(tmp) / "postgresql",
                            customers=args.messages,
                            batch=args.batch,
                            port=sink.port,
                        )
                        shop.queue()
                        pending = shop.rendered(args.baseline)
                        baseline = naive(pending, sink.port)
                        busy = sink.cpu_seconds()
                        alone = kept(pending, sink.port)
                        busy = (sink.cpu_seconds() - busy) * alone / len(pending)
                        expected += 2 * len(pending)
                        print(
                            f"baseline, a new SMTP connection per message: {baseline:,.0f} "
                            f"emails/s ({len(pending):,} messages, rendered beforehand)"
                        )
                        print(
                            f"for scale, the same on one kept connection: {alone:,.0f} emails/s "
                            f"(SMTP alone, nothing rendered: {alone / baseline:.1f}x baseline; "
                            f"sink busy {busy:.0%})"
                        )
                        done = 0
                        for processes in (int(p) for p in args.workers.split(",")):
                            if done:
                                shop.queue()
                            busy = sink.cpu_seconds()
                            seconds, sent = drain(shop.env, shop.folder, processes, args.batch)
                            busy = sink.cpu_seconds() - busy
                            done += args.messages
                            expected += sent
                            assert shop.sent() == done, "the outbox was not drained"
                            label = f"postgresql, {processes} worker(s)"
                            results[label] = sent / seconds
                            print(
                                f"{label}: {sent / seconds:,.0f} emails/s ({seconds:.1f} s, "
                                f"sink busy {busy / seconds:.0%})"
                            )
                        shop.close()
    finally:
        received = sink.stop()
    print(f"load average at end: {load()}")
    print(f"the sink received {received:,} messages ({expected:,} expected)")
    one = results.get("postgresql, 1 worker(s)") or results.get("sqlite, 1 worker", 0.0)
    for label, rate in results.items():
        versus = f", {rate / baseline:.1f}x baseline" if baseline else ""
        print(f"  {label:<26} {rate:>7,.0f} emails/s ({rate / one:.2f}x one worker{versus})")
    best_one = max(
        (rate for label, rate in results.items() if label.endswith(("1 worker", "1 worker(s)"))),
        default=0.0,
    )
    verdict = "met" if best_one >= TARGET else "missed"
    print(f"target {TARGET:,.0f} emails/s with one worker: {verdict}")


if __name__ == "__main__":
    main()
