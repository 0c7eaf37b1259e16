"""``regard staff``: accounts added with a piped or prompted password, listed, disabled."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from regard.privacy.models import AuditEntry, StaffMember
from regard.store.database import open_store, unit_of_work
from tests.conftest import brand_for_tests, make_settings

Regard = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def regard(tmp_path: Path) -> Regard:
    """``regard`` in a fresh process on a migrated SQLite database, with a standard input."""
    settings = make_settings(f"sqlite:///{tmp_path / 'staff.db'}", tmp_path)
    settings.brand_config.write_text('name = "Test"\nregion = "NL"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGARD_")}
    env.update(
        {
            "REGARD_ENVIRONMENT": "test",
            "REGARD_DATABASE_URL": settings.database_url,
            "REGARD_ENCRYPTION_KEYS": settings.encryption_keys.get_secret_value(),
            "REGARD_BLIND_INDEX_KEY": settings.blind_index_key.get_secret_value(),
            "REGARD_BRAND_CONFIG": str(settings.brand_config),
            "COLUMNS": "200",
        }
    )

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(Path(sys.executable).parent / "regard"), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
            check=False,
        )

    assert run("db", "upgrade").returncode == 0
    return run


def test_add_list_and_disable_staff(regard: Regard, tmp_path: Path) -> None:
    added = regard(
        "staff",
        "add",
        "Ana@Staff.example",
        "--role",
        "admin",
        "--password-stdin",
        stdin="a long enough passphrase\n",
    )
    assert added.returncode == 0, added.stderr
    assert "Staff account 1 (admin) added." in added.stdout
    second = regard(
        "staff",
        "add",
        "bo@staff.example",
        "--role",
        "agent",
        "--password-stdin",
        stdin="another long passphrase\n",
    )
    assert second.returncode == 0, second.stderr

    listed = regard("staff", "list")
    assert "ana@staff.example" in listed.stdout
    assert "agent" in listed.stdout
    assert "passphrase" not in listed.stdout

    assert regard("staff", "disable", "bo@staff.example").returncode == 0
    last_admin = regard("staff", "disable", "1")
    assert last_admin.returncode == 2
    assert "last admin" in last_admin.stderr

    store = open_store(
        make_settings(f"sqlite:///{tmp_path / 'staff.db'}", tmp_path), brand=brand_for_tests()
    )
    with unit_of_work(store) as session:
        members = session.scalars(select(StaffMember).order_by(StaffMember.id)).all()
        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    store.engine.dispose()
    assert members[0].password_hash.startswith("$argon2id$")
    assert members[1].disabled_at is not None
    assert list(actions) == ["staff.added", "staff.added", "staff.disabled"]


def test_the_prompted_password_must_be_typed_twice_alike(regard: Regard) -> None:
    differ = regard(
        "staff",
        "add",
        "ana@staff.example",
        "--role",
        "admin",
        stdin="a long enough passphrase\nnot the same passphrase\n",
    )
    same = regard(
        "staff",
        "add",
        "ana@staff.example",
        "--role",
        "admin",
        stdin="a long enough passphrase\na long enough passphrase\n",
    )
    assert differ.returncode == 2
    assert "differ" in differ.stderr
    assert same.returncode == 0, same.stderr


def test_short_passwords_unknown_roles_and_second_accounts_are_refused(regard: Regard) -> None:
    short = regard(
        "staff", "add", "ana@staff.example", "--role", "admin", "--password-stdin", stdin="short\n"
    )
    role = regard(
        "staff",
        "add",
        "ana@staff.example",
        "--role",
        "boss",
        "--password-stdin",
        stdin="a long enough passphrase\n",
    )
    first = regard(
        "staff",
        "add",
        "ana@staff.example",
        "--role",
        "admin",
        "--password-stdin",
        stdin="a long enough passphrase\n",
    )
    again = regard(
        "staff",
        "add",
        "ANA@staff.example",
        "--role",
        "agent",
        "--password-stdin",
        stdin="a long enough passphrase\n",
    )
    assert short.returncode == 2
    assert "12 characters" in short.stderr
    assert role.returncode == 2
    assert first.returncode == 0
    assert again.returncode == 2
    assert "exists" in again.stderr
