"""The worker over the store, on both databases, with a scripted channel: every outcome
recorded, an opt-out between decision and send wins, retries back off then give up, ambiguous
sends are retried with the same Message-ID or left alone as the brand chooses."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from regard.decisions.models import OutboxMessage
from regard.delivery import outbox
from regard.delivery.channels.base import Channel, Outcome, SendResult
from regard.delivery.options import DeliveryOptions, RetryOptions
from regard.delivery.worker import Worker, backoff
from regard.messages.content import Content
from regard.preferences import service as preferences
from regard.preferences.service import ConsentChange
from regard.store.database import Store, unit_of_work
from tests.fault.support import add_customers, message_id_of, queue, render_plainly
from tests.preferences.support import CUSTOMER
from tests.touchpoints.support import brand_with_touchpoints

NOW = datetime(2031, 5, 2, 11, 0, tzinfo=UTC)


class ScriptedChannel(Channel):
    """Answers each message with the next scripted outcome (sent when the script runs out)."""

    name = "email"

    def __init__(self, *script: Outcome) -> None:
        self.script = list(script)
        self.sent: list[str] = []
        self.closed = False

    def send_batch(self, messages: Sequence[Content]) -> list[SendResult]:
        results = []
        for message in messages:
            outcome = self.script.pop(0) if self.script else "sent"
            self.sent.append(message.message_id)
            results.append(SendResult(outcome, detail=f"scripted {outcome}", provider_id="p1"))
        return results

    def close(self) -> None:
        self.closed = True


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def worker_for(
    store: Store, channel: Channel, clock: Clock, *, ambiguous: str = "at-least-once"
) -> Worker:
    options = DeliveryOptions(
        retry=RetryOptions(
            max_attempts=3,
            first_delay=timedelta(minutes=1),
            max_delay=timedelta(minutes=10),
            ambiguous=ambiguous,
        ),
        batch_size=50,
    )
    return Worker(
        store,
        channels={"email": channel},
        render=render_plainly,
        options=options,
        clock=clock,
        rng=random.Random(7),
    )


def statuses(store: Store) -> dict[int, OutboxMessage]:
    with unit_of_work(store) as session:
        found = session.scalars(select(OutboxMessage)).all()
        session.expunge_all()
    return {m.id: m for m in found}


@pytest.fixture
def customers(store: Store) -> list[int]:
    store.brand = brand_with_touchpoints()
    return add_customers(store, 4)


def test_every_due_message_is_sent_once_and_recorded(store: Store, customers: list[int]) -> None:
    ids = queue(store, customers, now=NOW)
    channel, clock = ScriptedChannel(), Clock()
    worker = worker_for(store, channel, clock)

    summary = worker.run(once=True)
    again = worker.run(once=True)
    worker.close()

    assert (summary.sent, summary.claimed, again.claimed) == (4, 4, 0)
    assert channel.closed
    found = statuses(store)
    assert sorted(channel.sent) == sorted(message_id_of(found[i]) for i in ids)
    for i in ids:
        assert found[i].status == "sent"
        assert found[i].sent_at == NOW
        assert found[i].provider_id == "p1"
        assert found[i].message_id == message_id_of(found[i])
        assert (found[i].claimed_by, found[i].attempts) == (worker.name, 1)


def test_an_opt_out_after_the_decision_wins(store: Store, customers: list[int]) -> None:
    ana, ben, cleo, dan = customers
    with unit_of_work(store) as session:
        for who in (ana, ben):
            preferences.record(
                session,
                who,
                brand=store.brand,
                origin=CUSTOMER,
                consents=[ConsentChange("events", "email", "opted-in")],
            )
    newsletter = queue(
        store, [ana, ben, cleo], now=NOW, touchpoint="newsletter", topic="events", content="n"
    )
    # An order is transactional: it goes out on the contract, without marketing consent.
    orders = queue(store, [dan], now=NOW)
    with unit_of_work(store) as session:
        preferences.record(
            session,
            ben,
            brand=store.brand,
            origin=CUSTOMER,
            consents=[ConsentChange("events", "email", "opted-out")],
        )
    channel = ScriptedChannel()

    summary = worker_for(store, channel, Clock()).run(once=True)

    found = statuses(store)
    assert (summary.sent, summary.cancelled) == (2, 2)
    assert found[newsletter[0]].status == "sent"
    assert (found[newsletter[1]].status, found[newsletter[1]].last_error) == (
        "cancelled",
        "opted-out",
    )
    assert (found[newsletter[2]].status, found[newsletter[2]].last_error) == (
        "cancelled",
        "no-consent",
    )
    assert found[orders[0]].status == "sent"
    assert len(channel.sent) == 2


def test_temporary_failures_back_off_then_give_up(store: Store, customers: list[int]) -> None:
    (one,) = queue(store, customers[:1], now=NOW)
    channel, clock = ScriptedChannel("retry", "retry", "retry"), Clock()
    worker = worker_for(store, channel, clock)

    first = worker.run(once=True)
    due = statuses(store)[one].due_at
    assert first.retried == 1
    assert due is not None
    assert NOW <= due <= NOW + timedelta(minutes=1)
    assert worker.run(once=True).claimed == 0  # not due yet

    for _ in range(2):
        clock.now += timedelta(hours=1)
        worker.run(once=True)

    found = statuses(store)[one]
    assert (found.status, found.attempts) == ("failed", 3)
    assert found.last_error == "gave up after 3 attempts: scripted retry"
    assert len(set(channel.sent)) == 1  # the same Message-ID on every attempt


def test_a_permanent_failure_is_a_dead_letter_with_its_reason(
    store: Store, customers: list[int]
) -> None:
    refused, broken = queue(store, customers[:1], now=NOW) + queue(
        store, customers[1:2], now=NOW, content="broken"
    )

    summary = worker_for(store, ScriptedChannel("failed"), Clock()).run(once=True)

    found = statuses(store)
    assert summary.failed == 2
    assert (found[refused].status, found[refused].last_error) == ("failed", "scripted failed")
    assert (found[broken].status, found[broken].last_error) == (
        "failed",
        "template error: broken",
    )


@pytest.mark.parametrize("ambiguous", ["at-least-once", "at-most-once"])
def test_an_ambiguous_send_is_retried_or_left_as_the_brand_chooses(
    store: Store, customers: list[int], ambiguous: str
) -> None:
    (one,) = queue(store, customers[:1], now=NOW)
    channel, clock = ScriptedChannel("ambiguous"), Clock()
    worker = worker_for(store, channel, clock, ambiguous=ambiguous)

    assert worker.run(once=True).ambiguous == 1
    clock.now += timedelta(hours=1)
    later = worker.run(once=True)

    found = statuses(store)[one]
    with unit_of_work(store) as session:
        reported = [m.id for m in outbox.ambiguous(session)]
    assert reported == [one]
    if ambiguous == "at-least-once":
        assert (later.sent, found.status) == (1, "sent")
        assert channel.sent == [message_id_of(found)] * 2
    else:
        assert (later.claimed, found.status) == (0, "ambiguous")
        assert channel.sent == [message_id_of(found)]


def test_a_dead_workers_batch_is_reported_ambiguous(store: Store, customers: list[int]) -> None:
    ids = queue(store, customers, now=NOW)
    clock = Clock()
    with unit_of_work(store) as session:
        outbox.claim(session, worker="dead", now=NOW, limit=2, lease=timedelta(minutes=5))
    channel = ScriptedChannel()
    worker = worker_for(store, channel, clock, ambiguous="at-most-once")

    assert worker.run(once=True).sent == 2  # the others; the dead worker's lease still holds
    clock.now += timedelta(minutes=6)
    summary = worker.run(once=True)

    assert (summary.ambiguous, summary.sent) == (2, 0)
    assert {m.status for m in statuses(store).values()} == {"sent", "ambiguous"}
    assert len(channel.sent) == len(ids) - 2


def test_backoff_grows_with_full_jitter_up_to_the_cap() -> None:
    retry = RetryOptions(first_delay=timedelta(seconds=10), max_delay=timedelta(seconds=100))
    rng = random.Random(1)
    for attempts, ceiling in ((1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (30, 100)):
        delays = [backoff(attempts, retry=retry, rng=rng) for _ in range(200)]
        assert all(timedelta(0) <= d <= timedelta(seconds=ceiling) for d in delays)
        assert max(delays) > timedelta(seconds=ceiling * 0.8)


def _complain(store: Store, outbox_id: int) -> None:
    from regard.delivery import feedback

    with unit_of_work(store) as session:
        found = session.get(OutboxMessage, outbox_id)
        assert found is not None
        feedback.record(
            session, found, kind="complained", occurred_at=NOW, received_at=NOW, vault=store.vault
        )


def _breaker_worker(
    store: Store, channel: Channel, clock: Clock, *, halt_at: float = 0.3
) -> Worker:
    from regard.delivery.options import BreakerOptions
    from regard.messages.options import MessageOptions

    # Message-IDs of the stand-in renderer are @regard.test: the brand sends from there.
    store.brand = store.brand.model_copy(
        update={"messages": MessageOptions(sender="Shop <shop@regard.test>")}
    )
    options = DeliveryOptions(
        breaker=BreakerOptions(slow_at=0.1, halt_at=halt_at, min_deliveries=4), batch_size=50
    )
    return Worker(
        store,
        channels={"email": channel},
        render=render_plainly,
        options=options,
        clock=clock,
        rng=random.Random(7),
    )


def test_a_halted_stream_sends_nothing_until_a_person_resumes_it(store: Store) -> None:
    from regard.delivery import breaker

    store.brand = brand_with_touchpoints()
    people = add_customers(store, 30)
    first = queue(store, people[:4], now=NOW)
    channel, clock = ScriptedChannel(), Clock()
    worker = _breaker_worker(store, channel, clock)
    assert worker.run(once=True).sent == 4
    # Two complaints in four sends: 50%, past the halt line.
    _complain(store, first[0])
    _complain(store, first[1])
    waiting = queue(store, people[4:], now=NOW)

    halted = worker.run(once=True)
    assert (halted.claimed, halted.sent) == (0, 0)
    assert {statuses(store)[i].status for i in waiting} == {"queued"}

    clock.now += timedelta(minutes=1)
    with unit_of_work(store) as session:
        breaker.resume(session, "email:regard.test", now=clock())
    assert worker.run(once=True).sent == len(waiting)


def test_a_slowed_stream_sends_a_small_share_a_minute(store: Store) -> None:
    store.brand = brand_with_touchpoints()
    people = add_customers(store, 40)
    first = queue(store, people[:5], now=NOW)
    channel, clock = ScriptedChannel(), Clock()
    worker = _breaker_worker(store, channel, clock, halt_at=0.6)
    assert worker.run(once=True).sent == 5
    # Two complaints in five sends: 40%, past the slow line, below the halt line (and still
    # past it as the slowed sends come: 2 in 10, 2 in 15).
    _complain(store, first[0])
    _complain(store, first[1])
    queue(store, people[5:], now=NOW)

    # A tenth of a 50-message batch a minute, however often the worker asks.
    assert worker.run(once=True).sent == 5
    assert worker.run(once=True).sent == 0
    clock.now += timedelta(minutes=1)
    assert worker.run(once=True).sent == 5
