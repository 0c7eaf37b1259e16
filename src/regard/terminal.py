"""The console every command prints to."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from rich.console import Console

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
