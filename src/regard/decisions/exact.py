"""The optimiser's model solved exactly, as a MILP with HiGHS (``scipy.optimize.milp``).

For tests and the benchmark's baseline: it takes the same frames as ``optimise`` and builds one
binary x per option and, for customers with an interruption cost, one binary y (y >= x of each of
their options, charged once in the objective). It is exact but slow: tens of seconds for tens of
thousands of customers, hence the time limit.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array

from regard.decisions.optimiser import ChannelBudget

Array = npt.NDArray[Any]


@dataclass(frozen=True)
class ExactPlan:
    """HiGHS's best plan: ``chosen`` rows of the options, its value and HiGHS's own bound."""

    chosen: pl.DataFrame
    value: float
    bound: float
    optimal: bool
    seconds: float


def solve_exactly(
    options: pl.DataFrame,
    customers: pl.DataFrame,
    budgets: Mapping[str, ChannelBudget],
    *,
    time_limit: float = 60.0,
    relative_gap: float = 1e-7,
) -> ExactPlan | None:
    """Solve the model with HiGHS; None when it found no plan within ``time_limit`` seconds."""
    started = time.perf_counter()
    frame = (
        options.with_row_index("_row")
        .with_columns(pl.col("channel").cast(pl.String))
        .join(customers, on="customer_id", how="left", maintain_order="left")
    )
    rows = frame.height
    net = (frame["value"] - frame["cost"] - frame["penalty"]).to_numpy().astype(np.float64)
    capped = ~frame["exempt"].to_numpy()
    channel = frame["channel"].to_numpy()
    customer = frame["customer_id"].to_numpy()

    interruption = (
        frame["interruption_cost"].fill_null(0.0).to_numpy()
        if "interruption_cost" in frame.columns
        else np.zeros(rows)
    )
    charged = interruption > 0
    charged_customers, charged_index = np.unique(customer[charged], return_inverse=True)
    charge = (
        pl.DataFrame({"customer_id": customer[charged], "cost": interruption[charged]})
        .unique("customer_id")
        .sort("customer_id")["cost"]
        .to_numpy()
    )
    variables = rows + charged_customers.size

    row_parts: list[Array] = []
    col_parts: list[Array] = []
    coef_parts: list[Array] = []
    upper_parts: list[Array] = []
    next_row = 0

    def group(member: Array, key: Array, limit: Array, weight: Array | None = None) -> None:
        """One constraint per distinct key over the member rows: sum(weight x) <= limit."""
        nonlocal next_row
        keep = member & ~np.isnan(limit)
        if not keep.any():
            return
        _keys, index, first = _groups(key[keep])
        row_parts.append(next_row + index)
        col_parts.append(np.flatnonzero(keep))
        coef_parts.append(np.ones(index.size) if weight is None else weight[keep])
        upper_parts.append(limit[keep][first])
        next_row += first.size

    everyone = np.ones(rows, dtype=bool)
    candidate = frame["candidate_id"].to_numpy()
    pair = _pair_key(customer, candidate)
    group(everyone, pair, np.ones(rows))
    group(capped, customer, _cap(frame, "cap_total"))
    group(capped & frame["promotional"].to_numpy(), customer, _cap(frame, "cap_promotional"))
    for name in np.unique(channel):
        on_channel = channel == name
        group(capped & on_channel, customer, _cap(frame, f"cap_{name}"))
        limit = budgets.get(str(name))
        if limit is not None and limit.capacity is not None:
            group(on_channel, np.zeros(rows, dtype=np.int64), np.full(rows, float(limit.capacity)))
        if limit is not None and limit.budget is not None:
            group(
                on_channel,
                np.zeros(rows, dtype=np.int64),
                np.full(rows, float(limit.budget)),
                frame["cost"].to_numpy().astype(np.float64),
            )
    if charged_customers.size:
        linked = np.flatnonzero(charged)
        row_parts.append(next_row + np.arange(linked.size))
        col_parts.append(linked)
        coef_parts.append(np.ones(linked.size))
        row_parts.append(next_row + np.arange(linked.size))
        col_parts.append(rows + charged_index)
        coef_parts.append(-np.ones(linked.size))
        upper_parts.append(np.zeros(linked.size))
        next_row += linked.size

    constraints = []
    if next_row:
        matrix = coo_array(
            (np.concatenate(coef_parts), (np.concatenate(row_parts), np.concatenate(col_parts))),
            shape=(next_row, variables),
        ).tocsr()
        constraints.append(LinearConstraint(matrix, -np.inf, np.concatenate(upper_parts)))
    objective = -np.concatenate([net, -charge])
    result = milp(
        objective,
        constraints=constraints,
        integrality=np.ones(variables),
        bounds=Bounds(0, 1),
        options={"time_limit": time_limit, "mip_rel_gap": relative_gap},
    )
    seconds = time.perf_counter() - started
    if result.x is None:
        return None
    taken = result.x[:rows] > 0.5
    chosen = options.filter(pl.Series(taken))
    value = float(net[taken].sum())
    sent = np.unique(customer[taken])
    value -= float(charge[np.isin(charged_customers, sent)].sum())
    bound = -float(result.mip_dual_bound) if result.mip_dual_bound is not None else np.inf
    return ExactPlan(
        chosen=chosen,
        value=value,
        bound=max(bound, value),
        optimal=result.status == 0,
        seconds=seconds,
    )


def _cap(frame: pl.DataFrame, column: str) -> Array:
    """The cap of each row's customer as floats, NaN for no cap."""
    if column not in frame.columns:
        return np.full(frame.height, np.nan)
    values: Array = frame[column].cast(pl.Float64).clip(0).fill_null(np.nan).to_numpy()
    return values


def _pair_key(customer: Array, candidate: Array) -> Array:
    key: Array = np.unique(np.stack([customer, candidate], axis=1), axis=0, return_inverse=True)[
        1
    ].reshape(-1)
    return key


def _groups(key: Array) -> tuple[Array, Array, Array]:
    """Distinct keys, each row's group index and one row of each group."""
    keys, first, index = np.unique(key, return_index=True, return_inverse=True)
    return keys, index.reshape(-1), first
