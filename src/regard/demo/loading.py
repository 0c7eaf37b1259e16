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
from datetime import UTC, date, datetime, time
from pathlib import Path

import polars as pl

from regard.config import Settings
from regard.customers import repository as customers_repository
from regard.customers.identities import claim, normalize_email
from regard.customers.importers import ImportSummary, import_file
from regard.customers.importers.pipeline import RecordFileSummary
from regard.delivery.mail import FileMailer
from regard.demo.consents import write_consents
from regard.demo.generator import BRAND_CONFIG, DemoFile, DemoManifest, generate
from regard.demo.preferences import CustomerVoices, simulate
from regard.errors import InvalidInput, Unauthorized
from regard.preferences import keywords, links
from regard.preferences import repository as preferences_repository
from regard.preferences import service as preferences_service
from regard.preferences.imports import import_consent_file
from regard.preferences.service import VerifyReport
from regard.privacy import service as keys
from regard.store import migrate
from regard.store.database import Store, open_store, unit_of_work
from regard.web.center.flows import CenterMail

KEYS_FILE = "keys.json"
DATABASE_FILE = "regard.db"
MAIL_DIR = "mail-outbox"
# Demo customers who text STOP to the brand's number.
SMS_STOPS = 12


def ensure_generated(
    directory: Path, *, customers: int, seed: int, until: date
) -> tuple[DemoManifest, bool]:
    """The demo files for this request, generated only if they are not there yet.

    Returns the manifest and whether it was generated now.
    """
    found = DemoManifest.read(directory)
    if found is not None and found.matches(customers=customers, seed=seed, until=until):
        # The brand's configuration follows the release, whatever the files were made by.
        (directory / "regard.toml").write_bytes(BRAND_CONFIG.read_bytes())
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


@dataclass(frozen=True)
class PreferencesLoaded:
    consents_file: Path
    expected_rejects: int
    imported: RecordFileSummary
    voices: CustomerVoices
    sms_stops: int
    report: VerifyReport


def load_preferences(
    store: Store, manifest: DemoManifest, directory: Path, *, seed: int
) -> PreferencesLoaded:
    """The old system's consents imported, the customers' own word recorded, the ledger checked."""
    shop = next(f for f in manifest.files if f.kind == "customers" and f.source == "shop")
    until = datetime.combine(manifest.until, time(), tzinfo=UTC)
    written = write_consents(directory, shop_customers=shop.path, seed=seed, until=until)
    imported = import_consent_file(store, written.path, system="crm")
    voices = simulate(store, seed=seed)
    stops = _sms_stops(store, manifest, seed=seed)
    with unit_of_work(store) as session:
        report = preferences_service.verify(session)
    return PreferencesLoaded(
        consents_file=written.path,
        expected_rejects=written.bad_rows,
        imported=imported,
        voices=voices,
        sms_stops=stops,
        report=report,
    )


def _sms_stops(store: Store, manifest: DemoManifest, *, seed: int) -> int:
    """A few customers reply STOP to a text, as the SMS provider's webhook would tell Regard."""
    shop = next(f for f in manifest.files if f.kind == "customers" and f.source == "shop")
    phones = [
        p
        for (p,) in pl.read_csv(shop.path, infer_schema=False)
        .select("phone")
        .drop_nulls()
        .iter_rows()
    ]
    stops = 0
    for phone in phones[seed % 7 :: 97][:SMS_STOPS]:
        try:
            with unit_of_work(store) as session:
                keywords.answer(
                    session, sender=phone, body="STOP", brand=store.brand, vault=store.vault
                )
        except InvalidInput:
            continue  # a number broken on purpose in the demo files
        stops += 1
    return stops


def preference_links(store: Store, email: str, base: str) -> tuple[str, str, int] | None:
    """A customer's preference-center link and one-click unsubscribe link, and their id."""
    lookup = claim("email", email, region=store.brand.region, source="demo").lookup(store.vault)
    with unit_of_work(store) as session:
        found = customers_repository.customer_ids_by_lookup(session, [lookup]).get(lookup)
        if found is None:
            return None
        identity = preferences_repository.identity_by_lookup(session, lookup)
        center = links.issue(
            session,
            found,
            purpose="center",
            identity_id=identity.id if identity is not None else None,
        )
        unsubscribe = links.issue(
            session, found, purpose="unsubscribe", topic="offers:camping", channel="email"
        )
    return (
        links.url_for(base, "center", center),
        links.url_for(base, "unsubscribe", unsubscribe),
        found,
    )


def demo_mail(directory: Path, *, public_url: str) -> CenterMail:
    """The demo's email goes to files beside its database, and its links to the demo's server."""
    return CenterMail(
        mailer=FileMailer(directory / MAIL_DIR),
        public_url=public_url,
        sender="preferences@northwind.example",
    )
