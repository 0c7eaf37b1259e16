"""Every setting is documented, and the README starts with the two commands."""

from __future__ import annotations

from pathlib import Path

from regard.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_is_documented() -> None:
    documented = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    missing = [
        f"REGARD_{name.upper()}"
        for name in Settings.model_fields
        if f"`REGARD_{name.upper()}`" not in documented
    ]
    assert missing == []


def test_readme_starts_with_the_two_commands() -> None:
    opening = (ROOT / "README.md").read_text(encoding="utf-8").split("\n\n")[1]
    assert "make demo" in opening
    assert "make test" in opening
