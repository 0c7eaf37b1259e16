"""Delivery throughput: emails rendered and sent per second by ``regard worker`` to a local SMTP
server (aiosmtpd) that discards them, on PostgreSQL with 1, 2 and 4 worker processes, and, in the
same run, the naive baseline: one new SMTP connection per message.

Builds N customers with email addresses, queues one transactional email each (orders need no
marketing consent), and times ``regard worker --once`` processes until the outbox is drained.
Target: at least 500 emails/s with one worker.

    python benchmarks/bench_delivery.py --customers 5000
"""

from __future__ import annotations

import argparse
import os
import smtplib
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import make_settings
from tests.fault.smtp_sink import Sink, smtp_sink
from tests.fault.support import add_customers, queue
from tests.fault.test_worker_crash import TEMPLATE, brand_toml

from regard.config import load_brand_config
from regard.store import migrate
from regard.store.database import open_store, unit_of_work

TARGET = 500.0
DATABASE = "regard_bench_delivery"


def fresh_postgres() -> str:
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        c.execute(f"CREATE DATABASE {DATABASE}")
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{DATABASE}"


def run(customers: int, processes: int, folder: Path, sink_port: int) -> float:
    url = fresh_postgres()
    settings = make_settings(url, folder)
    settings.brand_config.write_text(
        brand_toml(ambiguous="at-least-once", lease="300").replace(
            "batch_size = 25", "batch_size = 200"
        ),
        "utf-8",
    )
    (folder / "templates").mkdir(exist_ok=True)
    (folder / "templates" / "order-ready-email.email.jinja").write_text(TEMPLATE, "utf-8")
    store = open_store(settings, brand=load_brand_config(settings.brand_config))
    migrate.upgrade(store.engine)
    queue(store, add_customers(store, customers), now=datetime.now(UTC))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("REGARD_")},
        "REGARD_ENVIRONMENT": "test",
        "REGARD_DATABASE_URL": url,
        "REGARD_ENCRYPTION_KEYS": settings.encryption_keys.get_secret_value(),
        "REGARD_BLIND_INDEX_KEY": settings.blind_index_key.get_secret_value(),
        "REGARD_BRAND_CONFIG": str(settings.brand_config),
        "REGARD_SMTP_HOST": "127.0.0.1",
        "REGARD_SMTP_PORT": str(sink_port),
    }
    regard = str(Path(sys.executable).parent / "regard")
    started = time.perf_counter()
    workers = [
        subprocess.Popen(
            [regard, "worker", "--once"], env=env, cwd=folder, stdout=subprocess.DEVNULL
        )
        for _ in range(processes)
    ]
    for worker in workers:
        worker.wait()
    seconds = time.perf_counter() - started
    with unit_of_work(store) as session:
        from regard.delivery import outbox

        sent = outbox.status_counts(session).get("sent", 0)
    store.engine.dispose()
    return sent / seconds


def naive(messages: int, port: int) -> float:
    body = b"Subject: Your order is ready\r\nMessage-ID: <x@example.com>\r\n\r\nReady.\r\n"
    started = time.perf_counter()
    for _ in range(messages):
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.sendmail("shop@example.com", ["customer@example.com"], body)
    return messages / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=5000)
    args = parser.parse_args()
    sink = Sink(record=False)
    with smtp_sink(sink) as port, tempfile.TemporaryDirectory() as tmp:
        baseline = naive(min(args.customers, 2000), port)
        print(f"baseline, a new SMTP connection per message: {baseline:,.0f} emails/s")
        one = 0.0
        for processes in (1, 2, 4):
            folder = Path(tmp) / f"w{processes}"
            folder.mkdir()
            rate = run(args.customers, processes, folder, port)
            one = one or rate
            print(
                f"postgresql, {processes} worker process(es): {rate:,.0f} emails/s rendered and "
                f"sent ({rate / baseline:.2f}x baseline, {rate / one:.2f}x one worker)"
            )
        print(f"target {TARGET:,.0f} emails/s, one worker: {'met' if one >= TARGET else 'missed'}")


if __name__ == "__main__":
    main()
