"""Workers as real processes against a real SMTP server: killed with SIGKILL in the middle of
a batch and restarted, every message arrives and none twice, except the sends the kill left
ambiguous, which the outbox marks and ``regard worker --report`` lists; on PostgreSQL, the
database stopped and started under running workers loses and duplicates nothing."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from regard.config import load_brand_config
from regard.decisions.models import OutboxMessage
from regard.delivery import outbox
from regard.messages.render import message_id
from regard.store import migrate
from regard.store.database import Store, open_store, unit_of_work
from tests.conftest import _truncate, make_settings
from tests.fault.smtp_sink import Sink, smtp_sink
from tests.fault.support import add_customers, queue

pytestmark = pytest.mark.slow

MESSAGES = 300
BATCH = 25
TEMPLATE = """\
{% block subject %}Your order is ready{% endblock %}
{% block html %}<p>{{ greeting }}, your order is ready to collect.</p>{% endblock %}
{% block text %}{{ greeting }}, your order is ready to collect.{% endblock %}
"""


def brand_toml(*, ambiguous: str, lease: str) -> str:
    return f"""\
name = "Test Outfitters"
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
sender = "Test Outfitters <shop@example.com>"

[delivery]
batch_size = {BATCH}
lease = {lease}

[delivery.retry]
ambiguous = "{ambiguous}"
"""


class Shop:
    """A brand on disk, its store, and ``regard worker`` processes on it."""

    def __init__(self, tmp_path: Path, database_url: str, *, ambiguous: str, lease: str) -> None:
        self.tmp_path = tmp_path
        settings = make_settings(database_url, tmp_path)
        settings.brand_config.write_text(brand_toml(ambiguous=ambiguous, lease=lease), "utf-8")
        (tmp_path / "templates").mkdir()
        (tmp_path / "templates" / "order-ready-email.email.jinja").write_text(TEMPLATE, "utf-8")
        self.store: Store = open_store(settings, brand=load_brand_config(settings.brand_config))
        if self.store.dialect == "sqlite":
            migrate.upgrade(self.store.engine)
        else:
            _truncate(self.store.engine)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("REGARD_")},
            "REGARD_ENVIRONMENT": "test",
            "REGARD_DATABASE_URL": database_url,
            "REGARD_ENCRYPTION_KEYS": settings.encryption_keys.get_secret_value(),
            "REGARD_BLIND_INDEX_KEY": settings.blind_index_key.get_secret_value(),
            "REGARD_BRAND_CONFIG": str(settings.brand_config),
            "REGARD_SMTP_HOST": "127.0.0.1",
        }
        self.processes: list[subprocess.Popen[str]] = []

    def queue(self) -> dict[str, int]:
        """MESSAGES messages due now; their ids by Message-ID."""
        ids = queue(self.store, add_customers(self.store, MESSAGES), now=datetime.now(UTC))
        with unit_of_work(self.store) as session:
            keys = dict(
                session.execute(
                    select(OutboxMessage.idempotency_key, OutboxMessage.id).where(
                        OutboxMessage.id.in_(ids)
                    )
                ).all()
            )
        sender = self.store.brand.messages.sender
        return {message_id(k, sender=sender, vault=self.store.vault): i for k, i in keys.items()}

    def start(self, port: int, *args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "regard"), "worker", *args],
            env={**self.env, "REGARD_SMTP_PORT": str(port)},
            cwd=self.tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.processes.append(process)
        return process

    def run(self, port: int, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(Path(sys.executable).parent / "regard"), "worker", *args],
            env={**self.env, "REGARD_SMTP_PORT": str(port)},
            cwd=self.tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def statuses(self) -> dict[str, int]:
        with unit_of_work(self.store) as session:
            return outbox.status_counts(session)

    def ambiguous(self) -> set[int]:
        with unit_of_work(self.store) as session:
            return {m.id for m in outbox.ambiguous(session, limit=10_000)}

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=10)
        self.store.engine.dispose()


@pytest.fixture
def shop_factory(tmp_path: Path, database_url: str) -> Iterator[Callable[..., Shop]]:
    made: list[Shop] = []

    def make(*, ambiguous: str, lease: str) -> Shop:
        made.append(Shop(tmp_path, database_url, ambiguous=ambiguous, lease=lease))
        return made[-1]

    yield make
    for shop in made:
        shop.close()


def wait_for(condition: object, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.mark.parametrize("ambiguous", ["at-least-once", "at-most-once"])
def test_a_worker_killed_mid_batch(shop_factory: Callable[..., Shop], ambiguous: str) -> None:
    shop = shop_factory(ambiguous=ambiguous, lease="2")
    by_message_id = shop.queue()
    sink = Sink(delay=0.004)
    with smtp_sink(sink) as port:
        first = shop.start(port, "--poll", "100ms")
        wait_for(lambda: sink.total() >= 3 * BATCH + 7, timeout=40, what="the first sends")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        in_flight = shop.statuses().get("sending", 0)
        time.sleep(2.2)  # the dead worker's lease runs out
        again = shop.run(port, "--once")
        assert again.returncode == 0, again.stderr
        report = shop.run(port, "--report")
    assert report.returncode == 0, report.stderr

    statuses = shop.statuses()
    ambiguous_ids = shop.ambiguous()
    received = sink.received
    assert set(received) <= set(by_message_id)
    assert len(ambiguous_ids) == in_flight <= BATCH
    assert f"{in_flight} ambiguous" in again.stdout
    for listed in ambiguous_ids:
        assert str(listed) in report.stdout
    twice = {by_message_id[m] for m, count in received.items() if count > 1}
    assert twice <= ambiguous_ids
    assert max(received.values()) <= 2
    never = {i for m, i in by_message_id.items() if m not in received}
    if ambiguous == "at-least-once":
        # Every message arrived; a copy, if any, carries the same Message-ID as the original.
        assert statuses == {"sent": MESSAGES}
        assert never == set()
    else:
        assert statuses == {
            "sent": MESSAGES - in_flight,
            **({"ambiguous": in_flight} if in_flight else {}),
        }
        assert twice == set()
        assert never <= ambiguous_ids


def _postgres_cluster() -> list[str] | None:
    if os.geteuid() != 0 or shutil.which("pg_ctlcluster") is None:
        return None
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    return (
        ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main"] if versions else None
    )


def test_workers_ride_out_a_postgresql_restart(
    shop_factory: Callable[..., Shop], database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("restarting the database is a PostgreSQL test")
    cluster = _postgres_cluster()
    if cluster is None:
        pytest.skip("restarting PostgreSQL needs root and pg_ctlcluster on this machine")
    shop = shop_factory(ambiguous="at-least-once", lease="30")
    by_message_id = shop.queue()
    sink = Sink(delay=0.004)
    with smtp_sink(sink) as port:
        workers = [shop.start(port, "--poll", "100ms") for _ in range(2)]
        wait_for(lambda: sink.total() >= 2 * BATCH, timeout=40, what="the first sends")
        try:
            subprocess.run([*cluster, "stop"], check=True, timeout=60)
            time.sleep(1.5)
        finally:
            subprocess.run([*cluster, "start"], check=True, timeout=60)
        wait_for(
            lambda: shop.statuses() == {"sent": MESSAGES}, timeout=50, what="every message sent"
        )
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        outputs = [worker.communicate(timeout=20) for worker in workers]

    assert [worker.returncode for worker in workers] == [0, 0], outputs
    assert set(sink.received) == set(by_message_id)
    assert shop.ambiguous() == set(), [err[-3000:] for _, err in outputs]
    assert max(sink.received.values()) == 1, [err[-3000:] for _, err in outputs]
    assert all("sent" in out for out, _ in outputs)
