"""One decision run split into shards: ranges of customer ids, each decided on its own.

Every rule of the contact policy looks at one customer at a time (their consents, caps, history,
windows), so a range of customers with all their rows is a run of its own: the policy's options,
caps and verdicts for the whole base are those of its shards, stacked in order of their ranges.
Only the optimiser's brand-wide channel limits join customers, and it runs once over the stacked
options. A decision again needs only its own shard's candidates, options and verdicts.

The engine runs the shards on a thread per core (``regard.decisions.parallel``), and a shard's
arrays are small enough to stay in the caches and be reused by the allocator rather than
faulted in afresh. The same split would send the shards to the machines of a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from regard.decisions.inputs import EngineInputs

Array = npt.NDArray[Any]

# A shard holds about this many candidates: fewer shards leave the caches behind, more pay each
# shard's fixed costs (the catalogue's codes, the regions' windows) once too often.
SHARD_CANDIDATES = 1_250_000
# The frames whose rows belong to one customer; the catalogue's frames go to every shard whole.
CUSTOMER_FRAMES = ("candidates", "customers", "frequencies", "consents", "suppressions", "history")
NO_CUSTOMER = np.iinfo(np.int64).min  # a row without a customer id goes to the first shard


@dataclass(frozen=True)
class Partition:
    """The shards of a run, in order of their customer ranges.

    ``bounds[i]`` is the first customer id of shard ``i + 1``. ``rows`` gives, shard after
    shard, the positions of their candidates in the run's candidates; None when the shards'
    candidates in order are the run's candidates in order (as when they come sorted by
    customer)."""

    shards: list[EngineInputs]
    bounds: Array
    rows: Array | None

    def split(self, frame: pl.DataFrame) -> list[pl.DataFrame]:
        """A frame sorted by customer_id (such as the optimiser's chosen options), cut at the
        shards' bounds."""
        return _split(frame, self.bounds)[0] if self.bounds.size else [frame]

    def in_run_order(self, stacked: pl.DataFrame) -> pl.DataFrame:
        """One row per candidate, stacked shard after shard, back in the run's order."""
        if self.rows is None:
            return stacked
        place = np.empty(self.rows.size, dtype=np.int64)
        place[self.rows] = np.arange(self.rows.size)
        return stacked.gather(place)


def partition(inputs: EngineInputs, *, size: int | None = None) -> Partition:
    """``inputs`` cut into shards of about ``size`` candidates (``SHARD_CANDIDATES``), by ranges
    of customer ids of about as many customers each (the customers' frame holds the customers of
    the candidates)."""
    count = -(-inputs.candidates.height // max(size or SHARD_CANDIDATES, 1))
    if count > 1:
        ids = _ids(inputs.customers)
        distinct = (
            ids[np.append(True, ids[1:] != ids[:-1])]
            if ids.size and _ascending(ids)
            else np.unique(ids)
        )
        count = min(count, distinct.size)
    if count <= 1:
        return Partition(shards=[inputs], bounds=np.zeros(0, dtype=np.int64), rows=None)
    bounds = distinct[(np.arange(1, count) * distinct.size) // count]
    cut: dict[str, list[pl.DataFrame]] = {}
    rows: Array | None = None
    for name in CUSTOMER_FRAMES:
        cut[name], order = _split(getattr(inputs, name), bounds)
        if name == "candidates":
            rows = order
    shards = [
        replace(inputs, **{name: cut[name][i] for name in CUSTOMER_FRAMES}) for i in range(count)
    ]
    return Partition(shards=shards, bounds=bounds, rows=rows)


def _split(frame: pl.DataFrame, bounds: Array) -> tuple[list[pl.DataFrame], Array | None]:
    """``frame`` cut into ``bounds.size + 1`` ranges of customer ids, each keeping the frame's
    order; and the rows of the frame, range after range, when that is not the frame's order."""
    key = _ids(frame)
    if _ascending(key):
        cuts = [0, *np.searchsorted(key, bounds).tolist(), key.size]
        return [frame.slice(a, b - a) for a, b in pairwise(cuts)], None
    shard = np.searchsorted(bounds, key, side="right").astype(np.uint16)
    order = np.argsort(shard, kind="stable")  # a radix sort over small numbers: one pass
    cuts = [0, *np.searchsorted(shard[order], np.arange(1, bounds.size + 1)).tolist(), key.size]
    ordered = frame[order]
    return [ordered.slice(a, b - a) for a, b in pairwise(cuts)], order


def _ids(frame: pl.DataFrame) -> Array:
    ids: Array = frame["customer_id"].cast(pl.Int64).fill_null(NO_CUSTOMER).to_numpy()
    return ids


def _ascending(values: Array) -> bool:
    return values.size < 2 or bool(np.all(values[1:] >= values[:-1]))
