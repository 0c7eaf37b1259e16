"""The overview page: every chart with its table and text alternative, figures from the database."""

from __future__ import annotations

import html
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from regard.console.overview import overview_charts, read_overview
from regard.customers.models import Customer
from regard.segments.models import SegmentMembership
from regard.store.database import Store, unit_of_work
from regard.web.admin.overview import CHART_ORDER
from tests.web.admin.support import signed_in_as


def _seed(store: Store) -> None:
    now = datetime.now(UTC)
    with unit_of_work(store) as session:
        customers = [Customer(created_at=now, updated_at=now) for _ in range(5)]
        session.add_all(customers)
        session.flush()
        for customer, group in zip(
            customers, ["Entrenched", "Entrenched", "Shallow", "Available"], strict=False
        ):
            session.add(
                SegmentMembership(
                    segment=f"commitment:{group}", customer_id=customer.id, entered_at=now
                )
            )
        session.add(
            SegmentMembership(
                segment="lifecycle:active", customer_id=customers[0].id, entered_at=now
            )
        )


def test_an_analyst_sees_every_chart_with_its_numbers(client: TestClient, store: Store) -> None:
    _seed(store)
    signed_in_as(client, store, "analyst")
    page = client.get("/admin/overview")
    assert page.status_code == 200
    text = html.unescape(page.text)
    with unit_of_work(store) as session:
        figures = read_overview(session, brand=store.brand, now=datetime.now(UTC))
    assert figures.growth.customers == 5
    assert figures.commitment.scored == 4
    assert '<dd id="figure-customers">5</dd>' in text
    assert '<dd id="figure-scored">4</dd>' in text
    charts = overview_charts(figures)
    assert text.count("<svg") == len(charts) == len(CHART_ORDER)
    for key, heading in CHART_ORDER:
        chart = charts[key]
        assert f'id="chart-{key}"' in text
        assert heading in text
        assert chart.alt in text
        assert f"{chart.title}: the numbers" in text
        for row in chart.table[1:]:
            assert row[0] in text
    assert "<script" not in text
    assert "0.3% of messages sent" in text


def test_the_overview_is_linked_for_roles_that_may_open_it(
    client: TestClient, store: Store
) -> None:
    signed_in_as(client, store, "agent")
    front = client.get("/admin/")
    assert "/admin/customers" in front.text
    assert "/admin/overview" not in front.text
    assert client.get("/admin/overview").status_code == 403


def test_an_empty_store_still_draws_every_chart(client: TestClient, store: Store) -> None:
    signed_in_as(client, store, "marketer")
    page = client.get("/admin/overview", params={"weeks": 4, "days": 7})
    assert page.status_code == 200
    assert page.text.count("<svg") == len(CHART_ORDER)
    assert '<dd id="figure-customers">0</dd>' in page.text
    assert "/admin/overview" in client.get("/admin/").text
    assert client.get("/admin/overview", params={"weeks": 0}).status_code in (400, 422)
