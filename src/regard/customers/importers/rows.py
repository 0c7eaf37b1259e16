"""From a raw record to a checked row, or to the reason it is rejected.

Values repeat across a file (the same customer's email on every event), so normalised identities,
time zones and their errors are cached: each distinct value is checked once per import.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from regard.customers.identities import IdentityClaim, claim, external_claim
from regard.customers.importers.mapping import ColumnMapping
from regard.customers.importers.readers import Record
from regard.customers.service import split_personal
from regard.errors import InvalidInput

# How far ahead of the import a timestamp may lie before it is taken for a mistake.
FUTURE_TOLERANCE = timedelta(days=1)
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
MAX_TRAIT_LENGTH = 4_096
MAX_TYPE_LENGTH = 128
MAX_MESSAGE_ID_LENGTH = 128
_LOCALE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
# A number written as text: no leading zeros (codes such as 007 stay text), at most 15 digits
# before the point (card numbers and EANs stay text, and no integer overflows), a modest exponent.
NUMBER = re.compile(r"^-?(0|[1-9]\d{0,14})(\.\d+)?([eE][-+]?\d{1,3})?$")
_CACHE_LIMIT = 500_000

_SIMPLE_IDENTITIES = (("email", "email"), ("phone", "phone"), ("anonymous_id", "anonymous"))


class RowError(Exception):
    """Why one row is rejected; the message names the field and never echoes personal data."""


@dataclass(slots=True)
class CustomerRow:
    line: int
    identities: tuple[IdentityClaim, ...]
    traits: dict[str, Any]
    time_zone: str | None
    locale: str | None
    observed_at: datetime


def coerce(value: Any) -> Any:
    """Numbers written as text become numbers; codes with leading zeros stay text."""
    if isinstance(value, str):
        value = value.strip()
        if value and (value[0].isdigit() or value[0] == "-") and NUMBER.match(value):
            return float(value) if ("." in value or "e" in value or "E" in value) else int(value)
    return value


class RowParser:
    """Checks records of one file from one source against one column mapping."""

    def __init__(
        self,
        *,
        mapping: ColumnMapping,
        fields: tuple[str, ...],
        source: str,
        region: str,
        zone: ZoneInfo,
        now: datetime,
        default_observed_at: datetime,
        personal: frozenset[str] = frozenset(),
    ) -> None:
        self.mapping = mapping
        self.personal = personal
        self.source = source
        self.region = region
        self.zone = zone
        self.latest = now + FUTURE_TOLERANCE
        self.earliest = EARLIEST
        self.event_fields = fields
        self.default_observed_at = default_observed_at
        self._claims: dict[tuple[str, str, str], IdentityClaim | str] = {}
        self._zones: dict[str, str | None] = {}
        self._plans: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._columns = {name: mapping.columns.get(name, name) for name in fields}
        self.external_columns = [
            (name.partition(":")[2], column)
            for name, column in mapping.columns.items()
            if name.startswith("external:")
        ]

    # ---- shared pieces -------------------------------------------------------------------

    def column_of(self, name: str) -> str:
        return self._columns[name]

    def value(self, record: Record, name: str) -> Any:
        if name in self.mapping.constants:
            return self.mapping.constants[name]
        value = record.get(self._columns[name])
        if isinstance(value, str):
            value = value.strip()
            return value or None
        return value

    def extra_columns(self, record: Mapping[str, Any]) -> tuple[str, ...]:
        """Columns that are neither a mapped field nor dropped: traits or properties."""
        keys = tuple(record)
        plan = self._plans.get(keys)
        if plan is None:
            used = set(self._columns.values()) | {c for _, c in self.external_columns}
            plan = tuple(k for k in keys if k not in used and k not in self.mapping.ignore)
            self._plans[keys] = plan
        return plan

    def identity(self, kind: str, namespace: str, raw: Any, field: str) -> IdentityClaim:
        text = raw if isinstance(raw, str) else str(raw)
        key = (kind, namespace, text)
        found = self._claims.get(key)
        if found is None:
            if len(self._claims) > _CACHE_LIMIT:
                self._claims.clear()
            try:
                if kind == "external":
                    found = external_claim(text, default_namespace=namespace)
                else:
                    found = claim(kind, text, region=self.region, source=self.source)
            except InvalidInput as exc:
                found = f"{exc.message} (field '{field}')"
            self._claims[key] = found
        if isinstance(found, str):
            raise RowError(found)
        return found

    def identities(self, record: Record) -> tuple[IdentityClaim, ...]:
        found: list[IdentityClaim] = []
        for field, kind in _SIMPLE_IDENTITIES:
            raw = self.value(record, field)
            if raw is not None:
                found.append(self.identity(kind, "", raw, field))
        raw = self.value(record, "external_id")
        if raw is not None:
            found.append(self.identity("external", self.source, raw, "external_id"))
        for namespace, column in self.external_columns:
            raw = record.get(column)
            if raw is not None and str(raw).strip():
                found.append(self.identity("external", namespace, str(raw).strip(), column))
        if not found:
            raise RowError(
                "missing required field: a row needs one of email, phone, external_id or "
                "anonymous_id"
            )
        return tuple(dict.fromkeys(found))

    def timestamp(self, raw: Any, field: str) -> datetime:
        if isinstance(raw, datetime):
            moment = raw
        else:
            text = raw if isinstance(raw, str) else str(raw)
            try:
                moment = datetime.fromisoformat(text)
            except ValueError as exc:
                raise RowError(f"unparseable timestamp in '{field}': expected ISO 8601") from exc
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.zone)
        moment = moment.astimezone(UTC)
        if moment > self.latest:
            raise RowError(f"far-future timestamp in '{field}': later than a day from now")
        if moment < EARLIEST:
            raise RowError(f"implausible timestamp in '{field}': before 1900")
        return moment

    def time_zone(self, raw: Any) -> str | None:
        if raw is None:
            return None
        text = str(raw)
        if text not in self._zones:
            try:
                ZoneInfo(text)
            except (ZoneInfoNotFoundError, ValueError):
                self._zones[text] = None
            else:
                self._zones[text] = text
        zone = self._zones[text]
        if zone is None:
            raise RowError("unknown time zone in 'time_zone': expected an IANA name")
        return zone

    # ---- customers ------------------------------------------------------------------------

    def customer(self, line: int, record: Record) -> CustomerRow:
        identities = self.identities(record)
        locale = self.value(record, "locale")
        if locale is not None and not _LOCALE.match(str(locale)):
            raise RowError("invalid locale in 'locale': expected a language tag such as 'nl-NL'")
        updated = self.value(record, "updated_at")
        observed = (
            self.timestamp(updated, "updated_at")
            if updated is not None
            else self.default_observed_at
        )
        traits: dict[str, Any] = {}
        for column in self.extra_columns(record):
            value = record[column]
            if value is None or value == "":
                continue
            if isinstance(value, str) and len(value) > MAX_TRAIT_LENGTH:
                raise RowError(f"trait '{column}' is longer than {MAX_TRAIT_LENGTH} characters")
            traits[column] = coerce(value) if isinstance(value, str) else _plain(value)
        return CustomerRow(
            line=line,
            identities=identities,
            traits=traits,
            time_zone=self.time_zone(self.value(record, "time_zone")),
            locale=str(locale) if locale is not None else None,
            observed_at=observed,
        )

    # ---- events ---------------------------------------------------------------------------

    def merge_properties(self, record: Record, given: Any) -> tuple[str, str | None]:
        """The event's properties as JSON: a ``properties`` object plus every extra column.

        Returns (plain, personal): properties named as personal traits come apart, to be
        encrypted; ``None`` when there are none. Values keep the types the record gives them.
        """
        properties: dict[str, Any] = {}
        if given is not None:
            if isinstance(given, str):
                try:
                    given = orjson.loads(given)
                except orjson.JSONDecodeError as exc:
                    raise RowError("malformed JSON in 'properties'") from exc
            if not isinstance(given, dict):
                raise RowError("'properties' must be a JSON object")
            properties.update(given)
        for column in self.extra_columns(record):
            properties[column] = _plain(record[column])
        plain, personal = split_personal(properties, self.personal)
        return (
            orjson.dumps(plain, default=str).decode(),
            orjson.dumps(personal, default=str).decode() if personal else None,
        )


def _plain(value: Any) -> Any:
    """A JSON-safe trait value from a typed (Parquet or JSON) record."""
    if isinstance(value, datetime):
        return value.isoformat()
    return value
