"""``regard consent ...`` as a person runs it: verify, proof, as-of, rebuild and import."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from regard.preferences import service
from regard.preferences.service import ConsentChange, Origin, SettingChange
from regard.store.database import Store, unit_of_work
from tests.cli import Run, migrated_cli
from tests.preferences.support import new_customer

BRAND_TOML = """\
name = "Test Outfitters"
time_zone = "Europe/Amsterdam"
region = "NL"
channels = ["email", "sms", "push", "voice"]
topics = [
  { key = "account", label = "Your account", importance = "critical" },
  { key = "orders", label = "Your orders", importance = "transactional" },
  { key = "service", label = "Repairs and support", importance = "service" },
  { key = "events", label = "Store events", importance = "relationship" },
  { key = "offers:camping", label = "Offers on camping gear", importance = "promotional" },
  { key = "offers:footwear", label = "Offers on footwear", importance = "promotional" },
]

[preferences]
languages = ["en", "nl"]
"""


@pytest.fixture
def cli(tmp_path: Path) -> Run:
    return migrated_cli(tmp_path, BRAND_TOML)


def record(store: Store, customer_id: int, when: datetime, *changes: ConsentChange) -> None:
    with unit_of_work(store) as session:
        service.record(
            session,
            customer_id,
            brand=store.brand,
            origin=Origin(source="center", actor="customer", occurred_at=when, wording_version="3"),
            consents=changes,
        )


def test_verify_proof_as_of_and_rebuild(cli: Run, cli_store: Store) -> None:
    ana = new_customer(cli_store, email="ana@example.com")
    bob = new_customer(cli_store, email="bob@example.com")
    record(
        cli_store, ana, datetime(2026, 3, 1, tzinfo=UTC), ConsentChange("events", "sms", "opted-in")
    )
    record(
        cli_store,
        ana,
        datetime(2026, 3, 5, tzinfo=UTC),
        ConsentChange("events", "sms", "opted-out"),
    )
    record(
        cli_store,
        bob,
        datetime(2026, 3, 2, tzinfo=UTC),
        ConsentChange("orders", "voice", "opted-in"),
    )
    with unit_of_work(cli_store) as session:
        service.record(
            session,
            ana,
            brand=cli_store.brand,
            origin=Origin(source="center", actor="customer"),
            settings=[SettingChange("note", "Call me [maybe]")],
        )

    verified = cli("consent", "verify")
    assert verified.returncode == 0, verified.stderr
    assert "Checked 4 entries in 2 customer chains." in verified.stdout
    assert "anchor " in verified.stdout

    proof = cli("consent", "proof", "ANA@example.com")
    assert proof.returncode == 0, proof.stderr
    assert "events / sms → opted-in" in proof.stdout
    assert "events / sms → opted-out" in proof.stdout
    assert "(personal, encrypted)" in proof.stdout
    assert "maybe" not in proof.stdout
    assert "Verified:" in proof.stdout
    assert cli("consent", "proof", "nobody@example.com").returncode == 2

    then = cli("consent", "as-of", str(ana), "2026-03-03T12:00:00Z")
    assert then.returncode == 0, then.stderr
    assert "opted in" in then.stdout
    later = cli("consent", "as-of", str(ana), "2026-03-06T00:00:00+01:00")
    assert "opted out" in later.stdout
    assert cli("consent", "as-of", str(ana), "2026-03-06").returncode == 2

    with cli_store.engine.begin() as conn:
        conn.execute(text("DELETE FROM consent_states"))
    rebuilt = cli("consent", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "Rebuilt the cached state of 2 customers" in rebuilt.stdout
    with unit_of_work(cli_store) as session:
        assert service.current(session, bob, brand=cli_store.brand).allowed("orders", "voice")

    with cli_store.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE consent_entries SET state = 'opted-in' WHERE customer_id = :c AND seq = 2"
            ),
            {"c": ana},
        )
    tampered = cli("consent", "verify")
    assert tampered.returncode == 1
    assert f"customer {ana} entry 2: its content does not match its hash" in tampered.stdout
    one = cli("consent", "verify", "--customer", str(bob))
    assert one.returncode == 0, one.stdout


def test_import_keeps_times_lists_rejects_and_repeats_nothing(
    cli: Run, cli_store: Store, tmp_path: Path
) -> None:
    ana = new_customer(cli_store, email="ana@example.com")
    path = tmp_path / "consents.csv"
    rows = [
        ("ana@example.com", "", "events", "email", "opted-in", "2025-11-02T10:00:00+01:00"),
        ("nobody@example.com", "", "events", "email", "opted-in", "2025-11-02T10:00:00Z"),
        ("ana@example.com", "", "events", "fax", "opted-in", "2025-11-02T10:00:00Z"),
        ("ana@example.com", "", "offers:camping", "sms", "opted-out", "2025-11-03T08:00:00Z"),
        ("ana@example.com", "", "offers:camping", "email", "opted-in", "yesterday"),
    ]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "phone", "topic", "channel", "state", "occurred_at"])
        writer.writerows(rows)

    first = cli("consent", "import", str(path), "--system", "crm")

    assert first.returncode == 0, first.stderr
    assert "Consent import summary" in first.stdout
    rejects = path.with_name("consents.csv.rejects.csv")
    assert f"3 rejected rows listed in {rejects}" in " ".join(first.stdout.split())
    with rejects.open(encoding="utf-8") as handle:
        listed = list(csv.DictReader(handle))
    assert [r["line"] for r in listed] == ["3", "4", "6"]
    assert listed[0]["reason"] == "no customer with that email"
    assert "does not use the channel 'fax'" in listed[1]["reason"]
    assert listed[2]["reason"].startswith("occurred_at:")
    assert json.loads(listed[0]["record"])["customer"] == {"email": "nobody@example.com"}
    with unit_of_work(cli_store) as session:
        entries = service.history(session, ana)
    assert [(e.topic, e.occurred_at, e.actor) for e in entries] == [
        ("events", datetime(2025, 11, 2, 9, tzinfo=UTC), "import:crm"),
        ("offers:camping", datetime(2025, 11, 3, 8, tzinfo=UTC), "import:crm"),
    ]

    again = cli("consent", "import", str(path), "--system", "crm")

    assert again.returncode == 0, again.stderr
    with unit_of_work(cli_store) as session:
        assert len(service.history(session, ana)) == 2
    assert cli("consent", "import", str(path), "--system", "Bad System").returncode == 2


def test_staff_record_what_a_customer_asked_on_the_phone(cli: Run, cli_store: Store) -> None:
    ana = new_customer(cli_store, email="ana@example.com")

    done = cli(
        "consent",
        "change",
        "ana@example.com",
        "--staff",
        "Joost (service desk)",
        "--opt-in",
        "events/sms",
        "--opt-out",
        "orders/sms",
        "--note",
        "asked on the phone",
    )

    assert done.returncode == 0, done.stderr
    assert "Recorded 2 change(s)" in done.stdout
    with unit_of_work(cli_store) as session:
        now = service.current(session, ana, brand=cli_store.brand)
        entries = service.history(session, ana)
    assert now.allowed("events", "sms")
    assert not now.allowed("orders", "sms")
    assert {(e.source, e.actor, e.note) for e in entries} == {
        ("staff", "staff:Joost (service desk)", "asked on the phone")
    }
    wrong = cli("consent", "change", str(ana), "--staff", "Joost", "--opt-in", "events")
    assert wrong.returncode != 0
    assert "TOPIC/CHANNEL" in wrong.stderr + wrong.stdout
