"""The commitment API on both databases: recording a response, reading commitment, keys, errors."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from regard.commitment.models import SurveyResponse
from regard.store.database import Store, unit_of_work
from tests.api import auth
from tests.commitment.test_service import LOYAL, OUTSIDER, WAVERING
from tests.preferences.support import new_customer


def post(client: TestClient, key: str, customer_id: int, body: dict[str, Any]) -> Any:
    return client.post(f"/api/customers/{customer_id}/survey", json=body, headers=auth(key))


def stored(store: Store) -> int:
    with unit_of_work(store) as session:
        return session.scalar(select(func.count()).select_from(SurveyResponse)) or 0


def test_a_response_is_stored_and_answered_with_the_group(
    client: TestClient, keys: dict[str, str], store: Store
) -> None:
    ana = new_customer(store)
    body = {
        "is_user": False,
        "answers": OUTSIDER,
        "free_text": {"what_matters": "<i>Friends</i> recommend you"},
        "responded_at": "2026-03-01T10:00:00+01:00",
    }

    response = post(client, keys["write"], ana, body)

    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["response"]["customer_id"] == ana
    assert answer["response"]["source"] == "api"
    assert answer["response"]["answers"] == {"rating_brand": 8.0, "rating_current": 5.0}
    assert answer["response"]["free_text"] == {"what_matters": "Friends recommend you"}
    assert answer["response"]["responded_at"].startswith("2026-03-01T09:00:00")
    assert answer["commitment"]["group"] == "Available"
    assert answer["commitment"]["reason"].startswith("Available: rates us 8/10")


def test_commitment_shows_the_current_group_and_the_history(
    client: TestClient, keys: dict[str, str], store: Store
) -> None:
    ana = new_customer(store)
    ben = new_customer(store, email="ben@example.com")
    for at, answers in (("2026-03-01T09:00:00Z", WAVERING), ("2026-03-05T09:00:00Z", LOYAL)):
        body = {"is_user": True, "answers": answers, "responded_at": at}
        assert post(client, keys["write"], ana, body).status_code == 201
    other = {"is_user": True, "answers": WAVERING}
    assert post(client, keys["write"], ben, other).status_code == 201
    response = client.get(f"/api/customers/{ana}/commitment", headers=auth(keys["read"]))

    assert response.status_code == 200, response.text
    view = response.json()
    current = view["current"]
    assert current["responded_at"].startswith("2026-03-05")
    assert current["group"] in {"Entrenched", "Average"}
    assert {"score", "margin", "affective", "lock_in", "reason"} <= current.keys()
    assert [h["responded_at"][:10] for h in view["history"]] == ["2026-03-01", "2026-03-05"]
    assert view["history"][0]["answers"]["satisfaction"] == 5.0
    assert view["history"][0]["score"] < view["history"][1]["score"]
    assert set(view["cut_points"]) == {"shallow_from", "average_from", "entrenched_from"}


def test_a_customer_never_surveyed_has_no_commitment_yet(
    client: TestClient, keys: dict[str, str], store: Store
) -> None:
    ana = new_customer(store)

    response = client.get(f"/api/customers/{ana}/commitment", headers=auth(keys["read"]))

    assert response.status_code == 200, response.text
    assert response.json()["current"] is None
    assert response.json()["history"] == []


def test_invalid_answers_are_all_named_and_nothing_is_stored(
    client: TestClient, keys: dict[str, str], store: Store
) -> None:
    ana = new_customer(store)
    body = {"is_user": True, "answers": {**LOYAL, "satisfaction": 12, "mood": 3}}

    response = post(client, keys["write"], ana, body)

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["details"]["problems"] == [
        "satisfaction: 12 is outside its scale 0-10",
        "mood: there is no survey item 'mood'",
    ]
    assert stored(store) == 0


def test_a_malformed_body_is_a_readable_400(
    client: TestClient, keys: dict[str, str], store: Store
) -> None:
    ana = new_customer(store)

    response = post(client, keys["write"], ana, {"answers": LOYAL, "nps": 9})

    assert response.status_code == 400, response.text
    problems = response.json()["error"]["details"]["problems"]
    assert {p["at"] for p in problems} == {"is_user", "nps"}
    naive = post(
        client,
        keys["write"],
        ana,
        {"is_user": True, "answers": LOYAL, "responded_at": "2026-03-01T09:00:00"},
    )
    assert naive.status_code == 400
    assert stored(store) == 0


def test_keys_are_required_and_scoped(
    client: TestClient, keys: dict[str, str], store: Store
) -> None:
    ana = new_customer(store)
    body = {"is_user": True, "answers": LOYAL}

    assert client.post(f"/api/customers/{ana}/survey", json=body).status_code == 401
    assert post(client, keys["read"], ana, body).status_code in {401, 403}
    assert post(client, "not-a-key", ana, body).status_code == 401
    assert client.get(f"/api/customers/{ana}/commitment").status_code == 401
    assert stored(store) == 0


def test_an_unknown_customer_is_a_404(client: TestClient, keys: dict[str, str]) -> None:
    body = {"is_user": True, "answers": LOYAL}

    assert post(client, keys["write"], 424242, body).status_code == 404
    response = client.get("/api/customers/424242/commitment", headers=auth(keys["read"]))
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "no customer with id 424242"


def test_the_survey_definition_lists_items_and_open_questions(
    client: TestClient, keys: dict[str, str]
) -> None:
    answer = client.get("/api/survey", headers=auth(keys["read"]))

    assert answer.status_code == 200
    body = answer.json()
    items = {item["key"]: item for item in body["items"]}
    assert items["involvement"]["scale_min"] == 1
    assert items["involvement"]["scale_max"] == 5
    assert items["satisfaction"]["asked_of"] == "users"
    assert items["rating_current"]["asked_of"] == "non-users"
    assert [q["key"] for q in body["questions"]] == ["what_matters", "more_useful"]
    assert client.get("/api/survey").status_code == 401
