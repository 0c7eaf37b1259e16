"""What the commitment API accepts and answers, as Pydantic models.

Answers and free text are taken as given and checked by the service, which reports every
problem of a response at once (an unknown item, an answer off its scale, a missing answer).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from regard.commitment.models import SurveyResponse
from regard.commitment.scoring import CutPoints
from regard.config import CommitmentOptions

# More keys than any survey has: a body this large is not a survey response.
_MAX_KEYS = 50


class SurveyIn(BaseModel):
    """One commitment survey response: whether they use the brand, and their answers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    is_user: bool = Field(description="Whether the respondent uses the brand now.")
    answers: dict[str, Any] = Field(
        max_length=_MAX_KEYS, description="Answer per survey item key, on the item's scale."
    )
    free_text: dict[str, Any] | None = Field(
        default=None,
        max_length=_MAX_KEYS,
        description="The respondent's own words per open question (stored encrypted).",
    )
    responded_at: AwareDatetime | None = Field(
        default=None, description="When they answered; now when left out."
    )


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ResponseView(_Answer):
    """A stored survey response, as it was stored (free text cleaned)."""

    id: int
    customer_id: int
    survey: str
    is_user: bool
    answers: dict[str, float]
    free_text: dict[str, str] | None
    source: str
    responded_at: datetime
    recorded_at: datetime

    @classmethod
    def of(cls, response: SurveyResponse) -> ResponseView:
        return cls(
            id=response.id,
            customer_id=response.customer_id,
            survey=response.survey,
            is_user=response.is_user,
            answers=response.answers,
            free_text=response.free_text,
            source=response.source,
            responded_at=response.responded_at,
            recorded_at=response.recorded_at,
        )


class CommitmentNow(_Answer):
    """Where a response places the customer: group, score and the reason in words."""

    group: str | None = Field(description="One of the eight groups; null when not scorable.")
    score: float | None = Field(description="Users only: the commitment score, 0-1.")
    margin: float | None
    affective: float | None = Field(description="How much they like us, 0-1.")
    lock_in: float | None = Field(description="Users only: no attractive alternative, 0-1.")
    reason: str
    responded_at: datetime

    @classmethod
    def of(cls, row: dict[str, Any]) -> CommitmentNow:
        return cls(**{name: row[name] for name in cls.model_fields})


class HistoryEntry(CommitmentNow):
    """One past response, scored with today's cut points."""

    response_id: int
    is_user: bool
    answers: dict[str, float]
    source: str
    recorded_at: datetime
    has_free_text: bool

    @classmethod
    def of_row(cls, row: dict[str, Any], items: tuple[str, ...]) -> HistoryEntry:
        answers = {key: row[key] for key in items if row[key] is not None}
        return cls(
            **{name: row[name] for name in cls.model_fields if name != "answers"},
            answers=answers,
        )


class Cuts(_Answer):
    """Scores from which a user is Shallow, Average and Entrenched."""

    shallow_from: float
    average_from: float
    entrenched_from: float

    @classmethod
    def of(cls, cuts: CutPoints | None) -> Cuts | None:
        return None if cuts is None else cls(**cuts._asdict())


class ItemView(_Answer):
    """One closed question of the survey."""

    key: str
    wording: str
    scale_min: float
    scale_max: float
    asked_of: str = Field(description="users or non-users")


class QuestionView(_Answer):
    """One open question, answered in the respondent's own words (optional)."""

    key: str
    wording: str


class SurveyDefinition(_Answer):
    """The survey as the brand words it in regard.toml."""

    items: list[ItemView]
    questions: list[QuestionView]

    @classmethod
    def of(cls, options: CommitmentOptions) -> SurveyDefinition:
        return cls(
            items=[ItemView(**item.model_dump(), asked_of=item.asked_of) for item in options.items],
            questions=[QuestionView(**question.model_dump()) for question in options.questions],
        )


class SurveyRecorded(_Answer):
    """The stored response and the customer's group now."""

    response: ResponseView
    commitment: CommitmentNow


class CommitmentView(_Answer):
    """A customer's commitment now and every response they gave (oldest first)."""

    customer_id: int
    current: CommitmentNow | None
    cut_points: Cuts | None
    history: list[HistoryEntry]
