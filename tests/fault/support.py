"""Messages queued in the outbox without running the engine, and a stand-in renderer.

The rows are what the engine writes for a send (a candidate, its decision, an outbox message
keyed by customer, candidate and channel), so the worker sees exactly what it sees in life.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session

from regard.customers.identities import claim
from regard.customers.service import ProfileUpdate, Resolver
from regard.decisions.models import Decision, DecisionRun, OutboxMessage
from regard.messages.content import EmailContent, ProviderContent
from regard.store.database import Store, unit_of_work
from regard.touchpoints.models import Candidate


def add_customers(store: Store, count: int, *, first: int = 0) -> list[int]:
    """``count`` customers, each with an email address of their own; their ids."""
    ids = []
    with unit_of_work(store) as session:
        resolver = Resolver(session, vault=store.vault, brand=store.brand)
        for n in range(first, first + count):
            resolution = resolver.resolve(
                ProfileUpdate(
                    source="shop",
                    observed_at=datetime.now(UTC),
                    identities=(
                        claim(
                            "email",
                            f"customer{n}@example.com",
                            region=store.brand.region,
                            source="shop",
                        ),
                    ),
                    traits={"first_name": f"Customer {n}"},
                )
            )
            ids.append(resolution.customer_id)
        resolver.flush()
    return ids


def queue(
    store: Store,
    customers: Sequence[int],
    *,
    now: datetime,
    touchpoint: str = "order_ready",
    topic: str = "orders",
    channel: str = "email",
    content: str = "order-ready-email",
) -> list[int]:
    """One message per customer, due at ``now``; the outbox ids."""
    with unit_of_work(store) as session:
        run = DecisionRun(started_at=now, status="done")
        session.add(run)
        session.flush()
        candidates = session.scalars(
            insert(Candidate).returning(Candidate.id),
            [
                {
                    "touchpoint": touchpoint,
                    "customer_id": customer,
                    "key": f"{touchpoint}:{customer}:{now:%Y%m%d%H%M%S%f}",
                    "triggered_at": now,
                    "status": "sent",
                    "created_at": now,
                }
                for customer in customers
            ],
        ).all()
        decisions = session.scalars(
            insert(Decision).returning(Decision.id),
            [
                {
                    "run_id": run.id,
                    "candidate_id": candidate,
                    "customer_id": customer,
                    "touchpoint": touchpoint,
                    "outcome": "sent",
                    "channel": channel,
                    "send_at": now,
                    "reason": "chosen",
                    "params": {},
                    "decided_at": now,
                }
                for candidate, customer in zip(candidates, customers, strict=True)
            ],
        ).all()
        return list(
            session.scalars(
                insert(OutboxMessage).returning(OutboxMessage.id),
                [
                    {
                        "idempotency_key": f"candidate:{customer}:{candidate}:{channel}",
                        "decision_id": decision,
                        "customer_id": customer,
                        "touchpoint": touchpoint,
                        "topic": topic,
                        "channel": channel,
                        "content": content,
                        "send_at": now,
                        "due_at": now,
                        "status": "queued",
                        "created_at": now,
                    }
                    for candidate, customer, decision in zip(
                        candidates, customers, decisions, strict=True
                    )
                ],
            ).all()
        )


def message_id_of(message: OutboxMessage) -> str:
    return f"<{message.idempotency_key.replace(':', '.')}@regard.test>"


def render_plainly(
    session: Session, messages: Sequence[OutboxMessage]
) -> list[EmailContent | ProviderContent | str]:
    """A stand-in renderer: a short email per message, its Message-ID from its key; a message
    whose content is ``broken`` is a rendering problem."""
    del session
    found: list[EmailContent | ProviderContent | str] = []
    for message in messages:
        if message.content == "broken":
            found.append("template error: broken")
        elif message.channel == "email":
            found.append(
                EmailContent(
                    sender="shop@example.com",
                    to=f"customer-{message.customer_id}@example.com",
                    subject="Your order is ready",
                    text="Your order is ready to collect.",
                    html="<p>Your order is ready to collect.</p>",
                    message_id=message_id_of(message),
                )
            )
        else:
            found.append(
                ProviderContent(
                    channel=message.channel,
                    to="+31612345678",
                    body="Your order is ready.",
                    message_id=message_id_of(message),
                )
            )
    return found
