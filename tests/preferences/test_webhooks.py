"""Webhooks: a consent change reaches a real HTTP receiver on loopback, signed, retried, once."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from regard.errors import InvalidInput, NotFound
from regard.preferences import service, webhooks
from regard.preferences.ledger import ConsentValue
from regard.preferences.models import WebhookDelivery
from regard.preferences.service import ConsentChange
from regard.store.database import Store, unit_of_work
from tests.cli import regard
from tests.preferences.support import CUSTOMER, new_customer

DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def document(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A downstream system: records every request and answers with the statuses it is told."""

    base_url: str = ""
    requests: list[Request] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    default: int = 200
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, request: Request) -> int:
        with self.lock:
            self.requests.append(request)
            return self.answers.pop(0) if self.answers else self.default


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    received = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if received.delay:
                time.sleep(received.delay)
            status = received.answer(Request(self.path, dict(self.headers.items()), body))
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    received.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    yield received
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def documented_verify() -> Callable[[str, str, bytes], bool]:
    """The receiver's check exactly as docs/webhooks.md shows it."""
    text = DOCS.read_text(encoding="utf-8")
    block = re.search(r"```python\n(.*?)```", text, re.DOTALL)
    assert block is not None
    namespace: dict[str, Any] = {}
    exec(block.group(1), namespace)  # noqa: S102 - our own documentation
    verify: Callable[[str, str, bytes], bool] = namespace["verify"]
    return verify


def subscribe(store: Store, name: str, url: str) -> str:
    with unit_of_work(store) as session:
        return webhooks.add_subscription(session, name=name, url=url).secret


def change(
    store: Store, customer_id: int, topic: str = "offers:camping", state: ConsentValue = "opted-in"
) -> None:
    with unit_of_work(store) as session:
        service.record(
            session,
            customer_id,
            brand=store.brand,
            origin=CUSTOMER,
            consents=[ConsentChange(topic, "email", state)],
        )


def deliveries(store: Store) -> list[WebhookDelivery]:
    with unit_of_work(store) as session:
        return [d for d, _ in reversed(webhooks.recent_deliveries(session, limit=1000))]


def test_the_worker_delivers_a_signed_change_as_the_docs_say(
    store: Store, receiver: Receiver
) -> None:
    secret = subscribe(store, "service-desk", receiver.base_url + "/hooks")
    ana = new_customer(store)
    change(store, ana)
    (queued,) = deliveries(store)
    assert queued.status == "pending"
    assert receiver.requests == []  # queued with the change, sent by the worker

    run = webhooks.deliver_due(store)

    assert run.delivered == 1
    (request,) = receiver.requests
    assert request.path == "/hooks"
    assert request.headers["Content-Type"] == "application/json"
    assert documented_verify()(secret, request.headers["Regard-Signature"], request.body)
    assert not documented_verify()("whsec_other", request.headers["Regard-Signature"], request.body)
    assert webhooks.verify_signature(secret, request.headers["Regard-Signature"], request.body)
    document = request.document
    assert request.headers["Regard-Event-Id"] == document["event_id"] == queued.event_id
    assert document["type"] == "preferences.changed"
    assert document["customer_id"] == ana
    assert document["subscription"] == "service-desk"
    assert datetime.fromisoformat(document["created_at"])
    (entry,) = document["changes"]
    assert (entry["topic"], entry["channel"], entry["state"]) == (
        "offers:camping",
        "email",
        "opted-in",
    )
    (delivered,) = deliveries(store)
    assert (delivered.status, delivered.attempts, delivered.last_status_code) == (
        "delivered",
        1,
        200,
    )
    assert delivered.delivered_at is not None
    assert webhooks.deliver_due(store).attempted == 0


def test_a_signature_does_not_verify_a_changed_body_or_an_old_one() -> None:
    body = b'{"type":"preferences.changed"}'
    header = webhooks.sign("whsec_s", body, int(time.time()))
    verify = documented_verify()

    assert verify("whsec_s", header, body)
    assert not verify("whsec_s", header, body.replace(b"changed", b"changeD"))
    stale = webhooks.sign("whsec_s", body, int(time.time()) - 3600)
    assert not verify("whsec_s", stale, body)
    assert not verify("whsec_s", "garbage", body)


def test_a_failed_answer_is_retried_with_what_came_of_it(store: Store, receiver: Receiver) -> None:
    subscribe(store, "shop", receiver.base_url)
    change(store, new_customer(store))
    receiver.answers = [500]
    start = datetime.now(UTC)

    first = webhooks.deliver_due(store, now=start)
    (waiting,) = deliveries(store)
    too_soon = webhooks.deliver_due(store, now=start + timedelta(seconds=20))
    second = webhooks.deliver_due(store, now=start + timedelta(seconds=31))

    assert first.retrying == 1
    assert (waiting.status, waiting.attempts, waiting.last_status_code) == ("pending", 1, 500)
    assert waiting.last_error == "HTTP 500"
    assert waiting.next_attempt_at == start + timedelta(seconds=30)
    assert too_soon.attempted == 0
    assert second.delivered == 1
    (done,) = deliveries(store)
    assert (done.status, done.attempts, done.last_status_code) == ("delivered", 2, 200)
    ids = {r.headers["Regard-Event-Id"] for r in receiver.requests}
    assert len(receiver.requests) == 2
    assert ids == {done.event_id}


def test_after_the_last_retry_the_delivery_is_failed(store: Store, receiver: Receiver) -> None:
    subscribe(store, "shop", receiver.base_url)
    change(store, new_customer(store))
    receiver.default = 503
    moment = datetime.now(UTC)

    for wait in (timedelta(0), *webhooks.BACKOFF):
        moment += wait
        webhooks.deliver_due(store, now=moment)

    (failed,) = deliveries(store)
    assert (failed.status, failed.attempts, failed.last_status_code) == ("failed", 7, 503)
    assert len(receiver.requests) == webhooks.MAX_ATTEMPTS == 7
    assert webhooks.deliver_due(store, now=moment + timedelta(days=30)).attempted == 0


def test_no_answer_is_recorded_as_the_error(store: Store) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    subscribe(store, "gone", f"http://127.0.0.1:{port}/")
    change(store, new_customer(store))

    run = webhooks.deliver_due(store)

    assert run.retrying == 1
    (waiting,) = deliveries(store)
    assert waiting.attempts == 1
    assert waiting.last_status_code is None
    assert waiting.last_error is not None
    assert "refused" in waiting.last_error.lower()


def test_a_disabled_subscription_gets_nothing(store: Store, receiver: Receiver) -> None:
    subscribe(store, "kept", receiver.base_url + "/kept")
    subscribe(store, "dropped", receiver.base_url + "/dropped")
    ana = new_customer(store)
    change(store, ana)  # queued for both
    with unit_of_work(store) as session:
        webhooks.disable_subscription(session, "dropped")
    change(store, ana, topic="events")  # queued only for the one still live

    webhooks.deliver_due(store)

    assert sorted(r.path for r in receiver.requests) == ["/kept", "/kept"]
    assert len(deliveries(store)) == 3


def test_subscriptions_have_unique_names_and_http_urls(store: Store) -> None:
    subscribe(store, "desk", "https://desk.example.com/hooks")
    with unit_of_work(store) as session:
        with pytest.raises(InvalidInput, match="already"):
            webhooks.add_subscription(session, name="desk", url="https://other.example.com/")
        with pytest.raises(InvalidInput, match="not an http"):
            webhooks.add_subscription(session, name="ftp", url="ftp://example.com/")
        with pytest.raises(NotFound):
            webhooks.disable_subscription(session, "nobody")


def test_two_workers_claim_different_deliveries(store: Store) -> None:
    if store.dialect != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's")
    subscribe(store, "shop", "http://127.0.0.1:9/")
    ana = new_customer(store)
    for topic in ("events", "offers:camping", "offers:footwear"):
        change(store, ana, topic=topic)
    now = datetime.now(UTC)
    with unit_of_work(store) as first, unit_of_work(store) as second:
        mine = webhooks.claim(first, now=now, limit=2)
        theirs = webhooks.claim(second, now=now, limit=2)

    assert len(mine) == 2
    assert len(theirs) == 1
    assert not {o.delivery_id for o in mine} & {o.delivery_id for o in theirs}


def test_workers_running_together_send_each_delivery_once(store: Store, receiver: Receiver) -> None:
    if store.dialect != "postgresql":
        pytest.skip("concurrent workers share a queue on PostgreSQL")
    subscribe(store, "shop", receiver.base_url)
    ana = new_customer(store)
    for n in range(12):
        change(store, ana, state="opted-out" if n % 2 else "opted-in")
    expected = {d.event_id for d in deliveries(store)}
    receiver.delay = 0.02
    runs: list[webhooks.DeliveryRun] = []

    def work() -> None:
        runs.append(webhooks.deliver_due(store, batch=2))

    workers = [threading.Thread(target=work) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)

    sent = [r.headers["Regard-Event-Id"] for r in receiver.requests]
    assert sorted(sent) == sorted(expected)
    assert sum(run.delivered for run in runs) == len(expected)
    assert {d.status for d in deliveries(store)} == {"delivered"}


def test_the_webhooks_commands(tmp_path: Path) -> None:
    env = {
        "REGARD_DATABASE_URL": f"sqlite:///{tmp_path / 'shop.db'}",
        "REGARD_BRAND_CONFIG": str(tmp_path / "regard.toml"),
    }
    (tmp_path / "regard.toml").write_text('name = "Test"\nregion = "NL"\n', encoding="utf-8")
    assert regard(tmp_path, "db", "upgrade", extra=env).returncode == 0

    added = regard(tmp_path, "webhooks", "add", "desk", "https://desk.example.com/h", extra=env)
    assert added.returncode == 0, added.stderr
    secret = re.search(r"whsec_\S+", added.stdout)
    assert secret is not None
    listed = regard(tmp_path, "webhooks", "list", extra=env)
    assert "desk" in listed.stdout
    assert secret.group(0) not in listed.stdout
    delivered = regard(tmp_path, "webhooks", "deliver", "--once", extra=env)
    assert delivered.returncode == 0, delivered.stderr
    assert "Delivered 0" in delivered.stdout
    assert regard(tmp_path, "webhooks", "log", "--status", "failed", extra=env).returncode == 0
    assert regard(tmp_path, "webhooks", "disable", "desk", extra=env).returncode == 0
    unknown = regard(tmp_path, "webhooks", "disable", "nobody", extra=env)
    assert unknown.returncode == 2
    assert "no subscription named 'nobody'" in unknown.stderr
