"""The ``regard`` command as a person runs it: a fresh process, settings from the environment."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest

from tests.cli import regard

GROUPS = ("db", "import", "customers", "keys", "demo", "serve")


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The error as printed, joined back when the terminal width wrapped it."""
    assert result.stderr.startswith("error:"), result.stderr
    assert "Traceback" not in result.stderr
    return " ".join(result.stderr.split())


@pytest.fixture
def fresh(tmp_path: Path) -> dict[str, str]:
    """Development settings for a database that does not exist yet, in a folder not made yet."""
    return {
        "REGARD_DATABASE_URL": f"sqlite:///{tmp_path / 'data' / 'shop.db'}",
        "REGARD_BRAND_CONFIG": str(tmp_path / "no-such-regard.toml"),
    }


def test_help_lists_the_command_groups(tmp_path: Path) -> None:
    result = regard(tmp_path, "--help")

    assert result.returncode == 0, result.stderr
    listed = {line.strip("│ ").split(" ")[0] for line in result.stdout.splitlines()}
    assert set(GROUPS) <= listed
    assert not (tmp_path / "regard.db").exists()  # help opens nothing


@pytest.mark.parametrize("group", ["db", "import", "customers", "keys", "demo"])
def test_each_group_has_help(tmp_path: Path, group: str) -> None:
    result = regard(tmp_path, group, "--help")

    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout


def test_db_upgrade_creates_the_database_and_its_key_file(
    tmp_path: Path, fresh: dict[str, str]
) -> None:
    result = regard(tmp_path, "db", "upgrade", extra=fresh)

    assert result.returncode == 0, result.stderr
    assert "revision" in result.stdout
    database = tmp_path / "data" / "shop.db"
    key_file = tmp_path / "data" / "shop.db.keys"
    assert database.stat().st_size > 0
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    keys = json.loads(key_file.read_text(encoding="utf-8"))
    assert keys["active"] in keys["keys"]

    again = regard(tmp_path, "db", "upgrade", extra=fresh)
    assert again.returncode == 0, again.stderr
    assert json.loads(key_file.read_text(encoding="utf-8")) == keys

    current = regard(tmp_path, "db", "current", extra=fresh)
    assert current.returncode == 0, current.stderr
    here, newest = (part.split(":")[1].strip() for part in current.stdout.split("  ") if part)
    assert here == newest != "none"


def test_a_regard_error_is_one_line_and_a_non_zero_exit(
    tmp_path: Path, fresh: dict[str, str]
) -> None:
    assert regard(tmp_path, "db", "upgrade", extra=fresh).returncode == 0

    result = regard(tmp_path, "customers", "show", "999", extra=fresh)

    assert result.returncode == 2
    assert result.stderr == "error: no customer with id 999\n"
    assert result.stdout == ""


def test_looking_up_an_unknown_email_says_so_without_echoing_it(
    tmp_path: Path, fresh: dict[str, str]
) -> None:
    assert regard(tmp_path, "db", "upgrade", extra=fresh).returncode == 0

    result = regard(tmp_path, "customers", "find", "--email", "nobody@example.org", extra=fresh)

    assert result.returncode == 2
    assert one_error_line(result) == "error: no customer with that email"


def test_production_without_keys_is_an_error_line(tmp_path: Path, fresh: dict[str, str]) -> None:
    result = regard(tmp_path, "db", "upgrade", extra={**fresh, "REGARD_ENVIRONMENT": "production"})

    assert result.returncode == 1
    assert "must be set in production" in one_error_line(result)
    assert not (tmp_path / "data" / "shop.db.keys").exists()


def test_a_broken_brand_file_is_an_error_line_naming_it(
    tmp_path: Path, fresh: dict[str, str]
) -> None:
    brand = tmp_path / "regard.toml"
    brand.write_text('name = "Shop"\nregion = "XX"\n', encoding="utf-8")

    result = regard(tmp_path, "db", "upgrade", extra={**fresh, "REGARD_BRAND_CONFIG": str(brand)})

    assert result.returncode == 1
    message = one_error_line(result)
    assert "regard.toml" in message
    assert "region" in message


@pytest.mark.parametrize(
    "args",
    [
        ["no-such-command"],
        ["import", "events", "events.csv"],
        ["import", "events", "events.csv", "--source", "shop", "--batch-size", "many"],
    ],
)
def test_a_usage_mistake_is_a_short_message_and_exit_2(tmp_path: Path, args: list[str]) -> None:
    result = regard(tmp_path, *args)

    assert "Traceback" not in result.stderr
    assert result.returncode == 2
    assert "Usage: regard" in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("REGARD_ENCRYPTION_KEYS", "changeme", "placeholder"),
        ("REGARD_PORT", "eighty", "integer"),
    ],
)
def test_invalid_settings_are_one_error_line_naming_the_variable(
    tmp_path: Path, fresh: dict[str, str], name: str, value: str, says: str
) -> None:
    result = regard(tmp_path, "db", "upgrade", extra={**fresh, name: value})

    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1, result.stderr
    message = one_error_line(result)
    assert name in message
    assert says in message
