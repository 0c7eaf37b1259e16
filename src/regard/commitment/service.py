"""Collecting commitment survey answers, and scoring them: the rules, no HTTP, no commits.

A response is checked whole before anything is written: every problem (an item the survey does
not ask this respondent, an answer off its scale, a missing answer) is listed in one
``InvalidInput``. The customer's own words are cleaned like a preference note and stored
encrypted. Scoring reads each customer's latest response as columns and hands the frame to
``scoring.score``. Each scoring of the whole base keeps the cut points it used
(``score_and_remember``); a customer's history is scored with the latest of them, so an old
response is placed as it would be placed today, without scoring everyone again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from regard.commitment import repository
from regard.commitment.models import CommitmentRun, SurveyResponse
from regard.commitment.scoring import LABELS, CutPoints, cut_points, score
from regard.config import NON_USER_ITEMS, USER_ITEMS, BrandConfig, CommitmentItemKey
from regard.customers.service import on_merge
from regard.errors import InvalidInput
from regard.preferences.catalogue import SettingProblem, clean_note
from regard.preferences.views import live_customer_id

SURVEY = "commitment"
SOURCES = ("page", "api", "import")
ITEMS: tuple[CommitmentItemKey, ...] = (*USER_ITEMS, *NON_USER_ITEMS)
MAX_FREE_TEXT_ANSWERS = 10
_FUTURE_SLACK = timedelta(minutes=5)
_ANSWERS = pl.Struct(dict.fromkeys(ITEMS, pl.Float64))


def check_response(
    *,
    brand: BrandConfig,
    is_user: object,
    answers: Mapping[str, object],
    free_text: Mapping[str, object] | None,
    responded_at: datetime | None,
    now: datetime,
) -> tuple[dict[str, float], dict[str, str] | None, list[str]]:
    """The answers and free text as they would be stored, and every problem found."""
    problems: list[str] = []
    options = brand.commitment
    if not isinstance(is_user, bool):
        problems.append("is_user: must be true or false")
        asked: tuple[CommitmentItemKey, ...] = ()
    else:
        asked = USER_ITEMS if is_user else NON_USER_ITEMS
    kind = "users" if is_user else "non-users"
    clean: dict[str, float] = {}
    for key, value in answers.items():
        if key not in ITEMS:
            problems.append(f"{key}: there is no survey item {key!r}")
            continue
        if isinstance(is_user, bool) and key not in asked:
            problems.append(f"{key}: is not asked of {kind}")
            continue
        item = options.item(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(f"{key}: must be a number")
            continue
        number = float(value)
        if not math.isfinite(number) or not item.scale_min <= number <= item.scale_max:
            problems.append(
                f"{key}: {number:g} is outside its scale {item.scale_min:g}-{item.scale_max:g}"
            )
            continue
        clean[key] = number
    for key in asked:
        if key not in answers:
            problems.append(f"{key}: no answer to {LABELS[key]}")
    words = _clean_free_text(brand, free_text, problems)
    if responded_at is not None:
        if responded_at.tzinfo is None:
            problems.append("responded_at: give the moment with its time zone")
        elif responded_at > now + _FUTURE_SLACK:
            problems.append("responded_at: is in the future")
    return clean, words, problems


def _clean_free_text(
    brand: BrandConfig, free_text: Mapping[str, object] | None, problems: list[str]
) -> dict[str, str] | None:
    if not free_text:
        return None
    if len(free_text) > MAX_FREE_TEXT_ANSWERS:
        problems.append(f"free_text: at most {MAX_FREE_TEXT_ANSWERS} open answers fit")
        return None
    words: dict[str, str] = {}
    asked = [question.key for question in brand.commitment.questions]
    for question, text in free_text.items():
        if question not in asked:
            listed = ", ".join(asked) if asked else "none"
            problems.append(
                f"free_text: the survey has no open question {question[:40]!r} "
                f"(its open questions: {listed})"
            )
            continue
        try:
            cleaned = clean_note(brand, question, text)
        except SettingProblem as exc:
            problems.append(f"free_text.{question}: {exc}")
            continue
        if cleaned:
            words[question] = cleaned
    return words or None


def record_response(
    session: Session,
    customer_id: int,
    *,
    brand: BrandConfig,
    is_user: bool,
    answers: Mapping[str, object],
    free_text: Mapping[str, object] | None,
    source: str,
    responded_at: datetime | None = None,
) -> SurveyResponse:
    """Store one commitment survey response for the customer (or the profile they merged into).

    Nothing is written unless every part is valid; ``InvalidInput`` lists every problem under
    ``details["problems"]``.
    """
    if source not in SOURCES:
        raise InvalidInput(f"source must be one of {', '.join(SOURCES)}")
    now = datetime.now(UTC)
    clean, words, problems = check_response(
        brand=brand,
        is_user=is_user,
        answers=answers,
        free_text=free_text,
        responded_at=responded_at,
        now=now,
    )
    if problems:
        raise InvalidInput(
            f"the survey response has {_count(len(problems), 'problem')}: {problems[0]}"
            + ("" if len(problems) == 1 else ", …"),
            details={"problems": problems},
        )
    cid = live_customer_id(session, customer_id)
    return repository.add_response(
        session,
        SurveyResponse(
            customer_id=cid,
            survey=SURVEY,
            is_user=is_user,
            answers=clean,
            free_text=words,
            source=source,
            responded_at=(responded_at or now).astimezone(UTC),
            recorded_at=now,
        ),
    )


def already_recorded(
    session: Session,
    customer_id: int,
    *,
    is_user: bool,
    answers: Mapping[str, float],
    responded_at: datetime,
) -> bool:
    """Whether the customer (or the profile they merged into) gave these answers at that
    moment already: a file imported twice records each response once."""
    cid = live_customer_id(session, customer_id)
    given = {key: float(value) for key, value in answers.items()}
    return any(
        stored_user == is_user and {k: float(v) for k, v in stored.items()} == given
        for stored_user, stored in repository.answers_at(
            session, cid, survey=SURVEY, responded_at=responded_at.astimezone(UTC)
        )
    )


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _answer_columns(answers: pl.Series) -> pl.DataFrame:
    """JSON answers ({"satisfaction": 8, ...}) as one Float64 column per item."""
    return answers.str.json_decode(_ANSWERS).struct.unnest()


def latest_frame(session: Session, *, brand: BrandConfig) -> pl.DataFrame:
    """Each customer's latest commitment response, as the input ``scoring.score`` takes."""
    latest = repository.latest_answers(session, survey=SURVEY)
    return pl.concat(
        [latest.select("customer_id", "is_user"), _answer_columns(latest["answers"])],
        how="horizontal",
    )


def score_base(session: Session, *, brand: BrandConfig) -> pl.DataFrame:
    """Every surveyed customer's score, group and reason, from their latest response."""
    return score(latest_frame(session, brand=brand), brand.commitment)


def base_cuts(base: pl.DataFrame, *, brand: BrandConfig) -> CutPoints | None:
    """The cut points a scored base was cut with; None when nobody in it could be scored
    and none are configured (then no user is grouped anyway)."""
    scores = base.get_column("score")
    if brand.commitment.cut_points is None and scores.drop_nulls().len() == 0:
        return None
    return cut_points(scores, brand.commitment)


def score_and_remember(session: Session, *, brand: BrandConfig, at: datetime) -> pl.DataFrame:
    """``score_base``, keeping the cut points it used: later, one customer's commitment is
    placed with them instead of scoring the whole base again. Flushes, never commits."""
    base = score_base(session, brand=brand)
    cuts = base_cuts(base, brand=brand)
    if cuts is not None:
        repository.add_run(
            session,
            CommitmentRun(
                scored_at=at.astimezone(UTC),
                respondents=base.height,
                scored_users=base.get_column("score").drop_nulls().len(),
                **cuts._asdict(),
            ),
        )
    return base


def current_cuts(session: Session, *, brand: BrandConfig) -> CutPoints | None:
    """The configured cut points; else those of the latest scoring of the base; else (never
    scored yet) the quartiles of the base now."""
    if brand.commitment.cut_points is not None:
        return CutPoints(*brand.commitment.cut_points)
    run = repository.latest_run(session)
    if run is not None:
        return CutPoints(run.shallow_from, run.average_from, run.entrenched_from)
    return base_cuts(score_base(session, brand=brand), brand=brand)


@dataclass(frozen=True)
class CustomerCommitment:
    """A customer's commitment now, and every response they gave, each scored."""

    customer_id: int
    cuts: CutPoints | None
    history: pl.DataFrame

    @property
    def current(self) -> dict[str, Any] | None:
        """The latest response's row (answered last; recorded last among equals)."""
        if self.history.is_empty():
            return None
        return self.history.row(-1, named=True)


def history(session: Session, customer_id: int, *, brand: BrandConfig) -> CustomerCommitment:
    """Every response of the customer, oldest first, with the score and group it gives when
    cut with the current cut points (``current_cuts``)."""
    cid = live_customer_id(session, customer_id)
    cuts = current_cuts(session, brand=brand)
    return _history(session, cid, brand=brand, cuts=cuts)


def _history(
    session: Session, customer_id: int, *, brand: BrandConfig, cuts: CutPoints | None
) -> CustomerCommitment:
    rows = repository.responses_of(session, customer_id, survey=SURVEY)
    columns: Sequence[list[Any]] = (
        [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in range(7)]
    )
    ids, users, answers, sources, responded, recorded, has_text = columns
    frame = pl.concat(
        [
            pl.DataFrame(
                {
                    "response_id": pl.Series(ids, dtype=pl.Int64),
                    "customer_id": pl.Series([customer_id] * len(ids), dtype=pl.Int64),
                    "is_user": pl.Series(users, dtype=pl.Boolean),
                }
            ),
            _answer_columns(pl.Series(answers, dtype=pl.String)),
            pl.DataFrame(
                {
                    "source": pl.Series(sources, dtype=pl.String),
                    "responded_at": pl.Series(responded, dtype=pl.Datetime("us", "UTC")),
                    "recorded_at": pl.Series(recorded, dtype=pl.Datetime("us", "UTC")),
                    "has_free_text": pl.Series(has_text, dtype=pl.Boolean),
                }
            ),
        ],
        how="horizontal",
    )
    scored = score(frame, brand.commitment, cuts=cuts or CutPoints(0.0, 0.0, 0.0))
    return CustomerCommitment(customer_id=customer_id, cuts=cuts, history=scored)


@on_merge
def _merge_responses(session: Session, survivor_id: int, merged_id: int) -> None:
    """A merged profile's answers become the survivor's: commitment keeps its whole history."""
    repository.move_responses(session, survivor_id=survivor_id, merged_id=merged_id)
