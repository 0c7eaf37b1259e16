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
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

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
# Customers in the sample that finds the first multipliers of a large run.
SAMPLE_CUSTOMERS = 40_000


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

    channels: tuple[str, ...]
    net: Array  # (H, n, K) value - cost - penalty; -inf where no option or never allowed
    cost: Array | None  # (H, n, K), only when a budget is set
    promotional: Array  # (n, K) bool
    exempt: Array  # (n, K) bool
    cap_total: Array  # (n,) int32
    cap_promotional: Array  # (n,) int32
    cap_channel: Array  # (n, H) int32
    interruption: Array  # (n,) float64
    flat: Array  # (rows,) position of each (sorted) row in net.ravel()
    order: Array | None  # row order of options when they had to be sorted


@dataclass
class _Pass:
    """One customer-by-customer solution at fixed multipliers."""

    choice: Array  # (n, K) int8 channel chosen, -1 none
    subproblem: Array  # (n,) float64 primal value of each sub-problem at the multipliers
    bound: Array  # (n,) float64 upper bound of each sub-problem at the multipliers
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
    return _plan(
        options, layout, prices, per_cost, choice, bound, passes, sample_passes, capacity, budget
    )


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
        channels = tuple(channel.dtype.categories.to_list())
    else:
        channels = tuple(sorted(channel.cast(pl.String).unique().to_list()))
        channel = channel.cast(pl.String).cast(pl.Enum(channels))
    h_count = len(channels)
    code = channel.to_physical().to_numpy()
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
    new_customer[1:] = customer[1:] != customer[:-1]
    new_pair = new_customer.copy()
    new_pair[1:] |= candidate[1:] != candidate[:-1]
    customer_index = np.cumsum(new_customer, dtype=np.int64) - 1
    pair = np.cumsum(new_pair, dtype=np.int64) - 1
    slot = pair - pair[new_customer][customer_index]
    del pair
    n = int(customer_index[-1]) + 1 if rows else 0
    k_count = int(slot.max()) + 1 if rows else 1
    cell = customer_index * k_count + slot
    del customer_index, slot
    flat = code.astype(np.int64) * (n * k_count) + cell

    dtype = np.float32 if rows >= FLOAT32_FROM else np.float64
    net_rows = (options["value"].cast(pl.Float64) - options["cost"] - options["penalty"]).to_numpy()
    net_flat = np.full(h_count * n * k_count, -np.inf, dtype=dtype)
    net_flat[flat] = net_rows if order is None else net_rows[order]
    del net_rows
    net: Array = net_flat.reshape(h_count, n, k_count)
    cost: Array | None = None
    if any(b.budget is not None for b in budgets.values()):
        cost_rows = options["cost"].cast(pl.Float64).to_numpy()
        cost_flat = np.zeros(h_count * n * k_count, dtype=dtype)
        cost_flat[flat] = cost_rows if order is None else cost_rows[order]
        cost = cost_flat.reshape(h_count, n, k_count)

    def per_candidate(column: str, cell: Array) -> Array:
        values = options[column].to_numpy()
        if order is not None:
            values = values[order]
        dense = np.zeros(n * k_count, dtype=bool)
        dense[cell] = values
        if not np.array_equal(dense[cell], values):
            raise InvalidInput(f"{column} differs between the channels of one candidate")
        return dense.reshape(n, k_count)

    promotional = per_candidate("promotional", cell)
    exempt = per_candidate("exempt", cell)
    del cell

    ids = pl.DataFrame({"customer_id": customer[new_customer]})
    room = ids.join(
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
        return values.cast(pl.Int32).to_numpy()

    cap_total = cap("cap_total")
    cap_promotional = cap("cap_promotional")
    cap_channel = np.stack([cap(f"cap_{name}") for name in channels], axis=1)
    interruption = (
        room["interruption_cost"].cast(pl.Float64).fill_null(0.0).clip(0.0).to_numpy()
        if "interruption_cost" in room.columns
        else np.zeros(n)
    )

    # What no multiplier can make worthwhile or a cap of 0 forbids is never an option.
    capped = ~exempt
    closed = capped & ((cap_total == 0)[:, None] | ((cap_promotional == 0)[:, None] & promotional))
    for h in range(h_count):
        plane = net[h]
        plane[(plane <= 0) | closed | (capped & (cap_channel[:, h] == 0)[:, None])] = -np.inf
    return _Layout(
        channels=channels,
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


def _solve(layout: _Layout, prices: Array, budget_prices: Array, who: Array | None) -> _Pass:
    """Solve each customer's sub-problem greedily and bound it; ``who`` selects customers."""
    net = layout.net if who is None else layout.net[:, who, :]
    reduced = net - prices.astype(net.dtype)[:, None, None]
    if layout.cost is not None and np.any(budget_prices > 0):
        cost = layout.cost if who is None else layout.cost[:, who, :]
        for h in range(reduced.shape[0]):
            if budget_prices[h] > 0:
                reduced[h] -= net.dtype.type(budget_prices[h]) * cost[h]
    promotional = layout.promotional if who is None else layout.promotional[who]
    exempt = layout.exempt if who is None else layout.exempt[who]
    cap_total = layout.cap_total if who is None else layout.cap_total[who]
    cap_promotional = layout.cap_promotional if who is None else layout.cap_promotional[who]
    cap_channel = layout.cap_channel if who is None else layout.cap_channel[who]
    interruption = layout.interruption if who is None else layout.interruption[who]

    best, best_channel = _best_channel(reduced)
    positive = best > 0
    choice = np.full(best.shape, -1, dtype=np.int8)
    free = positive & exempt
    choice[free] = best_channel[free]
    free_value = np.where(free, best, 0.0).sum(axis=1, dtype=np.float64)

    wanted = positive & ~exempt
    tight = wanted.sum(axis=1) > cap_total
    tight |= (wanted & promotional).sum(axis=1) > cap_promotional
    for h in range(reduced.shape[0]):
        tight |= (wanted & (best_channel == h)).sum(axis=1) > cap_channel[:, h]
    easy = wanted & ~tight[:, None]
    choice[easy] = best_channel[easy]
    capped_value = np.where(easy, best, 0.0).sum(axis=1, dtype=np.float64)
    capped_bound = capped_value.copy()

    conflicted = 0
    tight_index = np.flatnonzero(tight)
    if tight_index.size:
        t_choice, t_value, t_bound, conflicted = _solve_tight(
            reduced[:, tight_index, :],
            best[tight_index],
            best_channel[tight_index],
            wanted[tight_index],
            promotional[tight_index],
            cap_total[tight_index],
            cap_promotional[tight_index],
            cap_channel[tight_index],
        )
        choice[tight_index] = np.where(wanted[tight_index], t_choice, choice[tight_index])
        capped_value[tight_index] = t_value
        capped_bound[tight_index] = t_bound

    subproblem = free_value + capped_value
    bound = free_value + capped_bound
    if np.any(interruption > 0):
        send = subproblem > interruption
        choice[~send] = -1
        subproblem = np.where(send, subproblem - interruption, 0.0)
        bound = np.maximum(bound - interruption, 0.0)
    return _Pass(choice=choice, subproblem=subproblem, bound=bound, conflicted=conflicted)


def _best_channel(reduced: Array) -> tuple[Array, Array]:
    best = reduced[0].copy()
    channel = np.zeros(best.shape, dtype=np.int8)
    for h in range(1, reduced.shape[0]):
        better = reduced[h] > best
        channel[better] = h
        np.maximum(best, reduced[h], out=best)
    return best, channel


def _solve_tight(
    reduced: Array,
    best: Array,
    best_channel: Array,
    wanted: Array,
    promotional: Array,
    cap_total: Array,
    cap_promotional: Array,
    cap_channel: Array,
) -> tuple[Array, Array, Array, int]:
    """Greedy by reduced value for customers whose caps bind, and each one's upper bound.

    Takes the best remaining (candidate, channel) while the caps allow it. Where a full channel
    never took a candidate's best channel away, this is the greedy of the laminar matroid
    {total, promotional} on each candidate's best channel, hence optimal and its own bound.
    Elsewhere ("conflicted") the bound comes from pricing the customer's channel caps, and the
    greedy is run again on the priced values; the better of the two choices is kept.
    """
    choice, value, conflicted = _greedy(
        reduced, best, best_channel, wanted, promotional, cap_total, cap_promotional, cap_channel
    )
    bound = value.copy()
    where = np.flatnonzero(conflicted)
    if where.size:
        own = reduced[:, where, :]
        bound[where], sigma = _conflicted_bound(
            own,
            wanted[where],
            promotional[where],
            cap_total[where],
            cap_promotional[where],
            cap_channel[where],
        )
        # A hair above each price, so a tie leaves the candidate on the channel without a cap.
        sigma = np.where(sigma > 0, sigma + 1e-6 * (1.0 + sigma), 0.0)
        priced = own - sigma.T[:, :, None].astype(own.dtype)
        priced_best, priced_channel = _best_channel(priced)
        again, _priced_value, _ = _greedy(
            priced,
            priced_best,
            priced_channel,
            wanted[where] & (priced_best > 0),
            promotional[where],
            cap_total[where],
            cap_promotional[where],
            cap_channel[where],
        )
        true_value = np.zeros(where.size)
        for h in range(own.shape[0]):
            true_value += np.where(again == h, own[h], 0.0).sum(axis=1)
        better = true_value > value[where]
        choice[where[better]] = again[better]
        value[where[better]] = true_value[better]
    return choice, value, np.maximum(bound, value), int(where.size)


def _greedy(
    reduced: Array,
    best: Array,
    best_channel: Array,
    wanted: Array,
    promotional: Array,
    cap_total: Array,
    cap_promotional: Array,
    cap_channel: Array,
) -> tuple[Array, Array, Array]:
    """Take the best remaining (candidate, channel) while the caps allow; flag conflicts."""
    m, k_count = best.shape
    reduced = reduced.copy()
    value_of = np.where(wanted, best, -np.inf)
    channel_of = best_channel.copy()
    open_ = wanted.copy()
    choice = np.full((m, k_count), -1, dtype=np.int8)
    value = np.zeros(m)
    conflicted = np.zeros(m, dtype=bool)
    total_room = cap_total.astype(np.int64)
    promotional_room = cap_promotional.astype(np.int64)
    channel_room = cap_channel.astype(np.int64)
    active = np.arange(m)
    while active.size:
        pick = value_of[active].argmax(axis=1)
        gain = value_of[active, pick]
        keep = gain > 0
        active, pick, gain = active[keep], pick[keep], gain[keep]
        if not active.size:
            break
        h = channel_of[active, pick]
        choice[active, pick] = h
        value[active] += gain
        value_of[active, pick] = -np.inf
        open_[active, pick] = False
        total_room[active] -= 1
        channel_room[active, h] -= 1
        is_promotional = promotional[active, pick]
        promotional_room[active[is_promotional]] -= 1

        full = active[is_promotional & (promotional_room[active] <= 0)]
        if full.size:
            shut = promotional[full]
            value_of[full] = np.where(shut, -np.inf, value_of[full])
            open_[full] &= ~shut
        closed = channel_room[active, h] <= 0
        if np.any(closed):
            who, shut_channel = active[closed], h[closed]
            reduced[shut_channel, who, :] = -np.inf
            lost = (value_of[who] > 0) & (channel_of[who] == shut_channel[:, None])
            conflicted[who[lost.any(axis=1)]] = True
            again, again_channel = _best_channel(reduced[:, who, :])
            value_of[who] = np.where(open_[who] & (again > 0), again, -np.inf)
            channel_of[who] = again_channel
        active = active[total_room[active] > 0]
    return choice, value, conflicted


def _conflicted_bound(
    reduced: Array,
    wanted: Array,
    promotional: Array,
    cap_total: Array,
    cap_promotional: Array,
    cap_channel: Array,
) -> tuple[Array, Array]:
    """An upper bound of the capped sub-problem for customers where channel caps bind.

    For prices sigma >= 0 on the customer's channel caps, the caps' LP dual gives
    sum_h cap_h * sigma_h + (optimum without channel caps at values r - sigma_h), and the inner
    optimum is the exact greedy of the laminar matroid {one per candidate, promotional, total}.
    sigma = 0 is one bound; sigma set channel by channel to the (cap + 1)-th largest margin of
    that channel over each candidate's best other channel is another; the lower one is kept.
    """
    options = np.where(wanted[None], reduced, -np.inf)
    h_count, m, k_count = options.shape
    relaxed = _laminar(
        np.maximum(options.max(axis=0), 0.0), promotional, cap_total, cap_promotional
    )
    binding = cap_channel < k_count
    sigma = np.zeros((m, h_count))
    rows = np.arange(m)
    for _sweep in range(3):
        for h in range(h_count):
            if not binding[:, h].any():
                continue
            others = np.zeros((m, k_count))
            for g in range(h_count):
                if g != h:
                    np.maximum(others, options[g] - sigma[:, g, None], out=others)
            margin = np.maximum(options[h] - others, 0.0)
            ordered = -np.sort(-margin, axis=1)
            at = np.minimum(cap_channel[:, h], k_count - 1)
            sigma[:, h] = np.where(binding[:, h], ordered[rows, at], 0.0)
    priced_best = np.zeros((m, k_count))
    for h in range(h_count):
        np.maximum(priced_best, options[h] - sigma[:, h, None], out=priced_best)
    priced = (sigma * np.where(binding, cap_channel, 0)).sum(axis=1) + _laminar(
        priced_best, promotional, cap_total, cap_promotional
    )
    lower: Array = np.minimum(relaxed, priced)
    return lower, sigma


def _laminar(gain: Array, promotional: Array, cap_total: Array, cap_promotional: Array) -> Array:
    """Exact greedy of {at most cap_promotional promotional, at most cap_total in all}."""
    order = np.argsort(-gain, axis=1, kind="stable")
    value = np.take_along_axis(gain, order, axis=1)
    is_promotional = np.take_along_axis(promotional, order, axis=1) & (value > 0)
    allowed = (value > 0) & (
        ~is_promotional | (np.cumsum(is_promotional, axis=1) <= cap_promotional[:, None])
    )
    taken = allowed & (np.cumsum(allowed, axis=1) <= cap_total[:, None])
    total: Array = np.where(taken, value, 0.0).sum(axis=1)
    return total


# ---------------------------------------------------------------------------------------------
# The multipliers


@dataclass
class _Bracket:
    """Regula falsi (Illinois) on one global constraint's multiplier."""

    scale: float
    step: float
    low: float = 0.0
    f_low: float | None = None
    high: float = math.inf
    f_high: float | None = None
    last: int = 0

    def next(self, price: float, excess: float, slack: float) -> float:
        """The next multiplier given usage - limit (``excess``) at ``price``."""
        if excess > 0:
            if price >= self.high:
                self.high, self.f_high = math.inf, None
            self.low, self.f_low = price, excess
            if self.last == 1 and self.f_high is not None:
                self.f_high /= 2
            self.last = 1
        else:
            if price == 0 or -excess <= slack:
                return price
            if price <= self.low:
                self.low, self.f_low = 0.0, None
            self.high, self.f_high = price, excess
            if self.last == -1 and self.f_low is not None:
                self.f_low /= 2
            self.last = -1
        if math.isinf(self.high):
            following = price * (1 + self.step) if price > 0 else self.scale
            self.step *= 2
            return following
        if self.f_low is None or self.f_high is None:
            following = max(self.high * (1 - self.step), (self.low + self.high) / 2)
            self.step *= 2
            return following
        target = -slack / 2
        share = (self.f_low - target) / (self.f_low - self.f_high)
        width = self.high - self.low
        return self.low + width * min(max(share, 0.02), 0.98)


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

    def prices(self, multipliers: Array) -> tuple[Array, Array]:
        h_count = len(self.layout.channels)
        count, per_cost = np.zeros(h_count), np.zeros(h_count)
        for (h, is_budget, _limit), price in zip(self.limits, multipliers, strict=True):
            (per_cost if is_budget else count)[h] = price
        return count, per_cost

    def usage(self, choice: Array, who: Array | None) -> Array:
        used = np.zeros(len(self.limits))
        cost = self.layout.cost
        for j, (h, is_budget, _limit) in enumerate(self.limits):
            sent = choice == h
            if is_budget and cost is not None:
                plane = cost[h] if who is None else cost[h][who]
                used[j] = float(plane[sent].sum(dtype=np.float64))
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
            multipliers = self.find(multipliers, who, who.size / n, step=1.0)
            step = 0.02
        return (*self.finish(multipliers, step), self.passes, self.sample_passes)

    def scales(self, who: Array | None) -> list[float]:
        layout = self.layout
        scales = []
        for h, is_budget, _limit in self.limits:
            net = layout.net[h] if who is None else layout.net[h][who]
            positive = net > 0
            if not positive.any():
                scales.append(1.0)
                continue
            if is_budget and layout.cost is not None:
                cost = layout.cost[h] if who is None else layout.cost[h][who]
                ratio = net[positive] / np.maximum(cost[positive], 1e-12)
                scales.append(float(np.median(ratio)) / 2)
            else:
                scales.append(float(np.median(net[positive])) / 2)
        return scales

    def find(self, multipliers: Array, who: Array, share: float, *, step: float) -> Array:
        """Multipliers that meet the limits scaled to a sample of customers, to about 0.5%."""
        brackets = [_Bracket(scale, step) for scale in self.scales(who)]
        limits = np.array([limit * share for _h, _b, limit in self.limits])
        for _ in range(30):
            solved = _solve(self.layout, *self.prices(multipliers), who)
            self.sample_passes += 1
            excess = self.usage(solved.choice, who) - limits
            slack = np.maximum(limits * 5e-3, 1.0)
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
        return multipliers

    def finish(self, multipliers: Array, step: float) -> tuple[Array, Array, Array, float, float]:
        """Iterate on all customers; keep the best repaired plan and the lowest bound."""
        brackets = [_Bracket(scale, step) for scale in self.scales(None)]
        limits = np.array([limit for _h, _b, limit in self.limits])
        best: tuple[float, Array, Array, Array] | None = None
        bound = math.inf
        while True:
            prices, per_cost = self.prices(multipliers)
            solved = _solve(self.layout, prices, per_cost, None)
            self.passes += 1
            bound = min(
                bound,
                float(solved.bound.sum()) + float(multipliers @ limits if limits.size else 0.0),
            )
            excess = self.usage(solved.choice, None) - limits
            choice = self.repair(solved.choice, prices, per_cost, excess)
            value = self.value(choice)
            if best is None or value >= best[0]:
                best = (value, choice, prices, per_cost)
            gap = (bound - best[0]) / bound if bound > 0 else 0.0
            if gap <= self.tolerance or self.passes >= self.max_iterations:
                break
            slack = np.maximum(limits * self.tolerance / 4, 0.5)
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
        for j, (h, is_budget, limit) in enumerate(self.limits):
            sent = np.flatnonzero(choice.ravel() == h)
            net = layout.net[h].ravel()[sent].astype(np.float64)
            cost = (
                layout.cost[h].ravel()[sent].astype(np.float64)
                if layout.cost is not None
                else np.zeros(sent.size)
            )
            reduced = net - prices[h] - per_cost[h] * cost
            order = np.lexsort((sent, reduced))
            if is_budget:
                spent = cost.sum() - np.cumsum(cost[order])
                over = cost.sum() > limit
                drop = int(np.argmax(spent <= limit)) + 1 if over else 0
            else:
                drop = max(sent.size - int(limit), 0)
            if drop:
                choice.ravel()[sent[order[:drop]]] = -1
            del j
        return choice

    def value(self, choice: Array) -> float:
        layout = self.layout
        total = 0.0
        for h in range(layout.net.shape[0]):
            total += float(layout.net[h][choice == h].sum(dtype=np.float64))
        sent = (choice >= 0).any(axis=1)
        return total - float(layout.interruption[sent].sum())


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
    capacity: Array,
    budget: Array,
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
    sent = (choice >= 0).any(axis=1)
    value = float(net.sum()) - float(layout.interruption[sent].sum())
    bound = max(bound, value)
    h_count = len(layout.channels)
    usage = pl.DataFrame(
        {
            "channel": list(layout.channels),
            "sends": np.bincount(channel_of, minlength=h_count).astype(np.int64),
            "cost": np.bincount(channel_of, weights=cost, minlength=h_count),
            "capacity": [None if math.isinf(c) else int(c) for c in capacity],
            "budget": [None if math.isinf(b) else float(b) for b in budget],
            "capacity_multiplier": prices.astype(np.float64),
            "budget_multiplier": per_cost.astype(np.float64),
        },
        schema_overrides={"capacity": pl.Int64, "budget": pl.Float64},
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
