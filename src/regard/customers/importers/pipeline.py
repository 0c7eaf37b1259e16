"""The import: read in batches, check each row, resolve identities, write, commit per batch.

Every batch commits on its own, so a crash leaves whole batches and a re-run completes the file;
re-running a finished file changes nothing (events are unique by source and message id, and
profile updates that say nothing new are counted as duplicates).
"""

from __future__ import annotations

import csv
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TextIO
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy.orm import Session

from regard.customers.identities import IdentityClaim
from regard.customers.importers.events import (
    EVENT_SCHEMA,
    CheckedEvents,
    EventChecker,
    resolve_customers,
)
from regard.customers.importers.mapping import CUSTOMER_FIELDS, EVENT_FIELDS, ColumnMapping
from regard.customers.importers.readers import RecordBatch, Rejected, file_format, read_batches
from regard.customers.importers.rows import CustomerRow, RowError, RowParser
from regard.customers.service import ProfileUpdate, Resolver, store_events
from regard.errors import InvalidInput
from regard.store.database import Store, unit_of_work

ImportKind = Literal["customers", "events"]
_SOURCE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
DEFAULT_BATCH_SIZE = 50_000
# Blind indexes kept across batches: about 150 bytes each.
_LOOKUP_CACHE_LIMIT = 1_000_000


@dataclass
class FileSummary:
    """What reading one file came to: rows read, rejected, how long, and where the rejects are."""

    rows: int = 0
    rejected: int = 0
    seconds: float = 0.0
    rejects_path: Path | None = None

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass
class ImportSummary(FileSummary):
    """What an import did. ``duplicates`` changed nothing because it was already known."""

    imported: int = 0
    created: int = 0
    merged: int = 0
    duplicates: int = 0


class RejectsFile:
    """Rejected rows with their line and reason; written beside the input, readable only by us."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._partial = path.with_name(path.name + ".partial")
        self._handle: TextIO | None = None
        self._writer: csv.DictWriter[str] | None = None

    def write(self, rejected: list[Rejected]) -> None:
        if not rejected:
            return
        if self._writer is None:
            fd = os.open(self._partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            handle = os.fdopen(fd, "w", encoding="utf-8", newline="")
            self._handle = handle
            self._writer = csv.DictWriter(handle, fieldnames=["line", "reason", "record"])
            self._writer.writeheader()
        for row in sorted(rejected, key=lambda r: r.line):
            self._writer.writerow({"line": row.line, "reason": row.reason, "record": row.raw})

    def close(self) -> Path | None:
        """Publish the rejects, or remove an old rejects file when nothing was rejected."""
        if self._handle is None:
            self.path.unlink(missing_ok=True)
            return None
        self._handle.close()
        self._partial.replace(self.path)
        return self.path


@dataclass
class RecordFileSummary(FileSummary):
    """What an import of records (consents, survey answers) from a file did."""

    recorded: int = 0
    unchanged: int = 0


# What one batch of records came to: recorded, unchanged, and each bad record's index and reason.
BatchOutcome = tuple[int, int, list[tuple[int, str]]]


def import_record_file(
    store: Store,
    path: Path,
    *,
    import_batch: Callable[[Session, list[dict[str, Any]]], BatchOutcome],
    shape: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    rejects_path: Path | None = None,
    batch_size: int,
    progress: Callable[[int], None] | None = None,
) -> RecordFileSummary:
    """Read ``path`` in batches, hand each (its rows ``shape``d) to ``import_batch`` in a
    transaction of its own, and write every bad row, with its line and reason, to the rejects
    file. The good rows of a batch are kept whatever its bad ones."""
    started = time.perf_counter()
    rejects = RejectsFile(rejects_path or path.with_name(path.name + ".rejects.csv"))
    summary = RecordFileSummary()
    try:
        for batch in read_batches(path, batch_size=batch_size):
            rows = batch.as_records()
            if shape is not None:
                rows = [shape(row) for row in rows]
            bad = list(batch.rejected)
            with unit_of_work(store) as session:
                recorded, unchanged, rejections = import_batch(session, rows)
            bad.extend(
                Rejected(batch.lines[index], reason, _raw_text(rows[index]))
                for index, reason in rejections
            )
            rejects.write(bad)
            summary.rows += len(batch)
            summary.recorded += recorded
            summary.unchanged += unchanged
            summary.rejected += len(bad)
            if progress is not None:
                progress(len(batch))
    finally:
        summary.rejects_path = rejects.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _raw_text(record: object) -> str:
    return orjson.dumps(record, default=str).decode()


def check_request(path: Path, *, source: str) -> None:
    """What can be said to be wrong before reading a single row."""
    if not _SOURCE.match(source):
        raise InvalidInput(
            f"invalid source {source!r}: lower-case letters, digits, '-' and '_', e.g. 'pos'"
        )
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    file_format(path)


def import_file(
    store: Store,
    path: Path,
    *,
    kind: ImportKind,
    source: str,
    mapping: ColumnMapping | None = None,
    rejects_path: Path | None = None,
    progress: Callable[[int], None] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> ImportSummary:
    """Import a customer or event file from ``source``; bad rows go to the rejects file."""
    check_request(path, source=source)
    mapping = mapping or ColumnMapping()
    fields = CUSTOMER_FIELDS if kind == "customers" else EVENT_FIELDS
    mapping.validate_for(fields)
    started = time.perf_counter()
    now = datetime.now(UTC)
    parser = RowParser(
        mapping=mapping,
        fields=fields,
        source=source,
        region=store.brand.region,
        zone=ZoneInfo(store.brand.time_zone),
        now=now,
        # A customer file without 'updated_at' speaks as of when it was written.
        default_observed_at=datetime.fromtimestamp(path.stat().st_mtime, UTC)
        if path.exists()
        else now,
        personal=frozenset(store.brand.identity.personal_properties),
    )
    checker = EventChecker(
        parser, derive_id=lambda text: store.vault.blind_index("event-row", text)[:16].hex()
    )
    rejects = RejectsFile(rejects_path or path.with_name(path.name + ".rejects.csv"))
    summary = ImportSummary()
    lookups: dict[IdentityClaim, bytes] = {}
    try:
        for batch in read_batches(path, batch_size=batch_size):
            summary.rows += len(batch)
            if len(lookups) > _LOOKUP_CACHE_LIMIT:
                lookups.clear()
            if kind == "events":
                checked = checker.check(batch)
                bad = checked.rejected
                with unit_of_work(store) as session:
                    _load_events(
                        session,
                        store,
                        checked,
                        source=source,
                        now=now,
                        into=summary,
                        lookups=lookups,
                    )
            else:
                good_customers, bad = _check(batch, parser.customer)
                with unit_of_work(store) as session:
                    _load_customers(
                        session, store, good_customers, source=source, into=summary, lookups=lookups
                    )
            rejects.write(bad)
            summary.rejected += len(bad)
            if progress is not None:
                progress(len(batch))
    finally:
        summary.rejects_path = rejects.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _check(
    batch: RecordBatch, parse: Callable[[int, dict[str, Any]], CustomerRow]
) -> tuple[list[CustomerRow], list[Rejected]]:
    good: list[CustomerRow] = []
    bad = list(batch.rejected)
    for line, record in zip(batch.lines, batch.as_records(), strict=True):
        try:
            good.append(parse(line, record))
        except RowError as exc:
            bad.append(Rejected(line, str(exc), _raw_text(record)))
    return good, bad


def _load_events(
    session: Session,
    store: Store,
    checked: CheckedEvents,
    *,
    source: str,
    now: datetime,
    into: ImportSummary,
    lookups: dict[IdentityClaim, bytes],
) -> None:
    resolver = Resolver(session, vault=store.vault, brand=store.brand, lookup_cache=lookups)
    customer_ids = resolve_customers(resolver, checked, source=source)
    events = checked.frame.select(customer_ids.alias("customer_id"), *EVENT_SCHEMA)
    # In index order: each customer's events land on neighbouring index pages.
    events = events.sort("customer_id", "occurred_at")
    inserted = store_events(session, events, vault=store.vault, source=source, received_at=now)
    into.imported += inserted
    into.duplicates += events.height - inserted
    into.created += resolver.created
    into.merged += resolver.merged


def _load_customers(
    session: Session,
    store: Store,
    rows: list[CustomerRow],
    *,
    source: str,
    into: ImportSummary,
    lookups: dict[IdentityClaim, bytes],
) -> None:
    resolver = Resolver(session, vault=store.vault, brand=store.brand, lookup_cache=lookups)
    resolver.prefetch((i for row in rows for i in row.identities), load_profiles=True)
    for row in rows:
        resolution = resolver.resolve(
            ProfileUpdate(
                source=source,
                observed_at=row.observed_at,
                identities=row.identities,
                traits=row.traits,
                time_zone=row.time_zone,
                locale=row.locale,
            ),
            flush=False,
        )
        if resolution.changed:
            into.imported += 1
        else:
            into.duplicates += 1
    resolver.flush()
    into.created += resolver.created
    into.merged += resolver.merged
