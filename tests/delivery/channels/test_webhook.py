"""Texts, push and calls posted to a real HTTP server on loopback that checks the signature."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from regard.delivery.channels.signing import verify
from regard.delivery.channels.webhook import WebhookChannel
from regard.messages.content import EmailContent, ProviderContent

SECRET = "whsec-test-key"


@dataclass
class Provider:
    """What the fake provider received, and how it answers each recipient."""

    # recipient -> status code, "slow" (answers after the client gave up) or "drop"
    behaviour: dict[str, int | str] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    connections: set[int] = field(default_factory=set)
    release: threading.Event = field(default_factory=threading.Event)
    url: str = ""


@pytest.fixture
def provider() -> Iterator[Provider]:
    state = Provider()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.connections.add(self.client_address[1])
            if not verify(SECRET, self.headers.get("X-Regard-Signature", ""), body, time.time()):
                self._answer(401, {"error": "bad signature"})
                return
            message = json.loads(body)
            state.requests.append(message)
            state.headers.append(dict(self.headers.items()))
            what = state.behaviour.get(message["to"], 200)
            if what == "drop":
                self.close_connection = True
                self.connection.close()
                return
            if what == "slow":
                state.release.wait(10)
                # The client has given up and closed the connection by now.
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self._answer(200, {"id": "too-late"})
                return
            assert isinstance(what, int)
            self._answer(what, {"id": f"prov-{len(state.requests)}"})

        def _answer(self, status: int, answer: dict[str, str]) -> None:
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/messages"
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join()


def _text(number: int, *, to: str | None = None) -> ProviderContent:
    return ProviderContent(
        channel="sms",
        to=to or f"+3161234{number:04d}",
        body=f"Northwind: order {number} is ready. Reply STOP to stop.",
        message_id=f"msg-{number}",
        link=f"https://outfitters.example/o/{number}",
    )


def test_signed_posts_on_one_connection(provider: Provider) -> None:
    channel = WebhookChannel("sms", provider.url, secret=SECRET)

    results = channel.send_batch([_text(1), _text(2), _text(3)])
    channel.close()

    assert [r.outcome for r in results] == ["sent"] * 3
    assert [r.provider_id for r in results] == ["prov-1", "prov-2", "prov-3"]
    assert len(provider.connections) == 1
    first = provider.requests[0]
    assert first == {
        "message_id": "msg-1",
        "channel": "sms",
        "to": "+31612340001",
        "title": None,
        "body": "Northwind: order 1 is ready. Reply STOP to stop.",
        "link": "https://outfitters.example/o/1",
        "asks_response": False,
        "extra": {},
    }
    headers = {name.lower(): value for name, value in provider.headers[0].items()}
    assert headers["idempotency-key"] == "msg-1"
    assert headers["content-type"] == "application/json"
    assert headers["x-regard-signature"].startswith(f"t={headers['x-regard-timestamp']},v1=")


def test_a_wrong_key_is_refused_for_good(provider: Provider) -> None:
    channel = WebhookChannel("sms", provider.url, secret="another-key")

    results = channel.send_batch([_text(1)])
    channel.close()

    assert results[0].outcome == "failed"
    assert results[0].detail == "http 401"
    assert provider.requests == []


def test_statuses_are_classified(provider: Provider) -> None:
    provider.behaviour = {
        "+1": 400,
        "+2": 429,
        "+3": 503,
        "+4": 422,
    }
    channel = WebhookChannel("sms", provider.url, secret=SECRET)

    results = channel.send_batch([_text(n, to=f"+{n}") for n in range(1, 6)])
    channel.close()

    assert [r.outcome for r in results] == ["failed", "retry", "retry", "failed", "sent"]
    assert [r.detail for r in results[:4]] == ["http 400", "http 429", "http 503", "http 422"]


def test_no_answer_after_the_request_is_ambiguous(provider: Provider) -> None:
    provider.behaviour = {"+1": "slow", "+2": "drop"}
    channel = WebhookChannel("sms", provider.url, secret=SECRET, timeout=0.3)

    results = channel.send_batch([_text(1, to="+1"), _text(2, to="+2"), _text(3)])
    provider.release.set()
    channel.close()

    assert [r.outcome for r in results] == ["ambiguous", "ambiguous", "sent"]
    assert results[0].detail == "no answer: ReadTimeout"
    # The provider did get both: that is why neither may count as failed.
    assert [r["message_id"] for r in provider.requests] == ["msg-1", "msg-2", "msg-3"]


def test_no_provider_listening_is_a_retry(provider: Provider) -> None:
    channel = WebhookChannel("sms", "http://127.0.0.1:9/messages", secret=SECRET, timeout=2)

    results = channel.send_batch([_text(1)])
    channel.close()

    assert results[0].outcome == "retry"
    assert results[0].detail.startswith("cannot connect")


def test_other_kinds_of_message_are_refused(provider: Provider) -> None:
    channel = WebhookChannel("push", provider.url, secret=SECRET)
    email = EmailContent(
        sender="a@example.com", to="b@example.com", subject="s", text="t", html="h", message_id="m"
    )

    results = channel.send_batch([_text(1), email])
    channel.close()

    assert [r.outcome for r in results] == ["failed", "failed"]
    assert provider.requests == []
