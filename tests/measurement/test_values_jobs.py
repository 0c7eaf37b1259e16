"""The scheduled values refresh runs at most once a day, whichever scheduler asks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from regard.measurement import values_jobs, values_repository
from regard.store.database import Store, unit_of_work
from tests.touchpoints.support import brand_with_touchpoints

NOW = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)


def test_a_refresh_is_due_once_a_day(store: Store) -> None:
    store.brand = brand_with_touchpoints()
    first = values_jobs.refresh_when_due(store, now=NOW)
    assert first is not None
    assert first.learned > 0
    assert values_jobs.refresh_when_due(store, now=NOW + timedelta(hours=23)) is None
    assert values_jobs.refresh_when_due(store, now=NOW + timedelta(days=1)) is not None


def test_another_schedulers_turn_is_respected(store: Store) -> None:
    store.brand = brand_with_touchpoints()
    with unit_of_work(store) as session:
        assert values_repository.take_turn(
            session, holder="elsewhere:1", now=NOW, every=values_jobs.REFRESH_EVERY
        )
    assert values_jobs.refresh_when_due(store, now=NOW + timedelta(hours=1)) is None
    # A refresh that failed there gives the turn back: the next run here does it.
    with unit_of_work(store) as session:
        values_repository.release_turn(session, holder="elsewhere:1")
    assert values_jobs.refresh_when_due(store, now=NOW + timedelta(hours=1)) is not None
