"""Tables of measurement: what the engine learns back from it.

``regard.measurement.values_service.refresh_values`` writes both in bulk (once a day from the
scheduler, or ``regard measure values``); the engine reads them for its candidates' customers
and touchpoints (``regard.decisions.inputs``), feedback flowing from learn back to decide.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from regard.store.base import Base, BigId
from regard.store.types import UTCDateTime


class CustomerValue(Base):
    """A customer's expected lifetime value (discounted, times the margin) and chance of still
    being active, with the configured ``[measurement.clv]`` models at ``scored_at``. Customers
    who never bought have no row."""

    __tablename__ = "customer_values"

    customer_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    expected_value: Mapped[float]
    probability_alive: Mapped[float]
    scored_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TouchpointValue(Base):
    """A touchpoint's value for one segment (``default`` included) and channel (``all``: every
    channel together, the value the engine uses): the configured value, the measured revenue
    lift (null without an estimate), the weight given to it and the blend of the two."""

    __tablename__ = "touchpoint_values"

    touchpoint: Mapped[str] = mapped_column(String(80), primary_key=True)
    segment: Mapped[str] = mapped_column(String(120), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    configured: Mapped[float]
    measured: Mapped[float | None]
    learned: Mapped[float]
    # Z = n / (n + k): the share of the learned value that is measured.
    weight: Mapped[float]
    # The treated customers behind the measurement.
    customers: Mapped[float] = mapped_column(default=0.0)
    measured_at: Mapped[datetime] = mapped_column(UTCDateTime())
