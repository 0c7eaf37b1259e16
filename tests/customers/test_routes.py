"""``/api/customers``: profiles, look-ups through the blind index, merges; on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from regard.app import create_app
from regard.privacy.service import create_key
from regard.store.database import Store, unit_of_work


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(store)) as test_client:
        yield test_client


@pytest.fixture
def keys(store: Store) -> tuple[str, str]:
    """A write key for the ``shop`` source and a read key."""
    with unit_of_work(store) as session:
        write = create_key(session, name="shop", scope="write", source="shop").secret
        read = create_key(session, name="reader", scope="read").secret
    return write, read


def track(client: TestClient, write: str, path: str, body: dict[str, Any]) -> None:
    response = client.post(path, json=body, auth=(write, ""))
    assert response.status_code == 200, response.text


def get(client: TestClient, read: str, url: str, **kwargs: Any) -> Response:
    response: Response = client.get(url, headers={"Authorization": f"Bearer {read}"}, **kwargs)
    return response


@pytest.fixture
def ana(client: TestClient, keys: tuple[str, str]) -> int:
    """A customer with identities, traits and three events; returns the id."""
    write, read = keys
    track(
        client,
        write,
        "/v1/identify",
        {
            "userId": "1234",
            "anonymousId": "anon-1",
            "traits": {"email": "Ana@Example.com", "phone": "+31 6 12345678", "name": "Ana"},
            "context": {"timezone": "Europe/Amsterdam", "locale": "nl-NL"},
            "timestamp": "2024-05-01T10:00:00Z",
        },
    )
    for n, event in enumerate(("Viewed", "Added", "Bought")):
        track(
            client,
            write,
            "/v1/track",
            {"userId": "1234", "event": event, "timestamp": f"2024-05-0{n + 2}T10:00:00Z"},
        )
    customer_id: int = get(client, read, "/api/customers", params={"external": "shop:1234"}).json()[
        "id"
    ]
    return customer_id


def test_profile_has_identities_traits_and_recent_events(
    client: TestClient, keys: tuple[str, str], ana: int
) -> None:
    response = get(client, keys[1], f"/api/customers/{ana}")
    assert response.status_code == 200, response.text
    profile = response.json()
    assert profile["id"] == ana
    assert (profile["time_zone"], profile["locale"]) == ("Europe/Amsterdam", "nl-NL")
    assert profile["personal_traits"] == {"name": "Ana"}
    assert profile["traits"] == {}
    assert {(i["kind"], i["namespace"], i["value"]) for i in profile["identities"]} == {
        ("external", "shop", "1234"),
        ("anonymous", "", "anon-1"),
        ("email", "", "ana@example.com"),
        ("phone", "", "+31612345678"),
    }
    assert [e["type"] for e in profile["events"]] == ["Bought", "Added", "Viewed"]
    assert profile["first_seen_at"].startswith("2024-05-01T10:00:00")
    assert profile["last_seen_at"].startswith("2024-05-04T10:00:00")
    assert {"created_at", "updated_at"} <= profile.keys()
    limited = get(client, keys[1], f"/api/customers/{ana}", params={"events": 1}).json()
    assert [e["type"] for e in limited["events"]] == ["Bought"]


@pytest.mark.parametrize(
    "params",
    [
        {"email": " ANA@example.COM"},
        {"phone": "06-12345678"},  # the brand's region (NL) completes a national number
        {"phone": "+31612345678"},
        {"external": "shop:1234"},
    ],
)
def test_look_up_by_identity(
    client: TestClient, keys: tuple[str, str], ana: int, params: dict[str, str]
) -> None:
    response = get(client, keys[1], "/api/customers", params=params)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == ana


@pytest.mark.parametrize(
    ("params", "status", "text"),
    [
        ({"email": "nobody@example.com"}, 404, "no customer with that email identity"),
        ({"external": "pos:1234"}, 404, "external:pos"),
        ({"email": "not-an-email"}, 400, "invalid email address"),
        ({"phone": "123"}, 400, "invalid phone number"),
        ({"external": "1234"}, 400, "system:id"),
        ({}, 400, "exactly one of email, phone or external"),
        ({"email": "ana@example.com", "phone": "+31612345678"}, 400, "exactly one"),
    ],
)
def test_look_up_problems(
    client: TestClient,
    keys: tuple[str, str],
    ana: int,
    params: dict[str, str],
    status: int,
    text: str,
) -> None:
    response = get(client, keys[1], "/api/customers", params=params)
    assert response.status_code == status
    message = response.json()["error"]["message"]
    assert text in message
    assert "nobody" not in message  # personal data is not echoed back


def test_unknown_id_is_404(client: TestClient, keys: tuple[str, str]) -> None:
    response = get(client, keys[1], "/api/customers/999")
    assert response.status_code == 404
    assert response.json()["error"] == {"code": "not_found", "message": "no customer with id 999"}


def test_bad_id_or_limit_is_400(client: TestClient, keys: tuple[str, str]) -> None:
    response = get(client, keys[1], "/api/customers/abc")
    assert response.status_code == 400
    assert "customer_id" in response.json()["error"]["message"]
    response = get(client, keys[1], "/api/customers/1", params={"events": -1})
    assert response.status_code == 400
    assert "events" in response.json()["error"]["message"]


def test_merged_id_redirects_to_the_survivor(
    client: TestClient, keys: tuple[str, str], store: Store
) -> None:
    write, read = keys
    track(client, write, "/v1/track", {"anonymousId": "anon-2", "event": "Browsed"})
    track(client, write, "/v1/track", {"userId": "77", "event": "Logged In"})
    older = get(client, read, "/api/customers", params={"external": "shop:77"}).json()["id"]
    track(client, write, "/v1/identify", {"userId": "77", "anonymousId": "anon-2"})
    merges = get(client, read, "/api/customers/merges").json()
    assert len(merges) == 1
    (merge,) = merges
    assert merge["merged_id"] == older
    assert merge["matched_on"] == "external:shop"
    assert merge["events_moved"] == 1
    assert "merged_profile" not in merge

    response = get(
        client, read, f"/api/customers/{older}", params={"events": 5}, follow_redirects=False
    )
    assert response.status_code == 308
    survivor = merge["survivor_id"]
    assert response.headers["location"] == f"/api/customers/{survivor}?events=5"
    assert response.json() == {"merged_into": survivor, "location": response.headers["location"]}

    followed = get(client, read, f"/api/customers/{older}")
    assert followed.status_code == 200
    assert followed.json()["id"] == survivor
    assert len(followed.json()["events"]) == 2


@pytest.mark.parametrize(
    "url", ["/api/customers/1", "/api/customers?email=a@example.com", "/api/customers/merges"]
)
def test_read_key_is_required(client: TestClient, keys: tuple[str, str], url: str) -> None:
    write, _ = keys
    assert client.get(url).status_code == 401
    response = client.get(url, headers={"Authorization": f"Bearer {write}"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
