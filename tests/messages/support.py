"""Setting the scene for message tests: a customer, an event, a decided candidate, an outbox row."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from regard.config import BrandConfig, load_brand_config
from regard.customers.models import Customer, Event
from regard.decisions.models import Decision, DecisionRun, OutboxMessage
from regard.demo.generator import BRAND_CONFIG
from regard.store.database import Store, unit_of_work
from regard.touchpoints.models import Candidate

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def demo_brand() -> BrandConfig:
    return load_brand_config(BRAND_CONFIG)


def demo_config_path() -> Path:
    return BRAND_CONFIG


def forget_name(store: Store, customer_id: int) -> None:
    with unit_of_work(store) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        customer.personal = None


def queue(
    store: Store,
    customer_id: int,
    *,
    touchpoint: str,
    topic: str,
    channel: str,
    content: str,
    event: dict[str, object] | None = None,
    key: str | None = None,
    decided: str | None = None,
) -> int:
    """An outbox message as the engine writes it, with the event behind it; returns its id."""
    with unit_of_work(store) as session:
        candidate_key = "schedule:2026-05-04T09:00Z"
        if event is not None:
            row = Event(
                customer_id=customer_id,
                type=str(event.pop("type", "order_ready")),
                occurred_at=NOW,
                received_at=NOW,
                source="shop",
                message_id=f"m-{customer_id}-{touchpoint}-{channel}",
                properties=event,
            )
            session.add(row)
            session.flush()
            candidate_key = f"event:{row.id}"
        run = DecisionRun(started_at=NOW, status="done")
        # A digest's decision is one of the touchpoints it bundles.
        decided = decided or touchpoint
        candidate = Candidate(
            touchpoint=decided,
            customer_id=customer_id,
            key=f"{candidate_key}:{channel}:{key}",
            triggered_at=NOW,
            status="sent",
            created_at=NOW,
        )
        session.add_all([run, candidate])
        session.flush()
        candidate.key = candidate_key if event is not None else candidate.key
        decision = Decision(
            run_id=run.id,
            candidate_id=candidate.id,
            customer_id=customer_id,
            touchpoint=decided,
            outcome="sent",
            channel=channel,
            send_at=NOW,
            reason="sent",
            params={},
            decided_at=NOW,
        )
        session.add(decision)
        session.flush()
        message = OutboxMessage(
            idempotency_key=key or f"candidate:{candidate.id}:{channel}",
            decision_id=decision.id,
            customer_id=customer_id,
            touchpoint=touchpoint,
            topic=topic,
            channel=channel,
            content=content,
            send_at=NOW,
            due_at=NOW,
            status="queued",
            created_at=NOW,
        )
        session.add(message)
        session.flush()
        return message.id
