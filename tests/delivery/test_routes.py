"""Feedback endpoints through the real app: signed provider callbacks, email feedback with a
write key, and the click redirect over a real HTTP connection."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from urllib.parse import urlsplit

import orjson
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import select

from regard.app import create_app
from regard.config import Settings, get_settings
from regard.delivery import feedback
from regard.delivery.channels.signing import SIGNATURE_HEADER, sign
from regard.delivery.models import Suppression
from regard.delivery.routes import PIXEL
from regard.store.database import Store, unit_of_work
from tests.api import auth
from tests.delivery.feedback_support import customer, feedback_events, message, sent

SMS_KEY = "sms-provider-key-for-tests"


@pytest.fixture
def signed_client(client: TestClient) -> Iterator[TestClient]:
    """The app with a signing key for the sms provider."""
    settings = Settings(provider_secrets=orjson.dumps({"sms": SMS_KEY}).decode())
    client.app.dependency_overrides[get_settings] = lambda: settings  # type: ignore[attr-defined]
    yield client
    client.app.dependency_overrides.clear()  # type: ignore[attr-defined]


def _post_status(
    client: TestClient,
    document: Mapping[str, object],
    *,
    key: str = SMS_KEY,
    at: int | None = None,
    body: bytes | None = None,
    channel: str = "sms",
) -> tuple[int, dict[str, object]]:
    raw = orjson.dumps(document)
    stamp = int(time.time()) if at is None else at
    answer = client.post(
        f"/v1/providers/{channel}/status",
        content=body if body is not None else raw,
        headers={SIGNATURE_HEADER: sign(key, stamp, raw), "Content-Type": "application/json"},
    )
    return answer.status_code, answer.json()


def test_a_signed_status_callback_is_recorded_once(store: Store, signed_client: TestClient) -> None:
    ana = customer(store, phone="+31612345678")
    (text,) = sent(store, ana, channel="sms")
    document = {"provider_id": f"p-{text}", "status": "delivered"}
    assert _post_status(signed_client, document) == (
        200,
        {"outbox_id": text, "kind": "delivered", "recorded": True, "suppressed": False},
    )
    assert _post_status(signed_client, document)[1]["recorded"] is False
    assert [e.type for e in feedback_events(store, ana)] == ["message.delivered"]


def test_a_hard_bounce_callback_suppresses_texts(store: Store, signed_client: TestClient) -> None:
    ana = customer(store, phone="+31612345678")
    (text,) = sent(store, ana, channel="sms")
    status, body = _post_status(
        signed_client,
        {
            "provider_id": f"p-{text}",
            "status": "bounced",
            "bounce": "hard",
            "to": "+31612345678",
            "occurred_at": "2026-05-04T10:00:00Z",
        },
    )
    assert (status, body["suppressed"]) == (200, True)
    with unit_of_work(store) as session:
        assert feedback.suppressed(session, [(ana, "sms")]) == {(ana, "sms")}


def test_tampered_old_or_unsigned_callbacks_are_refused(
    store: Store, signed_client: TestClient
) -> None:
    ana = customer(store, phone="+31612345678")
    (text,) = sent(store, ana, channel="sms")
    document = {"provider_id": f"p-{text}", "status": "complained"}
    tampered = orjson.dumps({"provider_id": f"p-{text}", "status": "delivered"})
    assert _post_status(signed_client, document, body=tampered)[0] == 403
    assert _post_status(signed_client, document, at=int(time.time()) - 3600)[0] == 403
    assert _post_status(signed_client, document, key="another-key")[0] == 403
    unsigned = signed_client.post("/v1/providers/sms/status", json=document)
    assert unsigned.status_code == 401
    assert SIGNATURE_HEADER in unsigned.json()["error"]["message"]
    # No key set for push: nothing can be trusted there.
    assert _post_status(signed_client, document, channel="push")[0] == 401
    assert feedback_events(store, ana) == []


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"status": "delivered"}, "provider_id"),
        ({"provider_id": "p-1"}, "status"),
        ({"provider_id": "p-1", "status": "teleported"}, "status"),
        ({"provider_id": "p-1", "status": "bounced", "bounce": "very"}, "bounce"),
        ({"provider_id": 7, "status": "delivered"}, "provider_id"),
        ({"provider_id": "p-1", "status": "delivered", "occurred_at": "noon"}, "occurred_at"),
    ],
)
def test_bad_callbacks_name_the_field(
    signed_client: TestClient, document: dict[str, object], field: str
) -> None:
    status, body = _post_status(signed_client, document)
    assert status == 400
    error = body["error"]
    assert isinstance(error, dict)
    assert str(error["message"]).startswith(f"{field}:")


def test_not_json_and_unknown_channels_and_messages(signed_client: TestClient) -> None:
    raw = b"not json"
    stamp = int(time.time())
    answer = signed_client.post(
        "/v1/providers/sms/status",
        content=raw,
        headers={SIGNATURE_HEADER: sign(SMS_KEY, stamp, raw)},
    )
    assert answer.status_code == 400
    assert _post_status(signed_client, {"provider_id": "p", "status": "x"}, channel="fax")[0] == 404
    status, body = _post_status(signed_client, {"provider_id": "nobody", "status": "delivered"})
    assert status == 404
    assert body["error"]["code"] == "unknown_message"  # type: ignore[index]


def test_email_feedback_needs_a_write_key_and_suppresses_on_complaint(
    store: Store, client: TestClient, keys: dict[str, str]
) -> None:
    ana = customer(store, email="ana@example.com")
    (mail,) = sent(store, ana)
    message_id = message(store, mail).message_id
    report = {"message_id": message_id, "kind": "complaint"}
    assert client.post("/v1/email/feedback", json=report).status_code == 401
    assert (
        client.post("/v1/email/feedback", json=report, headers=auth(keys["read"])).status_code
        == 401
    )
    answer = client.post("/v1/email/feedback", json=report, headers=auth(keys["write"]))
    assert answer.status_code == 200
    assert answer.json()["suppressed"] is True
    with unit_of_work(store) as session:
        (row,) = session.scalars(select(Suppression))
        assert (row.channel, row.reason) == ("email", "complaint")
    bad = client.post(
        "/v1/email/feedback",
        json={"message_id": message_id, "kind": "angry"},
        headers=auth(keys["write"]),
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["message"].startswith("kind:")
    unknown = client.post(
        "/v1/email/feedback",
        json={"message_id": "<nobody@elsewhere.example>", "kind": "bounce", "bounce": "hard"},
        headers=auth(keys["write"]),
    )
    assert unknown.status_code == 404


def test_the_open_pixel_records_an_open(store: Store, client: TestClient) -> None:
    ana = customer(store, email="ana@example.com")
    (mail,) = sent(store, ana)
    url = feedback.open_url("http://testserver", outbox_id=mail, vault=store.vault)
    answer = client.get(urlsplit(url).path)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/gif"
    assert answer.content == PIXEL
    assert client.get(urlsplit(url).path).status_code == 200
    assert [e.type for e in feedback_events(store, ana)] == ["message.opened"]
    assert client.get("/o/forged").status_code == 400


class _Served:
    """The app served by uvicorn on loopback, in a thread."""

    def __init__(self, store: Store) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.port = int(self.socket.getsockname()[1])
        config = uvicorn.Config(
            create_app(store),
            http="h11",
            ws="none",
            lifespan="off",
            log_config=None,
            access_log=False,
            log_level="warning",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    def get(self, path: str) -> http.client.HTTPResponse:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        connection.request("GET", path)
        answer = connection.getresponse()
        answer.read()
        connection.close()
        return answer

    def __enter__(self) -> _Served:
        self.thread.start()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if self.get("/healthz").status == 200:
                    return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("the app did not answer /healthz within 15 s")

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()


def test_the_click_redirect_over_real_http(store: Store) -> None:
    ana = customer(store, email="ana@example.com")
    (mail,) = sent(store, ana)
    destination = "https://shop.example/tents?size=2&colour=green"
    url = feedback.click_url("http://127.0.0.1", outbox_id=mail, url=destination, vault=store.vault)
    path = urlsplit(url).path
    with _Served(store) as served:
        answer = served.get(path)
        assert answer.status == 303
        assert answer.getheader("Location") == destination
        assert answer.getheader("Cache-Control") == "no-store, private"
        # A second click on the same link forwards again and is not counted twice.
        assert served.get(path).status == 303
        # A forged or altered token forwards nowhere.
        forged = served.get(path[:-3] + "abc")
        assert forged.status == 400
        assert forged.getheader("Location") is None
        assert served.get("/r/" + "x" * 40 + "?next=https://evil.example").status == 400
    events = feedback_events(store, ana)
    assert [e.type for e in events] == ["message.clicked"]
    assert events[0].occurred_at <= datetime.now(UTC)
