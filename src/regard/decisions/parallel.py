"""Work spread over the machine's cores, on threads.

NumPy and Polars let go of Python's lock while they work over big arrays, so the decision core
runs independent pieces (shards of customers, halves of a pass of the optimiser) on a thread
each, as many at once as there are cores.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def cores() -> int:
    """The cores this process may run on."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def in_parallel(work: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``work`` of each item, in order, on as many threads as there are cores; the first error
    of an item is raised."""
    workers = min(len(items), cores())
    if workers <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="regard-core") as pool:
        return list(pool.map(work, items))
