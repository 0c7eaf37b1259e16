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
  e.g. the lift per segment and channel from the holdouts), else the configured one: the mean,
  over the touchpoints of the planned importances that offer the channel, of the touchpoint's
  value for the segment times the channel's engagement chance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from sqlalchemy.orm import Session

from regard.commitment.scoring import USER_GROUPS
from regard.config import BrandConfig
from regard.console.charts import Chart, Series, bar_chart, stacked_bar_chart
from regard.decisions.policy_options import Cap
from regard.errors import InvalidInput
from regard.measurement import invest_repository
from regard.measurement.invest import (
    Cell,
    InvestmentProblem,
    Recommendation,
    SegmentPlan,
    Tranche,
    recommend,
)

__all__ = [
    "AXES",
    "Axis",
    "InvestmentPlan",
    "as_money",
    "build_problem",
    "comparison",
    "investment_charts",
    "recommend_investment",
]

Axis = Literal["commitment", "lifecycle", "rfm"]
AXES: tuple[Axis, ...] = ("commitment", "lifecycle", "rfm")


@dataclass(frozen=True)
class InvestmentPlan:
    """A recommendation for one axis and period, with what it was built from.

    ``values_source`` is "measured" when the values per contact came from measured lift, else
    "configured"; ``notes`` are sentences about what was left out and why; ``comparison`` says
    which segment returns most per unit spent against which returns least.
    """

    by: Axis
    period: timedelta
    recommendation: Recommendation
    values_source: Literal["configured", "measured"]
    comparison: str
    notes: tuple[str, ...]

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
    it names replace the configured values. Raises ``InvalidInput`` for a budget of 0 or less
    and when no segment can be reached. Reads only.
    """
    problem, notes = build_problem(session, brand=brand, budget=budget, by=by, values=values)
    recommendation = recommend(problem)
    return InvestmentPlan(
        by=by,
        period=brand.measurement.invest.period,
        recommendation=recommendation,
        values_source="measured" if values else "configured",
        comparison=comparison(recommendation, by=by),
        notes=notes,
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


def _configured_value(
    brand: BrandConfig, *, segment: str, channel: str, engagement: float
) -> float | None:
    """The mean value of the planned touchpoints offering ``channel`` for ``segment``, times the
    channel's engagement chance; None when no such touchpoint exists."""
    options = brand.measurement.invest
    importances = {t.key: t.importance for t in brand.topics}
    found = [
        touchpoint.value_for({segment})
        for touchpoint in brand.touchpoints
        if importances.get(touchpoint.topic) in options.importances
        and any(content.channel == channel for content in touchpoint.channels)
        and (
            not touchpoint.segments
            or segment in touchpoint.segments
            or not any(s.startswith(segment.partition(":")[0] + ":") for s in touchpoint.segments)
        )
    ]
    if not found:
        return None
    return sum(found) / len(found) * engagement


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
