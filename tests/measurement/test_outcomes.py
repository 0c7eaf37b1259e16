"""Outcomes and lift over the store, on both databases, from hand-made decisions: exact counts
per arm, by channel and week, and the API's answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from regard.decisions.models import Decision, DecisionRun
from regard.delivery.models import MessageFeedback
from regard.measurement.lift import measure_lift
from regard.preferences import service as preferences
from regard.preferences.service import ConsentChange
from regard.store.database import Store, unit_of_work
from tests.api import auth
from tests.measurement.support import record_decision
from tests.preferences.support import CUSTOMER, new_customer
from tests.segments.support import add_event
from tests.touchpoints.support import brand_with_touchpoints

DECIDED = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday
NOW = DECIDED + timedelta(days=30)


def _decide(
    store: Store, customer: int, *, control: bool, channel: str = "email", run: int
) -> int | None:
    """A spring_camping decision for ``customer``; the outbox id when sent."""
    with unit_of_work(store) as session:
        return record_decision(
            session,
            run_id=run,
            customer=customer,
            touchpoint="spring_camping",
            at=DECIDED,
            control=control,
            channel=channel,
        )


def _feedback(store: Store, outbox: int, *kinds: str) -> None:
    with unit_of_work(store) as session:
        for kind in kinds:
            session.add(
                MessageFeedback(
                    key=f"{outbox}:{kind}",
                    outbox_id=outbox,
                    channel="email",
                    stream="email",
                    kind=kind,
                    occurred_at=DECIDED + timedelta(hours=1),
                    received_at=DECIDED + timedelta(hours=1),
                )
            )


@pytest.fixture
def camping(store: Store) -> dict[str, int]:
    """Two treated customers (email) and two in the control group, with what they did."""
    store.brand = brand_with_touchpoints()
    ids = {
        name: new_customer(store, email=f"{name}@example.com")
        for name in ("ana", "ben", "cas", "dee")
    }
    with unit_of_work(store) as session:
        run = DecisionRun(started_at=DECIDED, status="done")
        session.add(run)
        session.flush()
        run_id = run.id
    ana = _decide(store, ids["ana"], control=False, channel="email", run=run_id)
    ben = _decide(store, ids["ben"], control=False, channel="email", run=run_id)
    _decide(store, ids["cas"], control=True, run=run_id)
    _decide(store, ids["dee"], control=True, run=run_id)
    assert ana is not None
    assert ben is not None
    _feedback(store, ana, "delivered", "opened", "clicked")
    _feedback(store, ben, "delivered", "complained")
    day = timedelta(days=1)
    # ana buys twice within the week, and once after it (not counted).
    add_event(store, ids["ana"], "order_completed", DECIDED + 2 * day, {"amount": 30.0})
    add_event(store, ids["ana"], "order_completed", DECIDED + 6 * day, {"amount": 20.0})
    add_event(store, ids["ana"], "order_completed", DECIDED + 9 * day, {"amount": 99.0})
    # cas (control) buys within the week; dee bought before the decision only.
    add_event(store, ids["cas"], "order_completed", DECIDED + 3 * day, {"amount": 10.0})
    add_event(store, ids["dee"], "order_completed", DECIDED - day, {"amount": 70.0})
    # Not a conversion event.
    add_event(store, ids["dee"], "page_viewed", DECIDED + day, {"amount": 5.0})
    with unit_of_work(store) as session:
        preferences.record(
            session,
            ids["ben"],
            brand=store.brand,
            origin=CUSTOMER,
            consents=[ConsentChange("events", "email", "opted-out")],
        )
    return ids


COUNTS_TREATED = {
    "customers": 2.0,
    "delivered": 2.0,
    "engaged": 1.0,
    "converted": 1.0,
    "revenue": 50.0,
    "opted_out": 0.0,  # ben opted out today, long after the week after the decision
    "complained": 1.0,
}


def test_outcomes_per_arm_are_counted_exactly(store: Store, camping: dict[str, int]) -> None:
    with unit_of_work(store) as session:
        (row,) = measure_lift(session, brand=store.brand, now=NOW)
    assert row.touchpoint == "spring_camping"
    assert row.treated == COUNTS_TREATED
    assert row.control == {
        "customers": 2.0,
        "delivered": 0.0,
        "engaged": 0.0,
        "converted": 1.0,
        "revenue": 10.0,
        "opted_out": 0.0,
        "complained": 0.0,
    }
    # Four customers are far too few for a number.
    assert row.conversion.difference is None
    assert row.conversion.reason == (
        "too little data: 2 treated and 2 in control, at least 100 each"
    )


def test_an_opt_out_within_the_window_counts(store: Store, camping: dict[str, int]) -> None:
    # Measured as if decided just before ben's opt-out (recorded today).
    with unit_of_work(store) as session:
        session.execute(update(Decision).values(decided_at=datetime.now(UTC) - timedelta(hours=1)))
    with unit_of_work(store) as session:
        (row,) = measure_lift(session, brand=store.brand, now=datetime.now(UTC))
    assert row.treated["opted_out"] == 1.0
    assert row.control["opted_out"] == 0.0


def test_by_channel_and_by_week(store: Store, camping: dict[str, int]) -> None:
    with unit_of_work(store) as session:
        (email,) = measure_lift(session, brand=store.brand, now=NOW, by="channel")
        (week,) = measure_lift(session, brand=store.brand, now=NOW, by="week")
        assert measure_lift(session, brand=store.brand, now=NOW, touchpoint="newsletter") == []
    assert email.group == "email"
    assert email.treated == COUNTS_TREATED
    assert email.control["customers"] == 2.0
    assert week.group == "2026-03-02"
    assert week.treated["converted"] == 1.0


def test_the_api_answers_with_counts_and_reasons(
    client: TestClient, keys: dict[str, str], camping: dict[str, int]
) -> None:
    answer = client.get(
        "/api/measurement/lift", params={"by": "channel"}, headers=auth(keys["read"])
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["by"] == "channel"
    (row,) = body["rows"]
    assert row["group"] == "email"
    assert row["treated"]["converted"] == 1.0
    assert row["conversion_lift"]["difference"] is None
    assert row["conversion_lift"]["reason"].startswith("too little data")
    assert client.get("/api/measurement/lift").status_code == 401
    assert (
        client.get(
            "/api/measurement/lift", params={"by": "colour"}, headers=auth(keys["read"])
        ).status_code
        == 400
    )
