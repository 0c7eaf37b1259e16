"""Triggers on both databases: events, schedules and campaigns make each candidate once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from regard.customers.identities import claim
from regard.customers.service import ProfileUpdate, Resolver
from regard.errors import InvalidInput, NotFound
from regard.segments.models import SegmentMembership
from regard.store.database import Store, unit_of_work
from regard.touchpoints import triggers
from regard.touchpoints.models import Candidate
from regard.touchpoints.options import ScheduleTrigger
from tests.preferences.support import new_customer
from tests.segments.support import add_event
from tests.touchpoints.support import brand_with_touchpoints

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
BRAND = brand_with_touchpoints()


def run(store: Store, now: datetime = NOW) -> dict[str, triggers.Triggered]:
    with unit_of_work(store) as session:
        return {t.touchpoint: t for t in triggers.run_triggers(session, brand=BRAND, now=now)}


def candidates(store: Store) -> list[tuple[str, int, str, datetime, datetime | None]]:
    with unit_of_work(store) as session:
        rows = session.execute(
            select(
                Candidate.touchpoint,
                Candidate.customer_id,
                Candidate.key,
                Candidate.triggered_at,
                Candidate.deadline_at,
            ).order_by(Candidate.id)
        ).all()
        return [tuple(row) for row in rows]  # type: ignore[misc]


def in_segment(store: Store, customer_id: int, segment: str) -> None:
    with unit_of_work(store) as session:
        session.add(SegmentMembership(segment=segment, customer_id=customer_id, entered_at=NOW))


def test_an_event_makes_one_candidate_however_often_triggers_run(store: Store) -> None:
    ana = new_customer(store)
    ready = NOW - timedelta(hours=1)
    add_event(store, ana, "order_ready", ready, {"fulfilment": "pickup", "order": "A1"})

    first = run(store)
    again = run(store)

    assert first["order_ready"].created == 1
    assert again["order_ready"].created == 0
    ((touchpoint, customer, key, at, deadline),) = candidates(store)
    assert (touchpoint, customer, at, deadline) == (
        "order_ready",
        ana,
        ready,
        ready + timedelta(hours=48),
    )
    assert key.startswith("event:")


def test_events_that_do_not_match_or_are_too_old_make_none(store: Store) -> None:
    ana = new_customer(store)
    add_event(store, ana, "order_ready", NOW - timedelta(hours=2), {"fulfilment": "delivery"})
    add_event(store, ana, "order_ready", NOW - timedelta(days=3), {"fulfilment": "pickup"})
    add_event(store, ana, "order_placed", NOW - timedelta(hours=1), {"fulfilment": "pickup"})

    done = run(store)["order_ready"]

    assert done.created == 0
    assert done.skipped == {"conditions not met": 1}
    assert candidates(store) == []


def test_a_later_run_reads_only_new_events(store: Store) -> None:
    ana = new_customer(store)
    add_event(store, ana, "order_ready", NOW - timedelta(hours=3), {"fulfilment": "pickup"})
    run(store)
    add_event(store, ana, "order_ready", NOW - timedelta(hours=1), {"fulfilment": "pickup"})

    done = run(store, NOW + timedelta(minutes=5))["order_ready"]

    assert done.created == 1
    assert done.skipped == {}
    assert len(candidates(store)) == 2


def test_a_monthly_schedule_reaches_everyone_once_per_slot(store: Store) -> None:
    ana, ben = new_customer(store), new_customer(store, email="ben@example.com")
    first_of_month = datetime(2026, 12, 1, 10, 0, tzinfo=AMSTERDAM)

    before = run(store, first_of_month - timedelta(minutes=1))["newsletter"]
    on_time = run(store, first_of_month + timedelta(hours=2))["newsletter"]
    later = run(store, first_of_month + timedelta(days=1))["newsletter"]

    assert before.created == 0
    assert before.skipped == {"first slot already past": 1}
    assert on_time.created == 2
    assert later.created == 0
    rows = candidates(store)
    assert {customer for _, customer, _, _, _ in rows} == {ana, ben}
    assert {key for _, _, key, _, _ in rows} == {"schedule:2026-12-01T09:00Z"}


def test_a_campaign_reaches_its_segments_now(store: Store) -> None:
    ana, ben = new_customer(store), new_customer(store, email="ben@example.com")
    in_segment(store, ana, "lifecycle:active")

    with unit_of_work(store) as session:
        done = triggers.launch_campaign(session, "spring_camping", brand=BRAND, by="mila", now=NOW)

    assert done.created == 1
    ((touchpoint, customer, key, at, deadline),) = candidates(store)
    assert (touchpoint, customer, at, deadline) == (
        "spring_camping",
        ana,
        NOW,
        NOW + timedelta(days=7),
    )
    assert key.startswith("campaign:")
    assert ben not in {row[1] for row in candidates(store)}


def test_only_campaigns_are_launched_by_staff(store: Store) -> None:
    with unit_of_work(store) as session:
        with pytest.raises(NotFound, match="no touchpoint 'spring'"):
            triggers.launch_campaign(session, "spring", brand=BRAND, by="mila", now=NOW)
        with pytest.raises(InvalidInput, match="triggered by event"):
            triggers.launch_campaign(session, "order_ready", brand=BRAND, by="mila", now=NOW)


def test_a_merge_gives_the_survivor_the_candidates_once(store: Store) -> None:
    ana = new_customer(store, email="ana@example.com")
    phone_only = new_customer(store, email=None, phone="+31612345678")
    run(store, datetime(2026, 12, 1, 9, 30, tzinfo=UTC))
    assert len(candidates(store)) == 2

    with unit_of_work(store) as session:
        resolver = Resolver(session, vault=store.vault, brand=store.brand)
        resolver.resolve(
            ProfileUpdate(
                source="shop",
                observed_at=NOW,
                identities=(
                    claim("email", "ana@example.com", region="NL", source="shop"),
                    claim("phone", "+31612345678", region="NL", source="shop"),
                ),
            )
        )
        resolver.flush()

    rows = candidates(store)
    assert [(touchpoint, customer) for touchpoint, customer, *_ in rows] == [("newsletter", ana)]
    del phone_only


@pytest.mark.parametrize(
    ("schedule", "now", "slot"),
    [
        (
            ScheduleTrigger(every="day", at="09:00"),
            datetime(2026, 3, 29, 8, 30, tzinfo=AMSTERDAM),
            datetime(2026, 3, 28, 9, 0, tzinfo=AMSTERDAM),
        ),
        (
            ScheduleTrigger(every="day", at="09:00"),
            datetime(2026, 3, 29, 9, 0, tzinfo=AMSTERDAM),
            datetime(2026, 3, 29, 9, 0, tzinfo=AMSTERDAM),
        ),
        (
            ScheduleTrigger(every="week", weekday="thu", at="10:00"),
            datetime(2026, 11, 23, 12, 0, tzinfo=AMSTERDAM),  # a Monday
            datetime(2026, 11, 19, 10, 0, tzinfo=AMSTERDAM),
        ),
        (
            ScheduleTrigger(every="week", weekday="mon", at="10:00"),
            datetime(2026, 11, 23, 9, 0, tzinfo=AMSTERDAM),
            datetime(2026, 11, 16, 10, 0, tzinfo=AMSTERDAM),
        ),
        (
            ScheduleTrigger(every="month", day=15, at="10:00"),
            datetime(2026, 1, 3, 12, 0, tzinfo=AMSTERDAM),
            datetime(2025, 12, 15, 10, 0, tzinfo=AMSTERDAM),
        ),
    ],
    ids=["day-before-time", "day-at-time-after-dst", "week", "week-same-day-early", "month"],
)
def test_the_latest_slot_is_on_the_brand_s_clock(
    schedule: ScheduleTrigger, now: datetime, slot: datetime
) -> None:
    assert triggers.latest_slot(schedule, now=now, zone=AMSTERDAM) == slot


def test_conditions_compare_like_values() -> None:
    assert triggers.matches({"n": 1}, {"n": 1.0})
    assert not triggers.matches({"paid": True}, {"paid": 1})
    assert not triggers.matches({"store": "utrecht"}, {})
