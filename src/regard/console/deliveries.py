"""The deliveries page's figures and its two actions: retry a dead letter, resume a stream.

``read_deliveries`` gathers the outbox by state, cancelled and failed messages by reason, the
dead letters themselves, ambiguous sends and the complaint-rate breaker's streams. The two
actions flush and write an audit entry in the same transaction; the request commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from regard.console import repository
from regard.decisions.models import OutboxMessage
from regard.delivery import breaker, outbox
from regard.delivery.models import BreakerAlert, BreakerStream
from regard.errors import Conflict, NotFound
from regard.privacy import audit
from regard.privacy.audit import Actor

__all__ = ["OUTBOX_STATES", "Deliveries", "read_deliveries", "resume_stream", "retry_dead_letter"]

# Every state of an outbox message, in the order of its life, with what it means.
OUTBOX_STATES: dict[str, str] = {
    "queued": "waiting for its time",
    "sending": "held by a worker now",
    "retry": "failed for now, due again later",
    "sent": "handed to the provider",
    "failed": "given up on (dead letter)",
    "cancelled": "not sent: consent withdrawn or address suppressed first",
    "ambiguous": "may have reached the provider: a worker stopped mid-send",
}


@dataclass(frozen=True)
class Deliveries:
    """What the deliveries page shows."""

    counts: dict[str, int]
    problems: dict[str, int]
    dead_letters: Sequence[OutboxMessage]
    ambiguous: Sequence[OutboxMessage]
    streams: Sequence[BreakerStream]
    alerts: Sequence[BreakerAlert]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def read_deliveries(session: Session, *, limit: int = 100) -> Deliveries:
    """The outbox and the breaker now; lists hold the ``limit`` most recent."""
    found = outbox.status_counts(session)
    counts = {state: found.get(state, 0) for state in OUTBOX_STATES}
    counts.update({state: n for state, n in found.items() if state not in counts})
    return Deliveries(
        counts=counts,
        problems=outbox.problem_counts(session),
        dead_letters=repository.dead_letters(session, limit=limit),
        ambiguous=outbox.ambiguous(session, limit=limit),
        streams=breaker.streams(session),
        alerts=breaker.alerts(session, limit=20),
    )


def retry_dead_letter(
    session: Session, outbox_id: int, *, actor: Actor, now: datetime
) -> OutboxMessage:
    """Send a failed message back to be retried at once, with a fresh count of attempts.

    ``NotFound`` for no such message; ``Conflict`` unless it is a dead letter (``failed``).
    Its ``last_error`` stays until the next attempt replaces it. Audited.
    """
    message = repository.outbox_message(session, outbox_id)
    if message is None:
        raise NotFound(f"no outbox message {outbox_id}")
    if message.status != "failed":
        raise Conflict(f"message {outbox_id} is {message.status}, not a dead letter")
    message.status = "retry"
    message.due_at = now
    message.attempts = 0
    message.claimed_by = None
    message.lease_until = None
    message.updated_at = now
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="delivery.retried",
        target=f"outbox:{outbox_id}",
        details={"customer": message.customer_id, "channel": message.channel},
        at=now,
    )
    return message


def resume_stream(session: Session, stream: str, *, actor: Actor, now: datetime) -> BreakerStream:
    """Let a slowed or halted stream send again (``breaker.resume``); audited."""
    row = breaker.resume(session, stream, now=now)
    audit.record(
        session,
        actor=actor,
        action="breaker.resumed",
        target=f"stream:{stream}",
        details={"complaints": row.complaints, "deliveries": row.deliveries},
        at=now,
    )
    return row
