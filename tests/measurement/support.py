"""Decisions as the engine stores them, for the measurement tests: a candidate held for its
control group, or sent with its outbox message."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session

from regard.decisions.models import Decision, OutboxMessage
from regard.touchpoints.models import Candidate


def record_decision(
    session: Session,
    *,
    run_id: int,
    customer: int,
    touchpoint: str,
    at: datetime,
    control: bool = False,
    channel: str = "email",
    topic: str = "offers:camping",
    content: str | None = None,
    key: str = "campaign:1",
) -> int | None:
    """A ``touchpoint`` candidate for ``customer`` decided at ``at`` in run ``run_id``: held
    for the control group, or sent on ``channel`` (its outbox message sent at ``at``). The
    outbox id when sent."""
    candidate = session.execute(
        insert(Candidate)
        .values(
            touchpoint=touchpoint,
            customer_id=customer,
            key=key,
            triggered_at=at,
            status="control" if control else "sent",
            created_at=at,
        )
        .returning(Candidate.id)
    ).scalar_one()
    decision = session.execute(
        insert(Decision)
        .values(
            run_id=run_id,
            candidate_id=candidate,
            customer_id=customer,
            touchpoint=touchpoint,
            outcome="held" if control else "sent",
            channel=None if control else channel,
            send_at=None if control else at,
            reason="control-group" if control else "chosen",
            params={},
            decided_at=at,
        )
        .returning(Decision.id)
    ).scalar_one()
    if control:
        return None
    outbox: int = session.execute(
        insert(OutboxMessage)
        .values(
            idempotency_key=f"candidate:{customer}:{candidate}:{channel}",
            decision_id=decision,
            customer_id=customer,
            touchpoint=touchpoint,
            topic=topic,
            channel=channel,
            content=content or touchpoint.replace("_", "-"),
            send_at=at,
            sent_at=at,
            status="sent",
            created_at=at,
        )
        .returning(OutboxMessage.id)
    ).scalar_one()
    return outbox
