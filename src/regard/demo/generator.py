"""The demo brand's files: Northwind Outfitters' web shop, store tills and support desk.

``generate`` draws one population (``people``), writes what each source knows of them as
customer files and what happened as event files (``events``), in all three formats the importer
reads, and records it all in ``manifest.json``. The same seed gives byte-identical files: every
table has its own random stream, and the end of history is a fixed date, not today.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal, cast

import polars as pl

from regard.demo import catalogue as cat
from regard.demo.columns import DAY, Clock, epoch_seconds
from regard.demo.events import EventFile, pos_events, shop_events, support_events
from regard.demo.people import (
    ZONES,
    draw_people,
    pos_customers,
    shop_customers,
    support_customers,
)

GENERATOR_VERSION = 1
DEFAULT_SEED = 7
# A fixed end of history: the same seed must give the same bytes whenever it runs.
DEFAULT_UNTIL = date(2026, 11, 1)
HISTORY_DAYS = 730
MANIFEST_NAME = "manifest.json"
BRAND_CONFIG = Path(__file__).with_name("regard.toml")

FileKind = Literal["customers", "events"]


# ---- the manifest ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoFile:
    """One generated file, with what the importer must be told and what it should find."""

    path: Path
    kind: FileKind
    source: str
    rows: int
    # Rows broken on purpose (bad email, unknown zone, malformed timestamp...): to be rejected.
    bad_rows: int = 0
    # Rows that repeat an earlier row's message id (a till that re-sent a receipt).
    duplicate_rows: int = 0

    @property
    def format(self) -> str:
        return self.path.suffix.lstrip(".")


@dataclass(frozen=True)
class DemoManifest:
    """What ``generate`` wrote: the files in import order (customers first) and a few counts."""

    directory: Path
    customers: int
    seed: int
    until: date
    files: tuple[DemoFile, ...]
    anonymous_visitors: int
    split_profiles: int
    version: int = GENERATOR_VERSION

    @property
    def events(self) -> int:
        return sum(f.rows for f in self.files if f.kind == "events")

    @property
    def customer_rows(self) -> int:
        return sum(f.rows for f in self.files if f.kind == "customers")

    def matches(self, *, customers: int, seed: int, until: date) -> bool:
        """Was this manifest written for the same request, and are all its files still there?"""
        return (
            self.version == GENERATOR_VERSION
            and (self.customers, self.seed, self.until) == (customers, seed, until)
            and all(f.path.is_file() for f in self.files)
        )

    def to_json(self) -> str:
        # File names only, so that the manifest is byte-identical wherever it is written.
        body = {
            "version": self.version,
            "brand": cat.BRAND_NAME,
            "customers": self.customers,
            "seed": self.seed,
            "until": self.until.isoformat(),
            "anonymous_visitors": self.anonymous_visitors,
            "split_profiles": self.split_profiles,
            "events": self.events,
            "files": [
                {
                    "file": f.path.name,
                    "kind": f.kind,
                    "source": f.source,
                    "format": f.format,
                    "rows": f.rows,
                    "bad_rows": f.bad_rows,
                    "duplicate_rows": f.duplicate_rows,
                }
                for f in self.files
            ],
        }
        return json.dumps(body, indent=2) + "\n"

    @classmethod
    def read(cls, directory: Path) -> DemoManifest | None:
        """The manifest in ``directory``, or None when there is none or it is unreadable."""
        try:
            body = json.loads((directory / MANIFEST_NAME).read_text(encoding="utf-8"))
            files = tuple(
                DemoFile(
                    path=directory / str(f["file"]),
                    kind=cast(FileKind, f["kind"]),
                    source=str(f["source"]),
                    rows=int(f["rows"]),
                    bad_rows=int(f["bad_rows"]),
                    duplicate_rows=int(f["duplicate_rows"]),
                )
                for f in body["files"]
            )
            return cls(
                directory=directory,
                customers=int(body["customers"]),
                seed=int(body["seed"]),
                until=date.fromisoformat(str(body["until"])),
                files=files,
                anonymous_visitors=int(body["anonymous_visitors"]),
                split_profiles=int(body["split_profiles"]),
                version=int(body["version"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None


# ---- putting it together --------------------------------------------------------------------


def _write(parts: Iterable[pl.DataFrame], path: Path) -> None:
    """Write frames as one file, in the format its name says, one part after the other."""
    if path.suffix == ".parquet":
        pl.concat(list(parts)).write_parquet(path, compression="zstd")
        return
    with path.open("wb") as handle:
        for number, part in enumerate(parts):
            if path.suffix == ".csv":
                part.write_csv(handle, include_header=number == 0)
            else:
                part.write_ndjson(handle)


def generate(
    directory: Path,
    *,
    customers: int,
    seed: int = DEFAULT_SEED,
    until: date = DEFAULT_UNTIL,
) -> DemoManifest:
    """Write the demo brand's files for ``customers`` people into ``directory``.

    Returns the manifest (also written as ``manifest.json``) with the files in the order to
    import them: customer files first, then event files. The brand's ``regard.toml`` is written
    beside them.
    """
    if customers < 1:
        raise ValueError("the demo needs at least one customer")
    if seed < 0:
        raise ValueError("the seed must not be negative")
    directory.mkdir(parents=True, exist_ok=True)
    end = epoch_seconds(until)
    start = end - HISTORY_DAYS * DAY
    clock = Clock(ZONES, start=start - 2 * DAY, end=end + 2 * DAY)
    people = draw_people(seed, customers, start=start, until=end)
    files: list[DemoFile] = []

    def add(path: Path, kind: FileKind, source: str, rows: int, **counts: int) -> None:
        files.append(DemoFile(path=path, kind=kind, source=source, rows=rows, **counts))

    for name, source, make in (
        ("shop_customers.csv", "shop", shop_customers),
        ("pos_customers.parquet", "pos", pos_customers),
        ("support_customers.jsonl", "support", support_customers),
    ):
        frame, bad = make(people, clock, seed, until=end)
        _write([frame], directory / name)
        add(directory / name, "customers", source, frame.height, bad_rows=bad)
    del frame

    def add_events(name: str, source: str, made: EventFile) -> None:
        _write(made.parts(), directory / name)
        rows = made.rows
        add(
            directory / name,
            "events",
            source,
            len(rows),
            bad_rows=rows.bad_rows,
            duplicate_rows=rows.duplicates,
        )

    shop = shop_events(people, clock, seed, start=start, until=end)
    visitors = shop.visitors
    add_events("shop_events.csv", "shop", shop.file)
    del shop  # its tables are the largest; let them go before the next source's
    add_events("pos_events.parquet", "pos", pos_events(people, clock, seed, until=end))
    add_events("support_events.jsonl", "support", support_events(people, clock, seed, until=end))

    manifest = DemoManifest(
        directory=directory,
        customers=customers,
        seed=seed,
        until=until,
        files=tuple(files),
        anonymous_visitors=visitors,
        split_profiles=people.split_profiles,
    )
    (directory / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
    (directory / "regard.toml").write_bytes(BRAND_CONFIG.read_bytes())
    return manifest
