"""Personal data is encrypted at rest: a scan of the raw database, and the vault's own rules."""

from __future__ import annotations

import base64
import csv
import json
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from regard.config import Settings
from regard.customers.importers import import_file
from regard.errors import ConfigurationError
from regard.models import metadata
from regard.store.crypto import (
    SealedValueError,
    Vault,
    add_key_to_file,
    install_vault,
    load_or_create_key_file,
    vault_from_settings,
)
from regard.store.database import Store, load_vault, open_store, unit_of_work
from tests.conftest import brand_for_tests, make_settings

# ---- the plaintext scan ----------------------------------------------------------------------

PEOPLE = [
    {
        "email": "zebra.plaintext.check@example.org",
        "phone": "06 12398765",
        "first_name": "Zebediah",
        "last_name": "Quillfeather",
        "loyalty_tier": "platinum-sentinel",
    },
    {
        "email": "Quokka.Sentinel@Example.NET",
        "phone": "+1 415 555 2671",
        "first_name": "Marisol",
        "last_name": "Brightwater",
        "loyalty_tier": "platinum-sentinel",
    },
    {
        "email": "yak.unique.42@example.com",
        "phone": "",
        "first_name": "Ottoline",
        "last_name": "Fenwicke",
        "loyalty_tier": "",
    },
    # Yak's email with Zebra's phone: the two profiles merge, and the merge keeps a snapshot.
    {
        "email": "yak.unique.42@example.com",
        "phone": "0612398765",
        "first_name": "",
        "last_name": "",
        "loyalty_tier": "",
    },
]
PHONES = {"06 12398765": "+31612398765", "+1 415 555 2671": "+14155552671"}
NAMES = ["Zebediah", "Quillfeather", "Marisol", "Brightwater", "Ottoline", "Fenwicke"]
SENTINEL = "platinum-sentinel"


def personal_needles() -> list[str]:
    """Every spelling of every personal value that must never be stored readable."""
    needles: set[str] = set()
    for person in PEOPLE:
        address = person["email"]
        local = address.split("@")[0]
        needles.update({address, address.lower(), address.upper(), local, local.lower()})
    for given, e164 in PHONES.items():
        needles.update({given, given.replace(" ", ""), e164, e164[1:], e164[3:]})
    needles.update({"0612398765", "612398765", "4155552671"})
    for name in NAMES:
        needles.update({name, name.lower(), name.upper()})
    return sorted(needles)


def import_people_and_events(store: Store, tmp_path: Path) -> None:
    tmp_path.mkdir(parents=True, exist_ok=True)
    people = tmp_path / "people.csv"
    with people.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(PEOPLE[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(PEOPLE)
    summary = import_file(store, people, kind="customers", source="crm")
    assert (summary.created, summary.merged, summary.rejected) == (3, 1, 0)

    events = tmp_path / "events.jsonl"
    events.write_text(
        "".join(
            json.dumps(event) + "\n"
            for event in [
                {
                    "email": PEOPLE[0]["email"],
                    "type": "purchase",
                    "occurred_at": "2024-03-01T10:00:00Z",
                    "properties": {"sku": "TENT-2"},
                },
                {
                    "phone": "+1 415 555 2671",
                    "type": "store_visit",
                    "occurred_at": "2024-03-02T10:00:00Z",
                },
                # A new person known only through an event.
                {
                    "email": "Walrus.Event.Only@example.org",
                    "type": "newsletter_signup",
                    "occurred_at": "2024-03-03T10:00:00Z",
                },
            ]
        ),
        encoding="utf-8",
    )
    summary = import_file(store, events, kind="events", source="shop")
    assert (summary.imported, summary.created, summary.rejected) == (3, 1, 0)


def found_in(haystack: bytes, needles: list[str]) -> list[str]:
    return [n for n in needles if n.encode() in haystack]


def sqlite_bytes(database: Path) -> bytes:
    """The database file with its write-ahead log and shared-memory index, as on disk."""
    parts = [database, Path(f"{database}-wal"), Path(f"{database}-shm")]
    return b"".join(p.read_bytes() for p in parts if p.exists())


def test_no_personal_data_in_the_sqlite_files(sqlite_store: Store, tmp_path: Path) -> None:
    import_people_and_events(sqlite_store, tmp_path / "in")
    database = Path(str(make_url(str(sqlite_store.engine.url)).database))
    needles = [*personal_needles(), "walrus.event.only@example.org", "Walrus.Event.Only"]

    # Before a checkpoint, most of the writes are still in the write-ahead log.
    wal = Path(f"{database}-wal")
    assert wal.exists()
    assert wal.stat().st_size > 0
    before = sqlite_bytes(database)
    assert SENTINEL.encode() in before  # the scan reads the real data
    assert b"TENT-2" in before
    assert found_in(before, needles) == []

    with sqlite_store.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    after = database.read_bytes()
    assert SENTINEL.encode() in after
    assert found_in(after, needles) == []
    assert found_in(sqlite_bytes(database), needles) == []

    sqlite_store.engine.dispose()
    assert found_in(sqlite_bytes(database), needles) == []


def column_dump(store: Store) -> str:
    """Every column of every row of every table, as text (bytes as hex and as latin-1)."""
    lines: list[str] = []
    with store.engine.connect() as connection:
        for table in metadata.sorted_tables:
            if store.dialect == "postgresql":
                rows = connection.execute(text(f"SELECT t::text FROM {table.name} t"))
                lines.extend(row[0] for row in rows)
                continue
            for row in connection.execute(text(f"SELECT * FROM {table.name}")):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        lines.append(bytes(value).hex())
                        lines.append(bytes(value).decode("latin-1"))
                    else:
                        lines.append(str(value))
    return "\n".join(lines)


def test_no_personal_data_in_any_column(store: Store, tmp_path: Path) -> None:
    import_people_and_events(store, tmp_path / "in")
    needles = [*personal_needles(), "walrus.event.only@example.org", "Walrus.Event.Only"]
    # bytea columns read as text show hex: plaintext kept in one would show as its hex.
    hex_needles = [n.encode().hex() for n in needles]

    dump = column_dump(store)

    assert SENTINEL in dump  # the scan reads the real data
    assert "TENT-2" in dump
    assert store.vault.seal("x", purpose="p")[:4].hex() in dump  # and the sealed bytes
    assert [n for n in needles if n in dump] == []
    assert [n for n in hex_needles if n in dump] == []


def test_personal_trait_columns_in_event_files_are_not_stored_readable(
    sqlite_store: Store, tmp_path: Path
) -> None:
    events = tmp_path / "events.csv"
    events.write_text(
        "email,type,occurred_at,last_name\n"
        "someone@example.org,purchase,2024-01-01T10:00:00Z,Throckmorton\n",
        encoding="utf-8",
    )
    assert import_file(sqlite_store, events, kind="events", source="shop").imported == 1
    with sqlite_store.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    database = Path(str(make_url(str(sqlite_store.engine.url)).database))

    assert b"Throckmorton" not in sqlite_bytes(database)


# ---- the vault -------------------------------------------------------------------------------


def a_vault(*key_ids: str, index: bytes = b"i" * 32) -> Vault:
    ids = key_ids or ("a",)
    return Vault(
        keys={key_id: bytes([n + 1]) * 32 for n, key_id in enumerate(ids)},
        active_key_id=ids[0],
        index_key=index,
    )


@pytest.mark.parametrize("plaintext", ["ann@example.org", "", "Zoë Ødegård ✓", "x" * 10_000])
def test_seal_and_open_round_trip(plaintext: str) -> None:
    vault = a_vault()
    sealed = vault.seal(plaintext, purpose="identity.value")

    assert vault.open(sealed, purpose="identity.value") == plaintext
    if plaintext:
        assert plaintext.encode() not in sealed
    assert vault.key_id_of(sealed) == "a"


def test_sealing_twice_gives_different_bytes() -> None:
    vault = a_vault()
    first = vault.seal("ann@example.org", purpose="p")
    second = vault.seal("ann@example.org", purpose="p")

    assert first != second
    assert vault.open(first, purpose="p") == vault.open(second, purpose="p")


def test_a_value_sealed_for_one_purpose_does_not_open_for_another() -> None:
    vault = a_vault()
    sealed = vault.seal("Ann", purpose="customer.personal")

    with pytest.raises(SealedValueError):
        vault.open(sealed, purpose="identity.value")


def test_tampering_is_detected() -> None:
    vault = a_vault()
    sealed = vault.seal("ann@example.org", purpose="p")

    for position in (len(sealed) - 1, len(sealed) // 2, 3 + 1):  # tag, ciphertext, nonce
        tampered = bytearray(sealed)
        tampered[position] ^= 0x01
        with pytest.raises(SealedValueError):
            vault.open(bytes(tampered), purpose="p")
    with pytest.raises(SealedValueError):
        vault.open(sealed[:-4], purpose="p")
    with pytest.raises(SealedValueError):
        vault.open(b"\x09" + sealed[1:], purpose="p")
    with pytest.raises(SealedValueError):
        vault.open(b"", purpose="p")


def test_a_value_sealed_with_an_unknown_key_does_not_open() -> None:
    sealed = a_vault("old").seal("Ann", purpose="p")

    with pytest.raises(SealedValueError, match="unknown key"):
        a_vault("new").open(sealed, purpose="p")


def test_a_value_sealed_with_another_key_of_the_same_id_does_not_open() -> None:
    sealed = a_vault("k1").seal("Ann", purpose="p")
    impostor = Vault(keys={"k1": b"z" * 32}, active_key_id="k1", index_key=b"i" * 32)

    with pytest.raises(SealedValueError):
        impostor.open(sealed, purpose="p")


def test_the_blind_index_is_deterministic_per_kind_and_key() -> None:
    vault = a_vault()

    same = vault.blind_index("email:", "ann@example.org")
    assert same == a_vault().blind_index("email:", "ann@example.org")
    assert len(same) == 32
    assert same != vault.blind_index("email:", "bob@example.org")
    assert same != vault.blind_index("anonymous:", "ann@example.org")
    assert same != vault.blind_index("external:pos", "ann@example.org")
    assert same != a_vault(index=b"j" * 32).blind_index("email:", "ann@example.org")
    assert b"ann" not in same


@pytest.mark.parametrize(
    ("keys", "ids", "error"),
    [
        ({"a": b"short"}, ("a",), "32 bytes"),
        ({"a": b"k" * 32}, ("b",), "not among the keys"),
    ],
)
def test_a_vault_refuses_bad_keys(keys: dict[str, bytes], ids: tuple[str], error: str) -> None:
    with pytest.raises(ConfigurationError, match=error):
        Vault(keys=keys, active_key_id=ids[0], index_key=b"i" * 32)
    with pytest.raises(ConfigurationError, match="at least 32 bytes"):
        Vault(keys={"a": b"k" * 32}, active_key_id="a", index_key=b"i" * 16)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_vault_from_settings_makes_the_first_key_active() -> None:
    keys = json.dumps({"new": b64(b"n" * 32), "old": b64(b"o" * 32)})

    vault = vault_from_settings(keys, b64(b"i" * 32))

    assert vault.active_key_id == "new"
    assert set(vault.keys) == {"new", "old"}
    assert vault.key_id_of(vault.seal("x", purpose="p")) == "new"


@pytest.mark.parametrize(
    ("keys", "index"),
    [
        ("not json", b64(b"i" * 32)),
        ("[]", b64(b"i" * 32)),
        ('"just a string"', b64(b"i" * 32)),
        ("{}", b64(b"i" * 32)),
        ('{"k1": "not base64!!"}', b64(b"i" * 32)),
        ('{"k1": 5}', b64(b"i" * 32)),
        (json.dumps({"k1": b64(b"k" * 16)}), b64(b"i" * 32)),
        (json.dumps({"k1": b64(b"k" * 32)}), "not base64!!"),
        (json.dumps({"k1": b64(b"k" * 32)}), b64(b"i" * 8)),
        (json.dumps({"k1": b64(b"k" * 32)}), ""),
    ],
)
def test_vault_from_settings_rejects_bad_input(keys: str, index: str) -> None:
    with pytest.raises(ConfigurationError):
        vault_from_settings(keys, index)


def test_the_key_file_is_created_0600_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "regard.keys"

    vault = load_or_create_key_file(path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    content = json.loads(path.read_text(encoding="utf-8"))
    assert content["active"] == vault.active_key_id
    again = load_or_create_key_file(path)
    assert again == vault
    assert again.open(vault.seal("Ann", purpose="p"), purpose="p") == "Ann"


def test_an_unreadable_key_file_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "regard.keys"
    path.write_text('{"keys": {}}', encoding="utf-8")

    with pytest.raises(ConfigurationError, match=r"regard\.keys"):
        load_or_create_key_file(path)


def test_key_rotation_keeps_old_values_readable(tmp_path: Path) -> None:
    path = tmp_path / "regard.keys"
    before = load_or_create_key_file(path)
    old_value = before.seal("ann@example.org", purpose="identity.value")

    new_id = add_key_to_file(path)

    after = load_or_create_key_file(path)
    assert new_id != before.active_key_id
    assert after.active_key_id == new_id
    assert set(after.keys) == {before.active_key_id, new_id}
    assert after.open(old_value, purpose="identity.value") == "ann@example.org"
    new_value = after.seal("bob@example.org", purpose="identity.value")
    assert after.key_id_of(new_value) == new_id
    assert after.key_id_of(old_value) == before.active_key_id
    with pytest.raises(SealedValueError):
        before.open(new_value, purpose="identity.value")
    # The blind index key stays: every identity is still found after a rotation.
    assert after.blind_index("email:", "a") == before.blind_index("email:", "a")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert add_key_to_file(path) not in (new_id, before.active_key_id)
    assert len(load_or_create_key_file(path).keys) == 3


def test_rotated_settings_keys_still_open_stored_data(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    import_people_and_events(store, tmp_path / "in")
    original = make_settings(database_url, tmp_path)
    old_keys = json.loads(original.encryption_keys.get_secret_value())
    rotated = Settings(
        environment="test",
        database_url=database_url,
        encryption_keys=json.dumps({"t2": b64(b"r" * 32), **old_keys}),
        blind_index_key=original.blind_index_key,
        brand_config=original.brand_config,
    )
    newer = open_store(rotated, brand=brand_for_tests())
    try:
        assert newer.vault.active_key_id == "t2"
        more = tmp_path / "more.csv"
        more.write_text("email,first_name\nnew.person@example.org,Pim\n", encoding="utf-8")
        assert import_file(newer, more, kind="customers", source="crm").created == 1
        with unit_of_work(newer) as session:
            raw = [
                bytes(value)
                for (value,) in session.execute(text("SELECT value FROM identities ORDER BY id"))
            ]
        key_ids = [newer.vault.key_id_of(value) for value in raw]
        assert key_ids[:-1] == ["t1"] * (len(raw) - 1)
        assert key_ids[-1] == "t2"
        opened = {newer.vault.open(value, purpose="identity.value") for value in raw}
        assert "zebra.plaintext.check@example.org" in opened
        assert "new.person@example.org" in opened
    finally:
        newer.engine.dispose()
        install_vault(store.vault)


# ---- where the keys come from ----------------------------------------------------------------


def test_production_without_keys_refuses_to_open(tmp_path: Path) -> None:
    settings = Settings(
        environment="production",
        database_url=f"sqlite:///{tmp_path / 'regard.db'}",
        key_file=tmp_path / "regard.keys",
    )

    with pytest.raises(ConfigurationError, match="must be set in production"):
        load_vault(settings)
    assert not (tmp_path / "regard.keys").exists()


def test_production_needs_both_keys(tmp_path: Path) -> None:
    settings = Settings(
        environment="production",
        database_url=f"sqlite:///{tmp_path / 'regard.db'}",
        encryption_keys=json.dumps({"k": b64(b"k" * 32)}),
    )

    with pytest.raises(ConfigurationError, match="must be set in production"):
        load_vault(settings)


def test_production_with_keys_opens(tmp_path: Path) -> None:
    settings = Settings(
        environment="production",
        database_url=f"sqlite:///{tmp_path / 'regard.db'}",
        encryption_keys=json.dumps({"k": b64(b"k" * 32)}),
        blind_index_key=b64(b"i" * 32),
    )

    assert load_vault(settings).active_key_id == "k"
    assert os.listdir(tmp_path) == []


def test_development_keeps_a_key_file_beside_the_database(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'data' / 'regard.db'}")

    vault = load_vault(settings)

    key_file = tmp_path / "data" / "regard.db.keys"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_vault(settings) == vault
