"""The touchpoints page on both databases: the catalogue in words and the journey map with its
table, checked against ``read_journey``."""

from __future__ import annotations

import html
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from regard.segments import service
from regard.store.database import Store, unit_of_work
from regard.touchpoints.journey import read_journey
from tests.segments.support import AS_OF, small_base
from tests.touchpoints.support import brand_with_touchpoints
from tests.web.admin.support import signed_in_as


def test_the_catalogue_and_the_journey_map(client: TestClient, store: Store) -> None:
    store.brand = brand_with_touchpoints()
    small_base(store)
    with unit_of_work(store) as session:
        service.evaluate_segments(session, brand=store.brand, as_of=AS_OF)
    signed_in_as(client, store, "analyst")

    page = client.get("/admin/touchpoints")

    assert page.status_code == 200
    text = html.unescape(page.text)
    order = text.split('data-touchpoint="order_ready"', 1)[1].split("</tr>", 1)[0]
    assert "event order_ready where fulfilment = 'pickup'" in order
    assert '<td class="deadline">2 days</td>' in order
    assert "sms, email" in order
    assert "otherwise: 3.0" in order
    camping = text.split('data-touchpoint="spring_camping"', 1)[1].split("</tr>", 1)[0]
    assert "lifecycle:active: 1.5" in camping
    assert "1 week" in camping
    with unit_of_work(store) as session:
        journey = read_journey(session, brand=store.brand, now=datetime.now(UTC))
    assert journey.rows
    for row in journey.rows:
        assert (
            f'data-segment="{row.segment}"><th scope="row">{row.segment}</th>'
            f'<td class="members">{row.members}</td>' in text
        )
    assert (", ".join(journey.gaps) or "none") in text.split('id="gaps">', 1)[1]
    assert '<table id="journey-table">' in text
    assert "<svg" in text


def test_an_empty_store_says_there_is_nothing_to_map(client: TestClient, store: Store) -> None:
    signed_in_as(client, store, "marketer")

    page = client.get("/admin/touchpoints?measure=per_week")

    assert page.status_code == 200
    assert "nothing to map" in page.text
    assert client.get("/admin/touchpoints?measure=loudness").status_code in (400, 422)
