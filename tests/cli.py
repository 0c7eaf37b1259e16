"""Running the ``regard`` command as a person would: a fresh process, settings from the
environment, and nothing of this process's own ``REGARD_`` settings."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path


def regard(
    cwd: Path, *args: str, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGARD_")}
    env.pop("COLUMNS", None)
    env.update(extra or {})
    return subprocess.run(
        [str(Path(sys.executable).parent / "regard"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


Run = Callable[..., subprocess.CompletedProcess[str]]


def migrated_cli(tmp_path: Path, brand_toml: str, *, extra: dict[str, str] | None = None) -> Run:
    """A runner of ``regard`` on a fresh, migrated SQLite database in ``tmp_path`` (``cli.db``)
    with the test keys and ``brand_toml`` as the brand's configuration."""
    from tests.conftest import make_settings

    settings = make_settings(f"sqlite:///{tmp_path / 'cli.db'}", tmp_path)
    settings.brand_config.write_text(brand_toml, encoding="utf-8")
    env = {
        "REGARD_ENVIRONMENT": "test",
        "REGARD_DATABASE_URL": settings.database_url,
        "REGARD_ENCRYPTION_KEYS": settings.encryption_keys.get_secret_value(),
        "REGARD_BLIND_INDEX_KEY": settings.blind_index_key.get_secret_value(),
        "REGARD_BRAND_CONFIG": str(settings.brand_config),
        **(extra or {}),
    }
    upgraded = regard(tmp_path, "db", "upgrade", extra=env)
    assert upgraded.returncode == 0, upgraded.stderr

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return regard(tmp_path, *args, extra=env)

    return run
