"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect, LargeBinary, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB

from regard.store.crypto import current_vault

JSONDocument = JSON().with_variant(JSONB(), "postgresql")

# The text form SQLite stores for a UTC timestamp; bulk writers use the same form.
SQLITE_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp, stored in UTC and always read back aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; Regard stores aware timestamps only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Sealed(TypeDecorator[str]):
    """Personal text, encrypted with the installed vault; ``purpose`` binds it to its column."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, purpose: str) -> None:
        super().__init__()
        self.purpose = purpose

    def process_bind_param(self, value: str | None, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        return current_vault().seal(value, purpose=self.purpose)

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return current_vault().open(bytes(value), purpose=self.purpose)


class SealedJSON(TypeDecorator[dict[str, Any]]):
    """A JSON object of personal data, encrypted as a whole."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, purpose: str) -> None:
        super().__init__()
        self.purpose = purpose

    def process_bind_param(self, value: dict[str, Any] | None, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        return current_vault().seal(json.dumps(value, sort_keys=True), purpose=self.purpose)

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> dict[str, Any] | None:
        if value is None:
            return None
        opened: dict[str, Any] = json.loads(
            current_vault().open(bytes(value), purpose=self.purpose)
        )
        return opened
