"""What the segments API and commands show: one segment's members and runs, checked rules.

The read queries of segments beyond the summaries of ``regard.segments.service``: a page of a
segment's current members, the history of its runs, and which names exist. Also ``check``, which
takes a rule as text or as the JSON tree and answers its canonical text, tree and features.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from regard.config import BrandConfig
from regard.errors import InvalidInput, NotFound
from regard.segments.compile import FeatureSpec, compile_segment
from regard.segments.language import Json, SegmentError, from_json, parse, to_json, to_text
from regard.segments.models import SegmentMembership, SegmentRun
from regard.segments.options import SegmentDefinition
from regard.segments.schema import nearest
from regard.segments.service import schema_for, segment_names

__all__ = [
    "CheckedSegment",
    "Member",
    "SegmentKind",
    "check",
    "describe",
    "find_segment",
    "kind_of",
    "members_page",
    "require_segment",
    "runs_of",
    "unknown_segments",
]

SegmentKind = Literal["rfm", "lifecycle", "commitment", "custom"]
ENGINES = ("rfm", "lifecycle", "commitment")
_NAME_LENGTH = 120  # the width of the segment columns in models.py

# What each engine segment holds, in the words of docs/segments.md and docs/commitment.md.
_ENGINE_DESCRIPTIONS = {
    "rfm:champions": "Bought recently and often (r 5, f 4-5).",
    "rfm:loyal_customers": "Buy often, fairly recently (r 3-4, f 4-5).",
    "rfm:potential_loyalists": "Recent, a few purchases (r 4-5, f 2-3).",
    "rfm:new_customers": "Very recent, one of the fewest purchases (r 5, f 1).",
    "rfm:promising": "Recent, few purchases (r 4, f 1).",
    "rfm:need_attention": "Middling on both recency and frequency (r 3, f 3).",
    "rfm:about_to_sleep": "Middling recency, few purchases (r 3, f 1-2).",
    "rfm:cannot_lose_them": "Bought the most often, but long ago (r 1-2, f 5).",
    "rfm:at_risk": "Bought often, but long ago (r 1-2, f 3-4).",
    "rfm:hibernating": "Long ago and seldom (r 1-2, f 1-2).",
    "lifecycle:prospect": "No purchase yet.",
    "lifecycle:new": "First purchase in the last 30 days.",
    "lifecycle:active": "Buying at their usual rhythm.",
    "lifecycle:at_risk": "Quiet for more than twice their usual interval between purchases.",
    "lifecycle:lapsed": "Quiet for more than four usual intervals, or a year.",
    "lifecycle:won_back": "Came back after a lapse, in the last 90 days.",
    "commitment:Entrenched": "Like us, care, see no better alternative.",
    "commitment:Average": "Committed, not unconditionally.",
    "commitment:Shallow": "Little margin or little involvement: they stay by habit.",
    "commitment:Convertible": "Likely to leave, some of them suddenly.",
    "commitment:Available": "Non-users who prefer us.",
    "commitment:Ambivalent": "Non-users who like us as much as their own brand.",
    "commitment:Weakly unavailable": "Non-users who slightly prefer their own brand.",
    "commitment:Strongly unavailable": "Non-users who firmly prefer their own brand.",
}


@dataclass(frozen=True)
class Member:
    """A customer in a segment now, and since when."""

    customer_id: int
    entered_at: datetime


@dataclass(frozen=True)
class CheckedSegment:
    """A rule that parses and type-checks: its canonical text, JSON tree and feature columns."""

    text: str
    tree: Json
    features: tuple[FeatureSpec, ...]


def kind_of(name: str) -> SegmentKind:
    """``rfm``, ``lifecycle``, ``commitment`` or ``custom``."""
    engine, colon, _ = name.partition(":")
    return cast(SegmentKind, engine) if colon and engine in ENGINES else "custom"


def describe(name: str, *, brand: BrandConfig) -> str:
    """What a segment holds, in a sentence: the brand's own description for its segments."""
    definition = custom_definition(name, brand=brand)
    if definition is not None:
        return definition.description
    return _ENGINE_DESCRIPTIONS.get(name, "")


def custom_definition(name: str, *, brand: BrandConfig) -> SegmentDefinition | None:
    return next((d for d in brand.segments.custom if d.name == name), None)


def recorded_names(session: Session) -> list[str]:
    """Segments that have been evaluated, the brand's or not (a segment since removed)."""
    return list(session.scalars(select(SegmentRun.segment).distinct().order_by(SegmentRun.segment)))


def find_segment(session: Session, name: str, *, brand: BrandConfig) -> bool:
    """Whether ``name`` is one of the brand's segments or one that has been evaluated."""
    if name in segment_names(brand):
        return True
    if len(name) > _NAME_LENGTH or "\x00" in name:
        return False  # could not have been stored (and PostgreSQL refuses NUL in text)
    statement = select(SegmentRun.id).where(SegmentRun.segment == name).limit(1)
    return session.scalar(statement) is not None


def require_segment(session: Session, name: str, *, brand: BrandConfig) -> None:
    """``NotFound``, with the nearest known name, unless the segment exists."""
    if find_segment(session, name, brand=brand):
        return
    guess = nearest(name, [*segment_names(brand), *recorded_names(session)])
    hint = f"; did you mean {guess!r}?" if guess else ""
    raise NotFound(
        f"there is no segment {name!r}{hint}", details={"segment": name, "did_you_mean": guess}
    )


def unknown_segments(names: Sequence[str], *, brand: BrandConfig) -> None:
    """``InvalidInput`` listing every name that is neither a segment nor an engine's family."""
    every = segment_names(brand)
    unknown = [
        name
        for name in dict.fromkeys(names)
        if name not in every and not any(known.startswith(f"{name}:") for known in every)
    ]
    if not unknown:
        return
    guesses = {name: nearest(name, every) for name in unknown}
    listed = ", ".join(
        repr(name) + (f" (did you mean {guesses[name]!r}?)" if guesses[name] else "")
        for name in unknown
    )
    plural = "s" if len(unknown) > 1 else ""
    raise InvalidInput(
        f"no such segment{plural}: {listed}",
        details={"unknown": unknown, "did_you_mean": guesses},
    )


def members_page(
    session: Session, segment: str, *, after: int | None, limit: int
) -> tuple[list[Member], int | None]:
    """Up to ``limit`` current members by customer id, after ``after``; and the next cursor.

    The cursor is the last customer id of the page when more members follow, else ``None``.
    """
    statement = (
        select(SegmentMembership.customer_id, SegmentMembership.entered_at)
        .where(SegmentMembership.segment == segment, SegmentMembership.exited_at.is_(None))
        .order_by(SegmentMembership.customer_id)
        .limit(limit + 1)
    )
    if after is not None:
        statement = statement.where(SegmentMembership.customer_id > after)
    rows = session.execute(statement).all()
    page = [Member(customer_id, entered_at) for customer_id, entered_at in rows[:limit]]
    following = page[-1].customer_id if len(rows) > limit else None
    return page, following


def runs_of(session: Session, segment: str, *, limit: int) -> list[SegmentRun]:
    """The latest ``limit`` evaluations of a segment, oldest first: its size over time."""
    statement = (
        select(SegmentRun)
        .where(SegmentRun.segment == segment)
        .order_by(SegmentRun.evaluated_at.desc(), SegmentRun.id.desc())
        .limit(limit)
    )
    return list(reversed(session.scalars(statement).all()))


def check(*, brand: BrandConfig, rule: str | None = None, tree: object = None) -> CheckedSegment:
    """Parse (text) or read (JSON tree) a rule and type-check it against the brand's schema.

    A tree is printed as text and checked as that text, so a type error in a tree also says a
    line and column (of the canonical text, given in the error's ``details.text``). Every
    ``SegmentError`` carries ``details.pointer``: the offending line with carets under it.
    """
    source = rule
    try:
        if source is None:
            source = to_text(from_json(tree))
        expr = parse(source)
        compiled = compile_segment(expr, schema=schema_for(brand), source=source)
        return CheckedSegment(text=to_text(expr), tree=to_json(expr), features=compiled.features)
    except SegmentError as exc:
        # The message says where, as the command line does: a JSON path, or a line and column.
        exc.message = str(exc).split("\n", 1)[0]
        pointer = exc.pointer()
        if pointer:
            exc.details["pointer"] = pointer
            if rule is None:
                exc.details["text"] = source
        raise
    except RecursionError:
        raise InvalidInput("the segment is nested too deeply") from None
