"""small_pages: the decision core's memory settings hold until the last thread inside leaves."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from regard.decisions.policy_frames import small_pages

_setter: Any = getattr(
    getattr(getattr(np, "_core", None), "multiarray", None), "_set_madvise_hugepage", None
)


def _huge_pages() -> bool:
    before = bool(_setter(True))
    _setter(before)
    return before


@pytest.mark.skipif(_setter is None, reason="this NumPy has no switch for huge pages")
def test_settings_hold_until_the_last_thread_leaves() -> None:
    _setter(True)
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, bool] = {}

    def first() -> None:
        with small_pages():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second() -> None:
        first_in.wait(5)
        with small_pages():
            second_in.set()
            first_out.wait(5)
            seen["after the first left"] = _huge_pages()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == {"after the first left": False}  # still off: the second is inside
    assert _huge_pages() is True  # back as it was once both left
