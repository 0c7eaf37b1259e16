"""Opening the store once per process, from settings."""

from __future__ import annotations

# Every domain's tables and merge hooks, registered before any store is used.
import regard.models  # noqa: F401
from regard.config import get_settings
from regard.store.database import Store, open_store

_store: Store | None = None


def store() -> Store:
    """The process's store, opened on first use."""
    global _store
    if _store is None:
        _store = open_store(get_settings())
    return _store


def use_store(opened: Store | None) -> None:
    """Replace the process's store (tests, or a command that opened its own)."""
    global _store
    _store = opened
