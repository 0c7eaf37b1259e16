"""The outbox's claims and records on both databases: due messages claimed once, by one
worker; dead workers' leases taken back as ambiguous; outcomes written only by the holder."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from regard.decisions.models import OutboxMessage
from regard.delivery import outbox
from regard.store.database import Store, enter_write, unit_of_work
from tests.fault.support import add_customers, queue
from tests.touchpoints.support import brand_with_touchpoints

NOW = datetime(2031, 5, 2, 11, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


@pytest.fixture
def queued(store: Store) -> list[int]:
    store.brand = brand_with_touchpoints()
    return queue(store, add_customers(store, 6), now=NOW)


def claim(store: Store, worker: str, *, now: datetime = NOW, limit: int = 100) -> list[int]:
    with unit_of_work(store) as session:
        enter_write(session)
        return [
            m.id for m in outbox.claim(session, worker=worker, now=now, limit=limit, lease=LEASE)
        ]


def rows(store: Store) -> dict[int, OutboxMessage]:
    with unit_of_work(store) as session:
        found = session.scalars(select(OutboxMessage)).all()
        session.expunge_all()
    return {m.id: m for m in found}


def test_a_claim_takes_due_messages_once(store: Store, queued: list[int]) -> None:
    with unit_of_work(store) as session:
        later = session.get_one(OutboxMessage, queued[-1])
        later.due_at = NOW + timedelta(hours=1)

    first = claim(store, "w1", limit=3)
    second = claim(store, "w2")

    assert first == queued[:3]
    assert second == queued[3:5]  # the last is not due yet
    found = rows(store)
    assert {found[i].claimed_by for i in first} == {"w1"}
    for i in first + second:
        assert found[i].status == "sending"
        assert found[i].attempts == 1
        assert found[i].lease_until == NOW + LEASE
    assert found[queued[-1]].status == "queued"


def test_concurrent_workers_never_claim_the_same_message(store: Store, queued: list[int]) -> None:
    claims: dict[str, list[int]] = {}

    def work(name: str) -> None:
        taken: list[int] = []
        while batch := claim(store, name, limit=1):
            taken.extend(batch)
        claims[name] = taken

    threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    every = [i for taken in claims.values() for i in taken]
    assert sorted(every) == queued


def test_an_expired_lease_is_ambiguous(store: Store, queued: list[int]) -> None:
    taken = claim(store, "dead", limit=2)
    with unit_of_work(store) as session:
        assert outbox.expire_leases(session, now=NOW + LEASE) == []  # not past it yet
        expired = outbox.expire_leases(session, now=NOW + LEASE + timedelta(seconds=1))

    assert sorted(expired) == taken
    found = rows(store)
    for i in taken:
        assert found[i].status == "ambiguous"
        assert found[i].last_error == outbox.LEASE_EXPIRED


def test_at_most_once_leaves_ambiguous_messages_alone(store: Store, queued: list[int]) -> None:
    taken = claim(store, "dead", limit=2)
    later = NOW + LEASE + timedelta(minutes=1)
    with unit_of_work(store) as session:
        outbox.expire_leases(session, now=later)
        kept = outbox.claim(
            session, worker="w2", now=later, limit=100, lease=LEASE, retry_ambiguous=False
        )
        assert not {m.id for m in kept} & set(taken)
    with unit_of_work(store) as session:
        again = outbox.claim(session, worker="w3", now=later, limit=100, lease=LEASE)
        assert {m.id for m in again} == set(taken)
        assert {m.attempts for m in again} == {2}


def test_only_the_holder_records_an_outcome(store: Store, queued: list[int]) -> None:
    taken = claim(store, "w1", limit=2)
    sent = [outbox.Outcome(i, "sent", sent_at=NOW, message_id=f"<{i}@x>") for i in taken]
    with unit_of_work(store) as session:
        assert outbox.record(session, sent, worker="w2", now=NOW) == 0
        assert outbox.record(session, sent, worker="w1", now=NOW) == 2
        # Written once: a second write (a retried commit) changes nothing.
        assert outbox.record(session, sent, worker="w1", now=NOW) == 0

    found = rows(store)
    for i in taken:
        assert (found[i].status, found[i].message_id, found[i].lease_until) == (
            "sent",
            f"<{i}@x>",
            None,
        )


def test_the_report_lists_messages_that_were_ambiguous(store: Store, queued: list[int]) -> None:
    taken = claim(store, "dead", limit=2)
    later = NOW + LEASE + timedelta(minutes=1)
    with unit_of_work(store) as session:
        outbox.expire_leases(session, now=later)
    again = claim(store, "w2", now=later, limit=1)
    with unit_of_work(store) as session:
        outbox.record(
            session, [outbox.Outcome(again[0], "sent", sent_at=later)], worker="w2", now=later
        )

    with unit_of_work(store) as session:
        listed = {m.id: m.status for m in outbox.ambiguous(session)}
        counts = outbox.status_counts(session)

    assert listed == {again[0]: "sent", (set(taken) - set(again)).pop(): "ambiguous"}
    assert counts == {"sent": 1, "ambiguous": 1, "queued": 4}
