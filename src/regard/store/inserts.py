"""INSERT statements that skip or update rows already there, in the store's own dialect."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session


def upsert(session: Session, table: Any) -> Any:
    """An INSERT into ``table`` offering ``on_conflict_do_nothing`` and ``on_conflict_do_update``
    (SQLite and PostgreSQL spell them alike)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql_insert(table)
    return sqlite_insert(table)
