"""Relationship health read from the store, on both databases: messages, feedback and opt-outs
counted per week and channel, customers at their caps, survey and lifecycle movement, the charts
with their text, and the API's answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from fastapi.testclient import TestClient

from regard.commitment import service as commitment
from regard.decisions.models import DecisionRun
from regard.delivery.models import MessageFeedback
from regard.measurement.health import GROUPS, LIFECYCLE_STAGES
from regard.measurement.health_service import health_charts, relationship_health
from regard.preferences import service as preferences
from regard.preferences.service import ConsentChange, Origin, SettingChange
from regard.store.database import Store, unit_of_work
from tests.api import auth
from tests.measurement.support import record_decision
from tests.preferences.support import new_customer
from tests.segments.support import add_purchases
from tests.touchpoints.support import brand_with_touchpoints

# A Wednesday noon: this week started on Monday 2026-03-09.
AS_OF = datetime(2026, 3, 11, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
THIS_WEEK = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)
LAST_WEEK = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
USER_ANSWERS = {
    "satisfaction": 9,
    "emotional_fit": 9,
    "involvement": 4,
    "best_alternative": 2,
    "considering_switching": 1,
}


def _send(
    store: Store, customer: int, *, touchpoint: str, topic: str, channel: str, at: datetime
) -> int:
    """A message decided and sent at ``at``; its outbox id."""
    with unit_of_work(store) as session:
        run = DecisionRun(started_at=at, status="done")
        session.add(run)
        session.flush()
        sent = record_decision(
            session,
            run_id=run.id,
            customer=customer,
            touchpoint=touchpoint,
            at=at,
            channel=channel,
            topic=topic,
            content=touchpoint,
            key=f"test:{customer}:{at.isoformat()}:{channel}",
        )
    assert sent is not None
    return sent


def _feedback(store: Store, outbox: int, kind: str, at: datetime) -> None:
    with unit_of_work(store) as session:
        session.add(
            MessageFeedback(
                key=f"{outbox}:{kind}",
                outbox_id=outbox,
                channel="email",
                stream="email",
                kind=kind,
                occurred_at=at,
                received_at=at,
            )
        )


def _respond(store: Store, customer: int, at: datetime, *, answers: dict[str, int]) -> None:
    with unit_of_work(store) as session:
        commitment.record_response(
            session,
            customer,
            brand=store.brand,
            is_user="satisfaction" in answers,
            answers=answers,
            free_text=None,
            source="api",
            responded_at=at,
        )


@pytest.fixture
def base(store: Store) -> dict[str, int]:
    """Four customers on email, with messages over two weeks, a complaint, an opt-out, a weekly
    choice, surveys and purchases."""
    brand = brand_with_touchpoints()
    store.brand = brand.model_copy(
        update={
            # Two messages are enough for a rate here (500 by default).
            "delivery": brand.delivery.model_copy(
                update={"breaker": brand.delivery.breaker.model_copy(update={"min_deliveries": 2})}
            ),
            "commitment": brand.commitment.model_copy(update={"cut_points": (0.3, 0.5, 0.7)}),
        }
    )
    ids = {name: new_customer(store, email=f"{name}@example.com") for name in ("ana", "ben", "cas")}
    ids["dee"] = new_customer(store, email="dee@example.com")
    # Last week: three newsletters, all delivered, ben complains and then leaves.
    for name in ("ana", "ben", "cas"):
        sent = _send(
            store, ids[name], touchpoint="newsletter", topic="events", channel="email",
            at=LAST_WEEK,
        )  # fmt: skip
        _feedback(store, sent, "delivered", LAST_WEEK + timedelta(minutes=5))
        if name == "ben":
            _feedback(store, sent, "complained", LAST_WEEK + timedelta(hours=2))
    with unit_of_work(store) as session:
        preferences.record(
            session,
            ids["ben"],
            brand=store.brand,
            origin=Origin(source="center", actor="customer", occurred_at=LAST_WEEK + DAY),
            consents=[ConsentChange("events", "email", "opted-out")],
        )
        # cas chose weekly messages.
        preferences.record(
            session,
            ids["cas"],
            brand=store.brand,
            origin=Origin(source="center", actor="customer", occurred_at=LAST_WEEK - DAY),
            settings=[SettingChange("frequency", "weekly")],
        )
    # This week: an offer to ana this morning (the day's promotional message is used up); one
    # to dee. Nothing to cas this week: her weekly message was 9 days ago, outside the week.
    _send(
        store, ids["ana"], touchpoint="spring_camping", topic="offers:camping", channel="email",
        at=AS_OF - timedelta(hours=2),
    )  # fmt: skip
    _send(
        store, ids["dee"], touchpoint="spring_camping", topic="offers:camping", channel="email",
        at=THIS_WEEK,
    )  # fmt: skip
    # Surveys: ana answered twice as a user; dee twice as a non-user (Available, then
    # Strongly unavailable); cas once (not in the matrix).
    _respond(store, ids["ana"], LAST_WEEK - 30 * DAY, answers=USER_ANSWERS)
    _respond(store, ids["ana"], LAST_WEEK, answers=USER_ANSWERS)
    _respond(
        store, ids["dee"], LAST_WEEK - 30 * DAY, answers={"rating_brand": 9, "rating_current": 3}
    )
    _respond(store, ids["dee"], LAST_WEEK, answers={"rating_brand": 2, "rating_current": 9})
    _respond(store, ids["cas"], LAST_WEEK, answers={"rating_brand": 5, "rating_current": 5})
    # Purchases: ana bought 100 days ago (new then, at risk now); ben last month (new now).
    add_purchases(store, ids["ana"], (AS_OF - 100 * DAY, 40.0))
    add_purchases(store, ids["ben"], (AS_OF - 20 * DAY, 25.0))
    return ids


def test_rates_per_week_and_channel_count_the_store_exactly(
    store: Store, base: dict[str, int]
) -> None:
    with unit_of_work(store) as session:
        health = relationship_health(session, brand=store.brand, as_of=AS_OF, weeks=3)
    assert health.complaint_line == 0.003
    assert health.rates.select("week", "sent", "delivered", "opted_out", "complained").rows() == [
        (datetime(2026, 2, 23).date(), 0, 0, 0, 0),
        (LAST_WEEK.date(), 3, 3, 1, 1),
        (THIS_WEEK.date(), 2, 0, 0, 0),
    ]
    last = health.rates.row(1, named=True)
    assert last["complaint_rate"] == pytest.approx(1 / 3)
    assert last["opt_out_rate"] == pytest.approx(1 / 3)
    assert last["over_line"] is True
    assert last["note"] == "complaints above the 0.3% line"
    first = health.rates.row(0, named=True)
    assert first["complaint_rate"] is None
    assert first["note"] == "too little data: 0 sent, at least 2 needed"
    by_channel = {row["channel"]: row for row in health.rates_by_channel.iter_rows(named=True)}
    assert set(by_channel) == {"email", "sms", "push", "voice"}
    assert (by_channel["email"]["sent"], by_channel["email"]["complained"]) == (5, 1)
    assert by_channel["sms"]["sent"] == 0
    by_touchpoint = {
        row["touchpoint"]: row["sent"] for row in health.rates_by_touchpoint.iter_rows(named=True)
    }
    assert by_touchpoint == {"newsletter": 3, "order_ready": 0, "spring_camping": 2}


def test_fatigue_and_movement_from_the_store(store: Store, base: dict[str, int]) -> None:
    with unit_of_work(store) as session:
        health = relationship_health(session, brand=store.brand, as_of=AS_OF, weeks=3)
        ana_history = commitment.history(session, base["ana"], brand=store.brand).history
    fatigue = {row["channel"]: row for row in health.fatigue.iter_rows(named=True)}
    # Everyone has an email address; ana is at the day's promotional cap. cas's weekly message
    # was 9 days ago and dee's offer was this week, so neither is at a cap; a relationship
    # newsletter does not fill ben's promotional caps.
    assert (fatigue["email"]["reachable"], fatigue["email"]["at_cap"]) == (4, 1)
    assert fatigue["email"]["share"] == 0.25
    assert fatigue["sms"]["reachable"] == 0
    assert fatigue["sms"]["share"] is None
    assert (fatigue["all"]["reachable"], fatigue["all"]["at_cap"]) == (4, 1)

    matrix = health.commitment_transitions
    assert matrix.height == 64
    moved = {
        (row["from_group"], row["to_group"]): row["customers"]
        for row in matrix.iter_rows(named=True)
        if row["customers"]
    }
    # ana's two responses, in the groups the commitment module gives them.
    ana_groups = tuple(str(group) for group in ana_history["group"].to_list())
    assert moved == {ana_groups: 1, ("Available", "Strongly unavailable"): 1}
    assert ana_groups[0] in GROUPS

    stages = {
        (row["from_stage"], row["to_stage"]): row["customers"]
        for row in health.lifecycle_transitions.iter_rows(named=True)
        if row["customers"]
    }
    assert health.lifecycle_transitions.height == len(LIFECYCLE_STAGES) ** 2
    assert stages == {("new", "at_risk"): 1, ("prospect", "new"): 1, ("prospect", "prospect"): 2}


def test_the_charts_say_what_they_show(store: Store, base: dict[str, int]) -> None:
    with unit_of_work(store) as session:
        health = relationship_health(session, brand=store.brand, as_of=AS_OF, weeks=3)
    rates, fatigue, commitment_chart, lifecycle_chart = health_charts(health)
    assert rates.title.startswith("Complaint and opt-out rates per week (1 of 3 weeks left out")
    assert "Complaint line: 0.3%" in rates.alt
    assert "above it: 2026-03-02 (Complaint rate)" in rates.alt
    assert rates.table[-1][0] == "Complaint line"
    assert "email: 25%" in fatigue.alt
    assert "every channel: 25%" in fatigue.alt
    assert "Available: " in commitment_chart.alt
    assert commitment_chart.table[0][1:] == GROUPS
    assert lifecycle_chart.table[0][1:] == LIFECYCLE_STAGES
    assert "90 days ago" in lifecycle_chart.alt
    for chart in (rates, fatigue, commitment_chart, lifecycle_chart):
        assert chart.svg.startswith("<svg")
        assert "<desc" in chart.svg


def test_an_empty_store_has_zeros_and_no_rates(store: Store) -> None:
    with unit_of_work(store) as session:
        health = relationship_health(session, brand=store.brand, as_of=AS_OF)
    assert health.rates.height == 12
    assert health.rates["sent"].sum() == 0
    assert health.rates["complaint_rate"].null_count() == 12
    assert health.fatigue["reachable"].sum() == 0
    assert health.commitment_transitions["customers"].sum() == 0
    assert health.lifecycle_transitions["customers"].sum() == 0
    assert len(health_charts(health)) == 4


def test_the_api_answers_with_the_same_numbers(
    client: TestClient, keys: dict[str, str], store: Store, base: dict[str, int]
) -> None:
    answer = client.get(
        "/api/measurement/health",
        params={"weeks": 3, "as_of": AS_OF.isoformat()},
        headers=auth(keys["read"]),
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["complaint_line"] == 0.003
    assert [week["week"] for week in body["rates"]] == ["2026-02-23", "2026-03-02", "2026-03-09"]
    assert body["rates"][1]["complained"] == 1
    assert body["rates"][1]["over_line"] is True
    assert body["rates"][0]["complaint_rate"] is None
    email = next(row for row in body["fatigue"] if row["channel"] == "email")
    assert email == {"channel": "email", "reachable": 4, "at_cap": 1, "share": 0.25}
    assert len(body["commitment_transitions"]) == 64
    assert pl.DataFrame(body["lifecycle_transitions"])["customers"].sum() == 4
    assert client.get("/api/measurement/health").status_code == 401
    refused = client.get("/api/measurement/health", params={"weeks": 0}, headers=auth(keys["read"]))
    assert refused.status_code == 400
