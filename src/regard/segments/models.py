"""Tables of segments: who is in each segment since when, and each evaluation's totals."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from regard.store.base import Base, BigId
from regard.store.types import UTCDateTime


class SegmentMembership(Base):
    """A customer's stay in a segment: entered, and exited when they no longer match."""

    __tablename__ = "segment_memberships"
    __table_args__ = (
        Index("ix_segment_memberships_segment", "segment", "exited_at"),
        Index("ix_segment_memberships_customer_id", "customer_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # Named segments ("champions", "lifecycle:at_risk", "commitment:Convertible", or a brand's own).
    segment: Mapped[str] = mapped_column(String(120))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    exited_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SegmentRun(Base):
    """One evaluation of one segment: its size then, and who came and went."""

    __tablename__ = "segment_runs"
    __table_args__ = (Index("ix_segment_runs_segment", "segment", "evaluated_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    segment: Mapped[str] = mapped_column(String(120))
    evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    members: Mapped[int]
    entered: Mapped[int]
    exited: Mapped[int]
    seconds: Mapped[float]
