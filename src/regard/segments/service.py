"""Evaluating segments over the whole base and keeping who is in each one since when.

Segments are named ``rfm:<group>`` (the RFM grid), ``lifecycle:<stage>``,
``commitment:<group>`` (from each surveyed customer's latest response) and, for the brand's own,
by their name in ``regard.toml``. An evaluation reads the base once in columns
(``regard.segments.features``), runs the engines and every rule as Polars plans, then moves
memberships as sets: customers no longer in a segment have their membership closed, newcomers get
a new one, and everyone else's stays as it is.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import polars as pl
from sqlalchemy.orm import Session

from regard.commitment.service import score_and_remember, score_base
from regard.config import BrandConfig
from regard.errors import InvalidInput
from regard.segments import features, repository
from regard.segments.compile import CompiledSegment, compile_segment
from regard.segments.language import parse
from regard.segments.lifecycle import lifecycle_plan
from regard.segments.models import SegmentRun
from regard.segments.options import SegmentOptions
from regard.segments.rfm import rfm_plan, utc_instant
from regard.segments.schema import (
    COMMITMENT_GROUPS,
    LIFECYCLE_STAGES,
    RFM_GROUPS,
    SegmentSchema,
    ValueType,
    default_schema,
    nearest,
)

__all__ = [
    "SegmentSummary",
    "check_rule",
    "count_members",
    "evaluate_segments",
    "list_segments",
    "schema_for",
    "segment_names",
]

# Runs kept in a summary's trend.
TREND_RUNS = 8


@dataclass(frozen=True)
class SegmentSummary:
    """A segment's size now and what its last evaluation changed.

    ``trend`` is the member counts of its latest runs, oldest first; ``seconds`` is how long the
    evaluation that produced the last run took (segments evaluated together share one pass).
    """

    name: str
    members: int
    entered: int | None = None
    exited: int | None = None
    evaluated_at: datetime | None = None
    seconds: float | None = None
    trend: tuple[int, ...] = ()
    description: str = ""


def schema_for(brand: BrandConfig) -> SegmentSchema:
    """What the brand's rules may refer to: declared traits, its topics, channels and the
    interests its preference center offers."""
    return default_schema(
        traits={name: ValueType(kind) for name, kind in brand.segments.traits.items()},
        topics=[topic.key for topic in brand.topics],
        channels=brand.channels,
        interests=[choice.key for choice in brand.preferences.interests],
    )


def check_rule(rule: str, *, brand: BrandConfig) -> CompiledSegment:
    """Parse and type-check a rule; ``SegmentError`` says what is wrong and where."""
    return compile_segment(parse(rule), schema=schema_for(brand), source=rule)


def segment_names(brand: BrandConfig) -> list[str]:
    """Every segment the brand has, engines' first."""
    return [
        *(f"rfm:{group}" for group in RFM_GROUPS),
        *(f"lifecycle:{stage}" for stage in LIFECYCLE_STAGES),
        *(f"commitment:{group}" for group in COMMITMENT_GROUPS),
        *(definition.name for definition in brand.segments.custom),
    ]


def evaluate_segments(
    session: Session,
    *,
    brand: BrandConfig,
    as_of: datetime,
    names: Sequence[str] | None = None,
) -> list[SegmentSummary]:
    """Evaluate the named segments (all when ``names`` is None) on ``as_of`` and store the result.

    A name may also be ``rfm`` or ``lifecycle`` for all of that engine's segments. Memberships
    start and end at ``as_of``; one ``SegmentRun`` is written per segment. Flushes, never commits.
    """
    started = time.perf_counter()
    as_of = utc_instant(as_of)
    chosen = _choose(brand, names)
    options = brand.segments
    base, purchases = engine_base(session, brand=brand, as_of=as_of, remember=True)
    schema = schema_for(brand)
    rules = {
        definition.name: compile_segment(
            parse(definition.rule), schema=schema, source=definition.rule
        )
        for definition in options.custom
        if definition.name in chosen
    }
    specs = [spec for compiled in rules.values() for spec in compiled.features]
    frame = features.read_features(
        session, specs, base=base, brand=brand, as_of=as_of, purchases=purchases
    )

    members = _members(frame, chosen, rules)
    current = repository.current_members(session, chosen)
    entered = members.join(current, on=["segment", "customer_id"], how="anti")
    exited = current.join(members, on=["segment", "customer_id"], how="anti")
    repository.close_memberships(session, exited["id"], at=as_of)
    repository.open_memberships(session, entered, at=as_of)

    counts = _counts(members, chosen)
    came = _counts(entered, chosen)
    went = _counts(exited, chosen)
    seconds = time.perf_counter() - started
    runs = [
        SegmentRun(
            segment=name,
            evaluated_at=as_of,
            members=counts[name],
            entered=came[name],
            exited=went[name],
            seconds=seconds,
        )
        for name in chosen
    ]
    repository.add_runs(session, runs)
    return list_segments(session, brand=brand, names=chosen)


def engine_base(
    session: Session, *, brand: BrandConfig, as_of: datetime, remember: bool
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every customer with the engines' fields (lifecycle, rfm_group, r, f, m, commitment), and
    the purchases they were computed from. ``remember`` keeps the commitment cut points used, as
    an evaluation does; a preview keeps nothing."""
    options = brand.segments
    customers = features.read_customers(session)
    purchases = features.read_purchases(session, options=options.rfm, as_of=as_of)
    scores, stages = engine_columns(purchases, customers, as_of=as_of, options=options)
    scored = (
        score_and_remember(session, brand=brand, at=as_of)
        if remember
        else score_base(session, brand=brand)
    )
    commitment = scored.select(
        pl.col("customer_id").cast(pl.Int64), pl.col("group").cast(pl.String).alias("commitment")
    )
    base = customers.with_columns(
        stages["stage"].cast(pl.String).alias("lifecycle"),
        scores["rfm_group"].cast(pl.String).alias("rfm_group"),
        scores["r"],
        scores["f"],
        scores["m"],
    ).join(commitment, on="customer_id", how="left", maintain_order="left")
    return base, purchases


def count_members(session: Session, rule: str, *, brand: BrandConfig, as_of: datetime) -> int:
    """How many customers ``rule`` would hold on ``as_of``; nothing is stored (no memberships,
    runs or commitment cut points). Raises ``SegmentError``."""
    compiled = check_rule(rule, brand=brand)
    as_of = utc_instant(as_of)
    base, purchases = engine_base(session, brand=brand, as_of=as_of, remember=False)
    frame = features.read_features(
        session, compiled.features, base=base, brand=brand, as_of=as_of, purchases=purchases
    )
    return frame.filter(compiled.expression).height


def engine_columns(
    purchases: pl.DataFrame, customers: pl.DataFrame, *, as_of: datetime, options: SegmentOptions
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """RFM (rfm_group, r, f, m) and lifecycle (stage) of every customer, in one collect so that
    Polars runs both side by side; only the columns segments read are computed (the lifecycle's
    reason sentences, say, are left out of the plan)."""
    scores, stages = pl.collect_all(
        [
            rfm_plan(purchases, customers, as_of=as_of, options=options.rfm).select(
                "rfm_group", "r", "f", "m"
            ),
            lifecycle_plan(purchases, customers, as_of=as_of, options=options.lifecycle).select(
                "stage"
            ),
        ]
    )
    return scores, stages


def list_segments(
    session: Session, *, brand: BrandConfig | None = None, names: Sequence[str] | None = None
) -> list[SegmentSummary]:
    """Every segment with members or runs (and the brand's own), with its size and trend."""
    sizes = repository.segment_sizes(session)
    runs = repository.recent_runs(session, per_segment=TREND_RUNS)
    latest: dict[str, list[SegmentRun]] = {}
    for run in runs:
        latest.setdefault(run.segment, []).append(run)
    descriptions = {d.name: d.description for d in brand.segments.custom} if brand else {}
    known = [
        *(segment_names(brand) if brand else []),
        *sorted(set(sizes) | set(latest)),
    ]
    summaries = []
    for name in dict.fromkeys(names if names is not None else known):
        history = latest.get(name, [])
        last = history[0] if history else None
        summaries.append(
            SegmentSummary(
                name=name,
                members=sizes.get(name, 0),
                entered=last.entered if last else None,
                exited=last.exited if last else None,
                evaluated_at=last.evaluated_at if last else None,
                seconds=last.seconds if last else None,
                trend=tuple(run.members for run in reversed(history)),
                description=descriptions.get(name, ""),
            )
        )
    return summaries


def _choose(brand: BrandConfig, names: Sequence[str] | None) -> list[str]:
    every = segment_names(brand)
    if not names:
        return every
    chosen: list[str] = []
    for name in names:
        family = [known for known in every if known.startswith(f"{name}:")]
        if family:
            chosen.extend(family)
        elif name in every:
            chosen.append(name)
        else:
            guess = nearest(name, every)
            hint = f"; did you mean {guess!r}?" if guess else ""
            raise InvalidInput(f"there is no segment {name!r}{hint}", details={"segment": name})
    return list(dict.fromkeys(chosen))


def _members(
    frame: pl.DataFrame, chosen: Sequence[str], rules: dict[str, CompiledSegment]
) -> pl.DataFrame:
    """(segment, customer_id) for every member of every chosen segment."""
    by_engine = pl.concat(
        [
            frame.select(
                pl.concat_str(pl.lit("rfm:"), pl.col("rfm_group")).alias("segment"),
                "customer_id",
            ),
            frame.select(
                pl.concat_str(pl.lit("lifecycle:"), pl.col("lifecycle")).alias("segment"),
                "customer_id",
            ),
            frame.select(
                pl.concat_str(pl.lit("commitment:"), pl.col("commitment")).alias("segment"),
                "customer_id",
            ),
        ]
    ).filter(pl.col("segment").is_not_null())
    parts = [by_engine]
    for name, compiled in rules.items():
        parts.append(
            frame.filter(compiled.expression).select(
                pl.lit(name, dtype=pl.String).alias("segment"), "customer_id"
            )
        )
    return pl.concat(parts).filter(pl.col("segment").is_in(list(chosen)))


def _counts(frame: pl.DataFrame, chosen: Sequence[str]) -> dict[str, int]:
    counted = dict(frame.group_by("segment").len().iter_rows())
    return {name: int(counted.get(name, 0)) for name in chosen}
