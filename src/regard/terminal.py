"""The console every command prints to."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from regard.config import get_settings
from regard.errors import InvalidInput

# Piped into a file or a CI log there is no terminal to measure: tables get room to breathe.
_WIDTH_WITHOUT_TERMINAL = 140


def console() -> Console:
    """A Rich console on standard output, as wide as the terminal (or 140 without one)."""
    return Console(width=None if sys.stdout.isatty() else _WIDTH_WITHOUT_TERMINAL)


_BARS = "▁▂▃▄▅▆▇█"


def sparkline(counts: Sequence[int]) -> str:
    """Counts as a row of bars, each as tall as its share of the largest ("" for none)."""
    if not counts:
        return ""
    top = max(counts)
    return "".join(_BARS[(len(_BARS) - 1) * n // top] if top else _BARS[0] for n in counts)


def moment(text: str | None, *, option: str = "--as-of") -> datetime:
    """A command-line moment: ISO date and time, UTC when it has no zone; now when not given."""
    if text is None:
        return datetime.now(UTC)
    try:
        found = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{option} {text!r} is not an ISO date and time") from None
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


def new_toml_file(path: Path | None, *, command: str) -> None:
    """Refuse a ``--write-toml`` target that exists or is the brand's own regard.toml, before a
    command that proposes settings does any work: such commands never edit the configuration."""
    if path is None:
        return
    if path.exists():
        raise InvalidInput(f"--write-toml {path}: the file exists; name a new one")
    if path.resolve() == get_settings().brand_config.resolve():
        raise InvalidInput(f"--write-toml: {command} never changes the brand's regard.toml")


def write_toml(path: Path | None, snippet: str) -> None:
    """The proposed settings, written to the ``--write-toml`` file when one was named."""
    if path is None:
        return
    path.write_text(snippet, encoding="utf-8")
    console().print(f"Written to {escape(str(path))}.", highlight=False)
