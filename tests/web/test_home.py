"""The overview page a newcomer lands on."""

from __future__ import annotations

from fastapi.testclient import TestClient

from regard.app import create_app
from regard.preferences import service
from regard.preferences.service import ConsentChange, Origin
from regard.store.database import Store, unit_of_work
from tests.preferences.support import new_customer


def test_the_overview_counts_customers_events_and_ledger_entries(store: Store) -> None:
    ana = new_customer(store)
    with unit_of_work(store) as session:
        service.record(
            session,
            ana,
            brand=store.brand,
            origin=Origin(source="center", actor="customer"),
            consents=[ConsentChange("offers:camping", "email", "opted-in")],
        )

    page = TestClient(create_app(store)).get("/")

    assert page.status_code == 200
    text = " ".join(page.text.split())
    assert "Customers</th><td>1</td>" in text
    assert "Consent ledger entries</th><td>1</td>" in text
    assert 'href="/p"' in text
