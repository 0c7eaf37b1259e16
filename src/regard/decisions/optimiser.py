"""The decision optimiser: which (candidate, channel) each customer gets in this run.

Pure: Polars frames in, a ``Plan`` out, NumPy inside; no database, no clock. docs/optimiser.md
has the model with its formula, the algorithm and why the bound it reports is valid.

``options`` is what passed the contact policy, one row per (customer, candidate, channel):

=============  ================  ===================================================
column         dtype             meaning
=============  ================  ===================================================
customer_id    Int64             the customer
candidate_id   Int64             the touchpoint offered; at most one channel is chosen
channel        String or Enum    the channel (``cap_<channel>`` names its cap)
send_at        Datetime          the next allowed moment, carried through unchanged
value          Float64           expected value (segment value x engagement chance)
cost           Float64           channel cost of the send, >= 0
penalty        Float64           intrusiveness penalty of the send, >= 0
promotional    Boolean           counts against the promotional cap
exempt         Boolean           critical: counts against no per-customer cap
=============  ================  ===================================================

``promotional`` and ``exempt`` belong to the candidate: they must be the same on each of its
channels. Rows sorted by (customer_id, candidate_id, channel) are laid out without a sort, as the
policy emits them; any other order is sorted first.

``customers`` has one row per customer that has an option, with the room this run has left after
the contact history (null, or a missing column, means no cap): ``customer_id`` Int64,
``cap_total``, ``cap_promotional`` and ``cap_<channel>`` (integers), and ``interruption_cost``
(Float64, charged once if the customer gets anything in this run; null or missing means 0).

``budgets`` maps a channel name to its brand-wide ``ChannelBudget`` (a capacity in sends and/or a
budget in cost) for this run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from regard.decisions.parallel import cores, in_parallel
from regard.decisions.policy_frames import small_pages
from regard.errors import InvalidInput

Array = npt.NDArray[Any]

OPTION_COLUMNS = (
    "customer_id",
    "candidate_id",
    "channel",
    "send_at",
    "value",
    "cost",
    "penalty",
    "promotional",
    "exempt",
)
NO_CAP = 1 << 20
# Above this many options the dense arrays are float32 (half the memory and time); below it,
# float64, so small plans and their bounds are exact to the last digit.
FLOAT32_FROM = 2_000_000
# A pass over fewer customers than this runs on one core.
PART_CUSTOMERS = 50_000
# Customers in the sample that finds the first multipliers of a large run.
SAMPLE_CUSTOMERS = 20_000
# Customers in the second, larger sample that refines them when there are many more.
LARGE_SAMPLE_CUSTOMERS = 200_000


@dataclass(frozen=True)
class ChannelBudget:
    """Brand-wide limits of one channel for one run; None means no limit."""

    capacity: int | None = None
    budget: float | None = None


@dataclass(frozen=True)
class Plan:
    """The chosen sends and the certificate of how far from the optimum they can be at most.

    ``chosen`` holds the chosen rows of ``options`` (every column, same order) with
    ``reduced_value``: value - cost - penalty - the channel's prices at the final multipliers.
    ``value`` is the objective of the plan, ``bound`` an upper bound on the optimum of the model
    and ``gap`` = (bound - value) / bound. ``usage`` has per channel the sends, their cost, the
    capacity, the budget and the two multipliers. ``iterations`` counts the passes over all
    customers, ``sample_iterations`` those over the sample that found the first multipliers.
    """

    chosen: pl.DataFrame
    value: float
    bound: float
    gap: float
    usage: pl.DataFrame
    iterations: int
    sample_iterations: int

    @property
    def multipliers(self) -> dict[str, tuple[float, float]]:
        """Per channel, (price per send, price per unit of cost)."""
        return {
            row["channel"]: (row["capacity_multiplier"], row["budget_multiplier"])
            for row in self.usage.iter_rows(named=True)
        }


@dataclass
class _Layout:
    """Options laid out densely: (channel, customer, candidate slot)."""

    channels: tuple[str, ...]  # those laid out: the channels of some option
    names: tuple[str, ...]  # every channel the options' dtype names, for the usage
    net: Array  # (H, n, K) value - cost - penalty; -inf where no option or never allowed
    cost: dict[int, Array]  # channel -> (n, K) cost of its sends, for channels with a budget
    promotional: Array  # (n, K) bool
    exempt: Array  # (n, K) bool
    cap_total: Array  # (n,) int32
    cap_promotional: Array  # (n,) int32
    cap_channel: Array  # (n, H) int32
    interruption: Array  # (n,) float64
    flat: Array  # (rows,) position of each (sorted) row in net.ravel()
    order: Array | None  # row order of options when they had to be sorted

    def rows(self, start: int, stop: int) -> _Layout:
        """The customers from ``start`` to ``stop``, as views of the arrays (nothing copied)."""
        return self._customers(slice(start, stop))

    def subset(self, who: Array) -> _Layout:
        """The customers ``who`` alone (copied once, for the passes over a sample)."""
        return self._customers(who)

    def _customers(self, which: slice | Array) -> _Layout:
        return _Layout(
            channels=self.channels,
            names=self.names,
            net=self.net[:, which, :],
            cost={h: plane[which] for h, plane in self.cost.items()},
            promotional=self.promotional[which],
            exempt=self.exempt[which],
            cap_total=self.cap_total[which],
            cap_promotional=self.cap_promotional[which],
            cap_channel=self.cap_channel[which],
            interruption=self.interruption[which],
            flat=self.flat[:0],
            order=None,
        )


@dataclass
class _Pass:
    """One customer-by-customer solution at fixed multipliers."""

    choice: Array  # (n, K) int8 channel chosen, -1 none
    value: Array  # (n,) float64 optimum of each sub-problem at the multipliers
    conflicted: int


def optimise(
    options: pl.DataFrame,
    customers: pl.DataFrame,
    budgets: Mapping[str, ChannelBudget],
    *,
    tolerance: float = 5e-4,
    max_iterations: int = 60,
) -> Plan:
    """Choose the sends of this run; see the module docstring for the frames.

    Stops when the certified gap is at most ``tolerance`` or after ``max_iterations`` passes over
    all customers. The same input always gives the same plan.
    """
    # Ordinary pages, as in the policy: huge pages cost more to fault in here than they save.
    with small_pages():
        return _optimise(options, customers, budgets, tolerance, max_iterations)


def _optimise(
    options: pl.DataFrame,
    customers: pl.DataFrame,
    budgets: Mapping[str, ChannelBudget],
    tolerance: float,
    max_iterations: int,
) -> Plan:
    layout = _lay_out(options, customers, budgets)
    h_count = len(layout.channels)
    capacity = np.full(h_count, np.inf)
    budget = np.full(h_count, np.inf)
    for name, limit in budgets.items():
        if name not in layout.channels:
            continue
        h = layout.channels.index(name)
        if limit.capacity is not None:
            capacity[h] = max(limit.capacity, 0)
        if limit.budget is not None:
            budget[h] = max(limit.budget, 0.0)
    search = _Search(layout, capacity, budget, tolerance=tolerance, max_iterations=max_iterations)
    prices, per_cost, choice, _value, bound, passes, sample_passes = search.run()
    return _plan(options, layout, prices, per_cost, choice, bound, passes, sample_passes, budgets)


# ---------------------------------------------------------------------------------------------
# Layout


def _lay_out(
    options: pl.DataFrame, customers: pl.DataFrame, budgets: Mapping[str, ChannelBudget]
) -> _Layout:
    missing = [c for c in OPTION_COLUMNS if c not in options.columns]
    if missing:
        raise InvalidInput(f"options lack the columns {', '.join(missing)}")
    nulls = [c for c in OPTION_COLUMNS if c != "send_at" and options[c].null_count()]
    if nulls:
        raise InvalidInput(f"options have nulls in {', '.join(nulls)}")
    if "customer_id" not in customers.columns:
        raise InvalidInput("customers lack the column customer_id")

    channel = options["channel"]
    if isinstance(channel.dtype, pl.Enum):
        names = tuple(channel.dtype.categories.to_list())
    else:
        names = tuple(sorted(channel.cast(pl.String).unique().to_list()))
        channel = channel.cast(pl.String).cast(pl.Enum(names))
    code = channel.to_physical().to_numpy()
    # Only the channels some option uses are laid out (an Enum may name more).
    present = np.bincount(code, minlength=len(names)) > 0
    channels = tuple(name for name, used in zip(names, present, strict=True) if used)
    if len(channels) < len(names):
        code = (np.cumsum(present) - 1).astype(code.dtype)[code]
    h_count = len(channels)
    customer = options["customer_id"].cast(pl.Int64).to_numpy()
    candidate = options["candidate_id"].cast(pl.Int64).to_numpy()
    order: Array | None = None
    if not _sorted(customer, candidate, code):
        order = np.lexsort((code, candidate, customer))
        customer, candidate, code = customer[order], candidate[order], code[order]
        if not _sorted(customer, candidate, code):
            raise InvalidInput("options repeat a (customer_id, candidate_id, channel)")

    rows = customer.size
    new_customer = np.ones(rows, dtype=bool)
    np.not_equal(customer[1:], customer[:-1], out=new_customer[1:])
    new_pair = new_customer.copy()
    new_pair[1:] |= candidate[1:] != candidate[:-1]
    index = np.int32 if rows < 1 << 31 else np.int64
    customer_index: Array = np.cumsum(new_customer, dtype=index)
    customer_index -= 1
    pair: Array = np.cumsum(new_pair, dtype=index)
    pair -= 1
    slot = pair - pair[new_customer][customer_index]
    del pair
    n = int(customer_index[-1]) + 1 if rows else 0
    k_count = int(slot.max()) + 1 if rows else 1
    position = np.int32 if h_count * n * k_count < 1 << 31 else np.int64
    cell: Array = customer_index.astype(position) * k_count
    cell += slot
    del customer_index, slot
    flat: Array = code.astype(position) * (n * k_count)
    flat += cell

    dtype = np.float32 if rows >= FLOAT32_FROM else np.float64

    def column(expression: pl.Expr) -> Array:
        values: Array = options.select(expression).to_series().rechunk().to_numpy()
        return values if order is None else values[order]

    as_float = [pl.col(name).cast(pl.Float64) for name in ("value", "cost", "penalty")]
    net_rows = column(as_float[0] - as_float[1] - as_float[2])  # in one pass, by Polars
    net_flat = np.full(h_count * n * k_count, -np.inf, dtype=dtype)
    net_flat[flat] = net_rows
    del net_rows
    net: Array = net_flat.reshape(h_count, n, k_count)
    # Costs are laid out only for the channels with a budget: no other price reads them.
    limited = {name for name, limit in budgets.items() if limit.budget is not None}
    budgeted = [h for h, name in enumerate(channels) if name in limited]
    cost: dict[int, Array] = {}
    if budgeted:
        cost_rows = column(as_float[1])
        for h in budgeted:
            on = code == h
            plane = np.zeros(n * k_count, dtype=dtype)
            plane[cell[on]] = cost_rows[on]
            cost[h] = plane.reshape(n, k_count)
        del cost_rows

    pair_start = np.flatnonzero(new_pair)
    pair_cell = cell[pair_start]
    del cell

    flags: dict[str, Array] = {}
    for name in ("promotional", "exempt"):
        values = options[name].to_numpy()
        if order is not None:
            values = values[order]
        changes = values[1:] ^ values[:-1]
        changes &= ~new_pair[1:]
        if changes.any():
            raise InvalidInput(f"{name} differs between the channels of one candidate")
        dense = np.zeros(n * k_count, dtype=bool)
        dense[pair_cell] = values[pair_start]
        flags[name] = dense.reshape(n, k_count)
    promotional, exempt = flags["promotional"], flags["exempt"]
    del pair_start, pair_cell, values, changes, dense

    ids = customer[new_customer]
    given = customers["customer_id"]
    known = given.cast(pl.Int64).to_numpy() if not given.null_count() else None
    at: Array | None = None
    if known is not None and known.size and bool(np.all(known[1:] > known[:-1])):
        # One row per customer, by id (as the policy gives them): find each by binary search.
        at = np.searchsorted(known, ids).clip(0, known.size - 1)
        if not np.array_equal(known[at], ids):
            raise InvalidInput("an option's customer is not in customers")
        room = customers
    else:
        room = pl.DataFrame({"customer_id": ids}).join(
            customers.with_columns(pl.lit(True).alias("_known")),
            on="customer_id",
            how="left",
            maintain_order="left",
        )
        if room.height != n:
            raise InvalidInput("customers repeat a customer_id")
        if room["_known"].null_count():
            raise InvalidInput("an option's customer is not in customers")

    def cap(column: str) -> Array:
        if column not in room.columns:
            return np.full(n, NO_CAP, dtype=np.int32)
        values = room[column].cast(pl.Int64).fill_null(NO_CAP).clip(0, NO_CAP)
        found: Array = values.cast(pl.Int32).to_numpy()
        return found if at is None else found[at]

    cap_total = cap("cap_total")
    cap_promotional = cap("cap_promotional")
    cap_channel = np.stack([cap(f"cap_{name}") for name in channels], axis=1)
    interruption = (
        room["interruption_cost"].cast(pl.Float64).fill_null(0.0).clip(0.0).to_numpy()
        if "interruption_cost" in room.columns
        else np.zeros(n)
    )
    if at is not None and "interruption_cost" in room.columns:
        interruption = interruption[at]

    # What no multiplier can make worthwhile or a cap of 0 forbids is never an option.
    capped = ~exempt
    closed = capped & ((cap_total == 0)[:, None] | ((cap_promotional == 0)[:, None] & promotional))
    for h in range(h_count):
        plane = net[h]
        never = plane <= 0
        never |= closed
        shut = cap_channel[:, h] == 0
        if shut.any():
            never |= capped & shut[:, None]
        np.copyto(plane, -np.inf, where=never)
    return _Layout(
        channels=channels,
        names=names,
        net=net,
        cost=cost,
        promotional=promotional,
        exempt=exempt,
        cap_total=cap_total,
        cap_promotional=cap_promotional,
        cap_channel=cap_channel,
        interruption=interruption,
        flat=flat,
        order=order,
    )


def _sorted(customer: Array, candidate: Array, code: Array) -> bool:
    """Strictly increasing in (customer, candidate, channel): sorted and without repeats."""
    if customer.size < 2:
        return True
    same_customer = customer[1:] == customer[:-1]
    if not np.all(customer[1:] >= customer[:-1]):
        return False
    same_pair = same_customer & (candidate[1:] == candidate[:-1])
    if not np.all(~same_customer | (candidate[1:] >= candidate[:-1])):
        return False
    return bool(np.all(~same_pair | (code[1:] > code[:-1])))


# ---------------------------------------------------------------------------------------------
# One pass: every customer's sub-problem at fixed multipliers


def _solve(layout: _Layout, prices: Array, budget_prices: Array) -> _Pass:
    """Solve each customer's sub-problem exactly at the prices: the customers' sub-problems are
    independent, so a large layout is solved in parts, one per core."""
    n = layout.net.shape[1]
    parts = min(cores(), max(n // PART_CUSTOMERS, 1))
    if parts == 1:
        return _solve_part(layout, prices, budget_prices)
    cuts = [(n * i) // parts for i in range(parts + 1)]
    solved = in_parallel(
        lambda rows: _solve_part(layout.rows(*rows), prices, budget_prices), list(pairwise(cuts))
    )
    return _Pass(
        choice=np.concatenate([part.choice for part in solved]),
        value=np.concatenate([part.value for part in solved]),
        conflicted=sum(part.conflicted for part in solved),
    )


def _solve_part(layout: _Layout, prices: Array, budget_prices: Array) -> _Pass:
    promotional, exempt = layout.promotional, layout.exempt
    cap_total, cap_promotional = layout.cap_total, layout.cap_promotional
    cap_channel, interruption = layout.cap_channel, layout.interruption

    best, best_channel = _best_channel(layout, prices, budget_prices)
    positive = best > 0
    choice = np.where(positive, best_channel, -1).astype(np.int8)
    taken_value = np.where(positive, best, 0.0)
    # What each customer wants (each candidate on its best channel) fits every cap: take it.
    wanted = positive & ~exempt
    tight = _row_count(wanted) > cap_total
    tight |= _row_count(wanted & promotional) > cap_promotional
    for h in range(cap_channel.shape[1]):
        tight |= _row_count(wanted & (best_channel == h)) > cap_channel[:, h]
    value = _row_sum(taken_value)

    conflicted = 0
    tight_index = np.flatnonzero(tight)
    if tight_index.size:
        t_wanted = wanted[tight_index]
        t_choice, t_value, conflicted = _solve_tight(
            layout,
            prices,
            budget_prices,
            tight_index,
            best[tight_index],
            best_channel[tight_index],
            t_wanted,
            promotional[tight_index],
            cap_total[tight_index],
            cap_promotional[tight_index],
            cap_channel[tight_index],
        )
        choice[tight_index] = np.where(t_wanted, t_choice, choice[tight_index])
        free_value = np.where(t_wanted, 0.0, taken_value[tight_index])
        value[tight_index] = _row_sum(free_value) + t_value

    if np.any(interruption > 0):
        send = value > interruption
        np.copyto(choice, -1, where=~send[:, None])
        value = np.where(send, value - interruption, 0.0)
    return _Pass(choice=choice, value=value, conflicted=conflicted)


def _row_count(mask: Array) -> Array:
    """True cells per row; column by column, several times faster than a sum along short rows."""
    counts: Array = mask[:, 0].astype(np.int32)
    for j in range(1, mask.shape[1]):
        counts += mask[:, j]
    return counts


def _running_count(mask: Array) -> Array:
    """True cells up to each column of each row (a cumulative sum along short rows)."""
    counts: Array = np.empty(mask.shape, dtype=np.int32)
    counts[:, 0] = mask[:, 0]
    for j in range(1, mask.shape[1]):
        np.add(counts[:, j - 1], mask[:, j], out=counts[:, j])
    return counts


def _row_max(values: Array) -> Array:
    """Each row's largest value, column by column."""
    top: Array = values[:, 0].copy()
    for j in range(1, values.shape[1]):
        np.maximum(top, values[:, j], out=top)
    return top


def _row_sum(values: Array) -> Array:
    """Each row's sum in float64, column by column."""
    total: Array = values[:, 0].astype(np.float64)
    for j in range(1, values.shape[1]):
        total += values[:, j]
    return total


def _reduced(
    layout: _Layout, prices: Array, budget_prices: Array, h: int, who: Array | None = None
) -> Array:
    """Channel h's values less its prices, (customer, slot); ``who`` selects customers."""
    net = layout.net[h] if who is None else layout.net[h][who]
    reduced: Array = net - net.dtype.type(prices[h])
    if budget_prices[h] > 0 and h in layout.cost:
        cost = layout.cost[h] if who is None else layout.cost[h][who]
        reduced -= net.dtype.type(budget_prices[h]) * cost
    return reduced


def _best_channel(layout: _Layout, prices: Array, budget_prices: Array) -> tuple[Array, Array]:
    """Each (customer, slot)'s best reduced value and its channel (the first of equals)."""
    best = _reduced(layout, prices, budget_prices, 0)
    channel = np.zeros(best.shape, dtype=np.int8)
    for h in range(1, layout.net.shape[0]):
        reduced = _reduced(layout, prices, budget_prices, h)
        better = reduced > best
        np.copyto(channel, h, where=better)
        np.maximum(best, reduced, out=best)
        del reduced, better
    return best, channel


def _solve_tight(
    layout: _Layout,
    prices: Array,
    budget_prices: Array,
    tight_index: Array,
    best: Array,
    best_channel: Array,
    wanted: Array,
    promotional: Array,
    cap_total: Array,
    cap_promotional: Array,
    cap_channel: Array,
) -> tuple[Array, Array, int]:
    """The capped part of the sub-problem of customers where a cap binds, exactly.

    Without channel caps, {one per candidate, promotional, total} is a laminar matroid on each
    candidate's best channel and its greedy is optimal. Where that choice also fits the channel
    caps, it is the optimum. Elsewhere ("conflicted"), the greedy's picks before the first one a
    channel cap refuses are an optimal choice of their size, and ``best_sends`` goes on from them
    by shortest augmenting paths. Returns the choice, its value and how many were conflicted.
    """
    m, k_count = best.shape
    gain = np.where(wanted, best, 0.0)
    order = _descending(gain)
    ranked = np.take_along_axis(gain, order, axis=1)
    useful = ranked > 0
    is_promotional = np.take_along_axis(promotional, order, axis=1) & useful
    allowed = useful & (
        ~is_promotional | (_running_count(is_promotional) <= cap_promotional[:, None])
    )
    taken = allowed & (_running_count(allowed) <= cap_total[:, None])
    channel_ranked = np.take_along_axis(best_channel, order, axis=1)
    refused = np.zeros((m, k_count), dtype=bool)
    for h in range(cap_channel.shape[1]):
        if not np.any(cap_channel[:, h] < k_count):
            continue
        on = taken & (channel_ranked == h)
        refused |= on & (_running_count(on) > cap_channel[:, h, None])
    conflicted = refused.any(axis=1)
    first_refused = np.where(conflicted, refused.argmax(axis=1), k_count)
    taken &= np.arange(k_count) < first_refused[:, None]

    choice = np.full((m, k_count), -1, dtype=np.int8)
    rows, rank = np.nonzero(taken)
    choice[rows, order[rows, rank]] = channel_ranked[rows, rank]
    value = _row_sum(np.where(taken, ranked, 0.0))

    where = np.flatnonzero(conflicted)
    if where.size:
        who = tight_index[where]
        own = np.stack(
            [_reduced(layout, prices, budget_prices, h, who) for h in range(layout.net.shape[0])]
        )
        own[:, ~wanted[where]] = -np.inf
        choice[where] = best_sends(
            own,
            promotional[where],
            cap_total=cap_total[where],
            cap_promotional=cap_promotional[where],
            cap_channel=cap_channel[where],
            start=choice[where],
        )
        value[where] = _value_of(choice[where], own)
    return choice, value, int(where.size)


def _descending(gain: Array) -> Array:
    """Each row's slots by decreasing gain (gains >= 0)."""
    k_count = gain.shape[1]
    if gain.dtype != np.float32:
        order: Array = np.argsort(-gain, axis=1, kind="stable")
        return order
    # Non-negative float32 order as their bits do: sort one int64 key of (bits, slot) per cell,
    # several times faster than an argsort of rows this short.
    shift = max(int(k_count - 1).bit_length(), 1)
    key = gain.view(np.int32).astype(np.int64) << shift
    key |= np.arange(k_count, dtype=np.int64)
    key.sort(axis=1)
    slots: Array = (key[:, ::-1] & ((1 << shift) - 1)).astype(np.intp)
    return slots


def _value_of(choice: Array, values: Array) -> Array:
    total = np.zeros(choice.shape[0])
    for h in range(values.shape[0]):
        total += _row_sum(np.where(choice == h, values[h], 0.0))
    return total


def best_sends(
    values: Array,
    promotional: Array,
    *,
    cap_total: Array,
    cap_promotional: Array,
    cap_channel: Array,
    start: Array | None = None,
) -> Array:
    """Each customer's best sends under their caps, exactly; vectorised over customers.

    ``values`` is (channel, customer, candidate slot), -inf where there is no option; options
    of value <= 0 are never sent. Each candidate gets at most one channel, each customer at most
    ``cap_total`` sends, ``cap_promotional`` of promotional candidates (``promotional``, by
    customer and slot) and ``cap_channel[:, h]`` on channel h. Returns the channel of each
    (customer, slot), -1 for none.

    The sub-problem is a min-cost flow: source -> (promotional node, capacity cap_promotional,
    for promotional candidates) -> candidate (1) -> channel (cap_channel) -> sink, at most
    cap_total units. Successive shortest paths add one send per customer and round, along the
    most valuable augmenting path (Bellman-Ford over the residual graph, all customers at once),
    and stop when no path is worth more than 0 or the total cap is reached; each flow found on
    the way is the best of its size, so the last one is optimal. ``start``, if given, must be a
    choice that is the best of its size (the laminar greedy's picks before a channel refuses
    one are); the search goes on from it.
    """
    h_count, m, k_count = values.shape
    values = np.where(values > 0, values, -np.inf)
    dtype = values.dtype.type
    assign = np.full((m, k_count), -1, dtype=np.int8) if start is None else start.copy()
    sending = assign >= 0
    load = np.stack([(assign == h).sum(axis=1) for h in range(h_count)], axis=1)
    flow = sending.sum(axis=1)
    promotional_flow = (sending & promotional).sum(axis=1)
    # Improvements below this are float rounding (float32: about 1e-7 of the largest value).
    scale = max(float(np.max(values, initial=0.0)), 1e-300)
    tiny = dtype(scale * (1e-6 if values.dtype == np.float32 else 1e-12))
    minus_inf = dtype(-np.inf)
    active = np.flatnonzero(flow < cap_total)
    for _round in range(k_count):
        if not active.size:
            break
        own = values[:, active, :]
        asg = assign[active]
        a = active.size
        rows = np.arange(a)
        dist_p = np.where(promotional_flow[active] < cap_promotional[active], 0.0, -np.inf)
        dist_h, pred_h, pred_k, pred_p = _longest_paths(
            own, asg, promotional[active], dist_p.astype(values.dtype), tiny
        )

        room = load[active] < cap_channel[active]
        end = np.where(room, dist_h, minus_inf)
        last = end.argmax(axis=1)
        gain = end[rows, last]
        augment = np.flatnonzero(gain > tiny)
        load[active[augment], last[augment]] += 1
        flow[active[augment]] += 1
        # Walk the path back from the sink: each candidate on it moves to the channel after it.
        idx, cur = augment, last[augment].astype(np.intp)
        for _step in range(2 * k_count + 2):
            if not idx.size:
                break
            k = pred_h[idx, cur]
            came = pred_k[idx, k].astype(np.intp)
            asg[idx, k] = cur
            following = came.copy()
            through_p = np.flatnonzero(came == -2)
            if through_p.size:
                at = idx[through_p]
                gave = pred_p[at]
                opened = gave < 0
                promotional_flow[active[at[opened]]] += 1
                # A promotional candidate gave its place up: it leaves its channel, which the
                # candidate before it on the path takes.
                left = np.flatnonzero(~opened)
                channel_left = asg[at[left], gave[left]].astype(np.intp)
                asg[at[left], gave[left]] = -1
                following[through_p] = -1
                following[through_p[left]] = channel_left
            keep = following >= 0
            idx, cur = idx[keep], following[keep]
        assign[active] = asg
        done = np.ones(a, dtype=bool)
        done[augment] = flow[active[augment]] >= cap_total[active[augment]]
        active = active[~done]
    return assign


def _longest_paths(
    own: Array, asg: Array, promotional: Array, dist_p: Array, tiny: Any
) -> tuple[Array, Array, Array, Array]:
    """Most valuable paths from the source in each customer's residual graph (Bellman-Ford).

    Returns each channel's distance and predecessor candidate, each candidate's predecessor (-1
    the source, -2 the promotional node, h the channel it leaves) and the promotional node's (-1
    the source, k the promotional candidate that gives its place up). Only strict improvements
    by more than ``tiny`` count, so ties never close a cycle of predecessors. A customer whose
    sweep changed nothing has converged and leaves the working set.
    """
    h_count, a, k_count = own.shape
    minus_inf = own.dtype.type(-np.inf)
    zero = own.dtype.type(0.0)
    out_dist_h = np.full((a, h_count), minus_inf)
    out_pred_h = np.zeros((a, h_count), dtype=np.intp)
    out_pred_k = np.full((a, k_count), -1, dtype=np.int8)
    out_pred_p = np.full(a, -1, dtype=np.intp)
    ids = np.arange(a)
    free = asg < 0
    current = np.zeros((a, k_count), dtype=own.dtype)
    for h in range(h_count):
        current = np.where(asg == h, own[h], current)
    held = np.maximum(asg, 0).astype(np.intp)
    gives_up = ~free & promotional
    came_in = np.where(free, np.where(promotional, -2, -1), asg).astype(np.int8)
    dist_k = np.full((a, k_count), minus_inf)
    pred_k = np.full((a, k_count), -1, dtype=np.int8)
    dist_h = np.full((a, h_count), minus_inf)
    pred_h = np.zeros((a, h_count), dtype=np.intp)
    pred_p = np.full(a, -1, dtype=np.intp)
    for _sweep in range(2 * (k_count + h_count) + 2):
        rows = np.arange(ids.size)
        reach = np.where(
            free,
            np.where(promotional, dist_p[:, None], zero),
            np.take_along_axis(dist_h, held, axis=1) - current,
        )
        better = reach > dist_k + tiny
        moved = better.any(axis=1)
        dist_k = np.where(better, reach, dist_k)
        pred_k = np.where(better, came_in, pred_k)

        via = np.where(gives_up, dist_k, minus_inf)
        back = via.argmax(axis=1)
        reach_p = via[rows, back]
        better_p = reach_p > dist_p + tiny
        moved |= better_p
        dist_p = np.where(better_p, reach_p, dist_p)
        pred_p = np.where(better_p, back, pred_p)

        for h in range(h_count):
            to_h = np.where(asg != h, dist_k + own[h], minus_inf)
            source = to_h.argmax(axis=1)
            reach_h = to_h[rows, source]
            better_h = reach_h > dist_h[:, h] + tiny
            moved |= better_h
            dist_h[:, h] = np.where(better_h, reach_h, dist_h[:, h])
            pred_h[:, h] = np.where(better_h, source, pred_h[:, h])
        still = int(np.count_nonzero(moved))
        if still == 0:
            break
        if still < 0.7 * ids.size:
            out_dist_h[ids], out_pred_h[ids] = dist_h, pred_h
            out_pred_k[ids], out_pred_p[ids] = pred_k, pred_p
            ids = ids[moved]
            own, asg, promotional = own[:, moved], asg[moved], promotional[moved]
            free, current, held = free[moved], current[moved], held[moved]
            gives_up, came_in = gives_up[moved], came_in[moved]
            dist_k, pred_k, dist_p, pred_p = (
                dist_k[moved],
                pred_k[moved],
                dist_p[moved],
                pred_p[moved],
            )
            dist_h, pred_h = dist_h[moved], pred_h[moved]
    out_dist_h[ids], out_pred_h[ids] = dist_h, pred_h
    out_pred_k[ids], out_pred_p[ids] = pred_k, pred_p
    return out_dist_h, out_pred_h, out_pred_k, out_pred_p


# ---------------------------------------------------------------------------------------------
# The multipliers


@dataclass
class _Secant:
    """One global limit's multiplier, moved by secant steps on usage - limit.

    Each limit keeps its own last (multiplier, excess); the slope of the last two steps (or, at
    first, the one carried from a sample, scaled) gives the next multiplier, kept within a factor
    2 of the current one. The other limits' multipliers move too, so a slope of the wrong sign
    (usage rising with the price) is dropped for a relative step.
    """

    scale: float
    step: float
    slope: float | None = None
    previous: tuple[float, float] | None = None

    def next(self, price: float, excess: float, slack: float) -> float:
        """The next multiplier given usage - limit (``excess``) at ``price``.

        Aims at a usage from the limit to ``slack`` above it: the repair drops a little excess
        at a second-order cost (the dropped sends are worth about their price), while a limit
        left unused costs its multiplier on each unused unit.
        """
        previous, self.previous = self.previous, (price, excess)
        if previous is not None and previous[0] != price:
            slope = (excess - previous[1]) / (price - previous[0])
            if slope < 0:
                self.slope = slope
        if 0 <= excess <= slack or (price == 0 and excess < 0):
            return price
        over = excess - slack / 2
        if self.slope is not None and self.slope < 0:
            following = price - over / self.slope
            if following <= 0:
                return 0.0
            if price > 0:
                following = min(max(following, price / 2), price * 2)
            return following
        if price == 0:
            return self.scale
        following = price * (1 + self.step) if over > 0 else price * (1 - min(self.step, 0.5))
        self.step *= 2
        return following


class _Search:
    def __init__(
        self,
        layout: _Layout,
        capacity: Array,
        budget: Array,
        *,
        tolerance: float,
        max_iterations: int,
    ) -> None:
        self.layout = layout
        self.tolerance = tolerance
        self.max_iterations = max_iterations
        self.limits: list[tuple[int, bool, float]] = [
            (h, False, float(capacity[h])) for h in range(capacity.size) if capacity[h] < np.inf
        ] + [(h, True, float(budget[h])) for h in range(budget.size) if budget[h] < np.inf]
        self.passes = 0
        self.sample_passes = 0
        self.densities: list[float | None] = [None] * len(self.limits)

    def prices(self, multipliers: Array) -> tuple[Array, Array]:
        h_count = len(self.layout.channels)
        count, per_cost = np.zeros(h_count), np.zeros(h_count)
        for (h, is_budget, _limit), price in zip(self.limits, multipliers, strict=True):
            (per_cost if is_budget else count)[h] = price
        return count, per_cost

    def usage(self, layout: _Layout, choice: Array) -> Array:
        used = np.zeros(len(self.limits))
        cost = layout.cost
        for j, (h, is_budget, _limit) in enumerate(self.limits):
            sent = choice == h
            if is_budget and h in cost:
                used[j] = float(cost[h][sent].sum(dtype=np.float64))
            else:
                used[j] = float(np.count_nonzero(sent))
        return used

    def run(self) -> tuple[Array, Array, Array, float, float, int, int]:
        """Prices, per-cost prices, choice, value, bound, passes and sample passes."""
        n = self.layout.net.shape[1]
        multipliers = np.zeros(len(self.limits))
        step = 1.0
        if self.limits and n > 2 * SAMPLE_CUSTOMERS:
            who = np.arange(0, n, n // SAMPLE_CUSTOMERS)
            multipliers = self.find(multipliers, who, who.size / n, step=1.0, slack=5e-3)
            step = 0.02
            if n > 5 * SAMPLE_CUSTOMERS:
                # The first sample's noise is about 1% of a limit's usage; a larger one brings
                # it to about 0.2% in a few passes that start close, with the slopes found.
                size = min(LARGE_SAMPLE_CUSTOMERS, n // 4)
                who = np.arange(n // size // 2, n, n // size)
                multipliers = self.find(
                    multipliers, who, who.size / n, step=0.01, slack=2e-3, passes=8
                )
                step = 0.005
        return (*self.finish(multipliers, step), self.passes, self.sample_passes)

    def scales(self, layout: _Layout) -> list[float]:
        """A first multiplier per limit: half the median net value (per unit of cost)."""
        n = layout.net.shape[1]
        if n > 2 * SAMPLE_CUSTOMERS:
            layout = layout.subset(np.arange(0, n, n // SAMPLE_CUSTOMERS))
        scales = []
        for h, is_budget, _limit in self.limits:
            net = layout.net[h]
            positive = net > 0
            if not positive.any():
                scales.append(1.0)
                continue
            if is_budget and h in layout.cost:
                cost = layout.cost[h]
                ratio = net[positive] / np.maximum(cost[positive], 1e-12)
                scales.append(float(np.median(ratio)) / 2)
            else:
                scales.append(float(np.median(net[positive])) / 2)
        return scales

    def find(
        self,
        multipliers: Array,
        who: Array,
        share: float,
        *,
        step: float,
        slack: float,
        passes: int = 30,
    ) -> Array:
        """Multipliers that meet the limits scaled to a sample of customers, to ``slack``."""
        sample = self.layout.subset(who)
        brackets = self.secants(self.scales(sample), step, share)
        limits = np.array([limit * share for _h, _b, limit in self.limits])
        room = np.maximum(limits * slack, 1.0)
        for _ in range(passes):
            solved = _solve(sample, *self.prices(multipliers))
            self.sample_passes += 1
            excess = self.usage(sample, solved.choice) - limits
            following = np.array(
                [
                    bracket.next(float(price), float(over), float(allowed))
                    for bracket, price, over, allowed in zip(
                        brackets, multipliers, excess, room, strict=True
                    )
                ]
            )
            if np.array_equal(following, multipliers):
                break
            multipliers = following
        self.keep_slopes(brackets, share)
        return multipliers

    def secants(self, scales: list[float], step: float, share: float) -> list[_Secant]:
        return [
            _Secant(scale, step, None if density is None else density * share)
            for scale, density in zip(scales, self.densities, strict=True)
        ]

    def keep_slopes(self, secants: list[_Secant], share: float) -> None:
        """Each limit's slope per customer, for the next, larger set of customers."""
        self.densities = [
            None if secant.slope is None else secant.slope / share for secant in secants
        ]

    def finish(self, multipliers: Array, step: float) -> tuple[Array, Array, Array, float, float]:
        """Iterate on all customers; keep the best repaired plan and the lowest bound."""
        brackets = self.secants(self.scales(self.layout), step, 1.0)
        limits = np.array([limit for _h, _b, limit in self.limits])
        best: tuple[float, Array, Array, Array] | None = None
        bound = math.inf
        while True:
            prices, per_cost = self.prices(multipliers)
            solved = _solve(self.layout, prices, per_cost)
            self.passes += 1
            bound = min(
                bound,
                float(solved.value.sum()) + float(multipliers @ limits if limits.size else 0.0),
            )
            excess = self.usage(self.layout, solved.choice) - limits
            choice = self.repair(solved.choice, prices, per_cost, excess)
            value = self.value(choice)
            if best is None or value >= best[0]:
                best = (value, choice, prices, per_cost)
            gap = (bound - best[0]) / bound if bound > 0 else 0.0
            if gap <= self.tolerance or self.passes >= self.max_iterations:
                break
            slack = np.maximum(limits * self.tolerance, 0.5)
            following = np.array(
                [
                    bracket.next(float(price), float(over), float(room))
                    for bracket, price, over, room in zip(
                        brackets, multipliers, excess, slack, strict=True
                    )
                ]
            )
            if np.array_equal(following, multipliers):
                break
            multipliers = following
        value, choice, prices, per_cost = best
        return prices, per_cost, choice, value, max(bound, value)

    def repair(self, choice: Array, prices: Array, per_cost: Array, excess: Array) -> Array:
        """Drop the lowest reduced-value sends of each channel over its limits."""
        if not np.any(excess > 0):
            return choice
        layout = self.layout
        choice = choice.copy()
        for h, is_budget, limit in self.limits:
            sent = np.flatnonzero(choice.ravel() == h)
            net = layout.net[h].ravel()[sent].astype(np.float64)
            cost = (
                layout.cost[h].ravel()[sent].astype(np.float64)
                if h in layout.cost
                else np.zeros(sent.size)
            )
            if (cost.sum() if is_budget else sent.size) <= limit:
                continue
            reduced = net - prices[h] - per_cost[h] * cost
            if is_budget:
                # Ties in reduced value go in the order of the cells (a stable sort).
                order = np.argsort(reduced, kind="stable")
                spent = cost.sum() - np.cumsum(cost[order])
                dropped = order[: int(np.argmax(spent <= limit)) + 1]
            else:
                dropped = _lowest(reduced, sent.size - int(limit))
            choice.ravel()[sent[dropped]] = -1
        return choice

    def value(self, choice: Array) -> float:
        layout = self.layout
        total = 0.0
        for h in range(layout.net.shape[0]):
            total += float(np.sum(layout.net[h], where=choice == h, dtype=np.float64))
        sent = _row_max(choice) >= 0
        return total - float(layout.interruption[sent].sum())


def _lowest(values: Array, count: int) -> Array:
    """The positions of the ``count`` lowest values, ties to the first: a partition, not a sort."""
    if count >= values.size:
        return np.arange(values.size)
    kth = values[np.argpartition(values, count - 1)[count - 1]]
    below = np.flatnonzero(values < kth)
    tied = np.flatnonzero(values == kth)[: count - below.size]
    return np.sort(np.concatenate([below, tied]))


# ---------------------------------------------------------------------------------------------
# The plan


def _plan(
    options: pl.DataFrame,
    layout: _Layout,
    prices: Array,
    per_cost: Array,
    choice: Array,
    bound: float,
    passes: int,
    sample_passes: int,
    budgets: Mapping[str, ChannelBudget],
) -> Plan:
    cells = choice.size
    cell = layout.flat % max(cells, 1)
    code = layout.flat // max(cells, 1)
    chosen_sorted = choice.ravel()[cell] == code
    if layout.order is None:
        chosen_rows, code_rows = chosen_sorted, code
    else:
        chosen_rows = np.zeros(chosen_sorted.size, dtype=bool)
        chosen_rows[layout.order] = chosen_sorted
        code_rows = np.empty_like(code)
        code_rows[layout.order] = code
    mask = pl.Series("chosen", chosen_rows)
    chosen = options.filter(mask)
    channel_of = code_rows[chosen_rows]
    net = (chosen["value"] - chosen["cost"] - chosen["penalty"]).cast(pl.Float64).to_numpy()
    cost = chosen["cost"].cast(pl.Float64).to_numpy()
    reduced = net - prices[channel_of] - per_cost[channel_of] * cost
    chosen = chosen.with_columns(pl.Series("reduced_value", reduced, dtype=pl.Float64))
    sent = _row_max(choice) >= 0
    value = float(net.sum()) - float(layout.interruption[sent].sum())
    bound = max(bound, value)
    h_count = len(layout.channels)
    sends = np.bincount(channel_of, minlength=h_count)
    spent = np.bincount(channel_of, weights=cost, minlength=h_count)
    at = {name: h for h, name in enumerate(layout.channels)}
    limit = {name: budgets.get(name, ChannelBudget()) for name in layout.names}
    usage = pl.DataFrame(
        {
            "channel": list(layout.names),
            "sends": [int(sends[at[c]]) if c in at else 0 for c in layout.names],
            "cost": [float(spent[at[c]]) if c in at else 0.0 for c in layout.names],
            "capacity": [
                None if limit[c].capacity is None else max(limit[c].capacity or 0, 0)
                for c in layout.names
            ],
            "budget": [
                None if limit[c].budget is None else max(float(limit[c].budget or 0.0), 0.0)
                for c in layout.names
            ],
            "capacity_multiplier": [float(prices[at[c]]) if c in at else 0.0 for c in layout.names],
            "budget_multiplier": [float(per_cost[at[c]]) if c in at else 0.0 for c in layout.names],
        },
        schema={
            "channel": pl.String,
            "sends": pl.Int64,
            "cost": pl.Float64,
            "capacity": pl.Int64,
            "budget": pl.Float64,
            "capacity_multiplier": pl.Float64,
            "budget_multiplier": pl.Float64,
        },
    )
    return Plan(
        chosen=chosen,
        value=value,
        bound=bound,
        gap=(bound - value) / bound if bound > 0 else 0.0,
        usage=usage,
        iterations=passes,
        sample_iterations=sample_passes,
    )
