"""Checking and resolving a batch of events column by column.

Event files are the big ones (millions of rows), so a batch is a Polars frame from start to
finish: each distinct identity is normalised once and mapped back to its rows, timestamps are
parsed in one pass (an odd format falls back to Python's ISO 8601 parser), properties are
encoded to JSON in one pass, and rows whose identities all point at one known customer are
resolved without a Python loop. Only a rejected row, or one that names a new person or two
people at once, is handled one by one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import polars as pl

from regard.customers.identities import IdentityClaim
from regard.customers.importers.readers import RecordBatch, Rejected
from regard.customers.importers.rows import (
    MAX_MESSAGE_ID_LENGTH,
    MAX_TYPE_LENGTH,
    NUMBER,
    RowError,
    RowParser,
)
from regard.customers.service import Resolver

_ISO_WITH_OFFSET = "%Y-%m-%dT%H:%M:%S%.f%#z"
_SIMPLE_IDENTITIES = (("email", "email"), ("phone", "phone"), ("anonymous_id", "anonymous"))
_PROPERTIES = "__properties"
_PERSONAL = "__personal"
_ERROR = "__error"
_LINE = "__line"
_MISSING_IDENTITY = (
    "missing required field: a row needs one of email, phone, external_id or anonymous_id"
)
EVENT_SCHEMA: dict[str, pl.DataType] = {
    "type": pl.String(),
    "occurred_at": pl.Datetime("us", "UTC"),
    "message_id": pl.String(),
    "properties": pl.String(),
    "personal": pl.String(),  # JSON text here; sealed before it is written
}


@dataclass(frozen=True)
class IdentityColumn:
    """One identity column of a batch: its raw values and what each distinct value means."""

    kind: str
    namespace: str
    name: str  # the column's name in the batch frame
    claims: dict[str, IdentityClaim]


@dataclass
class CheckedEvents:
    """The good rows of a batch (``frame``: line, raw identities, EVENT_SCHEMA) and the rest."""

    frame: pl.DataFrame
    identity_columns: list[IdentityColumn]
    rejected: list[Rejected]


def _json_member(name: str) -> pl.Expr:
    """``"name":value`` for one text column: a number where the text is one, else a string.

    Decided value by value, exactly as :func:`regard.customers.importers.rows.coerce` does, so
    a property's type never depends on which rows happen to share its batch.
    """
    value = pl.col(name).str.strip_chars()
    key = orjson.dumps(name).decode()
    as_text = pl.struct(value.alias(name)).struct.json_encode()
    return (
        pl.when(value.is_null())
        .then(None)
        .when(value.str.contains(NUMBER.pattern))
        .then(pl.lit(key + ":") + value)
        .otherwise(as_text.str.strip_prefix("{").str.strip_suffix("}"))
    )


def _json_object(names: list[str]) -> pl.Expr:
    """A JSON object of these text columns, leaving out empty ones; null when all are empty."""
    if not names:
        # One value per row, not a lone literal: this expression sits beside real columns.
        return pl.repeat(None, pl.len(), dtype=pl.String)
    members = pl.concat_str([_json_member(c) for c in names], separator=",", ignore_nulls=True)
    return pl.when(members == "").then(None).otherwise(pl.lit("{") + members + pl.lit("}"))


def _merged(first: str, second: str) -> str:
    return orjson.dumps({**orjson.loads(first), **orjson.loads(second)}).decode()


def _first_reason(reasons: list[pl.Expr]) -> pl.Expr:
    return pl.coalesce(reasons) if reasons else pl.lit(None, dtype=pl.String)


class EventChecker:
    """Checks event batches against one parser's mapping, caches and time limits."""

    def __init__(self, parser: RowParser, *, derive_id: Callable[[str], str]) -> None:
        self.parser = parser
        # Rows without a message id get one from their content, keyed: a row holds personal
        # data, and an unkeyed hash of it would let anyone confirm a guess.
        self.derive_id = derive_id

    # ---- checking ------------------------------------------------------------------------

    def _frame(self, batch: RecordBatch) -> tuple[pl.DataFrame, bool]:
        """The batch as text columns; True when columns carry the file's own names."""
        if batch.frame is not None:
            return batch.frame, True
        # JSON Lines and Parquet records: extra fields fold into the properties in Python,
        # which keeps nested values (lists, objects) intact.
        parser = self.parser
        names = [n for n in parser.event_fields if n != "properties"]
        externals = [column for _, column in parser.external_columns]
        rows: list[dict[str, str | None]] = []
        for record in batch.records:
            row: dict[str, Any] = {name: parser.value(record, name) for name in names}
            for column in externals:
                row[column] = record.get(column)
            try:
                row[_PROPERTIES], row[_PERSONAL] = parser.merge_properties(
                    record, parser.value(record, "properties")
                )
                row[_ERROR] = None
            except RowError as exc:
                row[_PROPERTIES], row[_PERSONAL], row[_ERROR] = None, None, str(exc)
            rows.append({k: _scalar_text(v) for k, v in row.items()})
        schema: dict[str, pl.DataType] = dict.fromkeys(
            [*names, *externals, _PROPERTIES, _PERSONAL, _ERROR], pl.String()
        )
        return pl.DataFrame(rows, schema=schema), False

    def check(self, batch: RecordBatch) -> CheckedEvents:
        parser = self.parser
        rejected = list(batch.rejected)
        if not batch.lines:
            return CheckedEvents(pl.DataFrame(schema=EVENT_SCHEMA), [], rejected)
        frame, file_names = self._frame(batch)
        frame = frame.with_columns(pl.Series(_LINE, batch.lines, dtype=pl.Int64))

        def source_of(name: str) -> str | None:
            column = parser.column_of(name) if file_names else name
            return column if column in frame.columns else None

        # Every field as a trimmed text column (None when empty), constants included.
        fields: dict[str, pl.Expr] = {}
        for name in ("type", "occurred_at", "message_id", "email", "phone", "anonymous_id"):
            if name in parser.mapping.constants:
                fields[name] = pl.lit(parser.mapping.constants[name], dtype=pl.String)
            elif (column := source_of(name)) is not None:
                fields[name] = pl.col(column).str.strip_chars().replace("", None)
            else:
                fields[name] = pl.lit(None, dtype=pl.String)
        identity_sources = [(kind, "", field) for field, kind in _SIMPLE_IDENTITIES]
        identity_sources.append(("external", parser.source, "external_id"))
        if (column := source_of("external_id")) is not None:
            fields["external_id"] = pl.col(column).str.strip_chars().replace("", None)
        else:
            fields["external_id"] = pl.lit(None, dtype=pl.String)
        for namespace, column in parser.external_columns:
            key = f"external:{namespace}"
            identity_sources.append(("external", namespace, key))
            fields[key] = (
                pl.col(column).str.strip_chars().replace("", None)
                if column in frame.columns
                else pl.lit(None, dtype=pl.String)
            )
        work = frame.select(
            pl.col(_LINE),
            *(expr.alias(f"f:{name}") for name, expr in fields.items()),
            *([pl.col(_ERROR)] if _ERROR in frame.columns else []),
        )

        # Identities: each distinct value is checked once, then mapped back to its rows.
        identity_columns: list[IdentityColumn] = []
        reasons: list[pl.Expr] = []
        if _ERROR in work.columns:
            reasons.append(pl.col(_ERROR))
        for kind, namespace, field in identity_sources:
            name = f"f:{field}"
            claims: dict[str, IdentityClaim] = {}
            problems: dict[str, str] = {}
            for raw in work[name].drop_nulls().unique().to_list():
                try:
                    claims[raw] = parser.identity(kind, namespace, raw, field)
                except RowError as exc:
                    problems[raw] = str(exc)
            if problems:
                reasons.append(
                    pl.col(name).replace_strict(problems, default=None, return_dtype=pl.String)
                )
            if claims or problems:
                identity_columns.append(IdentityColumn(kind, namespace, name, claims))
        if identity_columns:
            any_identity = pl.any_horizontal(pl.col(c.name).is_not_null() for c in identity_columns)
        else:
            any_identity = pl.lit(False)
        reasons.append(pl.when(~any_identity).then(pl.lit(_MISSING_IDENTITY)))

        type_ = pl.col("f:type")
        reasons.append(
            pl.when(type_.is_null())
            .then(pl.lit("missing required field 'type'"))
            .when(type_.str.len_chars() > MAX_TYPE_LENGTH)
            .then(pl.lit(f"'type' is longer than {MAX_TYPE_LENGTH} characters"))
        )
        message = pl.col("f:message_id")
        reasons.append(
            pl.when(message.str.len_chars() > MAX_MESSAGE_ID_LENGTH).then(
                pl.lit(f"'message_id' is longer than {MAX_MESSAGE_ID_LENGTH} characters")
            )
        )
        work = work.with_columns(
            pl.col("f:occurred_at")
            .str.to_datetime(format=_ISO_WITH_OFFSET, time_zone="UTC", strict=False)
            .alias("occurred_at")
        )
        work = self._fix_timestamps(work)
        reasons.append(pl.col("__time_error"))
        work = work.with_columns(_first_reason(reasons).alias("__reason"))

        properties, personal = self._properties(frame, file_names)
        work = work.with_columns(properties.alias("properties"), personal.alias("personal"))
        work = work.with_columns(
            pl.when(pl.col("__reason").is_null() & pl.col("properties").is_null())
            .then(pl.lit("malformed JSON in 'properties'"))
            .otherwise(pl.col("__reason"))
            .alias("__reason")
        )

        bad = work.filter(pl.col("__reason").is_not_null())
        if bad.height:
            rejected.extend(self._rejects(batch, frame, bad, file_names))
        good = work.filter(pl.col("__reason").is_null())
        good = good.with_columns(
            pl.coalesce(pl.col("f:message_id"), self._derived_ids(frame, good)).alias("message_id")
        )
        kept = [c.name for c in identity_columns]
        return CheckedEvents(
            frame=good.select(
                pl.col(_LINE),
                *kept,
                pl.col("f:type").alias("type"),
                pl.col("occurred_at"),
                pl.col("message_id"),
                pl.col("properties"),
                pl.col("personal"),
            ),
            identity_columns=identity_columns,
            rejected=rejected,
        )

    def _fix_timestamps(self, work: pl.DataFrame) -> pl.DataFrame:
        """Range checks, and Python's parser for what the fast format did not read."""
        parser = self.parser
        at = pl.col("occurred_at")
        out_of_range = (at > parser.latest) | (at < parser.earliest)
        work = work.with_columns(
            pl.when(out_of_range.fill_null(False)).then(None).otherwise(at).alias("occurred_at")
        )
        retry = work.filter(pl.col("occurred_at").is_null())
        errors: dict[int, str] = {}
        fixed: dict[int, datetime] = {}
        for line, raw in zip(retry[_LINE].to_list(), retry["f:occurred_at"].to_list(), strict=True):
            if raw is None:
                errors[line] = "missing required field 'occurred_at'"
                continue
            try:
                fixed[line] = parser.timestamp(raw, "occurred_at")
            except RowError as exc:
                errors[line] = str(exc)
        line = pl.col(_LINE)
        return work.with_columns(
            pl.coalesce(
                at,
                line.replace_strict(fixed, default=None, return_dtype=pl.Datetime("us", "UTC")),
            ).alias("occurred_at"),
            line.replace_strict(errors, default=None, return_dtype=pl.String).alias("__time_error"),
        )

    def _properties(self, frame: pl.DataFrame, file_names: bool) -> tuple[pl.Series, pl.Series]:
        """(plain, personal) properties as JSON text; personal is null where a row has none.

        Plain is null for a row whose ``properties`` column is not a JSON object.
        """
        if not file_names:
            return frame[_PROPERTIES], frame[_PERSONAL]
        names = dict.fromkeys(c for c in frame.columns if not c.startswith("__"))
        extra = self.parser.extra_columns(names)
        personal_names = [c for c in extra if c in self.parser.personal]
        plain_names = [c for c in extra if c not in self.parser.personal]
        encoded = frame.select(
            plain=_json_object(plain_names).fill_null("{}"),
            personal=_json_object(personal_names),
        )
        plain, personal = encoded["plain"], encoded["personal"]
        given = self.parser.column_of("properties")
        if given not in frame.columns or frame[given].is_null().all():
            return plain, personal
        # A 'properties' column of JSON objects: merged with the extra columns row by row.
        merged: list[str | None] = []
        merged_personal: list[str | None] = []
        rows = zip(frame[given].to_list(), plain.to_list(), personal.to_list(), strict=True)
        for text, extra_json, extra_personal in rows:
            if text is None or not text.strip():
                merged.append(extra_json)
                merged_personal.append(extra_personal)
                continue
            try:
                base, base_personal = self.parser.merge_properties({}, text)
            except RowError:
                merged.append(None)
                merged_personal.append(None)
                continue
            merged.append(_merged(base, extra_json))
            merged_personal.append(
                _merged(base_personal or "{}", extra_personal or "{}")
                if base_personal or extra_personal
                else None
            )
        return pl.Series(merged, dtype=pl.String), pl.Series(merged_personal, dtype=pl.String)

    def _derived_ids(self, frame: pl.DataFrame, good: pl.DataFrame) -> pl.Series:
        """For rows without a message id: one from the row's own content, so that importing
        the same file again finds the same event."""
        missing = good.filter(pl.col("f:message_id").is_null())[_LINE]
        if missing.len() == 0:
            return pl.Series([None] * good.height, dtype=pl.String)
        content = frame.filter(pl.col(_LINE).is_in(missing.implode())).select(
            pl.col(_LINE),
            pl.concat_str(
                pl.all().exclude(_LINE, _ERROR).cast(pl.String).fill_null(""), separator="\x1f"
            ).alias("content"),
        )
        ids = {line: "row-" + self.derive_id(text) for line, text in content.iter_rows()}
        return good[_LINE].replace_strict(ids, default=None, return_dtype=pl.String)

    def _rejects(
        self, batch: RecordBatch, frame: pl.DataFrame, bad: pl.DataFrame, file_names: bool
    ) -> list[Rejected]:
        lines = bad[_LINE].to_list()
        reasons = bad["__reason"].to_list()
        if file_names:
            originals = frame.filter(pl.col(_LINE).is_in(bad[_LINE].implode())).drop(_LINE)
            records: list[Any] = originals.to_dicts()
        else:
            by_line = dict(zip(batch.lines, batch.records, strict=True))
            records = [by_line[line] for line in lines]
        return [
            Rejected(line, reason, orjson.dumps(record, default=str).decode())
            for line, reason, record in zip(lines, reasons, records, strict=True)
        ]


def resolve_customers(resolver: Resolver, checked: CheckedEvents, *, source: str) -> pl.Series:
    """The customer id of every good row, creating and merging profiles where needed."""
    frame = checked.frame
    columns = checked.identity_columns
    resolver.prefetch(
        (claim for column in columns for claim in column.claims.values()), load_profiles=False
    )
    known: list[pl.Expr] = []
    for column in columns:
        ids = {
            raw: customer_id
            for raw, claim in column.claims.items()
            if (customer_id := resolver.lookups.get(resolver.lookup(claim))) is not None
        }
        known.append(pl.col(column.name).replace_strict(ids, default=None, return_dtype=pl.Int64))
    if not columns:
        return pl.Series("customer_id", [], dtype=pl.Int64)
    first = pl.coalesce(known)
    # A row is settled when every identity it gives is known and all name the same customer.
    settled = (
        pl.all_horizontal(
            pl.col(c.name).is_null() | (k.is_not_null() & (k == first))
            for c, k in zip(columns, known, strict=True)
        )
        & first.is_not_null()
    )
    frame = frame.with_columns(first.alias("customer_id"), settled.alias("settled"))
    unsettled = frame.filter(~pl.col("settled"))
    if unsettled.height == 0:
        return frame["customer_id"]
    # Their known profiles in one query, rather than one per row as they come up.
    referenced = unsettled.select(pl.concat_list(known).alias("ids")).explode("ids")["ids"]
    resolver.load_profiles(referenced.drop_nulls().unique().to_list())
    # Rows that give the same identities are the same person: resolve each combination once.
    names = [c.name for c in columns]
    combos = unsettled.group_by(names, maintain_order=True).agg(
        pl.col("occurred_at").min(), pl.col(_LINE)
    )
    found: list[Any] = []
    for row in combos.iter_rows(named=True):
        claims = tuple(
            dict.fromkeys(c.claims[row[c.name]] for c in columns if row[c.name] is not None)
        )
        found.append(
            resolver.customer_for(claims, source=source, seen_at=row["occurred_at"], flush=False)
        )
    resolver.flush()
    # A profile found or made for an earlier combination may have been merged by a later one.
    found_ids = [resolver.merged_into.get(i, i) for i in resolver.ids(found)]
    resolved = {
        line: customer_id
        for lines, customer_id in zip(combos[_LINE].to_list(), found_ids, strict=True)
        for line in lines
    }
    # Rows settled earlier may name a customer merged away since: follow the merges.
    return frame.select(
        pl.when(pl.col("settled"))
        .then(pl.col("customer_id").replace(resolver.merged_into))
        .otherwise(pl.col(_LINE).replace_strict(resolved, default=None, return_dtype=pl.Int64))
        .alias("customer_id")
    ).to_series()


def _scalar_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return orjson.dumps(value).decode()
