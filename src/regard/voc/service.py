"""Voice of the Customer: the themes in survey answers given in customers' own words.

Reads every response with free text in one query (the text decrypted by its column type), joins
each respondent's commitment group now and the segments they are in now, and hands the frame to
the pure ``themes.find_themes``. No commits, and the texts are never logged.
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import polars as pl
from sqlalchemy.orm import Session

from regard.commitment.scoring import NON_USER_GROUPS, USER_GROUPS
from regard.commitment.service import SURVEY, score_base
from regard.config import BrandConfig
from regard.errors import InvalidInput
from regard.segments.service import segment_names
from regard.voc import repository
from regard.voc.themes import (
    GROUP_COLUMN,
    MAX_THEMES,
    SEGMENTS_COLUMN,
    QuestionThemes,
    find_themes,
)

GROUPS = (*USER_GROUPS, *NON_USER_GROUPS)


def themes(
    session: Session,
    *,
    brand: BrandConfig,
    question: str | None = None,
    segment: str | None = None,
    group: str | None = None,
    since: date | None = None,
    themes: int | None = None,
) -> tuple[QuestionThemes, ...]:
    """The themes of the answers to each open question (or only ``question``), in the order the
    survey asks them.

    Filters: ``segment``, only respondents in that segment now; ``group``, only respondents whose
    commitment group is that now (from their latest response); ``since``, only answers given on
    or after that day in the brand's time zone. ``themes`` fixes the number of themes per
    question. A filter naming something the brand does not have is ``InvalidInput`` naming the
    parameter. Quotes in the result are masked but still personal data.
    """
    asked = _questions(brand, question)
    group = _group(group)
    if segment is not None and segment not in segment_names(brand):
        raise InvalidInput(
            f"segment: there is no segment {segment[:120]!r}; `regard segment list` names them",
            details={"parameter": "segment"},
        )
    if themes is not None and not 1 <= themes <= MAX_THEMES:
        raise InvalidInput(
            f"themes: must be between 1 and {MAX_THEMES}", details={"parameter": "themes"}
        )
    zone = ZoneInfo(brand.time_zone)
    frame = answers_frame(
        session,
        brand=brand,
        since=None if since is None else datetime.combine(since, time(), tzinfo=zone),
        segment=segment,
    )
    if group is not None:
        frame = frame.filter(pl.col(GROUP_COLUMN) == group)
    frame = frame.with_columns(pl.col("responded_at").dt.convert_time_zone(brand.time_zone))
    return find_themes(frame, questions=asked, themes=themes)


def answers_frame(
    session: Session,
    *,
    brand: BrandConfig,
    since: datetime | None = None,
    segment: str | None = None,
) -> pl.DataFrame:
    """One row per free-text answer: response_id, customer_id, question, text, responded_at
    (UTC), the respondent's commitment group now and the segments they are in now."""
    rows = repository.responses_with_text(session, survey=SURVEY, since=since, segment=segment)
    answers = pl.DataFrame(
        [
            (response_id, customer_id, key, text, responded_at)
            for response_id, customer_id, free_text, responded_at in rows
            for key, text in sorted(free_text.items())
            if isinstance(text, str)
        ],
        schema={
            "response_id": pl.Int64,
            "customer_id": pl.Int64,
            "question": pl.String,
            "text": pl.String,
            "responded_at": pl.Datetime("us", "UTC"),
        },
        orient="row",
    )
    groups = score_base(session, brand=brand).select(
        "customer_id", pl.col("group").cast(pl.String).alias(GROUP_COLUMN)
    )
    memberships = pl.DataFrame(
        repository.respondents_segments(session, survey=SURVEY),
        schema={"customer_id": pl.Int64, "segment": pl.String},
        orient="row",
    )
    segments = memberships.group_by("customer_id").agg(
        pl.col("segment").sort().alias(SEGMENTS_COLUMN)
    )
    return (
        answers.join(groups, on="customer_id", how="left")
        .join(segments, on="customer_id", how="left")
        .with_columns(pl.col(SEGMENTS_COLUMN).fill_null(pl.lit([], dtype=pl.List(pl.String))))
    )


def _questions(brand: BrandConfig, question: str | None) -> list[str]:
    keys = [q.key for q in brand.commitment.questions]
    if question is None:
        return keys
    if question not in keys:
        listed = ", ".join(keys) or "none"
        raise InvalidInput(
            f"question: the survey has no open question {question[:40]!r} "
            f"(its open questions: {listed})",
            details={"parameter": "question"},
        )
    return [question]


def _group(group: str | None) -> str | None:
    """The commitment group named, whatever its case."""
    if group is None:
        return None
    found = next((g for g in GROUPS if g.casefold() == group.strip().casefold()), None)
    if found is None:
        raise InvalidInput(
            f"group: there is no commitment group {group[:40]!r} (groups: {', '.join(GROUPS)})",
            details={"parameter": "group"},
        )
    return found
