"""Loading the demo brand into a store of its own: database, API keys and every file imported.

``regard demo run`` is these steps in order; each is safe to repeat. The files are generated
only when the manifest does not already describe the same request, the keys are made once and
kept in ``keys.json`` beside the database, and re-importing changes nothing because events are
unique by source and message id and unchanged profile rows are counted as duplicates.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from regard.config import Settings
from regard.customers.identities import normalize_email
from regard.customers.importers import ImportSummary, import_file
from regard.demo.generator import DemoFile, DemoManifest, generate
from regard.errors import InvalidInput, Unauthorized
from regard.privacy import service as keys
from regard.store import migrate
from regard.store.database import Store, open_store, unit_of_work

KEYS_FILE = "keys.json"
DATABASE_FILE = "regard.db"


def ensure_generated(
    directory: Path, *, customers: int, seed: int, until: date
) -> tuple[DemoManifest, bool]:
    """The demo files for this request, generated only if they are not there yet.

    Returns the manifest and whether it was generated now.
    """
    found = DemoManifest.read(directory)
    if found is not None and found.matches(customers=customers, seed=seed, until=until):
        return found, False
    return generate(directory, customers=customers, seed=seed, until=until), True


def demo_settings(directory: Path) -> Settings:
    """Settings that point at the demo's own SQLite database and brand file in ``directory``."""
    return Settings(
        database_url=f"sqlite:///{(directory / DATABASE_FILE).resolve()}",
        brand_config=directory / "regard.toml",
    )


def open_demo_store(directory: Path) -> Store:
    """The demo's store, its schema brought up to date."""
    store = open_store(demo_settings(directory))
    migrate.upgrade(store.engine)
    return store


@dataclass(frozen=True)
class DemoKeys:
    """The demo's API keys: one to read the customer API, one per source to send events."""

    read: str
    write: dict[str, str]


def ensure_keys(store: Store, directory: Path, *, sources: list[str]) -> DemoKeys:
    """The keys in ``keys.json`` when they still work; the missing or dead ones made anew.

    The database keeps only hashes of the secrets, so the demo keeps its own copy (readable by
    its owner only) to print the example calls on every run without making new keys each time.
    """
    path = directory / KEYS_FILE
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        read = str(saved.get("read", ""))
        write = {str(k): str(v) for k, v in dict(saved.get("write", {})).items()}
    except (OSError, ValueError, AttributeError, TypeError):
        read, write = "", {}
    changed = False
    with unit_of_work(store) as session:

        def works(secret: str | None, scope: keys.KeyScope, source: str | None = None) -> bool:
            if not secret:
                return False
            try:
                key = keys.authenticate(session, secret, scope=scope)
            except Unauthorized:
                return False
            return key.source == source

        if not works(read, "read"):
            read = keys.create_key(session, name="demo: customer API", scope="read").secret
            changed = True
        for source in sources:
            if not works(write.get(source), "write", source):
                issued = keys.create_key(
                    session, name=f"demo: {source}", scope="write", source=source
                )
                write[source] = issued.secret
                changed = True
    if changed:
        temporary = path.with_name(path.name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"read": read, "write": write}, handle, indent=2)
        temporary.replace(path)
    return DemoKeys(read=read, write=write)


Progress = Callable[[DemoFile], Callable[[int], None] | None]


def rejects_path(demo_file: DemoFile) -> Path:
    return demo_file.path.with_name(f"{demo_file.path.name}.rejects.csv")


def import_demo(
    store: Store, manifest: DemoManifest, *, progress: Progress | None = None
) -> list[tuple[DemoFile, ImportSummary]]:
    """Import every file of the manifest, customers first; ``progress(file)`` gives a callback."""
    results: list[tuple[DemoFile, ImportSummary]] = []
    for demo_file in manifest.files:
        summary = import_file(
            store,
            demo_file.path,
            kind=demo_file.kind,
            source=demo_file.source,
            rejects_path=rejects_path(demo_file),
            progress=progress(demo_file) if progress is not None else None,
        )
        results.append((demo_file, summary))
    return results


@dataclass(frozen=True)
class ExampleCustomer:
    """A real customer of the demo, to show the API with."""

    email: str
    shop_id: str


def example_customer(manifest: DemoManifest) -> ExampleCustomer:
    """The first web-shop customer whose email is valid (some rows are broken on purpose)."""
    shop = next(f for f in manifest.files if f.kind == "customers" and f.source == "shop")
    rows = pl.read_csv(shop.path, n_rows=200, infer_schema=False)
    for email, shop_id in rows.select("email", "external_id").iter_rows():
        if email and shop_id:
            try:
                return ExampleCustomer(email=normalize_email(email), shop_id=shop_id)
            except InvalidInput:
                continue
    raise LookupError("no valid customer in the first rows of the shop's file")
