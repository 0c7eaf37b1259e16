"""The decisions API on both databases: starting runs, reading decisions, previews."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from regard.app import create_app
from regard.decisions import repository
from regard.store.database import Store, unit_of_work
from tests.api import auth
from tests.decisions.support import NOW


@pytest.fixture
def client(store: Store, shop: dict[str, int]) -> Iterator[TestClient]:
    with TestClient(create_app(store)) as test_client:
        yield test_client


def test_a_run_started_by_the_api_is_listed_with_its_decisions(
    client: TestClient, keys: dict[str, str], shop: dict[str, int]
) -> None:
    started = client.post(
        "/api/engine/runs", json={"at": NOW.isoformat()}, headers=auth(keys["write"])
    )

    assert started.status_code == 201
    run = started.json()
    assert (run["candidates"], run["sent"], run["queued"]) == (2, 2, 2)
    assert run["bound"] >= run["value"] > 0
    runs = client.get("/api/engine/runs", headers=auth(keys["read"])).json()
    assert [r["run_id"] for r in runs] == [run["run_id"]]
    decided = client.get(
        "/api/decisions", params={"customer_id": shop["ben"]}, headers=auth(keys["read"])
    ).json()
    assert [(d["touchpoint"], d["outcome"], d["channel"]) for d in decided] == [
        ("order_ready", "sent", "email")
    ]
    assert decided[0]["sentence"].startswith("Sent: by email")
    summary = client.get("/api/decisions/summary", headers=auth(keys["read"])).json()
    assert summary == [
        {"touchpoint": "order_ready", "outcome": "sent", "reason": "chosen", "decisions": 2}
    ]


def test_a_run_while_another_decides_is_a_conflict(
    client: TestClient, keys: dict[str, str], store: Store
) -> None:
    with unit_of_work(store) as session:
        repository.take_lock(session, holder="elsewhere:1", now=NOW, hold_for=timedelta(minutes=30))

    busy = client.post(
        "/api/engine/runs", json={"at": NOW.isoformat()}, headers=auth(keys["write"])
    )

    assert busy.status_code == 409
    assert busy.json()["error"]["code"] == "engine_busy"


def test_keys_guard_the_engine(client: TestClient, keys: dict[str, str]) -> None:
    assert client.post("/api/engine/runs", json={}).status_code == 401
    assert client.post("/api/engine/runs", json={}, headers=auth(keys["read"])).status_code == 401
    assert client.get("/api/decisions").status_code == 401


def test_a_preview_answers_and_keeps_nothing(client: TestClient, keys: dict[str, str]) -> None:
    answer = client.post(
        "/api/campaigns/spring_camping/preview",
        json={"by": "mila", "at": NOW.isoformat()},
        headers=auth(keys["write"]),
    )
    unknown = client.post("/api/campaigns/autumn/preview", json={}, headers=auth(keys["write"]))

    assert answer.status_code == 200
    assert answer.json()["audience"] == 0
    assert answer.json()["warnings"] == []
    assert unknown.status_code == 404
    assert client.get("/api/decisions", headers=auth(keys["read"])).json() == []
