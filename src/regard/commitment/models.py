"""Tables of commitment: survey responses, each kept with its time, so commitment has a history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from regard.store.base import Base, BigId
from regard.store.types import JSONDocument, SealedJSON, UTCDateTime


class SurveyResponse(Base):
    """One customer's answers to one survey at one moment."""

    __tablename__ = "survey_responses"
    __table_args__ = (Index("ix_survey_responses_customer_id", "customer_id", "responded_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    # Which survey: "commitment" for the Conversion Model items.
    survey: Mapped[str] = mapped_column(String(40))
    # Whether the customer uses the brand (the items differ for users and non-users).
    is_user: Mapped[bool]
    # Scaled answers by item key ({"satisfaction": 8, ...}); not personal data.
    answers: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    # The customer's own words to open questions, encrypted.
    free_text: Mapped[dict[str, Any] | None] = mapped_column(SealedJSON("survey.free_text"))
    # page, api or import.
    source: Mapped[str] = mapped_column(String(32))
    responded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CommitmentRun(Base):
    """One scoring of the whole base: the cut points it gave, kept so that one customer's
    commitment is placed without scoring everyone again."""

    __tablename__ = "commitment_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    scored_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Customers with a latest response, and users among them with every item answered.
    respondents: Mapped[int]
    scored_users: Mapped[int]
    shallow_from: Mapped[float]
    average_from: Mapped[float]
    entrenched_from: Mapped[float]
