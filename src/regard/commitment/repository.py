"""All SQL of commitment: survey responses in, and read back as columns for scoring."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import polars as pl
from sqlalchemy import String, cast, func, select, update
from sqlalchemy.orm import Session

from regard.commitment.models import CommitmentRun, SurveyResponse
from regard.store.frames import fetch_frame


def add_response(session: Session, response: SurveyResponse) -> SurveyResponse:
    session.add(response)
    session.flush()
    return response


def latest_answers(session: Session, *, survey: str) -> pl.DataFrame:
    """Each customer's latest response to ``survey``: customer_id, is_user, answers (JSON text).

    The latest is the one answered last; two answered at the same moment, the one recorded last.
    The answers come back as text so the caller parses them in one columnar pass.
    """
    ranked = (
        select(
            SurveyResponse.customer_id,
            SurveyResponse.is_user,
            cast(SurveyResponse.answers, String).label("answers"),
            func.row_number()
            .over(
                partition_by=SurveyResponse.customer_id,
                order_by=(SurveyResponse.responded_at.desc(), SurveyResponse.id.desc()),
            )
            .label("rank"),
        )
        .where(SurveyResponse.survey == survey)
        .subquery()
    )
    statement = (
        select(ranked.c.customer_id, ranked.c.is_user, ranked.c.answers)
        .where(ranked.c.rank == 1)
        .order_by(ranked.c.customer_id)
    )
    return fetch_frame(
        session,
        statement,
        {"customer_id": pl.Int64(), "is_user": pl.Boolean(), "answers": pl.String()},
    )


def answers_until(
    session: Session, *, survey: str, until: datetime
) -> Sequence[tuple[int, bool, str, datetime, int]]:
    """Every response to ``survey`` answered by ``until``: customer_id, is_user, answers as JSON
    text, responded_at and the response id, in no particular order."""
    return session.execute(
        select(
            SurveyResponse.customer_id,
            SurveyResponse.is_user,
            cast(SurveyResponse.answers, String),
            SurveyResponse.responded_at,
            SurveyResponse.id,
        ).where(SurveyResponse.survey == survey, SurveyResponse.responded_at <= until)
    ).all()


def responses_of(
    session: Session, customer_id: int, *, survey: str
) -> Sequence[tuple[int, bool, str, str, datetime, datetime, bool]]:
    """Every response of one customer to ``survey``, oldest first, without opening free text.

    Columns: id, is_user, answers (JSON text), source, responded_at, recorded_at, and whether
    the response carries free text.
    """
    statement = (
        select(
            SurveyResponse.id,
            SurveyResponse.is_user,
            cast(SurveyResponse.answers, String).label("answers"),
            SurveyResponse.source,
            SurveyResponse.responded_at,
            SurveyResponse.recorded_at,
            SurveyResponse.free_text.is_not(None).label("has_free_text"),
        )
        .where(SurveyResponse.customer_id == customer_id, SurveyResponse.survey == survey)
        .order_by(SurveyResponse.responded_at, SurveyResponse.id)
    )
    return session.execute(statement).all()


def answers_at(
    session: Session, customer_id: int, *, survey: str, responded_at: datetime
) -> list[tuple[bool, dict[str, float]]]:
    """is_user and answers of each of the customer's responses given at that moment."""
    rows = session.execute(
        select(SurveyResponse.is_user, SurveyResponse.answers).where(
            SurveyResponse.customer_id == customer_id,
            SurveyResponse.survey == survey,
            SurveyResponse.responded_at == responded_at,
        )
    ).all()
    return [(is_user, answers) for is_user, answers in rows]


def move_responses(session: Session, *, survivor_id: int, merged_id: int) -> int:
    """Give the merged profile's survey responses to the survivor. Returns how many moved."""
    moved = session.execute(
        update(SurveyResponse)
        .where(SurveyResponse.customer_id == merged_id)
        .values(customer_id=survivor_id)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(moved, "rowcount", 0) or 0)


def count_responses(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(SurveyResponse)) or 0


def add_run(session: Session, run: CommitmentRun) -> None:
    session.add(run)
    session.flush()


def latest_run(session: Session) -> CommitmentRun | None:
    return session.scalars(
        select(CommitmentRun).order_by(CommitmentRun.scored_at.desc(), CommitmentRun.id.desc())
    ).first()
