"""Investment allocation: how much contact to buy per segment and channel within a budget.

A pure model: an ``InvestmentProblem`` in, a ``Recommendation`` out; nothing here reads the
store (``regard.measurement.invest_service`` builds the problem from it).

The decision variables are contacts per (segment, channel) *cell*. Each cell has a cost per
contact (the channel's), an expected incremental value per contact and a capacity: the most
contacts its customers' caps and consent allow in the period. Returns diminish: the cell's
capacity is cut into *tranches* (shares of it), the first tranche worth the full value per
contact and each later one a smaller fraction of it (the customers most likely to respond are
reached first; each further contact reaches the less interested, or the same people again). The
value of a cell is therefore concave and piecewise linear in the share of the segment contacted,
and the whole problem is a linear programme, solved with HiGHS:

    maximise   sum over cells i and tranches k of (value_i * factor_k - cost_i) * x_ik
    subject to sum of cost_i * x_ik                    <= budget       (the budget)
               sum over a segment's cells of x_ik      <= its limit    (cross-channel caps)
               0 <= x_ik <= share_k * capacity_i                        (caps, consent)

Money spent is counted against value (both in the units of a touchpoint's value), so a contact
that returns less than it costs is never bought, even with budget left over. Because a cell's
tranches cost the same and are worth strictly less one after the other, an optimum never fills a
tranche before a better one of the same cell.

The budget constraint's dual is the net value of one more unit of budget (0 when the budget is
not all worth spending); one more unit spent at the margin returns ``1 + dual`` gross.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np
from scipy.optimize import linprog

from regard.errors import InvalidInput

__all__ = [
    "DEFAULT_TRANCHES",
    "Cell",
    "CellPlan",
    "InvestmentProblem",
    "Recommendation",
    "SegmentPlan",
    "Tranche",
    "recommend",
]

# Contacts smaller than this are rounding noise of the solver, not advice.
_EPSILON = 1e-7


@dataclass(frozen=True)
class Tranche:
    """A share of a cell's capacity and the fraction of the full value per contact it returns."""

    share: float
    factor: float


# The first quarter of a segment's reachable contacts returns the full value, the next 70% of
# it, then 45% and 25%: a documented default, changed in ``[measurement.invest]``.
DEFAULT_TRANCHES: tuple[Tranche, ...] = (
    Tranche(share=0.25, factor=1.0),
    Tranche(share=0.25, factor=0.7),
    Tranche(share=0.25, factor=0.45),
    Tranche(share=0.25, factor=0.25),
)


@dataclass(frozen=True)
class Cell:
    """One segment on one channel: cost and expected incremental value of one contact (first
    tranche), and the most contacts the period allows (size x caps x opt-in rate)."""

    segment: str
    channel: str
    cost: float
    value: float
    capacity: float


@dataclass(frozen=True)
class InvestmentProblem:
    """A budget for one period, the cells to spend it on and how returns diminish.

    ``segment_limits`` caps the contacts of a segment across all its channels (e.g. the brand's
    "three promotional messages a week, whatever the channel" times the segment's size).
    """

    budget: float
    cells: tuple[Cell, ...]
    tranches: tuple[Tranche, ...] = DEFAULT_TRANCHES
    segment_limits: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class CellPlan:
    """What to buy in one cell. ``next_return`` is the gross value per unit of money of the
    next contact (its first unfilled tranche), 0 when the cell is full."""

    segment: str
    channel: str
    contacts: float
    capacity: float
    spend: float
    value: float
    next_return: float


@dataclass(frozen=True)
class SegmentPlan:
    """One segment's totals. ``return_per_unit`` is value per unit of money: of what is bought
    when anything is, else of what the segment's best first contact would return (``funded``
    tells which). ``next_return`` is the best gross return of one more unit spent on it."""

    segment: str
    contacts: float
    spend: float
    value: float
    return_per_unit: float
    next_return: float
    funded: bool


@dataclass(frozen=True)
class Recommendation:
    """The allocation, its totals and the budget's marginal value (the dual of the budget)."""

    budget: float
    spend: float
    value: float
    budget_dual: float
    cells: tuple[CellPlan, ...]
    segments: tuple[SegmentPlan, ...]

    @property
    def net(self) -> float:
        """Value minus spend."""
        return self.value - self.spend

    @property
    def unspent(self) -> float:
        return max(self.budget - self.spend, 0.0)


def recommend(problem: InvestmentProblem) -> Recommendation:
    """Solve the allocation LP with HiGHS; ``InvalidInput`` says what is wrong with the problem
    (no budget, nothing to spend on, a cost or capacity that makes no sense)."""
    _check(problem)
    cells = problem.cells
    tranches = problem.tranches
    count = len(cells) * len(tranches)
    objective = np.empty(count)
    upper = np.empty(count)
    costs = np.empty(count)
    for i, cell in enumerate(cells):
        for k, tranche in enumerate(tranches):
            j = i * len(tranches) + k
            # linprog minimises: the negated net value of one contact in this tranche.
            objective[j] = -(cell.value * tranche.factor - cell.cost)
            upper[j] = tranche.share * cell.capacity
            costs[j] = cell.cost
    rows = [costs]
    limits = [problem.budget]
    for segment, limit in problem.segment_limits.items():
        row = np.zeros(count)
        for i, cell in enumerate(cells):
            if cell.segment == segment:
                row[i * len(tranches) : (i + 1) * len(tranches)] = 1.0
        rows.append(row)
        limits.append(limit)
    solved = linprog(
        objective,
        A_ub=np.vstack(rows),
        b_ub=np.array(limits),
        bounds=list(zip(np.zeros(count), upper, strict=True)),
        method="highs",
    )
    if solved.status != 0:
        # The zero allocation is always feasible, so this is a solver failure, not the brand's.
        raise InvalidInput(f"the allocation could not be solved: {solved.message}")
    contacts = np.where(solved.x > _EPSILON, solved.x, 0.0)
    # HiGHS gives d(objective)/d(limit) of the minimisation; the gain per unit is its negation.
    dual = max(-float(solved.ineqlin.marginals[0]), 0.0)
    plans = [
        _cell_plan(cell, contacts[i * len(tranches) : (i + 1) * len(tranches)], tranches)
        for i, cell in enumerate(cells)
    ]
    segments = _segment_plans(cells, plans, tranches)
    return Recommendation(
        budget=problem.budget,
        spend=sum(plan.spend for plan in plans),
        value=sum(plan.value for plan in plans),
        budget_dual=dual,
        cells=tuple(plans),
        segments=tuple(segments),
    )


def _check(problem: InvestmentProblem) -> None:
    if not math.isfinite(problem.budget) or problem.budget < 0:
        raise InvalidInput("the budget must be a number of 0 or more", details={"budget": "bad"})
    if problem.budget == 0:
        raise InvalidInput("a budget of 0 buys no contact: give a budget above 0")
    if not problem.tranches:
        raise InvalidInput("diminishing returns need at least one tranche")
    shares = sum(tranche.share for tranche in problem.tranches)
    if any(t.share <= 0 or t.factor < 0 for t in problem.tranches) or abs(shares - 1) > 1e-9:
        raise InvalidInput("tranche shares must be above 0 and add up to 1, factors 0 or more")
    factors = [tranche.factor for tranche in problem.tranches]
    if any(later > earlier for earlier, later in pairwise(factors)):
        raise InvalidInput("returns must diminish: each tranche's factor at most the one before")
    for cell in problem.cells:
        where = f"{cell.segment} on {cell.channel}"
        if not (math.isfinite(cell.cost) and cell.cost > 0):
            raise InvalidInput(f"{where}: a contact must cost more than 0 to be budgeted")
        if not (math.isfinite(cell.value) and math.isfinite(cell.capacity)):
            raise InvalidInput(f"{where}: value and capacity must be numbers")
        if cell.capacity < 0:
            raise InvalidInput(f"{where}: capacity must be 0 or more")
    if not any(cell.capacity > 0 and cell.value > 0 for cell in problem.cells):
        raise InvalidInput(
            "nothing to spend on: no segment has customers who can be contacted and a value "
            "for contacting them"
        )


def _cell_plan(cell: Cell, bought: np.ndarray, tranches: Sequence[Tranche]) -> CellPlan:
    contacts = float(bought.sum())
    value = float(sum(cell.value * t.factor * x for t, x in zip(tranches, bought, strict=True)))
    next_return = 0.0
    for tranche, x in zip(tranches, bought, strict=True):
        if x < tranche.share * cell.capacity - 1e-6 * max(cell.capacity, 1.0):
            next_return = cell.value * tranche.factor / cell.cost
            break
    return CellPlan(
        segment=cell.segment,
        channel=cell.channel,
        contacts=contacts,
        capacity=cell.capacity,
        spend=contacts * cell.cost,
        value=value,
        next_return=next_return,
    )


def _segment_plans(
    cells: Sequence[Cell], plans: Sequence[CellPlan], tranches: Sequence[Tranche]
) -> list[SegmentPlan]:
    first = tranches[0].factor
    found: list[SegmentPlan] = []
    for segment in dict.fromkeys(cell.segment for cell in cells):
        mine = [(c, p) for c, p in zip(cells, plans, strict=True) if c.segment == segment]
        spend = sum(p.spend for _, p in mine)
        value = sum(p.value for _, p in mine)
        reachable = [c.value * first / c.cost for c, _ in mine if c.capacity > 0]
        funded = spend > _EPSILON
        found.append(
            SegmentPlan(
                segment=segment,
                contacts=sum(p.contacts for _, p in mine),
                spend=spend,
                value=value,
                return_per_unit=value / spend if funded else max(reachable, default=0.0),
                next_return=max((p.next_return for _, p in mine), default=0.0),
                funded=funded,
            )
        )
    return found
