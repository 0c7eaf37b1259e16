"""What the segments API accepts and answers, as Pydantic models.

Members are answered by customer id only: a segment's page never carries personal data.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    field_validator,
    model_validator,
)

from regard.segments.compile import FeatureSpec
from regard.segments.models import SegmentRun
from regard.segments.service import SegmentSummary
from regard.segments.views import CheckedSegment, Member, SegmentKind, kind_of

# Longer than any rule a person writes: a body this large is not a segment.
MAX_RULE_CHARS = 10_000
MAX_NAMES = 200


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SegmentView(_Answer):
    """A segment's size now, what its last evaluation changed, and its trend."""

    name: str
    kind: SegmentKind = Field(description="The engine behind it, or custom for the brand's own.")
    description: str
    members: int = Field(description="Customers in the segment now.")
    entered: int | None = Field(description="Who entered at the last evaluation.")
    exited: int | None = Field(description="Who exited at the last evaluation.")
    evaluated_at: datetime | None = Field(description="The moment of the last evaluation.")
    seconds: float | None = Field(description="How long the last evaluation took.")
    trend: list[int] = Field(description="Member counts of the latest runs, oldest first.")

    @classmethod
    def of(cls, summary: SegmentSummary, *, description: str) -> SegmentView:
        return cls(
            name=summary.name,
            kind=kind_of(summary.name),
            description=description,
            members=summary.members,
            entered=summary.entered,
            exited=summary.exited,
            evaluated_at=summary.evaluated_at,
            seconds=summary.seconds,
            trend=list(summary.trend),
        )


class SegmentList(_Answer):
    """Every segment: the engines' first, then the brand's own, then any evaluated before."""

    segments: list[SegmentView]


class RunView(_Answer):
    """One evaluation of a segment."""

    evaluated_at: datetime
    members: int
    entered: int
    exited: int
    seconds: float

    @classmethod
    def of(cls, run: SegmentRun) -> RunView:
        return cls(
            evaluated_at=run.evaluated_at,
            members=run.members,
            entered=run.entered,
            exited=run.exited,
            seconds=run.seconds,
        )


class SegmentDetail(SegmentView):
    """A segment with its rule (the brand's own only) and its size over time."""

    rule: str | None = Field(description="The rule as written in regard.toml; null for engines.")
    tree: JsonValue = Field(description="The rule as its JSON tree; null for engines.")
    runs: list[RunView] = Field(description="The latest evaluations, oldest first.")


class MemberView(_Answer):
    customer_id: int
    entered_at: datetime

    @classmethod
    def of(cls, member: Member) -> MemberView:
        return cls(customer_id=member.customer_id, entered_at=member.entered_at)


class MembersPage(_Answer):
    """A page of a segment's current members, by customer id."""

    segment: str
    members: list[MemberView]
    next: int | None = Field(description="Pass as `after` for the next page; null on the last.")


class CheckIn(BaseModel):
    """A rule to check, as text or as its JSON tree: exactly one of the two."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_RULE_CHARS,
        description='Segment text, e.g. "count(purchase, 90d) >= 2".',
    )
    tree: JsonValue = Field(default=None, description="The JSON tree of a segment.")

    @model_validator(mode="after")
    def _one_of_rule_or_tree(self) -> CheckIn:
        given = {"rule", "tree"} & self.model_fields_set
        if len(given) != 1 or (self.rule is None and self.tree is None):
            raise ValueError('send either "rule" (text) or "tree" (JSON), not both')
        return self


class FeatureView(_Answer):
    """A column a rule reads: ``count__purchase__90d``, its type and where it comes from."""

    column: str
    source: str
    type: str

    @classmethod
    def of(cls, spec: FeatureSpec) -> FeatureView:
        return cls(column=spec.column, source=spec.source, type=spec.type.value)


class Checked(_Answer):
    """A valid rule: its canonical text, JSON tree and the features it reads."""

    ok: Literal[True] = True
    text: str
    tree: JsonValue
    features: list[FeatureView]

    @classmethod
    def of(cls, checked: CheckedSegment) -> Checked:
        return cls(
            text=checked.text,
            tree=checked.tree,
            features=[FeatureView.of(spec) for spec in checked.features],
        )


class EvaluateIn(BaseModel):
    """Which segments to evaluate, and on which moment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    names: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_NAMES,
        description="Segments (or rfm, lifecycle, commitment for an engine's); null for all.",
    )
    as_of: AwareDatetime | None = Field(default=None, description="Evaluate as on; now if null.")

    @field_validator("as_of")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        try:
            return None if value is None else value.astimezone(UTC)
        except OverflowError:
            raise ValueError("the moment is out of range") from None


class Evaluated(_Answer):
    """The segments evaluated, with their sizes and moves."""

    as_of: datetime
    segments: list[SegmentView]
