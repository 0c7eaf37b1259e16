"""A small shop for the engine's tests: two customers, an order ready for each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from regard.preferences import service as preferences
from regard.preferences.service import ConsentChange
from regard.store.database import Store, unit_of_work
from regard.touchpoints import triggers
from tests.preferences.support import CUSTOMER, new_customer
from tests.segments.support import add_event
from tests.touchpoints.support import brand_with_touchpoints


def _next_friday_noon() -> datetime:
    """A Friday after today, 13:00 in Amsterdam (inside every window), so that consent given
    now by the tests has been given by then."""
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    return today + timedelta(days=(4 - today.weekday()) % 7 + 7)


NOW = _next_friday_noon()
# The first of the month after NOW, when the monthly newsletter goes out.
NEWSLETTER_DAY = (NOW.replace(day=28) + timedelta(days=4)).replace(day=1, hour=9, minute=30)


@pytest.fixture
def shop(store: Store) -> dict[str, int]:
    """ana has a phone and opted in to store events by email; ben gave no consent."""
    store.brand = brand_with_touchpoints()
    ana = new_customer(store, phone="+31612345678")
    ben = new_customer(store, email="ben@example.com")
    with unit_of_work(store) as session:
        preferences.record(
            session,
            ana,
            brand=store.brand,
            origin=CUSTOMER,
            consents=[ConsentChange("events", "email", "opted-in")],
        )
    for who in (ana, ben):
        add_event(store, who, "order_ready", NOW - timedelta(hours=2), {"fulfilment": "pickup"})
    with unit_of_work(store) as session:
        triggers.run_triggers(session, brand=store.brand, now=NOW)
    return {"ana": ana, "ben": ben}


def newsletter(store: Store) -> None:
    with unit_of_work(store) as session:
        triggers.run_triggers(session, brand=store.brand, now=NEWSLETTER_DAY)
