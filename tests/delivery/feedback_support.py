"""Setting the scene for feedback tests: customers with addresses, and messages already sent."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from regard.customers.identities import IdentityClaim
from regard.customers.models import Customer, Event, Identity
from regard.decisions.models import Decision, DecisionRun, OutboxMessage
from regard.store.database import Store, unit_of_work
from regard.touchpoints.models import Candidate

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def customer(store: Store, *, email: str | None = None, phone: str | None = None) -> int:
    """A customer holding these addresses; returns their id."""
    with unit_of_work(store) as session:
        person = Customer(created_at=NOW, updated_at=NOW, traits={}, trait_origins={})
        session.add(person)
        session.flush()
        for kind, value in (("email", email), ("phone", phone)):
            if value is None:
                continue
            claim = IdentityClaim(kind=kind, value=value)  # type: ignore[arg-type]
            session.add(
                Identity(
                    customer_id=person.id,
                    kind=kind,
                    lookup=claim.lookup(store.vault),
                    value=value,
                    source="test",
                    created_at=NOW,
                )
            )
        return person.id


def sent(
    store: Store,
    customer_id: int,
    *,
    channel: str = "email",
    touchpoint: str = "welcome",
    topic: str = "events",
    count: int = 1,
    domain: str = "news.example",
    sent_at: datetime | None = NOW,
    status: str = "sent",
    pending_candidate: bool = False,
) -> list[int]:
    """``count`` messages of one decision, sent at ``sent_at``; returns their outbox ids.

    Email Message-IDs end in ``@domain``; other channels get provider ids ``p-<outbox id>``.
    """
    with unit_of_work(store) as session:
        run = DecisionRun(started_at=NOW, status="done")
        candidate = Candidate(
            touchpoint=touchpoint,
            customer_id=customer_id,
            key=f"test:{uuid.uuid4()}",
            triggered_at=NOW - timedelta(days=30),
            status="pending" if pending_candidate else "sent",
            created_at=NOW - timedelta(days=30),
        )
        session.add_all([run, candidate])
        session.flush()
        decision = Decision(
            run_id=run.id,
            candidate_id=candidate.id,
            customer_id=customer_id,
            touchpoint=touchpoint,
            outcome="sent",
            channel=channel,
            send_at=sent_at or NOW,
            reason="sent",
            params={},
            decided_at=sent_at or NOW,
        )
        session.add(decision)
        session.flush()
        messages = [
            OutboxMessage(
                idempotency_key=f"decision:{decision.id}:{index}",
                decision_id=decision.id,
                customer_id=customer_id,
                touchpoint=touchpoint,
                topic=topic,
                channel=channel,
                content="welcome",
                send_at=sent_at or NOW,
                due_at=sent_at or NOW,
                status=status,
                sent_at=sent_at,
                created_at=NOW - timedelta(days=30),
            )
            for index in range(count)
        ]
        session.add_all(messages)
        session.flush()
        for message in messages:
            if channel == "email":
                message.message_id = f"<m{message.id}.{decision.id}@{domain}>"
            else:
                message.message_id = f"regard-{message.id}"
                message.provider_id = f"p-{message.id}"
        return [message.id for message in messages]


def feedback_events(store: Store, customer_id: int) -> list[Event]:
    """The customer's events from delivery feedback, oldest first."""
    with unit_of_work(store) as session:
        return list(
            session.scalars(
                select(Event)
                .where(Event.customer_id == customer_id, Event.source == "delivery")
                .order_by(Event.id)
            )
        )


def message(store: Store, outbox_id: int) -> OutboxMessage:
    with unit_of_work(store) as session:
        found = session.get(OutboxMessage, outbox_id)
        assert found is not None
        session.expunge(found)
        return found
