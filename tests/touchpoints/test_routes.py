"""The touchpoints API on both databases: catalogue, journey, triggers, campaign launches."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from regard.app import create_app
from regard.store.database import Store, unit_of_work
from regard.touchpoints.models import CampaignLaunch
from tests.api import auth
from tests.preferences.support import new_customer
from tests.segments.support import add_event
from tests.touchpoints.support import CATALOGUE, REPAIR_NOTICE, brand_with_touchpoints


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    store.brand = brand_with_touchpoints()
    with TestClient(create_app(store)) as test_client:
        yield test_client


def test_the_catalogue_lists_each_touchpoint_with_what_waits(
    client: TestClient, keys: dict[str, str], store: Store
) -> None:
    ana = new_customer(store)
    add_event(
        store, ana, "order_ready", datetime.now(UTC) - timedelta(hours=1), {"fulfilment": "pickup"}
    )
    ran = client.post("/api/touchpoints/trigger", json={}, headers=auth(keys["write"]))

    listed = client.get("/api/touchpoints", headers=auth(keys["read"]))

    assert ran.status_code == 200
    assert {run["touchpoint"]: run["created"] for run in ran.json()}["order_ready"] == 1
    assert listed.status_code == 200
    ready = next(tp for tp in listed.json() if tp["name"] == "order_ready")
    assert ready["importance"] == "transactional"
    assert ready["trigger"] == "event order_ready where fulfilment = 'pickup'"
    assert ready["deadline_seconds"] == 48 * 3600
    assert ready["pending"] == 1


def test_a_campaign_is_launched_with_a_write_key_only(
    client: TestClient, keys: dict[str, str], store: Store
) -> None:
    new_customer(store)
    body = {"by": "mila"}

    refused = client.post("/api/campaigns/spring_camping/launch", json=body)
    read_only = client.post(
        "/api/campaigns/spring_camping/launch", json=body, headers=auth(keys["read"])
    )
    launched = client.post(
        "/api/campaigns/spring_camping/launch", json=body, headers=auth(keys["write"])
    )
    unknown = client.post("/api/campaigns/autumn/launch", json=body, headers=auth(keys["write"]))
    not_campaign = client.post(
        "/api/campaigns/order_ready/launch", json=body, headers=auth(keys["write"])
    )

    assert refused.status_code == 401
    assert read_only.status_code == 401
    assert launched.status_code == 201
    assert launched.json()["created"] == 0  # nobody is active yet
    assert unknown.status_code == 404
    assert not_campaign.status_code == 400


def test_the_journey_map_answers_rows_gaps_and_pile_ups(
    client: TestClient, keys: dict[str, str]
) -> None:
    answer = client.get("/api/journey", headers=auth(keys["read"]))

    assert answer.status_code == 200
    assert answer.json() == {
        "window_days": 28,
        "pile_up_per_week": 3.0,
        "rows": [],
        "gaps": [],
        "pile_ups": [],
    }


def test_a_launch_may_choose_some_of_the_campaigns_channels(
    client: TestClient, keys: dict[str, str], store: Store
) -> None:
    store.brand = brand_with_touchpoints([*CATALOGUE, REPAIR_NOTICE])
    new_customer(store)
    url = "/api/campaigns/repair_notice/launch"
    write = auth(keys["write"])

    texts = client.post(url, json={"by": "mila", "channels": ["sms"]}, headers=write)
    every = client.post(url, json={"by": "mila"}, headers=write)
    unknown = client.post(url, json={"by": "mila", "channels": ["sms", "voice"]}, headers=write)
    not_a_list = client.post(url, json={"by": "mila", "channels": "sms"}, headers=write)

    assert texts.status_code == 201
    assert texts.json()["created"] == 1
    assert every.status_code == 201
    assert unknown.status_code == 400
    assert unknown.json()["error"]["details"] == {"channels": ["voice"]}
    assert not_a_list.status_code == 400  # validation errors answer 400 here
    with unit_of_work(store) as session:
        launched = session.scalars(select(CampaignLaunch).order_by(CampaignLaunch.id)).all()
    assert [launch.channels for launch in launched] == ["sms", None]
