"""All SQL of segment memberships and runs; memberships move as frames, never row by row."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import polars as pl
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session, aliased

from regard.segments.models import SegmentMembership, SegmentRun

_MEMBERS_SCHEMA = {"id": pl.Int64(), "segment": pl.String(), "customer_id": pl.Int64()}


def current_members(session: Session, segments: Sequence[str]) -> pl.DataFrame:
    """The open memberships (id, segment, customer_id) of ``segments``."""
    statement = select(
        SegmentMembership.id, SegmentMembership.segment, SegmentMembership.customer_id
    ).where(SegmentMembership.segment.in_(segments), SegmentMembership.exited_at.is_(None))
    rows = session.execute(statement).all()
    return pl.DataFrame(rows, schema=_MEMBERS_SCHEMA, orient="row")


def open_memberships(session: Session, entered: pl.DataFrame, *, at: datetime) -> None:
    """Start a membership for each (segment, customer_id) of ``entered``."""
    if entered.is_empty():
        return
    session.execute(
        insert(SegmentMembership),
        entered.select("segment", "customer_id")
        .with_columns(pl.lit(at).alias("entered_at"))
        .to_dicts(),
    )


def close_memberships(session: Session, membership_ids: pl.Series, *, at: datetime) -> None:
    """End the memberships with these ids."""
    if membership_ids.is_empty():
        return
    session.execute(
        update(SegmentMembership),
        [{"id": membership_id, "exited_at": at} for membership_id in membership_ids.to_list()],
    )


def add_runs(session: Session, runs: Sequence[SegmentRun]) -> None:
    session.add_all(runs)
    session.flush()


def segment_sizes(session: Session) -> dict[str, int]:
    """How many customers are in each segment now."""
    statement = (
        select(SegmentMembership.segment, func.count())
        .where(SegmentMembership.exited_at.is_(None))
        .group_by(SegmentMembership.segment)
    )
    return dict(session.execute(statement).all())


def recent_runs(session: Session, *, per_segment: int) -> list[SegmentRun]:
    """The latest ``per_segment`` runs of every segment, by segment then newest first."""
    position = (
        func.row_number()
        .over(
            partition_by=SegmentRun.segment,
            order_by=(SegmentRun.evaluated_at.desc(), SegmentRun.id.desc()),
        )
        .label("position")
    )
    ranked = select(SegmentRun.id, position).subquery()
    statement = (
        select(SegmentRun)
        .join(ranked, ranked.c.id == SegmentRun.id)
        .where(ranked.c.position <= per_segment)
        .order_by(SegmentRun.segment, SegmentRun.evaluated_at.desc(), SegmentRun.id.desc())
    )
    return list(session.scalars(statement))


def crosstab(session: Session, rows: str, columns: str) -> dict[tuple[str, str], int]:
    """Customers in both a segment named ``rows...`` and one named ``columns...`` now, counted
    per pair (e.g. commitment group against lifecycle stage), names without their prefixes."""
    a = aliased(SegmentMembership)
    b = aliased(SegmentMembership)
    found = session.execute(
        select(a.segment, b.segment, func.count())
        .join(b, b.customer_id == a.customer_id)
        .where(
            a.segment.startswith(rows),
            b.segment.startswith(columns),
            a.exited_at.is_(None),
            b.exited_at.is_(None),
        )
        .group_by(a.segment, b.segment)
    ).all()
    return {
        (row_name.removeprefix(rows), column_name.removeprefix(columns)): int(count)
        for row_name, column_name, count in found
    }
