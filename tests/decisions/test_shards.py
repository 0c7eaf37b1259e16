"""Cutting a run into shards of customers: every row in the shard of its customer, in order."""

from __future__ import annotations

import threading
from unittest import mock

import polars as pl
import pytest

from regard.decisions import parallel
from regard.decisions.inputs import EngineInputs
from regard.decisions.parallel import in_parallel
from regard.decisions.shards import partition


def _inputs(candidate_customers: list[int | None], customers: list[int]) -> EngineInputs:
    by_customer = pl.DataFrame({"customer_id": customers}, schema={"customer_id": pl.Int64})
    return EngineInputs(
        candidates=pl.DataFrame(
            {
                "candidate_id": list(range(len(candidate_customers))),
                "customer_id": candidate_customers,
            },
            schema={"candidate_id": pl.Int64, "customer_id": pl.Int64},
        ),
        touchpoint_channels=pl.DataFrame({"touchpoint": ["welcome"], "channel": ["email"]}),
        topics=pl.DataFrame({"topic": ["news"], "basis": ["consent"]}),
        customers=by_customer,
        frequencies=by_customer.reverse(),  # out of order: cut all the same
        consents=by_customer.head(0),
        suppressions=by_customer,
        history=by_customer,
    )


def test_each_customer_and_all_their_rows_land_in_one_shard() -> None:
    inputs = _inputs([5, 1, 9, 1, 3, 7, 5, 9, 2], [9, 1, 2, 3, 5, 7])
    split = partition(inputs, size=3)
    assert len(split.shards) == 3
    seen: list[set[int]] = []
    for shard in split.shards:
        mine = set(shard.customers["customer_id"].to_list())
        for name in ("candidates", "frequencies", "suppressions", "history"):
            assert set(getattr(shard, name)["customer_id"].to_list()) <= mine
        assert shard.touchpoint_channels is inputs.touchpoint_channels
        seen.append(mine)
    assert sorted(set().union(*seen)) == [1, 2, 3, 5, 7, 9]
    assert sum(len(mine) for mine in seen) == 6  # no customer in two shards
    # Ranges in order: the first shard has the lowest ids.
    assert max(seen[0]) < min(seen[1])
    assert max(seen[1]) < min(seen[2])
    # Stacked shard after shard and put back, the candidates are as they came.
    stacked = pl.concat([shard.candidates for shard in split.shards])
    assert split.in_run_order(stacked).equals(inputs.candidates)


def test_candidates_in_customer_order_are_cut_into_slices_in_their_order() -> None:
    inputs = _inputs([1, 1, 2, 3, 3, 3, 5, 7, 9], [1, 2, 3, 5, 7, 9])
    split = partition(inputs, size=4)
    assert split.rows is None
    assert pl.concat([shard.candidates for shard in split.shards]).equals(inputs.candidates)


def test_a_candidate_without_a_known_customer_still_lands_in_a_shard() -> None:
    inputs = _inputs([None, 4, 11, 0], [1, 2, 3, 5])
    split = partition(inputs, size=1)
    stacked = pl.concat([shard.candidates for shard in split.shards])
    assert split.in_run_order(stacked).equals(inputs.candidates)


def test_a_small_run_is_one_shard_the_inputs_themselves() -> None:
    inputs = _inputs([1, 2, 3], [1, 2, 3])
    split = partition(inputs)
    assert split.shards == [inputs]
    assert split.split(inputs.candidates) == [inputs.candidates]


def test_customers_named_once_each_bound_the_shards_however_they_come() -> None:
    # Unsorted and repeated ids in the customers' frame: shards still hold distinct ranges.
    inputs = _inputs([4, 1, 3, 2, 4, 1], [4, 1, 3, 2, 4, 1])
    split = partition(inputs, size=2)
    assert split.bounds.tolist() == [2, 3]
    assert [sorted(set(s.candidates["customer_id"].to_list())) for s in split.shards] == [
        [1],
        [2],
        [3, 4],
    ]


def test_work_runs_on_threads_and_keeps_the_order_and_the_errors() -> None:
    names: set[str] = set()

    def work(item: int) -> int:
        names.add(threading.current_thread().name)
        if item == 13:
            raise ValueError("thirteen")
        return item * 2

    with mock.patch.object(parallel, "cores", return_value=2):
        assert in_parallel(work, list(range(10))) == [item * 2 for item in range(10)]
        assert names
        assert all(name.startswith("regard-core") for name in names)
        with pytest.raises(ValueError, match="thirteen"):
            in_parallel(work, [1, 13, 2])
