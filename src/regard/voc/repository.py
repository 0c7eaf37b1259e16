"""All SQL of the Voice of the Customer: survey answers with free text, and who is in which
segment now; each read in one query, never per customer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from regard.commitment.models import SurveyResponse
from regard.segments.models import SegmentMembership


def responses_with_text(
    session: Session, *, survey: str, since: datetime | None, segment: str | None
) -> Sequence[tuple[int, int, dict[str, Any], datetime]]:
    """id, customer_id, free text (decrypted) and responded_at of every response to ``survey``
    that has free text, oldest first; answered at or after ``since``, and by a customer in
    ``segment`` now, when given."""
    statement = select(
        SurveyResponse.id,
        SurveyResponse.customer_id,
        SurveyResponse.free_text,
        SurveyResponse.responded_at,
    ).where(SurveyResponse.survey == survey, SurveyResponse.free_text.is_not(None))
    if since is not None:
        statement = statement.where(SurveyResponse.responded_at >= since)
    if segment is not None:
        statement = statement.where(
            select(SegmentMembership.id)
            .where(
                SegmentMembership.customer_id == SurveyResponse.customer_id,
                SegmentMembership.segment == segment,
                SegmentMembership.exited_at.is_(None),
            )
            .exists()
        )
    statement = statement.order_by(SurveyResponse.responded_at, SurveyResponse.id)
    return session.execute(statement).all()


def respondents_segments(session: Session, *, survey: str) -> Sequence[tuple[int, str]]:
    """(customer_id, segment) for every segment each respondent with free text is in now."""
    respondents = select(SurveyResponse.customer_id).where(
        SurveyResponse.survey == survey, SurveyResponse.free_text.is_not(None)
    )
    statement = (
        select(SegmentMembership.customer_id, SegmentMembership.segment)
        .where(
            SegmentMembership.exited_at.is_(None),
            SegmentMembership.customer_id.in_(respondents),
        )
        .order_by(SegmentMembership.customer_id, SegmentMembership.segment)
    )
    return session.execute(statement).all()
