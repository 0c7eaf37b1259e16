"""Changes to one customer arriving at the same moment queue up: the chain never forks."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from regard.preferences import service
from regard.preferences.service import ConsentChange, Origin, SettingChange
from regard.store.database import Store, unit_of_work
from tests.preferences.support import new_customer

TOPICS = ("events", "offers:camping", "offers:footwear")


def test_simultaneous_changes_to_one_customer_all_land_in_one_chain(store: Store) -> None:
    ana = new_customer(store)

    def change(n: int) -> int:
        with unit_of_work(store) as session:
            recorded = service.record(
                session,
                ana,
                brand=store.brand,
                origin=Origin(source="center", actor="customer"),
                consents=[
                    ConsentChange(TOPICS[n % 3], "email", "opted-in" if n % 2 else "opted-out")
                ],
                settings=[SettingChange("frequency", ("daily", "weekly", "monthly")[n % 3])],
            )
            return len(recorded.entries)

    with ThreadPoolExecutor(max_workers=8) as pool:
        appended = sum(pool.map(change, range(40)))

    with unit_of_work(store) as session:
        report = service.verify(session)
        entries = service.history(session, ana)
    assert report.ok, report.problems
    assert len(entries) == appended
    assert sorted(e.seq for e in entries) == list(range(1, appended + 1))
