"""The scheduler's run: triggers, the daily values refresh, then the engine."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from regard.decisions.commands import run_once
from regard.measurement.models import TouchpointValue
from regard.store.database import Store, unit_of_work
from tests.decisions.support import NOW


def _measured_at(store: Store) -> set[object]:
    with unit_of_work(store) as session:
        return set(session.scalars(select(func.max(TouchpointValue.measured_at))).all())


def test_each_run_decides_and_the_values_are_refreshed_at_most_daily(
    store: Store, shop: dict[str, int]
) -> None:
    first = run_once(store, now=NOW, quiet=True)
    assert first is not None
    assert first.candidates == 2
    assert _measured_at(store) == {NOW}
    later = run_once(store, now=NOW + timedelta(hours=6), quiet=True)
    assert later is not None
    assert _measured_at(store) == {NOW}
    next_day = NOW + timedelta(days=1, minutes=5)
    assert run_once(store, now=next_day, quiet=True) is not None
    assert _measured_at(store) == {next_day}
