"""Tables of decisions: each run of the engine, each candidate's decision, and the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from regard.store.base import Base, BigId
from regard.store.types import JSONDocument, UTCDateTime


class DecisionRun(Base):
    """One run of the engine over the pending candidates, with its plan's certificate."""

    __tablename__ = "decision_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # running, done or failed.
    status: Mapped[str] = mapped_column(String(16))
    candidates: Mapped[int] = mapped_column(default=0)
    sent: Mapped[int] = mapped_column(default=0)
    held: Mapped[int] = mapped_column(default=0)
    dropped: Mapped[int] = mapped_column(default=0)
    # The plan's expected value net of cost and penalty, and the bound no plan can beat.
    value: Mapped[float] = mapped_column(default=0.0)
    bound: Mapped[float] = mapped_column(default=0.0)
    seconds: Mapped[float] = mapped_column(default=0.0)


class Decision(Base):
    """What became of one candidate in one run: sent (channel, moment, value), held or dropped,
    with a reason code and its facts (never personal data; the sentence is written when read)."""

    __tablename__ = "decisions"
    __table_args__ = (
        Index("ix_decisions_customer_id", "customer_id", "decided_at"),
        Index("ix_decisions_touchpoint", "touchpoint", "decided_at"),
        Index("ix_decisions_candidate_id", "candidate_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("decision_runs.id", ondelete="CASCADE"))
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    touchpoint: Mapped[str] = mapped_column(String(80))
    # sent, held or dropped.
    outcome: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str | None] = mapped_column(String(16))
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    value: Mapped[float | None]
    reason: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OutboxMessage(Base):
    """A message decided on, waiting to be written and delivered; delivery workers claim it.

    ``idempotency_key`` is unique: a message is queued once, whatever crashes in between.

    Its life: ``queued`` until due; ``sending`` while a worker holds it (until ``lease_until``);
    then ``sent``, ``retry`` (a temporary failure, due again at ``due_at``), ``failed`` (the dead
    letter, with ``last_error``), ``cancelled`` (consent withdrawn or the address suppressed
    before sending) or ``ambiguous`` (the provider may have taken it: a worker died or lost the
    answer in the instant after handing it over).
    """

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        Index("ix_outbox_status", "status", "send_at"),
        Index("ix_outbox_due", "status", "due_at"),
        Index("ix_outbox_provider_id", "provider_id"),
        Index("ix_outbox_customer_id", "customer_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(80))
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    touchpoint: Mapped[str] = mapped_column(String(80))
    topic: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(String(120))
    # The moment the engine chose; ``due_at`` starts there and moves with each retry.
    send_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The Message-ID (email) or our id (other channels): the same on every attempt.
    message_id: Mapped[str | None] = mapped_column(String(200))
    # The provider's id for the message, to match its status callbacks.
    provider_id: Mapped[str | None] = mapped_column(String(200))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Why the last attempt failed, in words without personal data.
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class EngineLock(Base):
    """Who is running the engine, until when: two runs never overlap."""

    __tablename__ = "engine_locks"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(120))
    until: Mapped[datetime | None] = mapped_column(UTCDateTime())
