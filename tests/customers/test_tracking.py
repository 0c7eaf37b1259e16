"""The Segment-compatible tracking API, on SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import func, select

from regard.app import create_app
from regard.customers import repository
from regard.customers.identities import IdentityClaim
from regard.customers.models import Customer, CustomerMerge, Event, Identity
from regard.customers.service import EVENT_FRAME_SCHEMA, store_events
from regard.privacy.service import create_key
from regard.store.database import Store, unit_of_work
from tests.customers.support import customer_with, stored_events


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(store)) as test_client:
        yield test_client


@pytest.fixture
def write_key(store: Store) -> str:
    with unit_of_work(store) as session:
        return create_key(session, name="website", scope="write", source="web").secret


def post(client: TestClient, path: str, body: Any, key: str | None, **kwargs: Any) -> Response:
    if key:
        kwargs["auth"] = (key, "")
    response: Response = client.post(path, json=body, **kwargs)
    return response


def ok(response: Response) -> None:
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True}


def problems(response: Response) -> list[dict[str, str]]:
    problems: list[dict[str, str]] = response.json()["error"]["details"]["problems"]
    return problems


def count(store: Store, model: type[Any]) -> int:
    with unit_of_work(store) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_identify_creates_a_profile_with_identities_and_traits(
    client: TestClient, store: Store, write_key: str
) -> None:
    ok(
        post(
            client,
            "/v1/identify",
            {
                "userId": "u-1",
                "anonymousId": "anon-1",
                "traits": {
                    "email": " Ana@Example.COM ",
                    "phone": "06 12345678",
                    "firstName": "Ana",
                    "plan": "gold",
                },
                "context": {"timezone": "Europe/Lisbon", "locale": "pt-PT"},
                "timestamp": "2024-05-01T10:00:00+02:00",
            },
            write_key,
        )
    )
    customer = customer_with(store, IdentityClaim(kind="email", value="ana@example.com"))
    assert {(i.kind, i.namespace, i.value, i.source) for i in customer.identities} == {
        ("external", "web", "u-1", "web"),
        ("anonymous", "", "anon-1", "web"),
        ("email", "", "ana@example.com", "web"),
        ("phone", "", "+31612345678", "web"),
    }
    assert customer.traits == {"plan": "gold"}
    assert customer.personal == {"first_name": "Ana"}
    assert (customer.time_zone, customer.locale) == ("Europe/Lisbon", "pt-PT")
    assert customer.first_seen_at == datetime(2024, 5, 1, 8, tzinfo=UTC)
    assert count(store, Event) == 0


def test_track_stores_an_event(client: TestClient, store: Store, write_key: str) -> None:
    ok(
        post(
            client,
            "/v1/track",
            {
                "userId": 1234,  # Segment ids may be numbers
                "event": "Order Completed",
                "properties": {"total": 59.5, "items": [{"sku": "TENT-2"}]},
                "messageId": "m-1",
                "timestamp": "2024-05-02T09:30:00Z",
            },
            write_key,
        )
    )
    (event,) = stored_events(store)
    assert event.type == "Order Completed"
    assert event.properties == {"total": 59.5, "items": [{"sku": "TENT-2"}]}
    assert event.occurred_at == datetime(2024, 5, 2, 9, 30, tzinfo=UTC)
    assert (event.source, event.message_id) == ("web", "m-1")
    assert abs(event.received_at - datetime.now(UTC)) < timedelta(minutes=1)
    customer = customer_with(store, IdentityClaim(kind="external", value="1234", namespace="web"))
    assert customer.id == event.customer_id
    assert customer.first_seen_at == customer.last_seen_at == event.occurred_at


def test_page_and_screen_keep_name_and_category(
    client: TestClient, store: Store, write_key: str
) -> None:
    body = {"anonymousId": "a-1", "name": "Tents", "category": "Shop", "properties": {"x": 1}}
    ok(post(client, "/v1/page", body, write_key))
    ok(post(client, "/v1/screen", {**body, "name": "Basket"}, write_key))
    page, screen = stored_events(store)
    assert (page.type, page.properties) == ("page", {"x": 1, "name": "Tents", "category": "Shop"})
    assert (screen.type, screen.properties["name"]) == ("screen", "Basket")
    assert page.customer_id == screen.customer_id
    assert page.message_id != screen.message_id  # generated when absent


def test_naive_timestamp_is_utc_and_absent_is_now(
    client: TestClient, store: Store, write_key: str
) -> None:
    ok(
        post(
            client,
            "/v1/track",
            {"userId": "u", "event": "A", "timestamp": "2024-01-01T12:00:00"},
            write_key,
        )
    )
    ok(post(client, "/v1/track", {"userId": "u", "event": "B"}, write_key))
    first, second = stored_events(store)
    assert first.occurred_at == datetime(2024, 1, 1, 12, tzinfo=UTC)
    assert abs(second.occurred_at - datetime.now(UTC)) < timedelta(minutes=1)


def test_batch_records_every_call(client: TestClient, store: Store, write_key: str) -> None:
    ok(
        post(
            client,
            "/v1/batch",
            {
                "batch": [
                    {"type": "identify", "userId": "u-7", "traits": {"email": "bo@example.com"}},
                    {"type": "track", "userId": "u-7", "event": "Signed Up", "messageId": "b-1"},
                    {"type": "page", "userId": "u-7", "name": "Home", "messageId": "b-2"},
                    {"type": "screen", "anonymousId": "dev-9", "messageId": "b-3"},
                    {"type": "group", "userId": "u-7", "groupId": "acme", "messageId": "b-4"},
                ],
                "context": {"library": {"name": "test"}},
            },
            write_key,
        )
    )
    stored = stored_events(store)
    assert [e.type for e in stored] == ["Signed Up", "page", "screen", "group"]
    assert stored[3].properties == {"group_id": "acme", "traits": {}}
    bo = customer_with(store, IdentityClaim(kind="email", value="bo@example.com"))
    assert {e.customer_id for e in stored if e.message_id != "b-3"} == {bo.id}
    assert count(store, Customer) == 2


def test_replayed_message_ids_are_stored_once(
    client: TestClient, store: Store, write_key: str
) -> None:
    call = {"userId": "u-1", "event": "Viewed", "messageId": "same"}
    ok(post(client, "/v1/track", call, write_key))
    ok(post(client, "/v1/track", call, write_key))
    ok(post(client, "/v1/batch", {"batch": [{**call, "type": "track"}] * 3}, write_key))
    assert count(store, Event) == 1
    # The same message id from another source is another message.
    with unit_of_work(store) as session:
        other = create_key(session, name="pos", scope="write", source="pos").secret
    ok(post(client, "/v1/track", call, other))
    assert count(store, Event) == 2


def test_replay_guard_holds_in_sql(store: Store) -> None:
    """Two transactions that both missed the pre-check: the second insert skips, not fails."""
    now = datetime.now(UTC)
    with unit_of_work(store) as session:
        session.add(Customer(created_at=now, updated_at=now, traits={}, trait_origins={}))
        session.flush()
        customer_id = session.scalars(select(Customer.id)).one()
    row = {
        "customer_id": customer_id,
        "type": "Viewed",
        "occurred_at": now,
        "message_id": "dup",
        "properties": "{}",
        "personal": None,
    }
    twice = pl.DataFrame([row, row], schema=EVENT_FRAME_SCHEMA)
    stored = []
    for _ in range(2):
        with unit_of_work(store) as session:
            stored.append(
                store_events(session, twice, vault=store.vault, source="web", received_at=now)
            )
    assert stored == [1, 0]
    assert count(store, Event) == 1


def test_anonymous_visitor_then_identified_is_one_customer(
    client: TestClient, store: Store, write_key: str
) -> None:
    ok(post(client, "/v1/track", {"anonymousId": "anon-5", "event": "Viewed Tent"}, write_key))
    ok(post(client, "/v1/page", {"anonymousId": "anon-5", "name": "Tents"}, write_key))
    ok(
        post(
            client,
            "/v1/identify",
            {"userId": "u-5", "anonymousId": "anon-5", "traits": {"email": "cy@example.com"}},
            write_key,
        )
    )
    ok(post(client, "/v1/track", {"userId": "u-5", "event": "Order Completed"}, write_key))
    assert count(store, Customer) == 1
    customer = customer_with(store, IdentityClaim(kind="email", value="cy@example.com"))
    assert {e.customer_id for e in stored_events(store)} == {customer.id}
    assert len(stored_events(store)) == 3


def test_identify_merges_two_profiles_with_their_events(
    client: TestClient, store: Store, write_key: str
) -> None:
    ok(post(client, "/v1/track", {"anonymousId": "anon-6", "event": "Browsed"}, write_key))
    ok(post(client, "/v1/track", {"userId": "u-6", "event": "Logged In"}, write_key))
    assert count(store, Customer) == 2
    ok(post(client, "/v1/identify", {"userId": "u-6", "anonymousId": "anon-6"}, write_key))
    assert count(store, Customer) == 1
    assert count(store, CustomerMerge) == 1
    assert len({e.customer_id for e in stored_events(store)}) == 1


def test_alias_links_previous_id_to_user_id(
    client: TestClient, store: Store, write_key: str
) -> None:
    ok(post(client, "/v1/track", {"anonymousId": "anon-8", "event": "Browsed"}, write_key))
    ok(post(client, "/v1/track", {"userId": "u-8", "event": "Logged In"}, write_key))
    ok(post(client, "/v1/alias", {"previousId": "anon-8", "userId": "u-8"}, write_key))
    assert count(store, Customer) == 1
    with unit_of_work(store) as session:
        (merge,) = repository.list_merges(session)
        assert merge.matched_on == "external:web"  # the older, anonymous profile survives
    # An alias of an id never seen before keeps it as an anonymous id of the user.
    ok(post(client, "/v1/alias", {"previousId": "anon-9", "userId": "u-8"}, write_key))
    customer = customer_with(store, IdentityClaim(kind="anonymous", value="anon-9"))
    assert count(store, Customer) == 1
    assert customer.id == stored_events(store)[0].customer_id


def test_user_id_with_a_colon_stays_in_the_source_namespace(
    client: TestClient, store: Store, write_key: str
) -> None:
    ok(post(client, "/v1/identify", {"userId": "auth0:abc"}, write_key))
    with unit_of_work(store) as session:
        identity = session.scalars(select(Identity)).one()
        assert (identity.namespace, identity.value) == ("web", "auth0:abc")


def test_context_traits_give_identities_on_track(
    client: TestClient, store: Store, write_key: str
) -> None:
    body = {"anonymousId": "a", "event": "X", "context": {"traits": {"email": "di@example.com"}}}
    ok(post(client, "/v1/track", body, write_key))
    customer = customer_with(store, IdentityClaim(kind="email", value="di@example.com"))
    assert customer.traits == {}


@pytest.mark.parametrize(
    ("auth", "message"),
    [
        (None, "write key"),
        (("rw_not-a-key", ""), "missing or invalid write key"),
        ("Bearer something", "HTTP Basic"),
        ("Basic %%%", "not valid HTTP Basic"),
    ],
)
def test_missing_or_wrong_key_is_401(
    client: TestClient, store: Store, auth: Any, message: str
) -> None:
    headers = {"Authorization": auth} if isinstance(auth, str) else {}
    extra: dict[str, Any] = {"auth": auth} if isinstance(auth, tuple) else {}
    response = client.post(
        "/v1/track", json={"userId": "u", "event": "X"}, headers=headers, **extra
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert message in response.json()["error"]["message"]
    assert count(store, Event) == 0


def test_read_key_cannot_write(client: TestClient, store: Store) -> None:
    with unit_of_work(store) as session:
        read = create_key(session, name="reader", scope="read").secret
    response = post(client, "/v1/track", {"userId": "u", "event": "X"}, read)
    assert response.status_code == 401


def test_write_key_in_the_body_as_browsers_send_it(
    client: TestClient, store: Store, write_key: str
) -> None:
    body = json.dumps({"writeKey": write_key, "anonymousId": "a", "event": "X"})
    response = client.post("/v1/track", content=body, headers={"Content-Type": "text/plain"})
    ok(response)
    assert count(store, Event) == 1


@pytest.mark.parametrize(
    ("path", "body", "at", "problem"),
    [
        ("/v1/track", {"event": "X"}, "body", "needs userId or anonymousId"),
        ("/v1/identify", {"userId": "", "traits": {}}, "body", "needs userId or anonymousId"),
        ("/v1/track", {"userId": "u"}, "event", "Field required"),
        ("/v1/track", {"userId": "u", "event": ""}, "event", "at least 1 character"),
        ("/v1/track", {"userId": "u", "event": "X", "properties": [1]}, "properties", "dict"),
        ("/v1/track", {"userId": True, "event": "X"}, "userId", "string or a number"),
        ("/v1/alias", {"userId": "u"}, "previousId", "Field required"),
        ("/v1/group", {"userId": "u"}, "groupId", "Field required"),
        (
            "/v1/identify",
            {"userId": "u", "traits": {"email": "nope"}},
            "traits.email",
            "invalid email",
        ),
        (
            "/v1/identify",
            {"userId": "u", "traits": {"phone": "12"}},
            "traits.phone",
            "invalid phone",
        ),
        (
            "/v1/identify",
            {"userId": "u", "traits": {"email": 5}},
            "traits.email",
            "must be a string",
        ),
        (
            "/v1/track",
            {"anonymousId": "a", "event": "X", "context": {"traits": {"email": "x@"}}},
            "context.traits.email",
            "invalid email",
        ),
        (
            "/v1/identify",
            {"userId": "u", "context": {"timezone": "Mars/Olympus"}},
            "context.timezone",
            "IANA",
        ),
        (
            "/v1/track",
            {"userId": "u", "event": "X", "timestamp": "yesterday"},
            "timestamp",
            "datetime",
        ),
        (
            "/v1/track",
            {"userId": "u", "event": "X", "properties": {"note": "a\u0000b"}},
            "properties.note",
            "NUL",
        ),
        ("/v1/track", {"userId": "u", "event": "X" * 200}, "event", "at most 128"),
        (
            "/v1/track",
            {"userId": "u", "event": "X", "messageId": "m" * 200},
            "messageId",
            "at most 128",
        ),
    ],
)
def test_bad_calls_are_400_naming_the_field(
    client: TestClient, store: Store, write_key: str, path: str, body: Any, at: str, problem: str
) -> None:
    response = post(client, path, body, write_key)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert any(p["at"] == at and problem in p["problem"] for p in problems(response)), error
    assert at in error["message"] or at == "body"
    assert count(store, Event) == count(store, Customer) == 0


def test_far_future_timestamp_is_refused(client: TestClient, store: Store, write_key: str) -> None:
    later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    response = post(
        client, "/v1/track", {"userId": "u", "event": "X", "timestamp": later}, write_key
    )
    assert response.status_code == 400
    assert problems(response) == [
        {"at": "timestamp", "problem": "is more than a day in the future"}
    ]
    soon = (datetime.now(UTC) + timedelta(hours=2)).isoformat()  # a fast clock is tolerated
    ok(post(client, "/v1/track", {"userId": "u", "event": "X", "timestamp": soon}, write_key))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b"", "empty"),
        (b"\xff\xfe", "not valid JSON"),
        (b'{"userId": "u", "event": "X", "n": 1e400}', "not valid JSON"),
    ],
)
def test_malformed_bodies_are_400(
    client: TestClient, write_key: str, content: bytes, message: str
) -> None:
    response = client.post("/v1/track", content=content, auth=(write_key, ""))
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]


def test_a_batch_with_bad_calls_is_refused_whole(
    client: TestClient, store: Store, write_key: str
) -> None:
    response = post(
        client,
        "/v1/batch",
        {
            "batch": [
                {"type": "track", "userId": "u", "event": "Fine"},
                {"type": "track", "userId": "u"},
                {"type": "identify", "userId": "u", "traits": {"email": "bad"}},
                {"type": "teleport", "userId": "u"},
                "not a call",
            ]
        },
        write_key,
    )
    assert response.status_code == 400
    found = problems(response)
    assert [p["at"] for p in found] == [
        "batch[1].event",
        "batch[2].traits.email",
        "batch[3].type",
        "batch[4]",
    ]
    assert "batch[1].event: Field required" in response.json()["error"]["message"]
    assert count(store, Event) == count(store, Customer) == 0


def test_batch_needs_a_list(client: TestClient, write_key: str) -> None:
    response = post(client, "/v1/batch", {"batch": {"type": "track"}}, write_key)
    assert response.status_code == 400
    assert problems(response) == [{"at": "batch", "problem": "required: a list of calls"}]
    ok(post(client, "/v1/batch", {"batch": []}, write_key))


def test_size_limits_are_413(client: TestClient, store: Store, write_key: str) -> None:
    big = "x" * (33 * 1024)
    response = post(client, "/v1/track", {"userId": "u", "event": "X", "p": big}, write_key)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert "32 KB" in response.json()["error"]["message"]
    # A batch may hold more than 32 KB, but no call in it may.
    calls = [{"type": "track", "userId": "u", "event": "X", "p": "y" * 20_000}] * 20
    ok(post(client, "/v1/batch", {"batch": calls}, write_key))
    calls[3] = {**calls[3], "p": big}
    response = post(client, "/v1/batch", {"batch": calls}, write_key)
    assert response.status_code == 413
    assert problems(response)[0]["at"] == "batch[3]"
    response = post(client, "/v1/batch", {"batch": [calls[0]] * 30}, write_key)
    assert response.status_code == 413
    assert "500 KB" in response.json()["error"]["message"]


def test_gzip_bodies_are_read(client: TestClient, store: Store, write_key: str) -> None:
    body = {"batch": [{"type": "track", "userId": "u", "event": "Zipped"}]}
    response = client.post(
        "/v1/batch",
        content=gzip.compress(json.dumps(body).encode()),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        auth=(write_key, ""),
    )
    ok(response)
    assert [e.type for e in stored_events(store)] == ["Zipped"]


def test_gzip_limits_and_errors(client: TestClient, write_key: str) -> None:
    bomb = gzip.compress(b'{"batch": [], "pad": "' + b" " * (10 * 1024 * 1024) + b'"}')
    assert len(bomb) < 500 * 1024
    headers = {"Content-Encoding": "gzip"}
    response = client.post("/v1/batch", content=bomb, headers=headers, auth=(write_key, ""))
    assert response.status_code == 413
    response = client.post("/v1/batch", content=b"not gzip", headers=headers, auth=(write_key, ""))
    assert response.status_code == 400
    assert "gzip" in response.json()["error"]["message"]
    response = client.post(
        "/v1/batch", content=b"{}", headers={"Content-Encoding": "br"}, auth=(write_key, "")
    )
    assert response.status_code == 415


def test_a_replayed_batch_after_an_identify_is_harmless(
    client: TestClient, store: Store, write_key: str
) -> None:
    body = {
        "batch": [
            {"type": "identify", "userId": "u", "traits": {"plan": "gold"}, "messageId": "i-1"},
            {"type": "track", "userId": "u", "event": "X", "messageId": "t-1"},
        ]
    }
    ok(post(client, "/v1/batch", body, write_key))
    ok(post(client, "/v1/batch", body, write_key))
    assert count(store, Event) == 1
    assert count(store, Customer) == 1


def test_the_tracking_api_is_in_the_openapi_document(client: TestClient) -> None:
    document = client.get("/api/openapi.json").json()
    body = document["paths"]["/v1/track"]["post"]["requestBody"]["content"]["application/json"]
    assert "event" in body["schema"]["properties"]


def test_events_widen_first_and_last_seen(client: TestClient, store: Store, write_key: str) -> None:
    for at in ("2024-03-10T12:00:00Z", "2024-03-12T08:00:00+01:00", "2024-03-01T00:00:00Z"):
        ok(post(client, "/v1/track", {"userId": "u", "event": "X", "timestamp": at}, write_key))
    customer = customer_with(store, IdentityClaim(kind="external", value="u", namespace="web"))
    assert customer.first_seen_at == datetime(2024, 3, 1, tzinfo=UTC)
    assert customer.last_seen_at == datetime(2024, 3, 12, 7, tzinfo=UTC)
