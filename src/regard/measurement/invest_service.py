"""Investment allocation on the brand's own customers: the problem built from the store, solved
by ``regard.measurement.invest``, and said in words and charts.

For each segment of one axis (commitment, lifecycle or RFM) and each channel planned:

- **Size**: the segment's members now (``regard segment eval`` keeps them).
- **Capacity**: members opted in on the channel to at least one topic of the importances
  planned, times the contacts per customer the brand's caps allow on that channel in the period
  (a cap over a window shorter than the period counts once per whole window in it: one a day is
  seven a week; with no cap, one a day). A cap on no particular channel limits the segment's
  contacts across channels. A customer's own frequency choice is not counted here: it can only
  lower what is reached.
- **Cost** of a contact: the channel's cost in ``[policy.channels]``. A channel that costs
  nothing is not budgeted (the budget does not limit it); a note says so.
- **Value** of a contact: the measured incremental value per contact when given (``values``,
  e.g. the lift per segment and channel from the holdouts), else the mean, over the touchpoints
  of the planned importances that offer the channel, of the touchpoint's value for the segment
  times the channel's engagement chance; the touchpoint's value is its learned one where
  ``regard measure values`` stored a measurement for it, else the configured one. Each cell
  says which (``InvestmentPlan.sources``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

import polars as pl
from sqlalchemy.orm import Session

from regard.commitment.scoring import USER_GROUPS
from regard.config import BrandConfig
from regard.console.charts import Chart, Series, bar_chart, stacked_bar_chart
from regard.decisions.policy_options import Cap
from regard.errors import InvalidInput
from regard.measurement import invest_repository, values_repository
from regard.measurement.invest import (
    Cell,
    InvestmentProblem,
    Recommendation,
    SegmentPlan,
    Tranche,
    recommend,
)
from regard.measurement.touchpoint_values import DEFAULT_SEGMENT
from regard.measurement.values_repository import ALL_CHANNELS
from regard.touchpoints.options import TouchpointDefinition

__all__ = [
    "AXES",
    "Axis",
    "InvestmentPlan",
    "as_money",
    "build_problem",
    "comparison",
    "investment_charts",
    "learned_cell_values",
    "recommend_investment",
]

Axis = Literal["commitment", "lifecycle", "rfm"]
# Where a cell's value per contact came from: given by the caller, learned from the holdouts
# (``regard measure values``), or the configured touchpoint values.
ValueSource = Literal["configured", "learned", "measured"]
AXES: tuple[Axis, ...] = ("commitment", "lifecycle", "rfm")


@dataclass(frozen=True)
class InvestmentPlan:
    """A recommendation for one axis and period, with what it was built from.

    ``values_source`` is "measured" when the caller gave values per contact, "learned" when
    some cells' values rest on the learned touchpoint values (``regard measure values``), else
    "configured"; ``sources`` says which, cell by cell; ``notes`` are sentences about what was
    left out and why; ``comparison`` says which segment returns most per unit spent against
    which returns least.
    """

    by: Axis
    period: timedelta
    recommendation: Recommendation
    values_source: ValueSource
    comparison: str
    notes: tuple[str, ...]
    # Where each (segment, channel) cell's value per contact came from.
    sources: Mapping[tuple[str, str], ValueSource] = field(default_factory=dict)

    def source(self, segment: str, channel: str) -> ValueSource:
        """Where the cell's value per contact came from (configured when not recorded)."""
        return self.sources.get((segment, channel), "configured")

    def label(self, segment: str) -> str:
        return segment_label(segment)


def segment_label(segment: str) -> str:
    """``commitment:Convertible`` as "Convertible"; ``lifecycle:at_risk`` as "at risk"."""
    return segment.partition(":")[2].replace("_", " ") or segment


def recommend_investment(
    session: Session,
    *,
    brand: BrandConfig,
    budget: float,
    by: Axis = "commitment",
    values: Mapping[tuple[str, str], float] | None = None,
) -> InvestmentPlan:
    """How to spend ``budget`` (for ``[measurement.invest] period``) on the segments of ``by``.

    ``values`` maps (segment, channel) to a measured incremental value per contact; the cells
    it names replace the configured values. Without it, the learned touchpoint values stored
    by ``regard measure values`` replace the configured ones where they have a measurement
    behind them (``learned_cell_values``). Raises ``InvalidInput`` for a budget of 0 or less
    and when no segment can be reached. Reads only.
    """
    given: Literal["measured", "learned"] = "measured"
    if values is None:
        values, given = learned_cell_values(session, brand=brand, by=by), "learned"
    problem, notes = build_problem(session, brand=brand, budget=budget, by=by, values=values)
    recommendation = recommend(problem)
    sources: dict[tuple[str, str], ValueSource] = {
        (cell.segment, cell.channel): given
        if (cell.segment, cell.channel) in values
        else "configured"
        for cell in problem.cells
    }
    return InvestmentPlan(
        by=by,
        period=brand.measurement.invest.period,
        recommendation=recommendation,
        values_source=given if any(s != "configured" for s in sources.values()) else "configured",
        comparison=comparison(recommendation, by=by),
        notes=notes,
        sources=sources,
    )


def build_problem(
    session: Session,
    *,
    brand: BrandConfig,
    budget: float,
    by: Axis,
    values: Mapping[tuple[str, str], float] | None = None,
) -> tuple[InvestmentProblem, tuple[str, ...]]:
    """The LP of ``regard.measurement.invest`` for the brand's customers now, and notes on what
    was left out."""
    if by not in AXES:
        raise InvalidInput(f"there is no axis {by!r}: choose one of {', '.join(AXES)}")
    options = brand.measurement.invest
    prefix = f"{by}:"
    planned = options.channels if options.channels is not None else brand.channels
    channels = [c for c in planned if c in brand.channels and c != "voice"]
    topics = [t.key for t in brand.topics if t.importance in options.importances]
    sizes = invest_repository.segment_sizes(session, prefix=prefix)
    if not sizes:
        raise InvalidInput(
            f"nothing to spend on: no customer is in a {by} segment yet "
            f"(evaluate segments first: regard segment eval {by})"
        )
    reachable = invest_repository.reachable_counts(session, prefix=prefix, topics=topics)
    notes: list[str] = []
    cells: list[Cell] = []
    limits: dict[str, float] = {}
    across = _contacts_per_period(
        brand.policy.caps, channel=None, importances=options.importances, period=options.period
    )
    for channel in channels:
        economics = brand.policy.channels.get(channel)
        if economics is None:
            continue
        if economics.cost <= 0:
            notes.append(f"{channel} costs nothing per contact, so the budget does not limit it")
            continue
        per_customer = _contacts_per_period(
            brand.policy.caps,
            channel=channel,
            importances=options.importances,
            period=options.period,
        )
        for segment in sorted(sizes):
            value = (values or {}).get((segment, channel))
            if value is None:
                value = _configured_value(
                    brand, segment=segment, channel=channel, engagement=economics.engagement
                )
            if value is None:
                continue
            capacity = reachable.get((segment, channel), 0) * (per_customer or 0.0)
            cells.append(
                Cell(
                    segment=segment,
                    channel=channel,
                    cost=economics.cost,
                    value=value,
                    capacity=float(capacity),
                )
            )
    if across is not None:
        limits = {segment: float(size * across) for segment, size in sizes.items()}
    unreachable = sorted(
        segment_label(s) for s in sizes if not any(c.segment == s and c.capacity > 0 for c in cells)
    )
    if unreachable:
        notes.append(f"not reachable on any planned channel (no opt-in): {', '.join(unreachable)}")
    if not cells:
        raise InvalidInput(
            f"nothing to spend on: no {by} segment can be reached on "
            f"{', '.join(channels) or 'any planned channel'} by a touchpoint with a value"
        )
    tranches = tuple(Tranche(share=t.share, factor=t.factor) for t in options.tranches)
    problem = InvestmentProblem(
        budget=budget, cells=tuple(cells), tranches=tranches, segment_limits=limits
    )
    return problem, tuple(notes)


def comparison(recommendation: Recommendation, *, by: Axis) -> str:
    """One sentence: the segment that returns most per unit spent against the one that returns
    least, and how many times as much; empty with fewer than two segments to compare."""
    ranked = sorted(
        (s for s in recommendation.segments if s.return_per_unit > 0),
        key=lambda s: s.return_per_unit,
        reverse=True,
    )
    if len(ranked) < 2:
        return ""
    best, worst = ranked[0], ranked[-1]
    ratio = best.return_per_unit / worst.return_per_unit
    return (
        f"Spending on {_who(best.segment, by)} returns {_per_unit(best)}, against "
        f"{_per_unit(worst, short=True)} for {_who(worst.segment, by)}: "
        f"{ratio:.1f} times as much per unit spent."
    )


def investment_charts(plan: InvestmentPlan) -> tuple[Chart, Chart]:
    """The marginal return of one more unit of budget per segment, and the spend per segment
    and channel; each chart with its sentence and table."""
    recommendation = plan.recommendation
    axis = plan.by.capitalize() if plan.by != "rfm" else "RFM"
    marginal = bar_chart(
        [(segment_label(s.segment), s.next_return) for s in recommendation.segments],
        title=f"Return of one more unit of budget, by {axis.lower()} segment",
        x_label="Value per 1 spent",
        value_format=_ratio,
    )
    channels = list(dict.fromkeys(cell.channel for cell in recommendation.cells))
    segments = [s.segment for s in recommendation.segments]
    spend = {(c.segment, c.channel): c.spend for c in recommendation.cells}
    stacks = [
        Series(label=channel, values=tuple(spend.get((s, channel), 0.0) for s in segments))
        for channel in channels
    ]
    spent = stacked_bar_chart(
        [segment_label(s) for s in segments],
        stacks,
        title=f"Recommended spend by {axis.lower()} segment and channel",
        x_label="Spend",
        value_format=as_money,
    )
    return marginal, spent


def as_money(value: float) -> str:
    """12,345.67"""
    return f"{value:,.2f}"


def _ratio(value: float) -> str:
    return f"{value:,.1f}"


def _per_unit(segment: SegmentPlan, *, short: bool = False) -> str:
    figure = f"{segment.return_per_unit:,.1f}"
    if short:
        return figure if segment.funded else f"{figure} (not worth funding)"
    return f"{figure} per 1 spent" + ("" if segment.funded else " on its first contacts")


def _who(segment: str, by: Axis) -> str:
    name = segment_label(segment)
    if by == "commitment":
        return f"{name} users" if name in USER_GROUPS else f"{name} non-users"
    if by == "lifecycle":
        return f"{name} customers"
    return f"{name} (RFM)"


def _planned_touchpoints(
    brand: BrandConfig, *, segment: str, channel: str
) -> list[TouchpointDefinition]:
    """The touchpoints of the planned importances that offer ``channel`` and may go to
    ``segment`` (they name no segment of its axis, or name it)."""
    options = brand.measurement.invest
    importances = {t.key: t.importance for t in brand.topics}
    return [
        touchpoint
        for touchpoint in brand.touchpoints
        if importances.get(touchpoint.topic) in options.importances
        and any(content.channel == channel for content in touchpoint.channels)
        and (
            not touchpoint.segments
            or segment in touchpoint.segments
            or not any(s.startswith(segment.partition(":")[0] + ":") for s in touchpoint.segments)
        )
    ]


def _configured_value(
    brand: BrandConfig, *, segment: str, channel: str, engagement: float
) -> float | None:
    """The mean value of the planned touchpoints offering ``channel`` for ``segment``, times the
    channel's engagement chance; None when no such touchpoint exists."""
    found = [
        touchpoint.value_for({segment})
        for touchpoint in _planned_touchpoints(brand, segment=segment, channel=channel)
    ]
    if not found:
        return None
    return sum(found) / len(found) * engagement


def learned_cell_values(
    session: Session, *, brand: BrandConfig, by: Axis
) -> dict[tuple[str, str], float]:
    """Per (segment, channel) where measurement taught something: the value per contact as
    ``_configured_value`` reckons it, with each touchpoint's learned value (``regard measure
    values``) in place of its configured one. A touchpoint's value for a segment it does not
    list is its ``default``: learned on that channel when measured there, else over every
    channel. Cells where no touchpoint's value has a measurement behind it are left out."""
    stored = values_repository.touchpoint_values(session).filter(pl.col("weight") > 0)
    if stored.is_empty():
        return {}
    learned = {
        (row["touchpoint"], row["segment"], row["channel"]): float(row["learned"])
        for row in stored.iter_rows(named=True)
    }
    options = brand.measurement.invest
    planned = options.channels if options.channels is not None else brand.channels
    found: dict[tuple[str, str], float] = {}
    for segment in invest_repository.segment_sizes(session, prefix=f"{by}:"):
        for channel in (c for c in planned if c in brand.channels and c != "voice"):
            economics = brand.policy.channels.get(channel)
            if economics is None:
                continue
            values: list[float] = []
            measured = False
            for touchpoint in _planned_touchpoints(brand, segment=segment, channel=channel):
                key = segment if segment in touchpoint.value else DEFAULT_SEGMENT
                keys = [(touchpoint.name, key, ALL_CHANNELS)]
                if key == DEFAULT_SEGMENT:
                    keys.insert(0, (touchpoint.name, key, channel))
                value = next((learned[k] for k in keys if k in learned), None)
                measured = measured or value is not None
                values.append(value if value is not None else touchpoint.value[key])
            if measured:
                found[segment, channel] = sum(values) / len(values) * economics.engagement
    return found


def _contacts_per_period(
    caps: tuple[Cap, ...], *, channel: str | None, importances: tuple[str, ...], period: timedelta
) -> float | None:
    """The most contacts per customer in ``period`` that the caps on ``channel`` (None: on every
    channel together) allow; None when no such cap applies (a channel then defaults to one a
    day)."""
    allowed: list[float] = []
    for cap in caps:
        if cap.channel != channel:
            continue
        if cap.importance != "marketing" and cap.importance not in importances:
            continue
        windows = max(period // cap.window, 1)
        allowed.append(cap.max * windows)
    if allowed:
        return float(min(allowed))
    if channel is None:
        return None
    return float(max(period // timedelta(days=1), 1))
