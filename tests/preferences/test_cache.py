"""The cached state kept beside the ledger is always what a fold of the whole ledger gives."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from regard.preferences import service
from regard.preferences.models import ConsentState, PreferenceProfile
from regard.preferences.service import ConsentChange, Origin, SettingChange
from regard.store.database import Store, unit_of_work
from tests.preferences.support import new_customer

TOPICS = ("orders", "events", "offers:camping", "offers:footwear")
CHANNELS = ("email", "sms", "push")
SOURCES = ("center", "one-click", "sms", "staff", "api", "import")


def _cache(store: Store, customer_id: int) -> tuple[set[tuple[Any, ...]], dict[str, Any]]:
    with unit_of_work(store) as session:
        states = {
            (r.topic, r.channel, r.state, r.source, r.entry_id)
            for r in session.scalars(
                select(ConsentState).where(ConsentState.customer_id == customer_id)
            )
        }
        profile = session.get(PreferenceProfile, customer_id)
        assert profile is not None
        return states, dict(profile.settings)


def test_changes_said_now_and_dated_imports_leave_the_cache_as_a_rebuild_would(
    store: Store,
) -> None:
    ana = new_customer(store)
    rng = random.Random(17)
    start = datetime.now(UTC) - timedelta(days=300)
    for n in range(60):
        source = rng.choice(SOURCES)
        dated = source == "import"
        origin = Origin(
            source=source,
            actor="import:crm" if dated else "customer",
            occurred_at=start + timedelta(days=rng.randint(0, 299)) if dated else None,
        )
        with unit_of_work(store) as session:
            service.record(
                session,
                ana,
                brand=store.brand,
                origin=origin,
                consents=[
                    ConsentChange(
                        rng.choice(TOPICS),
                        rng.choice(CHANNELS),
                        rng.choice(("opted-in", "opted-out")),
                    )
                    for _ in range(rng.randint(1, 3))
                ],
                settings=[SettingChange("frequency", rng.choice(("daily", "weekly")))]
                if n % 4 == 0
                else [SettingChange("note", rng.choice(("tents", "boots", "")))]
                if n % 7 == 0
                else [],
            )
    kept = _cache(store, ana)
    with unit_of_work(store) as session:
        service.rebuild(session)
    assert _cache(store, ana) == kept
    with unit_of_work(store) as session:
        assert service.verify(session).ok
