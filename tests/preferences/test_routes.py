"""The preferences API on both databases: catalogue, grid, changes, replay, proof, devices,
imports, keys and merged ids."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import text

from regard.app import create_app
from regard.customers.identities import claim
from regard.customers.service import ProfileUpdate, Resolver
from regard.privacy.service import create_key
from regard.store.database import Store, unit_of_work
from tests.preferences.support import new_customer

T1 = datetime(2026, 3, 1, 9, tzinfo=UTC)
T2 = datetime(2026, 3, 5, 9, tzinfo=UTC)


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(store)) as test_client:
        yield test_client


@pytest.fixture
def keys(store: Store) -> tuple[str, str]:
    """A write key named ``app`` and a read key."""
    with unit_of_work(store) as session:
        write = create_key(session, name="app", scope="write", source="app").secret
        read = create_key(session, name="reader", scope="read").secret
    return write, read


class Api:
    def __init__(self, client: TestClient, keys: tuple[str, str]) -> None:
        self.client, (self.write, self.read) = client, keys

    def get(self, url: str, **params: Any) -> Response:
        response: Response = self.client.get(
            url, params=params, headers={"Authorization": f"Bearer {self.read}"}
        )
        return response

    def patch(self, url: str, body: Any, key: str | None = None) -> Response:
        response: Response = self.client.patch(
            url, json=body, headers={"Authorization": f"Bearer {key or self.write}"}
        )
        return response

    def post(self, url: str, body: Any) -> Response:
        response: Response = self.client.post(
            url, json=body, headers={"Authorization": f"Bearer {self.write}"}
        )
        return response


@pytest.fixture
def api(client: TestClient, keys: tuple[str, str]) -> Api:
    return Api(client, keys)


def grid(response: Response) -> dict[str, dict[str, Any]]:
    assert response.status_code == 200, response.text
    consents: dict[str, dict[str, Any]] = response.json()["consents"]
    return consents


def test_the_catalogue_lists_topics_channels_and_options(api: Api) -> None:
    response = api.get("/api/topics")

    assert response.status_code == 200, response.text
    body = response.json()
    topics = {t["key"]: t for t in body["topics"]}
    assert topics["orders"]["legal_basis"] == "contract"
    assert topics["orders"]["default"] == {"email": True, "sms": True, "push": True, "voice": False}
    assert topics["offers:camping"]["default"]["email"] is False
    assert [c["key"] for c in body["channels"]] == ["email", "sms", "push", "voice"]
    assert [o["key"] for o in body["settings"]["life_stages"]] == ["just-looking", "planning-trip"]
    assert body["settings"]["languages"] == ["en", "nl"]
    assert "weekly" in [o["key"] for o in body["settings"]["frequencies"]]


def test_reading_needs_a_read_key(client: TestClient, store: Store, keys: tuple[str, str]) -> None:
    ana = new_customer(store)
    assert client.get(f"/api/customers/{ana}/preferences").status_code == 401
    with_write = client.get(
        f"/api/customers/{ana}/preferences", headers={"Authorization": f"Bearer {keys[0]}"}
    )
    assert with_write.status_code == 401


def test_the_grid_shows_defaults_by_legal_basis(api: Api, store: Store) -> None:
    ana = new_customer(store)

    consents = grid(api.get(f"/api/customers/{ana}/preferences"))

    assert consents["orders"]["email"] == {
        "state": "default",
        "allowed": True,
        "legal_basis": "contract",
        "source": None,
        "since": None,
    }
    assert consents["offers:camping"]["email"]["allowed"] is False
    assert consents["orders"]["voice"]["allowed"] is False


def test_a_change_is_recorded_with_the_key_as_actor(api: Api, store: Store) -> None:
    ana = new_customer(store)

    response = api.patch(
        f"/api/customers/{ana}/preferences",
        {
            "consents": [{"topic": "offers:camping", "channel": "email", "state": "opted-in"}],
            "settings": {"frequency": "weekly", "language": "nl"},
        },
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["consents"]["offers:camping"]["email"]["allowed"] is True
    assert body["consents"]["offers:camping"]["email"]["source"] == "api"
    assert body["settings"] == {"frequency": {"": "weekly"}, "language": {"": "nl"}}
    assert {e["actor"] for e in body["recorded"]} == {"api:app"}
    assert len(body["recorded"]) == 3
    listed = api.patch(
        f"/api/customers/{ana}/preferences",
        {
            "settings": [{"setting": "frequency", "scope": "offers:camping", "value": "monthly"}],
            "actor": "staff:joe",
        },
    )
    assert listed.status_code == 200, listed.text
    assert listed.json()["recorded"][0]["actor"] == "staff:joe"
    assert listed.json()["settings"]["frequency"] == {"": "weekly", "offers:camping": "monthly"}


def test_a_partially_invalid_change_changes_nothing(api: Api, store: Store) -> None:
    ana = new_customer(store)

    response = api.patch(
        f"/api/customers/{ana}/preferences",
        {
            "consents": [
                {"topic": "offers:camping", "channel": "email", "state": "opted-in"},
                {"topic": "offers:kayaks", "channel": "email", "state": "opted-in"},
                {"topic": "events", "channel": "sms", "state": "maybe"},
            ],
            "settings": {"frequency": "hourly"},
        },
    )

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert [p["at"] for p in error["details"]["problems"]] == [
        "consents[1]",
        "consents[2].state",
        "settings[0] (frequency)",
    ]
    consents = grid(api.get(f"/api/customers/{ana}/preferences"))
    assert consents["offers:camping"]["email"]["state"] == "default"
    proof = api.get(f"/api/customers/{ana}/consent").json()
    assert proof["history"] == []


def test_an_unknown_field_or_a_read_key_is_refused(api: Api, store: Store) -> None:
    ana = new_customer(store)
    url = f"/api/customers/{ana}/preferences"
    unknown = api.patch(url, {"consent": []})
    assert unknown.status_code == 400, unknown.text
    assert api.patch(url, {"consents": []}, key=api.read).status_code == 401


def test_replay_at_a_past_moment(api: Api, store: Store) -> None:
    ana = new_customer(store)
    imported = api.post(
        "/api/consents/import",
        {
            "system": "crm",
            "records": [
                {
                    "customer": {"email": "ana@example.com"},
                    "topic": "events",
                    "channel": "email",
                    "state": "opted-in",
                    "occurred_at": T1.isoformat(),
                }
            ],
        },
    )
    assert imported.json()["recorded"] == 1, imported.text
    api.patch(
        f"/api/customers/{ana}/preferences",
        {"consents": [{"topic": "events", "channel": "email", "state": "opted-out"}]},
    )

    url = f"/api/customers/{ana}/preferences"
    before = api.get(url, at="2026-02-01T00:00:00Z")
    then = api.get(url, at="2026-03-03T12:00:00Z")
    now = api.get(url)

    assert grid(before)["events"]["email"]["state"] == "default"
    assert grid(then)["events"]["email"]["state"] == "opted-in"
    assert then.json()["as_of"] == "2026-03-03T12:00:00Z"
    assert grid(now)["events"]["email"]["state"] == "opted-out"
    naive = api.get(url, at="2026-03-03T12:00:00")
    assert naive.status_code == 400, naive.text


def test_the_proof_lists_history_and_verifies(api: Api, store: Store) -> None:
    ana = new_customer(store)
    api.patch(
        f"/api/customers/{ana}/preferences",
        {
            "consents": [{"topic": "events", "channel": "sms", "state": "opted-in"}],
            "settings": {"note": "Only about tents, please"},
            "wording_version": "v9",
        },
    )

    proof = api.get(f"/api/customers/{ana}/consent")

    assert proof.status_code == 200, proof.text
    body = proof.json()
    assert [(e["seq"], e["kind"]) for e in body["history"]] == [(1, "consent"), (2, "setting")]
    assert body["history"][0]["wording_version"] == "v9"
    assert body["history"][1]["value"] == "(personal, encrypted)"
    assert "tents" not in proof.text
    assert body["verification"]["ok"] is True
    assert body["verification"]["entries"] == 2
    note = api.get(f"/api/customers/{ana}/preferences").json()["note"]
    assert note == "Only about tents, please"


def test_a_merged_id_answers_for_its_survivor_and_tampering_shows(api: Api, store: Store) -> None:
    older = new_customer(store, email="ana@example.com")
    newer = new_customer(store, email=None, phone="+31612345678")
    api.patch(
        f"/api/customers/{newer}/preferences",
        {"consents": [{"topic": "offers:camping", "channel": "sms", "state": "opted-out"}]},
    )
    api.patch(
        f"/api/customers/{older}/preferences",
        {"consents": [{"topic": "offers:camping", "channel": "sms", "state": "opted-in"}]},
    )
    with unit_of_work(store) as session:
        resolver = Resolver(session, vault=store.vault, brand=store.brand)
        identities = (
            claim("email", "ana@example.com", region="NL", source=""),
            claim("phone", "+31612345678", region="NL", source=""),
        )
        resolver.prefetch(identities, load_profiles=True)
        resolver.resolve(ProfileUpdate(source="crm", observed_at=T2, identities=identities))
        resolver.flush()

    merged = api.get(f"/api/customers/{newer}/preferences")
    proof = api.get(f"/api/customers/{newer}/consent").json()

    assert merged.json()["customer_id"] == older
    assert grid(merged)["offers:camping"]["sms"]["state"] == "opted-out"
    assert proof["merged_profiles"] == [newer]
    assert {e["customer_id"] for e in proof["history"]} == {older, newer}
    assert proof["verification"]["ok"] is True
    assert api.get("/api/customers/999/preferences").status_code == 404

    with store.engine.begin() as conn:
        conn.execute(
            text("UPDATE consent_entries SET state = 'opted-in' WHERE customer_id = :c"),
            {"c": newer},
        )
    tampered = api.get(f"/api/customers/{older}/consent").json()["verification"]
    assert tampered["ok"] is False
    assert tampered["problems"] == [
        f"customer {newer} entry 1: its content does not match its hash"
    ]


def test_a_device_is_registered_and_listed(api: Api, store: Store) -> None:
    ana = new_customer(store)

    added = api.post(
        f"/api/customers/{ana}/devices", {"name": "Ana's phone", "platform": "ios", "token": "t1"}
    )
    again = api.post(
        f"/api/customers/{ana}/devices", {"name": "Phone", "platform": "ios", "token": "t1"}
    )
    bad = api.post(
        f"/api/customers/{ana}/devices", {"name": "x", "platform": "nokia", "token": "t"}
    )

    assert added.status_code == 201, added.text
    assert added.json()["handle"] == again.json()["handle"]
    assert bad.status_code == 400
    devices = api.get(f"/api/customers/{ana}/preferences").json()["devices"]
    assert [(d["name"], d["platform"]) for d in devices] == [("Phone", "ios")]
    assert "token" not in devices[0]


def test_an_import_reports_rejections_by_index_and_keeps_the_rest(api: Api, store: Store) -> None:
    ana = new_customer(store, email="ana@example.com", phone="+31612345678")
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    records: list[Any] = [
        {
            "customer": {"phone": "06 12345678"},
            "topic": "events",
            "channel": "sms",
            "state": "opted-in",
            "occurred_at": T1.isoformat(),
        },
        {
            "customer": {"email": "bob@example.com"},
            "topic": "events",
            "channel": "sms",
            "state": "opted-in",
            "occurred_at": T1.isoformat(),
        },
        {
            "customer": {"email": "ana@example.com"},
            "topic": "events",
            "channel": "sms",
            "state": "opted-in",
            "occurred_at": future,
        },
        {
            "customer": {"email": "ana@example.com"},
            "topic": "events",
            "channel": "sms",
            "state": "opted-in",
        },
        "not an object",
    ]

    response = api.post("/api/consents/import", {"system": "crm", "records": records})

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["received"], body["accepted"], body["rejected"]) == (5, 1, 4)
    assert [r["index"] for r in body["rejections"]] == [1, 2, 3, 4]
    assert body["rejections"][0]["problems"] == ["no customer with that email"]
    assert body["rejections"][2]["problems"] == ["occurred_at: Field required"]
    cell = grid(api.get(f"/api/customers/{ana}/preferences"))["events"]["sms"]
    assert (cell["state"], cell["source"]) == ("opted-in", "import")
    assert cell["since"] == "2026-03-01T09:00:00Z"
    too_many = api.post("/api/consents/import", {"system": "crm", "records": [{}] * 10_001})
    assert too_many.status_code == 400
