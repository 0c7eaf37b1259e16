"""Customer and event files (CSV, JSON Lines, Parquet) imported on SQLite and PostgreSQL.

Only public behaviour is exercised: ``import_file``, the ``regard import`` command, the summary it
returns, the rejects file it writes and what ends up in the database.
"""

from __future__ import annotations

import csv
import json
import stat
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import func, select

from regard.customers import repository
from regard.customers.identities import claim
from regard.customers.importers import ColumnMapping, ImportKind, ImportSummary, import_file
from regard.customers.models import Customer, CustomerMerge, Event, Identity
from regard.errors import InvalidInput
from regard.store.database import Store, open_store, unit_of_work
from tests.cli import regard
from tests.conftest import brand_for_tests, make_settings

Records = list[dict[str, str]]


# ---- helpers -------------------------------------------------------------------------------


def write_csv(path: Path, records: Records) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(records[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
    return path


def write_jsonl(path: Path, records: Records) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def write_parquet(path: Path, records: Records) -> Path:
    pl.DataFrame(records).write_parquet(path)
    return path


WRITERS: dict[str, Callable[[Path, Records], Path]] = {
    "csv": write_csv,
    "jsonl": write_jsonl,
    "parquet": write_parquet,
}


def write_file(tmp_path: Path, name: str, fmt: str, records: Records) -> Path:
    return WRITERS[fmt](tmp_path / f"{name}.{fmt}", records)


def counts(s: ImportSummary) -> dict[str, int]:
    return {
        "rows": s.rows,
        "imported": s.imported,
        "created": s.created,
        "merged": s.merged,
        "duplicates": s.duplicates,
        "rejected": s.rejected,
    }


def table_counts(store: Store) -> dict[str, int]:
    with unit_of_work(store) as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Customer, Identity, Event, CustomerMerge)
        }


def customer_by(store: Store, kind: str, raw: str) -> Customer | None:
    """The customer holding this identity (as a user would look it up), with identities."""
    identity = claim(kind, raw, region=store.brand.region, source="")
    lookup = identity.lookup(store.vault)
    with unit_of_work(store) as session:
        found = repository.customer_ids_by_lookup(session, [lookup]).get(lookup)
        return None if found is None else repository.get_customer(session, found)


def must_find(store: Store, kind: str, raw: str) -> Customer:
    customer = customer_by(store, kind, raw)
    assert customer is not None, f"no customer with that {kind}"
    return customer


def all_events(store: Store) -> list[Event]:
    with unit_of_work(store) as session:
        return list(session.scalars(select(Event).order_by(Event.occurred_at, Event.id)))


def profiles(store: Store) -> list[tuple[Any, ...]]:
    """Everything a person could see change on the customers."""
    with unit_of_work(store) as session:
        return [
            (
                c.id,
                c.updated_at,
                c.traits,
                c.personal,
                c.trait_origins,
                c.first_seen_at,
                c.last_seen_at,
                c.time_zone,
                c.locale,
            )
            for c in session.scalars(select(Customer).order_by(Customer.id))
        ]


def read_rejects(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == ["line", "reason", "record"]
        return list(reader)


def reasons_by_line(path: Path) -> dict[int, str]:
    return {int(row["line"]): row["reason"].lower() for row in read_rejects(path)}


def assert_reasons(path: Path, expected: dict[int, str]) -> None:
    """Each rejected line is listed once, with a reason saying (in part) ``expected[line]``."""
    rows = read_rejects(path)
    assert [int(row["line"]) for row in rows] == sorted(expected), rows
    found = reasons_by_line(path)
    for line, words in expected.items():
        assert words in found[line], (line, found[line])


def in_days(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


# ---- customers and events in every format --------------------------------------------------

CUSTOMERS: Records = [
    {
        "email": "ann@example.org",
        "phone": "",
        "first_name": "Ann",
        "tier": "gold",
        "time_zone": "Europe/Paris",
        "locale": "fr-FR",
    },
    {
        "email": "bob@example.org",
        "phone": "0611111111",
        "first_name": "Bob",
        "tier": "silver",
        "time_zone": "",
        "locale": "",
    },
    {
        "email": "cy@example.org",
        "phone": "",
        "first_name": "",
        "tier": "",
        "time_zone": "",
        "locale": "",
    },
    # Ann again, in capitals, with a phone: attaches to Ann.
    {
        "email": "ANN@Example.org",
        "phone": "+31622222222",
        "first_name": "",
        "tier": "",
        "time_zone": "",
        "locale": "",
    },
    # Cy's email with Bob's phone: Bob and Cy are one person.
    {
        "email": "cy@example.org",
        "phone": "06 11111111",
        "first_name": "",
        "tier": "",
        "time_zone": "",
        "locale": "",
    },
    # Ann's first row once more: says nothing new.
    {
        "email": "ann@example.org",
        "phone": "",
        "first_name": "Ann",
        "tier": "gold",
        "time_zone": "Europe/Paris",
        "locale": "fr-FR",
    },
]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_customer_file_creates_attaches_and_merges(store: Store, tmp_path: Path, fmt: str) -> None:
    path = write_file(tmp_path, "customers", fmt, CUSTOMERS)

    summary = import_file(store, path, kind="customers", source="crm")

    assert counts(summary) == {
        "rows": 6,
        "imported": 5,
        "created": 3,
        "merged": 1,
        "duplicates": 1,
        "rejected": 0,
    }
    assert summary.rejects_path is None
    assert table_counts(store) == {
        "customers": 2,
        "identities": 5,
        "events": 0,
        "customer_merges": 1,
    }
    ann = must_find(store, "email", "ann@example.org")
    assert {(i.kind, i.value, i.source) for i in ann.identities} == {
        ("email", "ann@example.org", "crm"),
        ("phone", "+31622222222", "crm"),
    }
    assert ann.traits == {"tier": "gold"}
    assert ann.personal == {"first_name": "Ann"}
    assert (ann.time_zone, ann.locale) == ("Europe/Paris", "fr-FR")
    bob = must_find(store, "email", "bob@example.org")
    assert must_find(store, "email", "cy@example.org").id == bob.id
    assert must_find(store, "phone", "+31611111111").id == bob.id
    assert bob.traits == {"tier": "silver"}
    assert bob.personal == {"first_name": "Bob"}


EVENTS: Records = [
    {
        "email": "a@example.org",
        "type": "page_viewed",
        "occurred_at": "2024-03-01T10:00:00+01:00",
        "message_id": "m1",
        "page": "/tents",
    },
    {
        "email": "a@example.org",
        "type": "purchase",
        "occurred_at": "2024-03-02T12:00:00Z",
        "message_id": "m2",
        "page": "/checkout",
    },
    # No offset: the brand's time zone (Europe/Amsterdam, UTC+1 in March).
    {
        "email": "b@example.org",
        "type": "purchase",
        "occurred_at": "2024-03-03T09:30:00",
        "message_id": "m3",
        "page": "/checkout",
    },
    # m2 again: stored once.
    {
        "email": "a@example.org",
        "type": "purchase",
        "occurred_at": "2024-03-02T12:00:00Z",
        "message_id": "m2",
        "page": "/checkout",
    },
]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_event_file_is_stored_once_per_message_id(store: Store, tmp_path: Path, fmt: str) -> None:
    path = write_file(tmp_path, "events", fmt, EVENTS)

    summary = import_file(store, path, kind="events", source="shop")

    assert counts(summary) == {
        "rows": 4,
        "imported": 3,
        "created": 2,
        "merged": 0,
        "duplicates": 1,
        "rejected": 0,
    }
    assert table_counts(store) == {
        "customers": 2,
        "identities": 2,
        "events": 3,
        "customer_merges": 0,
    }
    a = must_find(store, "email", "a@example.org")
    b = must_find(store, "email", "b@example.org")
    stored = [
        (e.customer_id, e.type, e.occurred_at, e.source, e.message_id, e.properties)
        for e in all_events(store)
    ]
    assert stored == [
        (
            a.id,
            "page_viewed",
            datetime(2024, 3, 1, 9, tzinfo=UTC),
            "shop",
            "m1",
            {"page": "/tents"},
        ),
        (
            a.id,
            "purchase",
            datetime(2024, 3, 2, 12, tzinfo=UTC),
            "shop",
            "m2",
            {"page": "/checkout"},
        ),
        (
            b.id,
            "purchase",
            datetime(2024, 3, 3, 8, 30, tzinfo=UTC),
            "shop",
            "m3",
            {"page": "/checkout"},
        ),
    ]
    assert (a.first_seen_at, a.last_seen_at) == (
        datetime(2024, 3, 1, 9, tzinfo=UTC),
        datetime(2024, 3, 2, 12, tzinfo=UTC),
    )


def test_event_that_names_two_customers_merges_them(store: Store, tmp_path: Path) -> None:
    import_file(
        store,
        write_csv(
            tmp_path / "people.csv",
            [
                {"email": "old@example.org", "phone": ""},
                {"email": "new@example.org", "phone": "0612345678"},
            ],
        ),
        kind="customers",
        source="crm",
    )
    events = write_csv(
        tmp_path / "events.csv",
        [
            {
                "email": "old@example.org",
                "phone": "0612345678",
                "type": "purchase",
                "occurred_at": "2024-01-05T10:00:00Z",
            }
        ],
    )

    summary = import_file(store, events, kind="events", source="pos")

    assert counts(summary) == {
        "rows": 1,
        "imported": 1,
        "created": 0,
        "merged": 1,
        "duplicates": 0,
        "rejected": 0,
    }
    old = must_find(store, "email", "old@example.org")
    assert must_find(store, "email", "new@example.org").id == old.id
    assert [e.customer_id for e in all_events(store)] == [old.id]


def test_parquet_typed_columns_keep_their_types(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "orders.parquet"
    pl.DataFrame(
        {
            "email": ["p@example.org", "p@example.org"],
            "type": ["purchase", "refund"],
            "occurred_at": [
                datetime(2024, 2, 1, 8, tzinfo=UTC),
                datetime(2024, 2, 2, 8, tzinfo=UTC),
            ],
            "amount": [12.5, -3.0],
            "quantity": [2, 1],
            "code": ["007", "008"],
        }
    ).write_parquet(path)

    summary = import_file(store, path, kind="events", source="shop")

    assert (summary.imported, summary.rejected) == (2, 0)
    first, second = all_events(store)
    assert first.occurred_at == datetime(2024, 2, 1, 8, tzinfo=UTC)
    assert first.properties == {"amount": 12.5, "quantity": 2, "code": "007"}
    assert second.properties == {"amount": -3.0, "quantity": 1, "code": "008"}


# ---- rejected rows ---------------------------------------------------------------------------


def test_every_reject_reason_in_an_event_csv(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    future = in_days(2)
    near_future = in_days(0.5)
    lines = [
        b"email,phone,type,occurred_at,message_id",
        b"good1@example.org,,purchase,2024-01-01T10:00:00Z,e1",  # 2
        b"good2@example.org,,purchase,2024-01-01T10:00:00Z,e2,extra",  # 3: too many fields
        b"good3@example.org,,purchase,2024-01-01T10:00:00Z",  # 4: too few fields
        b"good4@example.org,,purch\xff\xfease,2024-01-01T10:00:00Z,e4",  # 5: not UTF-8
        b"not-an-email,,purchase,2024-01-01T10:00:00Z,e5",  # 6
        b",12,purchase,2024-01-01T10:00:00Z,e6",  # 7: invalid phone
        b"good7@example.org,,purchase,last tuesday,e7",  # 8
        b"good8@example.org,,purchase," + future.encode() + b",e8",  # 9
        b",,purchase,2024-01-01T10:00:00Z,e9",  # 10: no identity
        b"good10@example.org,,,2024-01-01T10:00:00Z,e10",  # 11: no type
        b"good11@example.org,,purchase,,e11",  # 12: no occurred_at
        b"good12@example.org,0612345678,purchase," + near_future.encode() + b",e12",  # 13
        b"good13@example.org,,purchase,2024-01-01T10:00:00Z,e13",  # 14
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")

    summary = import_file(store, path, kind="events", source="shop")

    assert counts(summary) == {
        "rows": 13,
        "imported": 3,
        "created": 3,
        "merged": 0,
        "duplicates": 0,
        "rejected": 10,
    }
    rejects = tmp_path / "events.csv.rejects.csv"
    assert summary.rejects_path == rejects
    assert_reasons(
        rejects,
        {
            3: "malformed csv line",
            4: "malformed csv line",
            5: "undecodable",
            6: "invalid email",
            7: "invalid phone",
            8: "unparseable timestamp",
            9: "far-future",
            10: "missing required field",
            11: "'type'",
            12: "'occurred_at'",
        },
    )
    records = {int(r["line"]): r["record"] for r in read_rejects(rejects)}
    assert "good2@example.org" in records[3]
    assert "good4@example.org" in records[5]
    assert "last tuesday" in records[8]
    assert {e.message_id for e in all_events(store)} == {"e1", "e12", "e13"}
    assert stat.S_IMODE(rejects.stat().st_mode) == 0o600


def test_every_reject_reason_in_a_customer_csv(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    lines = [
        b"email,phone,time_zone,updated_at,tier",
        b"ok1@example.org,,Europe/Oslo,2024-01-01T00:00:00Z,gold",  # 2
        b"ok2@example.org,,Mars/Olympus_Mons,,gold",  # 3
        b"ok3@example.org,0612,,,gold",  # 4
        b"ok4@example.org,,,yesterday-ish,gold",  # 5
        b"ok5@example.org,,,2999-01-01T00:00:00Z,gold",  # 6
        b",,Europe/Oslo,,gold",  # 7
        b"ok7@example.org,,,,g\xe9ld",  # 8: Latin-1, not UTF-8
        b"ok8@example.org,,,",  # 9: four fields of five
        b"ok9@,,,,gold",  # 10
        b"ok10@example.org,+3161234567,,,gold",  # 11: one digit short
        b"ok11@example.org,0612345678,,,platinum",  # 12
    ]
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")

    summary = import_file(store, path, kind="customers", source="crm")

    assert counts(summary) == {
        "rows": 11,
        "imported": 2,
        "created": 2,
        "merged": 0,
        "duplicates": 0,
        "rejected": 9,
    }
    assert_reasons(
        tmp_path / "people.csv.rejects.csv",
        {
            3: "time zone",
            4: "invalid phone",
            5: "unparseable timestamp",
            6: "far-future",
            7: "missing required field",
            8: "undecodable",
            9: "malformed csv line",
            10: "invalid email",
            11: "invalid phone",
        },
    )
    assert must_find(store, "email", "ok1@example.org").time_zone == "Europe/Oslo"
    assert must_find(store, "phone", "+31612345678").traits == {"tier": "platinum"}
    assert customer_by(store, "email", "ok2@example.org") is None


def test_malformed_json_lines_are_rejected_and_the_rest_imported(
    store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(
        b'{"email": "j1@example.org", "type": "open", "occurred_at": "2024-01-01T00:00:00Z"}\n'
        b'{"email": "j2@example.org", "type": "open", "occurred_at": \n'  # 2
        b"\n"  # 3: blank, skipped
        b'["j4@example.org", "open"]\n'  # 4: not an object
        b'{"email": "j5@example.org", "type": "op\xff\xfeen", "occurred_at": "2024-01-01"}\n'
        b'{"email": "j6@example.org", "type": "open", "occurred_at": "2024-01-02T00:00:00Z",'
        b' "properties": "not an object"}\n'  # 6
        b'{"email": "j7@example.org", "type": "open", "occurred_at": "2024-01-03T00:00:00Z"}\n'
    )

    summary = import_file(store, path, kind="events", source="email")

    assert counts(summary) == {
        "rows": 6,
        "imported": 2,
        "created": 2,
        "merged": 0,
        "duplicates": 0,
        "rejected": 4,
    }
    assert_reasons(
        tmp_path / "events.jsonl.rejects.csv",
        {2: "malformed json", 4: "malformed json", 5: "undecodable", 6: "properties"},
    )
    assert len(all_events(store)) == 2


def test_rejects_go_where_asked_and_a_clean_rerun_removes_them(
    store: Store, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "people.csv",
        [{"email": "fine@example.org"}, {"email": "broken@"}],
    )
    rejects = tmp_path / "out" / "people-rejects.csv"
    rejects.parent.mkdir()

    first = import_file(store, path, kind="customers", source="crm", rejects_path=rejects)

    assert first.rejects_path == rejects
    assert [r["line"] for r in read_rejects(rejects)] == ["3"]
    assert stat.S_IMODE(rejects.stat().st_mode) == 0o600
    assert not (tmp_path / "people.csv.rejects.csv").exists()

    write_csv(path, [{"email": "fine@example.org"}, {"email": "mended@example.org"}])
    second = import_file(store, path, kind="customers", source="crm", rejects_path=rejects)

    assert second.rejects_path is None
    assert second.rejected == 0
    assert not rejects.exists()
    assert list(rejects.parent.iterdir()) == []


def test_stale_default_rejects_file_is_removed(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    stale = tmp_path / "events.csv.rejects.csv"
    stale.write_text("line,reason,record\n2,old,\n", encoding="utf-8")
    write_csv(path, [{"email": "x@example.org", "type": "t", "occurred_at": "2024-01-01"}])

    summary = import_file(store, path, kind="events", source="shop")

    assert (summary.imported, summary.rejects_path) == (1, None)
    assert not stale.exists()


# ---- re-running ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_rerunning_a_customer_file_changes_nothing(store: Store, tmp_path: Path, fmt: str) -> None:
    path = write_file(tmp_path, "customers", fmt, CUSTOMERS)
    import_file(store, path, kind="customers", source="crm")
    tables, before = table_counts(store), profiles(store)

    again = import_file(store, path, kind="customers", source="crm")

    assert counts(again) == {
        "rows": 6,
        "imported": 0,
        "created": 0,
        "merged": 0,
        "duplicates": 6,
        "rejected": 0,
    }
    assert table_counts(store) == tables
    assert profiles(store) == before


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_rerunning_an_event_file_changes_nothing(store: Store, tmp_path: Path, fmt: str) -> None:
    records = [{k: v for k, v in r.items() if k != "message_id"} for r in EVENTS]
    path = write_file(tmp_path, "events", fmt, records)
    first = import_file(store, path, kind="events", source="shop")
    tables, before = table_counts(store), profiles(store)

    again = import_file(store, path, kind="events", source="shop", batch_size=1)

    assert first.imported == 3  # the repeated row has the same content, hence the same id
    assert counts(again) == {
        "rows": 4,
        "imported": 0,
        "created": 0,
        "merged": 0,
        "duplicates": 4,
        "rejected": 0,
    }
    assert table_counts(store) == tables
    assert profiles(store) == before


def test_events_without_message_id_get_a_stable_derived_one(store: Store, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "events.csv",
        [
            {
                "email": "d@example.org",
                "type": "open",
                "occurred_at": "2024-01-01",
                "message_id": "",
            },
            {
                "email": "d@example.org",
                "type": "open",
                "occurred_at": "2024-01-02",
                "message_id": "",
            },
            {
                "email": "d@example.org",
                "type": "open",
                "occurred_at": "2024-01-02",
                "message_id": "x",
            },
        ],
    )

    first = import_file(store, path, kind="events", source="email")
    again = import_file(store, path, kind="events", source="email", batch_size=2)

    ids = [e.message_id for e in all_events(store)]
    assert len(ids) == len(set(ids)) == 3
    assert "x" in ids
    assert all(i for i in ids)
    assert (first.imported, again.imported, again.duplicates) == (3, 0, 3)
    # The same content from another source is that source's own event.
    other = import_file(store, path, kind="events", source="web")
    assert other.imported == 3


# ---- batches ---------------------------------------------------------------------------------


def test_a_crash_keeps_committed_batches_and_a_rerun_completes_the_file(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = [
        {"email": f"batch{n}@example.org", "type": "visit", "occurred_at": f"2024-01-0{n}"}
        for n in range(1, 7)
    ]
    path = write_csv(tmp_path / "events.csv", records)
    real_insert = repository.insert_events
    calls = 0

    def insert_then_crash(*args: Any, **kwargs: Any) -> int:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("the disk is full")
        return real_insert(*args, **kwargs)

    monkeypatch.setattr(repository, "insert_events", insert_then_crash)
    with pytest.raises(RuntimeError, match="disk is full"):
        import_file(store, path, kind="events", source="shop", batch_size=2)

    assert calls == 2
    assert table_counts(store) == {
        "customers": 2,
        "identities": 2,
        "events": 2,
        "customer_merges": 0,
    }
    assert customer_by(store, "email", "batch2@example.org") is not None
    assert customer_by(store, "email", "batch3@example.org") is None
    assert customer_by(store, "email", "batch4@example.org") is None

    monkeypatch.undo()
    rerun = import_file(store, path, kind="events", source="shop", batch_size=2)

    assert counts(rerun) == {
        "rows": 6,
        "imported": 4,
        "created": 4,
        "merged": 0,
        "duplicates": 2,
        "rejected": 0,
    }
    assert table_counts(store)["events"] == 6
    assert len({e.customer_id for e in all_events(store)}) == 6


def test_batch_size_does_not_change_the_outcome(store: Store, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "customers.csv", CUSTOMERS)

    summary = import_file(store, path, kind="customers", source="crm", batch_size=1)

    assert counts(summary) == {
        "rows": 6,
        "imported": 5,
        "created": 3,
        "merged": 1,
        "duplicates": 1,
        "rejected": 0,
    }
    assert table_counts(store)["customers"] == 2


def test_progress_is_reported_per_batch(store: Store, tmp_path: Path) -> None:
    records = [{"email": f"p{n}@example.org"} for n in range(5)]
    path = write_csv(tmp_path / "people.csv", records)
    reported: list[int] = []

    import_file(store, path, kind="customers", source="crm", batch_size=2, progress=reported.append)

    assert reported == [2, 2, 1]


# ---- column mappings -------------------------------------------------------------------------


def test_column_mapping_from_flags_renames_adds_externals_sets_and_drops(
    store: Store, tmp_path: Path
) -> None:
    mapping = ColumnMapping.parse(
        ["email=E-Mail", "external:pos=Loyalty No", "occurred_at=Till Time"],
        constants=["type=store_purchase"],
        ignore=["junk"],
    )
    assert dict(mapping.columns) == {
        "email": "E-Mail",
        "external:pos": "Loyalty No",
        "occurred_at": "Till Time",
    }
    assert dict(mapping.constants) == {"type": "store_purchase"}
    assert mapping.ignore == frozenset({"junk"})
    path = write_csv(
        tmp_path / "till.csv",
        [
            {
                "E-Mail": "m@example.org",
                "Loyalty No": "L-0042",
                "Till Time": "2024-04-01T10:00:00Z",
                "junk": "zzz",
                "amount": "19.95",
            },
            {
                "E-Mail": "",
                "Loyalty No": "L-0042",
                "Till Time": "2024-04-02T10:00:00Z",
                "junk": "zzz",
                "amount": "5",
            },
        ],
    )

    summary = import_file(store, path, kind="events", source="pos", mapping=mapping)

    assert (summary.imported, summary.created, summary.rejected) == (2, 1, 0)
    customer = must_find(store, "external", "pos:L-0042")
    assert {(i.kind, i.namespace, i.value) for i in customer.identities} == {
        ("email", "", "m@example.org"),
        ("external", "pos", "L-0042"),
    }
    first, second = all_events(store)
    assert (first.type, first.customer_id, first.properties) == (
        "store_purchase",
        customer.id,
        {"amount": 19.95},
    )
    assert second.properties == {"amount": 5.0}


def test_mapping_file_is_read_and_flags_win(store: Store, tmp_path: Path) -> None:
    toml = tmp_path / "mapping.toml"
    toml.write_text(
        '[columns]\nemail = "Mail"\nphone = "Tel"\n'
        '[ignore]\ncolumns = ["internal"]\n'
        '[constants]\nlocale = "nl-NL"\n',
        encoding="utf-8",
    )
    mapping = ColumnMapping.parse(["phone=Mobile"], file=toml)
    path = write_csv(
        tmp_path / "people.csv",
        [{"Mail": "t@example.org", "Tel": "bogus", "Mobile": "0612345678", "internal": "x"}],
    )

    summary = import_file(store, path, kind="customers", source="crm", mapping=mapping)

    assert (summary.imported, summary.rejected) == (1, 0)
    customer = must_find(store, "phone", "+31612345678")
    assert customer.locale == "nl-NL"
    assert customer.traits == {"Tel": "bogus"}


@pytest.mark.parametrize(
    ("pairs", "constants", "kind", "named"),
    [
        (["emial=E-Mail"], [], "events", "emial"),
        ([], ["colour=red"], "customers", "colour"),
        (["type=Kind"], [], "customers", "type"),
    ],
)
def test_unknown_field_in_a_mapping_is_a_clear_error(
    store: Store,
    tmp_path: Path,
    pairs: list[str],
    constants: list[str],
    kind: ImportKind,
    named: str,
) -> None:
    path = write_csv(
        tmp_path / "f.csv", [{"email": "u@example.org", "type": "t", "occurred_at": "2024-01-01"}]
    )
    mapping = ColumnMapping.parse(pairs, constants=constants)

    with pytest.raises(InvalidInput, match=f"unknown field '{named}'"):
        import_file(store, path, kind=kind, source="crm", mapping=mapping)

    assert table_counts(store)["customers"] == 0


@pytest.mark.parametrize("pair", ["email", "=E-Mail", "email=", "  =  "])
def test_a_mapping_pair_needs_a_field_and_a_column(pair: str) -> None:
    with pytest.raises(InvalidInput, match="FIELD=VALUE"):
        ColumnMapping.parse([pair])


def test_unreadable_mapping_file_is_invalid_input(tmp_path: Path) -> None:
    broken = tmp_path / "mapping.toml"
    broken.write_text("[columns\nemail = ", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"mapping\.toml"):
        ColumnMapping.parse(file=broken)


def test_quoted_commas_and_newlines_keep_line_numbers(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "notes.csv"
    path.write_text(
        "email,note,type,occurred_at\n"  # 1
        'q1@example.org,"plain",visit,2024-01-01\n'  # 2
        'q2@example.org,"one, two\nand three\nand four",visit,2024-01-02\n'  # 3-5
        'q3@example.org,"quote ""inside"", comma",visit,2024-01-03\n'  # 6
        "q4@,after,visit,2024-01-04\n"  # 7
        'q5@example.org,"x\n\ny",visit,2024-01-05\n'  # 8-10
        "q6@example.org,short\n"  # 11
        "q7@example.org,z,visit,soon\n",  # 12
        encoding="utf-8",
    )

    summary = import_file(store, path, kind="events", source="shop", batch_size=3)

    assert (summary.rows, summary.imported, summary.rejected) == (7, 4, 3)
    assert_reasons(
        tmp_path / "notes.csv.rejects.csv",
        {7: "invalid email", 11: "malformed csv line", 12: "unparseable timestamp"},
    )
    notes = {e.properties["note"] for e in all_events(store)}
    assert notes == {"plain", "one, two\nand three\nand four", 'quote "inside", comma', "x\n\ny"}


# ---- properties ------------------------------------------------------------------------------


def test_numbers_become_json_numbers_and_codes_stay_text(store: Store, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        [
            {
                "email": "n@example.org",
                "type": "purchase",
                "occurred_at": "2024-01-01",
                "amount": "12.50",
                "quantity": "2",
                "delta": "-3",
                "code": "007",
                "sku": "TENT-2",
            },
            {
                "email": "n@example.org",
                "type": "purchase",
                "occurred_at": "2024-01-02",
                "amount": "7",
                "quantity": "10",
                "delta": "0",
                "code": "0",
                "sku": "MAT-1",
            },
        ],
    )

    import_file(store, path, kind="events", source="shop")

    first, second = (e.properties for e in all_events(store))
    assert first == {
        "amount": 12.5,
        "quantity": 2,
        "delta": -3,
        "code": "007",
        "sku": "TENT-2",
    }
    assert isinstance(first["quantity"], int)
    assert second["amount"] == 7
    assert second["quantity"] == 10
    assert second["code"] == 0  # decided value by value: "0" is a number, "007" a code


def test_customer_traits_numbers_become_numbers_and_codes_stay_text(
    store: Store, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "people.csv",
        [{"email": "z@example.org", "points": "1200", "ratio": "0.5", "zip": "01234"}],
    )

    import_file(store, path, kind="customers", source="crm")

    assert must_find(store, "email", "z@example.org").traits == {
        "points": 1200,
        "ratio": 0.5,
        "zip": "01234",
    }


def test_properties_column_merges_with_extra_columns(store: Store, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "events.csv",
        [
            {
                "email": "pr@example.org",
                "type": "purchase",
                "occurred_at": "2024-01-01",
                "properties": '{"sku": "TENT-2", "items": [1, 2], "gift": true}',
                "channel": "web",
            },
            {
                "email": "pr@example.org",
                "type": "purchase",
                "occurred_at": "2024-01-02",
                "properties": "",
                "channel": "store",
            },
            {
                "email": "pr@example.org",
                "type": "purchase",
                "occurred_at": "2024-01-03",
                "properties": "{not json",
                "channel": "web",
            },
        ],
    )

    summary = import_file(store, path, kind="events", source="shop")

    assert (summary.imported, summary.rejected) == (2, 1)
    assert_reasons(tmp_path / "events.csv.rejects.csv", {4: "properties"})
    first, second = (e.properties for e in all_events(store))
    assert first == {"sku": "TENT-2", "items": [1, 2], "gift": True, "channel": "web"}
    assert second == {"channel": "store"}


def test_long_digit_strings_are_not_lost(store: Store, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        [
            {
                "email": "l@example.org",
                "type": "purchase",
                "occurred_at": "2024-01-01",
                "voucher": "12345678901234567890",
            }
        ],
    )

    import_file(store, path, kind="events", source="shop")

    (event,) = all_events(store)
    assert event.properties["voucher"] == "12345678901234567890"


def test_a_property_type_does_not_depend_on_the_batch(store: Store, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "events.csv",
        [
            {
                "email": "s@example.org",
                "type": "t",
                "occurred_at": "2024-01-01T12:00:00Z",
                "size": "42",
            },
            {
                "email": "s@example.org",
                "type": "t",
                "occurred_at": "2024-01-02T12:00:00Z",
                "size": "M",
            },
        ],
    )

    assert import_file(store, path, kind="events", source="shop", batch_size=1).imported == 2
    assert import_file(store, path, kind="events", source="web").imported == 2

    by_source = {(e.source, e.occurred_at.day): e.properties["size"] for e in all_events(store)}
    assert by_source == {("shop", 1): 42, ("web", 1): 42, ("shop", 2): "M", ("web", 2): "M"}


# ---- phones ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("0612345678", "+31612345678"),
        ("06-12 34 56 78", "+31612345678"),
        ("+31 6 12345678", "+31612345678"),
        ("+44 20 7946 0958", "+442079460958"),
    ],
)
def test_phone_without_country_code_uses_the_brand_region(
    store: Store, tmp_path: Path, given: str, stored: str
) -> None:
    path = write_csv(tmp_path / "people.csv", [{"phone": given, "tier": "gold"}])

    import_file(store, path, kind="customers", source="crm")

    customer = must_find(store, "phone", stored)
    assert [(i.kind, i.value) for i in customer.identities] == [("phone", stored)]


# ---- the command line ------------------------------------------------------------------------

BRAND_TOML = """\
name = "Test Outfitters"
time_zone = "Europe/Amsterdam"
region = "NL"

[identity]
source_priority = ["crm", "shop", "pos", "support", "web"]
"""


def cli_env(tmp_path: Path) -> dict[str, str]:
    settings = make_settings(f"sqlite:///{tmp_path / 'cli.db'}", tmp_path)
    settings.brand_config.write_text(BRAND_TOML, encoding="utf-8")
    return {
        "REGARD_ENVIRONMENT": "test",
        "REGARD_DATABASE_URL": settings.database_url,
        "REGARD_ENCRYPTION_KEYS": settings.encryption_keys.get_secret_value(),
        "REGARD_BLIND_INDEX_KEY": settings.blind_index_key.get_secret_value(),
        "REGARD_BRAND_CONFIG": str(settings.brand_config),
    }


@pytest.fixture
def cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    env = cli_env(tmp_path)
    upgraded = regard(tmp_path, "db", "upgrade", extra=env)
    assert upgraded.returncode == 0, upgraded.stderr

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return regard(tmp_path, *args, extra=env)

    return run


def cli_store(tmp_path: Path) -> Store:
    return open_store(
        make_settings(f"sqlite:///{tmp_path / 'cli.db'}", tmp_path), brand=brand_for_tests()
    )


def test_cli_imports_events(
    cli: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "events.csv", [*EVENTS, {**EVENTS[0], "email": "bad@"}])

    result = cli("import", "events", str(path), "--source", "shop")

    assert result.returncode == 0, result.stderr
    assert "Import summary" in result.stdout
    assert "1 rejected rows listed in" in " ".join(result.stdout.split())
    store = cli_store(tmp_path)
    try:
        assert table_counts(store)["events"] == 3
        assert must_find(store, "email", "a@example.org").identities[0].source == "shop"
    finally:
        store.engine.dispose()
    assert_reasons(tmp_path / "events.csv.rejects.csv", {6: "invalid email"})


def test_cli_takes_every_mapping_flag(
    cli: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "till.csv",
        [
            {
                "E-Mail": "c1@example.org",
                "Loyalty No": "77",
                "occurred_at": "2024-05-01",
                "junk": "z",
            },
            {"E-Mail": "c2@example.org", "Loyalty No": "78", "occurred_at": "never", "junk": "z"},
            {
                "E-Mail": "c3@example.org",
                "Loyalty No": "79",
                "occurred_at": "2024-05-03",
                "junk": "z",
            },
        ],
    )
    rejects = tmp_path / "till-rejects.csv"

    result = cli(
        "import",
        "events",
        str(path),
        "--source",
        "pos",
        "--map",
        "email=E-Mail",
        "--map",
        "external:pos=Loyalty No",
        "--set",
        "type=store_purchase",
        "--ignore",
        "junk",
        "--rejects",
        str(rejects),
        "--batch-size",
        "1",
    )

    assert result.returncode == 0, result.stderr
    assert list(reasons_by_line(rejects)) == [3]
    store = cli_store(tmp_path)
    try:
        events = all_events(store)
        assert [(e.type, e.properties) for e in events] == [("store_purchase", {})] * 2
        assert must_find(store, "external", "pos:79").id == events[1].customer_id
    finally:
        store.engine.dispose()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--source", "Shop Floor"], "invalid source"),
        (["--source", "shop", "--map", "emial=E-Mail"], "unknown field 'emial'"),
        (["--source", "shop", "--map", "email"], "FIELD=VALUE"),
    ],
)
def test_cli_bad_input_is_an_error_line_without_traceback(
    cli: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
    args: list[str],
    says: str,
) -> None:
    path = write_csv(tmp_path / "e.csv", EVENTS)

    result = cli("import", "events", str(path), *args)

    assert result.returncode == 2
    assert result.stderr.startswith("error:")
    assert says in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    assert table_counts_of_cli(tmp_path)["events"] == 0


def test_cli_missing_file_is_an_error_line_without_traceback(
    cli: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    result = cli("import", "customers", "missing.csv", "--source", "crm")

    assert result.returncode == 2
    assert result.stderr.startswith("error:")
    assert "no such file" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


def test_cli_error_is_exactly_one_line(
    cli: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "e.csv", EVENTS)

    result = cli("import", "events", str(path), "--source", "Shop Floor")
    missing = cli(
        "import", "events", str(tmp_path / ("a-long-folder-name" * 4) / "e.csv"), "--source", "shop"
    )

    for failed in (result, missing):
        assert failed.returncode == 2
        assert len(failed.stderr.splitlines()) == 1, failed.stderr
        assert failed.stderr.startswith("error:")


def table_counts_of_cli(tmp_path: Path) -> dict[str, int]:
    store = cli_store(tmp_path)
    try:
        return table_counts(store)
    finally:
        store.engine.dispose()


# Regression: on SQLite the bulk writer once reserved identity ids that a pending identity of a
# known customer, flushed later, had already taken.
def test_one_batch_can_add_identities_to_known_customers_and_create_new_ones(
    store: Store, tmp_path: Path
) -> None:
    import_file(
        store,
        write_csv(tmp_path / "first.csv", [{"email": "known@example.org", "phone": ""}]),
        kind="customers",
        source="crm",
    )
    second = write_csv(
        tmp_path / "second.csv",
        [
            {"email": "known@example.org", "phone": "0612345678"},
            {"email": "fresh@example.org", "phone": "0687654321"},
            {"email": "fresh2@example.org", "phone": ""},
        ],
    )

    summary = import_file(store, second, kind="customers", source="crm")

    assert (summary.imported, summary.created, summary.rejected) == (3, 2, 0)
    known = must_find(store, "email", "known@example.org")
    assert must_find(store, "phone", "+31612345678").id == known.id
    assert (
        must_find(store, "phone", "+31687654321").id
        == must_find(store, "email", "fresh@example.org").id
    )
    assert table_counts(store)["identities"] == 5


def test_one_event_batch_can_add_identities_and_create_customers(
    store: Store, tmp_path: Path
) -> None:
    import_file(
        store,
        write_csv(tmp_path / "people.csv", [{"email": "known@example.org"}]),
        kind="customers",
        source="crm",
    )
    events = write_csv(
        tmp_path / "events.csv",
        [
            {"email": "known@example.org", "phone": "0612345678", "type": "visit"},
            {"email": "fresh@example.org", "phone": "", "type": "visit"},
        ],
    )
    mapping = ColumnMapping.parse(constants=["occurred_at=2024-01-01T10:00:00Z"])

    summary = import_file(store, events, kind="events", source="pos", mapping=mapping)

    assert (summary.imported, summary.created, summary.rejected) == (2, 1, 0)
    known = must_find(store, "email", "known@example.org")
    assert must_find(store, "phone", "+31612345678").id == known.id
    assert table_counts(store) == {
        "customers": 2,
        "identities": 3,
        "events": 2,
        "customer_merges": 0,
    }


def test_json_lines_keep_the_types_they_give(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(
        json.dumps(
            {
                "email": "typed@example.org",
                "type": "purchase",
                "occurred_at": "2024-01-01T10:00:00Z",
                "order_id": "42",
                "amount": 42.5,
                "properties": {"items": [{"sku": "TENT-2"}], "coupon": "007"},
            }
        )
        + "\n",
        encoding="utf-8",
    )

    assert import_file(store, path, kind="events", source="shop").imported == 1

    (event,) = all_events(store)
    assert event.properties == {
        "order_id": "42",
        "amount": 42.5,
        "items": [{"sku": "TENT-2"}],
        "coupon": "007",
    }


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_personal_properties_are_kept_encrypted_apart(
    store: Store, tmp_path: Path, fmt: str
) -> None:
    path = write_file(
        tmp_path,
        "events",
        fmt,
        [
            {
                "email": "noted@example.org",
                "type": "delivery_note",
                "occurred_at": "2024-01-01T10:00:00Z",
                "last_name": "Throckmorton",
                "name": "Summit tent",
            }
        ],
    )

    assert import_file(store, path, kind="events", source="shop").imported == 1

    (event,) = all_events(store)
    assert event.properties == {"name": "Summit tent"}
    assert event.personal == {"last_name": "Throckmorton"}


def test_derived_message_ids_depend_on_the_brand_key(sqlite_store: Store, tmp_path: Path) -> None:
    """A derived id is keyed: without the key, nobody can confirm a guessed row from it."""
    import base64

    from regard.config import Settings
    from regard.store import migrate
    from regard.store.crypto import install_vault

    path = write_csv(
        tmp_path / "events.csv",
        [{"email": "guess@example.org", "type": "open", "occurred_at": "2024-01-01"}],
    )
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    other = open_store(
        Settings(
            database_url=f"sqlite:///{other_dir / 'regard.db'}",
            encryption_keys=json.dumps({"o1": base64.b64encode(b"o" * 32).decode()}),
            blind_index_key=base64.b64encode(b"p" * 32).decode(),
        ),
        brand=brand_for_tests(),
    )
    migrate.upgrade(other.engine)
    try:
        import_file(other, path, kind="events", source="email")
        with unit_of_work(other) as session:
            (theirs,) = session.scalars(select(Event.message_id)).all()
    finally:
        other.engine.dispose()
        install_vault(sqlite_store.vault)  # opening a store installs its keys process-wide
    import_file(sqlite_store, path, kind="events", source="email")
    (ours,) = (e.message_id for e in all_events(sqlite_store))

    assert ours.startswith("row-")
    assert theirs.startswith("row-")
    assert ours != theirs
