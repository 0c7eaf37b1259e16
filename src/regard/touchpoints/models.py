"""Tables of touchpoints: candidates waiting for a decision, and how far each trigger has read."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from regard.store.base import Base, BigId
from regard.store.types import UTCDateTime


class Candidate(Base):
    """One touchpoint for one customer, waiting for (or given) a decision.

    ``key`` says what made it (``event:<id>``, ``schedule:<slot>``, ``campaign:<launch>``); with
    the touchpoint and the customer it is unique, so the same trigger never makes two candidates.
    """

    __tablename__ = "candidates"
    __table_args__ = (
        UniqueConstraint("touchpoint", "customer_id", "key"),
        Index("ix_candidates_status", "status", "not_before"),
        Index("ix_candidates_customer_id", "customer_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    touchpoint: Mapped[str] = mapped_column(String(80))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(120))
    triggered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # pending (waiting, or held until not_before), sent or dropped.
    status: Mapped[str] = mapped_column(String(16), default="pending")
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TriggerCursor(Base):
    """How far a touchpoint's trigger has read: the last event seen, or the last schedule slot."""

    __tablename__ = "trigger_cursors"

    touchpoint: Mapped[str] = mapped_column(String(80), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(BigId, default=0)
    last_slot_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CampaignLaunch(Base):
    """A campaign touchpoint started by staff for its audience at one moment.

    ``channels`` are the channels its messages may use, comma-separated in the touchpoint's
    order; null when it may use every channel the touchpoint has.
    """

    __tablename__ = "campaign_launches"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    touchpoint: Mapped[str] = mapped_column(String(80))
    launched_by: Mapped[str] = mapped_column(String(120))
    launched_at: Mapped[datetime] = mapped_column(UTCDateTime())
    audience: Mapped[int]
    channels: Mapped[str | None] = mapped_column(String(120))
