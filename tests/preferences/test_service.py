"""The preference center's rules on both databases: defaults, all-or-nothing changes, replay,
merges, tamper detection and consent imports."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from regard.customers.identities import claim
from regard.customers.service import ProfileUpdate, Resolver
from regard.errors import InvalidInput
from regard.preferences import imports, service, views
from regard.preferences.service import ConsentChange, Origin, SettingChange
from regard.store.database import Store, unit_of_work
from tests.preferences.support import CUSTOMER, new_customer

T1 = datetime(2026, 3, 1, 9, tzinfo=UTC)
T2 = datetime(2026, 3, 5, 9, tzinfo=UTC)
T3 = datetime(2026, 3, 9, 9, tzinfo=UTC)


def record(
    store: Store,
    customer_id: int,
    *consents: tuple[str, str, str],
    origin: Origin = CUSTOMER,
    settings: tuple[SettingChange, ...] = (),
) -> service.Recorded:
    with unit_of_work(store) as session:
        return service.record(
            session,
            customer_id,
            brand=store.brand,
            origin=origin,
            consents=[ConsentChange(t, c, s) for t, c, s in consents],  # type: ignore[arg-type]
            settings=settings,
        )


def at(moment: datetime, source: str = "center") -> Origin:
    return Origin(source=source, actor="customer", occurred_at=moment)


def state(store: Store, customer_id: int, topic: str, channel: str) -> str:
    with unit_of_work(store) as session:
        return (
            service.current(session, customer_id, brand=store.brand)
            .consents[(topic, channel)]
            .state
        )


def allowed(store: Store, customer_id: int, topic: str, channel: str) -> bool:
    with unit_of_work(store) as session:
        return service.current(session, customer_id, brand=store.brand).allowed(topic, channel)


def verify(store: Store, customer_id: int | None = None) -> service.VerifyReport:
    with unit_of_work(store) as session:
        return service.verify(session, customer_id=customer_id)


def merge(store: Store, *, email: str, phone: str) -> int:
    """One record naming both identities: the two profiles are found to be one person."""
    with unit_of_work(store) as session:
        resolver = Resolver(session, vault=store.vault, brand=store.brand)
        identities = (
            claim("email", email, region="NL", source=""),
            claim("phone", phone, region="NL", source=""),
        )
        resolver.prefetch(identities, load_profiles=True)
        resolution = resolver.resolve(
            ProfileUpdate(source="crm", observed_at=T3, identities=identities, traits={})
        )
        resolver.flush()
        assert resolution.merged_ids
        return resolution.customer_id


# ---- defaults and changes ------------------------------------------------------------------


def test_defaults_follow_the_legal_basis(store: Store) -> None:
    ana = new_customer(store)

    assert allowed(store, ana, "orders", "email")  # owed under the contract
    assert allowed(store, ana, "account", "sms")
    assert not allowed(store, ana, "offers:camping", "email")  # needs consent
    assert not allowed(store, ana, "orders", "voice")  # a call needs the customer's own opt-in
    assert state(store, ana, "offers:camping", "email") == "default"

    record(store, ana, ("offers:camping", "email", "opted-in"))

    assert allowed(store, ana, "offers:camping", "email")
    assert not allowed(store, ana, "offers:footwear", "email")


def test_a_partially_invalid_change_changes_nothing(store: Store) -> None:
    ana = new_customer(store)

    with pytest.raises(InvalidInput) as raised:
        record(
            store,
            ana,
            ("offers:camping", "email", "opted-in"),
            ("offers:kayaks", "email", "opted-in"),
            ("orders", "fax", "opted-out"),
            settings=(SettingChange("frequency", "hourly"), SettingChange("language", "nl")),
        )

    problems = raised.value.details["problems"]
    assert [p["at"] for p in problems] == [
        "consents[1]",
        "consents[2]",
        "settings[0] (frequency)",
    ]
    with unit_of_work(store) as session:
        assert service.history(session, ana) == []
    assert state(store, ana, "offers:camping", "email") == "default"


def test_saying_the_same_again_appends_nothing(store: Store) -> None:
    ana = new_customer(store)
    first = record(store, ana, ("events", "sms", "opted-out"))
    again = record(store, ana, ("events", "sms", "opted-out"))
    assert (len(first.entries), len(again.entries)) == (1, 0)


def test_replay_shows_the_state_at_a_past_moment(store: Store) -> None:
    ana = new_customer(store)
    record(store, ana, ("offers:camping", "email", "opted-in"), origin=at(T1))
    record(store, ana, ("offers:camping", "email", "opted-out"), origin=at(T2))

    def then(moment: datetime) -> str:
        with unit_of_work(store) as session:
            replay = service.as_of(session, ana, moment, brand=store.brand)
        return replay.consents[("offers:camping", "email")].state

    assert then(T1 - timedelta(seconds=1)) == "default"
    assert then(T1) == "opted-in"
    assert then(T2 - timedelta(seconds=1)) == "opted-in"
    assert then(T3) == "opted-out"


# ---- merges --------------------------------------------------------------------------------


@pytest.mark.parametrize("opted_out_side", ["survivor", "merged"])
def test_an_opt_out_on_either_side_of_a_merge_wins(store: Store, opted_out_side: str) -> None:
    older = new_customer(store, email="ana@example.com", phone=None)
    newer = new_customer(store, email=None, phone="+31 6 12345678")
    out, into = (older, newer) if opted_out_side == "survivor" else (newer, older)
    record(store, into, ("offers:camping", "email", "opted-in"), origin=at(T1))
    record(store, out, ("offers:camping", "email", "opted-out"), origin=at(T1 - timedelta(days=1)))
    record(store, newer, ("events", "push", "opted-in"), origin=at(T2))

    survivor = merge(store, email="ana@example.com", phone="06 12345678")

    assert survivor == older
    assert state(store, survivor, "offers:camping", "email") == "opted-out"
    assert state(store, survivor, "events", "push") == "opted-in"  # carried over
    with unit_of_work(store) as session:
        proof = views.consent_proof(session, newer)  # the merged id leads to the survivor
    assert proof.customer_id == older
    assert proof.merged_profiles == [newer]
    assert {entry.customer_id for entry in proof.entries} == {older, newer}
    assert proof.verification.ok, proof.verification.problems
    assert verify(store).ok


# ---- tampering -----------------------------------------------------------------------------


def _three_entries(store: Store) -> int:
    ana = new_customer(store)
    record(store, ana, ("offers:camping", "email", "opted-in"), origin=at(T1))
    record(store, ana, ("offers:footwear", "email", "opted-in"), origin=at(T2))
    record(store, ana, ("offers:camping", "email", "opted-out"), origin=at(T3))
    assert verify(store).ok
    return ana


def _sql(store: Store, statement: str, **params: Any) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(statement), params)


def test_verify_finds_a_changed_state(store: Store) -> None:
    ana = _three_entries(store)
    _sql(
        store,
        "UPDATE consent_entries SET state = 'opted-in' WHERE customer_id = :c AND seq = 3",
        c=ana,
    )

    report = verify(store)

    assert not report.ok
    assert report.problems == [f"customer {ana} entry 3: its content does not match its hash"]


def test_verify_finds_a_removed_last_entry(store: Store) -> None:
    ana = _three_entries(store)
    _sql(store, "DELETE FROM consent_entries WHERE customer_id = :c AND seq = 3", c=ana)

    report = verify(store)

    assert not report.ok
    assert any("entry 3 was recorded as its last" in p for p in report.problems), report.problems


def test_verify_finds_a_removed_middle_entry(store: Store) -> None:
    ana = _three_entries(store)
    _sql(store, "DELETE FROM consent_entries WHERE customer_id = :c AND seq = 2", c=ana)

    report = verify(store, ana)

    assert not report.ok
    assert f"customer {ana} entry 3: expected entry 2 (one is missing)" in report.problems


# ---- imports -------------------------------------------------------------------------------


def imported(
    store: Store, records: list[dict[str, Any]], system: str = "crm"
) -> imports.ImportOutcome:
    with unit_of_work(store) as session:
        return imports.import_consents(
            session, brand=store.brand, vault=store.vault, system=system, records=records
        )


def consent(
    email: str, topic: str, channel: str, state: str, when: datetime, **more: Any
) -> dict[str, Any]:
    return {
        "customer": {"email": email},
        "topic": topic,
        "channel": channel,
        "state": state,
        "occurred_at": when.isoformat(),
        **more,
    }


def test_an_import_keeps_good_records_and_reports_bad_ones_by_index(store: Store) -> None:
    ana = new_customer(store, email="ana@example.com")
    records: list[dict[str, Any]] = [
        consent("ana@example.com", "offers:camping", "email", "opted-in", T1, wording_version="7"),
        consent("nobody@example.com", "events", "email", "opted-in", T1),
        consent("ana@example.com", "offers:kayaks", "email", "opted-in", T1),
        {
            **consent("ana@example.com", "events", "sms", "opted-in", T1),
            "occurred_at": "2026-03-01T09:00",
        },
        consent(
            "ana@example.com", "events", "email", "opted-in", datetime.now(UTC) + timedelta(days=2)
        ),
        consent("not an address", "events", "email", "opted-in", T1),
        {"topic": "events"},
        consent("ANA@example.com", "events", "push", "opted-out", T2, source_detail="form 12"),
    ]

    outcome = imported(store, records)

    assert (outcome.received, outcome.accepted, outcome.rejected) == (8, 2, 6)
    reasons = dict(outcome.rejections)
    assert sorted(reasons) == [1, 2, 3, 4, 5, 6]
    assert reasons[1] == ["no customer with that email"]
    assert reasons[2] == ["there is no topic 'offers:kayaks'"]
    assert "occurred_at" in reasons[3][0]
    assert reasons[4] == ["occurred_at: is in the future"]
    assert reasons[5] == ["customer: invalid email address"]
    assert "not an address" not in str(reasons)
    with unit_of_work(store) as session:
        entries = service.history(session, ana)
    assert [(e.topic, e.channel, e.state, e.occurred_at) for e in entries] == [
        ("offers:camping", "email", "opted-in", T1),
        ("events", "push", "opted-out", T2),
    ]
    assert {(e.source, e.actor) for e in entries} == {("import", "import:crm")}
    assert (entries[0].wording_version, entries[1].note) == ("7", "form 12")
    assert allowed(store, ana, "offers:camping", "email")


def test_an_imported_opt_in_never_undoes_an_opt_out(store: Store) -> None:
    ana = new_customer(store)
    record(store, ana, ("offers:camping", "email", "opted-out"), origin=at(T1))

    outcome = imported(
        store, [consent("ana@example.com", "offers:camping", "email", "opted-in", T2)]
    )

    assert (outcome.accepted, outcome.recorded, outcome.unchanged) == (1, 0, 1)
    assert state(store, ana, "offers:camping", "email") == "opted-out"


def test_a_reimported_stale_list_changes_nothing(store: Store) -> None:
    ana = new_customer(store)
    stale = [
        consent("ana@example.com", "offers:camping", "email", "opted-in", T1),
        consent("ana@example.com", "events", "sms", "opted-in", T1),
    ]
    assert imported(store, stale).recorded == 2
    record(store, ana, ("offers:camping", "email", "opted-out"), origin=at(T2))
    with unit_of_work(store) as session:
        before = [e.entry_hash for e in service.history(session, ana)]

    again = imported(store, stale)

    assert (again.recorded, again.unchanged, again.rejected) == (0, 2, 0)
    with unit_of_work(store) as session:
        assert [e.entry_hash for e in service.history(session, ana)] == before
    assert state(store, ana, "offers:camping", "email") == "opted-out"
    assert verify(store).ok


def test_a_json_lines_file_takes_nested_or_flat_records(store: Store, tmp_path: Path) -> None:
    ana = new_customer(store, email="ana@example.com", phone="+31612345678")
    path = tmp_path / "consents.jsonl"
    lines = [
        consent("ana@example.com", "events", "email", "opted-in", T1),
        {**consent("x", "events", "sms", "opted-out", T2), "customer": {"phone": "0612345678"}},
        {
            "email": "ana@example.com",
            "topic": "events",
            "channel": "push",
            "state": "opted-in",
            "occurred_at": T2.isoformat(),
        },
        {
            "email": "ana@example.com",
            "topic": "events",
            "channel": "push",
            "state": "yes",
            "occurred_at": T2.isoformat(),
            "colour": "blue",
        },
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")

    summary = imports.import_consent_file(store, path, system="crm", batch_size=2)

    assert (summary.rows, summary.recorded, summary.rejected) == (4, 3, 1)
    assert summary.rejects_path == tmp_path / "consents.jsonl.rejects.csv"
    rejects = summary.rejects_path.read_text(encoding="utf-8")
    assert "state: must be opted-in or opted-out" in rejects
    assert "colour: not a consent field" in rejects
    assert state(store, ana, "events", "sms") == "opted-out"
    assert state(store, ana, "events", "push") == "opted-in"
