"""Talking to the API in tests: keys, and the header that carries one."""

from __future__ import annotations

from regard.privacy.service import create_key
from regard.store.database import Store, unit_of_work


def make_keys(store: Store, *, source: str = "app") -> dict[str, str]:
    """A write key for ``source`` and a read key, as their secrets."""
    with unit_of_work(store) as session:
        write = create_key(session, name=source, scope="write", source=source).secret
        read = create_key(session, name="reader", scope="read").secret
    return {"write": write, "read": read}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
