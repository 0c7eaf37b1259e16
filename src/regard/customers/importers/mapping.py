"""Which column of a file feeds which field of Regard.

By default a column feeds the field of the same name (``email``, ``phone``, ``occurred_at``...);
every other column becomes a trait (customer files) or a property (event files). A mapping
renames (``email=E-Mail``), adds external-id columns per system (``external:pos=Loyalty No``),
drops columns, and sets constants (``type=store_purchase`` for a file of purchases only).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from regard.errors import InvalidInput

IDENTITY_FIELDS = ("email", "phone", "external_id", "anonymous_id")
CUSTOMER_FIELDS = (*IDENTITY_FIELDS, "time_zone", "locale", "updated_at")
EVENT_FIELDS = (*IDENTITY_FIELDS, "type", "occurred_at", "message_id", "properties")


@dataclass(frozen=True)
class ColumnMapping:
    """Field name -> column name, columns to drop, and constant fields."""

    columns: Mapping[str, str] = field(default_factory=dict)
    ignore: frozenset[str] = frozenset()
    constants: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(
        cls,
        pairs: Iterable[str] = (),
        *,
        ignore: Iterable[str] = (),
        constants: Iterable[str] = (),
        file: Path | None = None,
    ) -> ColumnMapping:
        """From ``field=column`` flags and an optional TOML mapping file (flags win)."""
        columns: dict[str, str] = {}
        dropped: set[str] = set(ignore)
        fixed: dict[str, str] = {}
        if file is not None:
            try:
                raw: dict[str, Any] = tomllib.loads(file.read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise InvalidInput(f"mapping file {file}: {exc}") from exc
            columns.update({str(k): str(v) for k, v in raw.get("columns", {}).items()})
            dropped.update(str(c) for c in raw.get("ignore", {}).get("columns", []))
            fixed.update({str(k): str(v) for k, v in raw.get("constants", {}).items()})
        columns.update(_pairs(pairs, "--map"))
        fixed.update(_pairs(constants, "--set"))
        return cls(columns=columns, ignore=frozenset(dropped), constants=fixed)

    def validate_for(self, fields: tuple[str, ...]) -> None:
        for name in (*self.columns, *self.constants):
            if name not in fields and not name.startswith("external:"):
                known = ", ".join(fields)
                raise InvalidInput(f"unknown field {name!r} in the mapping; known: {known}")


def _pairs(items: Iterable[str], flag: str) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise InvalidInput(f"{flag} expects FIELD=VALUE, got {item!r}")
        parsed[name.strip()] = value.strip()
    return parsed
