"""Tables of delivery feedback: what became of each message, suppressions, and the breaker."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from regard.decisions.models import OutboxMessage
from regard.store.base import Base, BigId
from regard.store.types import UTCDateTime

# Email feedback (bounces, complaints) names its message by Message-ID only.
OUTBOX_MESSAGE_ID_INDEX = Index("ix_outbox_message_id", OutboxMessage.message_id)


class MessageFeedback(Base):
    """One thing that happened to a message after it left: delivered, bounced, opened...

    ``key`` is unique: the same callback received twice is stored once.
    """

    __tablename__ = "message_feedback"
    __table_args__ = (
        UniqueConstraint("key"),
        Index("ix_message_feedback_outbox_id", "outbox_id", "kind"),
        Index("ix_message_feedback_stream", "stream", "kind", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200))
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    # The sending stream the breaker watches: ``email:<sender domain>``, or the channel.
    stream: Mapped[str] = mapped_column(String(200))
    # delivered, bounced, complained, opened, clicked, replied or failed.
    kind: Mapped[str] = mapped_column(String(16))
    # For a bounce: hard (the address is gone) or soft (full mailbox, try later).
    bounce: Mapped[str | None] = mapped_column(String(8))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Suppression(Base):
    """A channel the customer is not to be sent on: the address bounced for good, or they
    complained. ``address`` is the blind index of the address, when known (never the address).
    """

    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("customer_id", "channel", "reason"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    # hard-bounce or complaint (the reason codes of the contact policy).
    reason: Mapped[str] = mapped_column(String(16))
    address: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    # The message whose feedback suppressed the channel.
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class BreakerStream(Base):
    """The complaint-rate breaker's state for one sending stream; it survives restarts.

    ``normal`` or ``slow`` follow the rate; ``halted`` holds until a person resumes the stream.
    """

    __tablename__ = "breaker_streams"

    stream: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    complaints: Mapped[int] = mapped_column(default=0)
    deliveries: Mapped[int] = mapped_column(default=0)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # When a person last resumed the stream: complaints before it no longer count.
    resumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class BreakerAlert(Base):
    """A stream's complaint rate crossed a line: ``slow`` or ``halt``."""

    __tablename__ = "breaker_alerts"
    __table_args__ = (Index("ix_breaker_alerts_stream", "stream", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    stream: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(16))
    complaints: Mapped[int]
    deliveries: Mapped[int]
    rate: Mapped[float]
    at: Mapped[datetime] = mapped_column(UTCDateTime())
