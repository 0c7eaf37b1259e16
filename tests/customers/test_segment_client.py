"""Segment's own Python library, talking to Regard served by uvicorn on loopback."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import uvicorn
from segment.analytics import Client
from segment.analytics.request import APIError

from regard.app import create_app
from regard.customers import repository
from regard.customers.identities import IdentityClaim
from regard.privacy.service import create_key
from regard.store.database import Store, unit_of_work
from tests.customers.support import customer_with, stored_events


@pytest.fixture
def regard_url(store: Store) -> Iterator[str]:
    """Regard on a free loopback port, in a thread, for the length of one test."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(store), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start within 10 s"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
    assert not thread.is_alive()


@pytest.fixture
def write_key(store: Store) -> str:
    with unit_of_work(store) as session:
        return create_key(session, name="backend", scope="write", source="shop").secret


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_identify_and_track_from_the_segment_library(
    store: Store, regard_url: str, write_key: str, gzip: bool
) -> None:
    client = Client(write_key, host=regard_url, sync_mode=True, gzip=gzip, max_retries=0)
    client.identify(
        "cust-42",
        {"email": "Eva@Example.com", "firstName": "Eva", "plan": "trail"},
        context={"timezone": "Europe/Amsterdam", "locale": "nl-NL"},
        anonymous_id="web-anon-1",
    )
    when = datetime(2024, 6, 1, 9, 30, tzinfo=UTC)
    client.track(
        "cust-42", "Order Completed", {"total": 120.0}, timestamp=when, message_id="order-9"
    )
    # The library's retry of the same message is not stored twice.
    client.track(
        "cust-42", "Order Completed", {"total": 120.0}, timestamp=when, message_id="order-9"
    )
    client.page("cust-42", "Shop", "Tents")

    eva = customer_with(store, IdentityClaim(kind="email", value="eva@example.com"))
    assert {(i.kind, i.namespace, i.value) for i in eva.identities} == {
        ("external", "shop", "cust-42"),
        ("anonymous", "", "web-anon-1"),
        ("email", "", "eva@example.com"),
    }
    assert eva.traits == {"plan": "trail"}
    assert eva.personal == {"first_name": "Eva"}
    assert (eva.time_zone, eva.locale) == ("Europe/Amsterdam", "nl-NL")
    order, page = stored_events(store)
    assert (order.customer_id, order.type, order.source) == (eva.id, "Order Completed", "shop")
    assert (order.message_id, order.occurred_at, order.properties) == (
        "order-9",
        when,
        {"total": 120.0},
    )
    assert (page.type, page.properties) == ("page", {"name": "Tents", "category": "Shop"})


def test_queued_calls_arrive_as_batches(store: Store, regard_url: str, write_key: str) -> None:
    errors: list[Any] = []
    client = Client(
        write_key,
        host=regard_url,
        upload_size=10,
        upload_interval=0.05,
        max_retries=0,
        on_error=lambda error, batch: errors.append(error),
    )
    try:
        client.track(anonymous_id="visitor-1", event="Viewed Tent")
        client.identify("cust-7", {"phone": "+31 6 12345678"}, anonymous_id="visitor-1")
        for n in range(23):
            client.track("cust-7", f"Step {n}")
        client.flush()
    finally:
        client.join()
    assert errors == []
    assert len({e.customer_id for e in stored_events(store)}) == 1
    assert len(stored_events(store)) == 24
    with unit_of_work(store) as session:
        assert repository.count_customers(session) == 1


def test_the_library_sees_refusals(store: Store, regard_url: str, write_key: str) -> None:
    client = Client(write_key, host=regard_url, sync_mode=True, max_retries=0)
    with pytest.raises(APIError) as refused:
        client.identify("cust-1", {"email": "not an email"})
    assert refused.value.status == 400
    assert "traits.email" in str(refused.value.message)

    stranger = Client("rw_unknown", host=regard_url, sync_mode=True, max_retries=0)
    with pytest.raises(APIError) as unauthorized:
        stranger.track("cust-1", "Viewed")
    assert unauthorized.value.status == 401
    assert stored_events(store) == []
