"""``regard keys ...`` and ``regard customers ...`` as a person runs them."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from regard.store.crypto import load_or_create_key_file
from tests.cli import regard


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    settings = {
        "REGARD_DATABASE_URL": f"sqlite:///{tmp_path / 'shop.db'}",
        "REGARD_BRAND_CONFIG": str(tmp_path / "regard.toml"),
    }
    (tmp_path / "regard.toml").write_text('name = "Test"\nregion = "NL"\n', encoding="utf-8")
    assert regard(tmp_path, "db", "upgrade", extra=settings).returncode == 0
    return settings


def test_a_key_is_shown_once_listed_without_its_secret_and_revoked(
    tmp_path: Path, env: dict[str, str]
) -> None:
    created = regard(tmp_path, "keys", "create", "service desk", "--scope", "read", extra=env)
    assert created.returncode == 0, created.stderr
    secret = next(word for word in created.stdout.split() if word.startswith("rk_"))

    listed = regard(tmp_path, "keys", "list", extra=env)
    assert "service desk" in listed.stdout
    assert secret not in listed.stdout

    assert regard(tmp_path, "keys", "revoke", "1", extra=env).returncode == 0
    again = regard(tmp_path, "keys", "revoke", "99", extra=env)
    assert again.returncode != 0
    assert again.stderr.startswith("error:")


def test_a_write_key_needs_its_source(tmp_path: Path, env: dict[str, str]) -> None:
    result = regard(tmp_path, "keys", "create", "web", "--scope", "write", extra=env)
    assert result.returncode != 0
    assert "source" in result.stderr


def test_rotation_adds_a_key_and_old_values_still_open(tmp_path: Path, env: dict[str, str]) -> None:
    key_file = tmp_path / "shop.db.keys"
    before = load_or_create_key_file(key_file)
    sealed = before.seal("ana@example.org", purpose="identity.value")

    result = regard(tmp_path, "keys", "rotate", extra=env)

    assert result.returncode == 0, result.stderr
    after = load_or_create_key_file(key_file)
    assert after.active_key_id != before.active_key_id
    assert after.open(sealed, purpose="identity.value") == "ana@example.org"
    assert after.key_id_of(after.seal("x", purpose="p")) == after.active_key_id
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_rotation_with_keys_in_settings_says_where_to_rotate(
    tmp_path: Path, env: dict[str, str]
) -> None:
    keys = {
        "REGARD_ENCRYPTION_KEYS": json.dumps({"s1": base64.b64encode(b"s" * 32).decode()}),
        "REGARD_BLIND_INDEX_KEY": base64.b64encode(b"b" * 32).decode(),
    }
    result = regard(tmp_path, "keys", "rotate", extra={**env, **keys})
    assert result.returncode != 0
    assert "REGARD_ENCRYPTION_KEYS" in result.stderr


def test_customers_are_found_shown_and_merges_listed(tmp_path: Path, env: dict[str, str]) -> None:
    people = tmp_path / "people.csv"
    people.write_text(
        "email,phone,first_name\n"
        "ana@example.org,,Ana\n"
        ",0612345678,Ana\n"
        "ana@example.org,0612345678,Ana\n",
        encoding="utf-8",
    )
    assert (
        regard(
            tmp_path, "import", "customers", str(people), "--source", "crm", extra=env
        ).returncode
        == 0
    )

    found = regard(tmp_path, "customers", "find", "--email", "ANA@example.org", extra=env)
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == "customer 1"
    by_phone = regard(tmp_path, "customers", "find", "--phone", "+31 6 12345678", extra=env)
    assert by_phone.stdout.strip() == "customer 1"

    shown = regard(tmp_path, "customers", "show", "1", extra=env)
    assert "ana@example.org" in shown.stdout
    assert "+31612345678" in shown.stdout
    merged_away = regard(tmp_path, "customers", "show", "2", extra=env)
    assert merged_away.returncode != 0
    assert "merged into customer 1" in merged_away.stderr

    merges = regard(tmp_path, "customers", "merges", extra=env)
    assert "phone" in merges.stdout
