"""What the preferences API and the ``regard consent`` commands show of one customer.

Each function here is the one call a route or a command makes: it finds the customer (following
a merged profile to the one that absorbed it), then reads or changes through the service.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from regard.config import BrandConfig
from regard.customers import repository as customers_repository
from regard.customers.identities import claim
from regard.errors import InvalidInput, NotFound
from regard.preferences import repository, service
from regard.preferences.models import ConsentEntry, PushDevice
from regard.preferences.service import (
    ConsentChange,
    Origin,
    Preferences,
    Recorded,
    SettingChange,
    VerifyReport,
)
from regard.store.crypto import Vault


def live_customer_id(session: Session, customer_id: int) -> int:
    """The customer with this id, or the one a merged profile went to; else ``NotFound``."""
    if customers_repository.customer_exists(session, customer_id):
        return customer_id
    survivor = customers_repository.survivor_of(session, customer_id)
    if survivor is None:
        raise NotFound(f"no customer with id {customer_id}")
    return survivor


def find_customer(session: Session, named: str, *, brand: BrandConfig, vault: Vault) -> int:
    """A customer named on the command line: by id, or by email address (blind index)."""
    text = named.strip()
    if text.isdigit():
        return live_customer_id(session, int(text))
    if "@" not in text:
        raise InvalidInput("name a customer by id or by email address")
    identity = claim("email", text, region=brand.region, source="")
    lookup = identity.lookup(vault)
    found = customers_repository.customer_ids_by_lookup(session, [lookup]).get(lookup)
    if found is None:
        # The kind only: the address is personal data and is not echoed back.
        raise NotFound("no customer with that email")
    return found


@dataclass(frozen=True)
class CustomerPreferences:
    """A customer's preferences and their push devices."""

    preferences: Preferences
    devices: list[PushDevice]


def preferences_of(
    session: Session, customer_id: int, *, brand: BrandConfig, at: datetime | None = None
) -> CustomerPreferences:
    """What the customer allows now, or (with ``at``) what they allowed at that moment."""
    if at is not None and at.tzinfo is None:
        raise InvalidInput("give the moment with its time zone, e.g. 2026-03-03T12:00:00Z")
    cid = live_customer_id(session, customer_id)
    preferences = (
        service.current(session, cid, brand=brand)
        if at is None
        else service.as_of(session, cid, at, brand=brand)
    )
    return CustomerPreferences(preferences, list(repository.devices_of(session, cid)))


@dataclass(frozen=True)
class PreferencesChange:
    recorded: Recorded
    after: CustomerPreferences


def change_preferences(
    session: Session,
    customer_id: int,
    *,
    brand: BrandConfig,
    origin: Origin,
    consents: Sequence[ConsentChange],
    settings: Sequence[SettingChange],
) -> PreferencesChange:
    """Record a change (all of it, or nothing) and read back what stands after it."""
    cid = live_customer_id(session, customer_id)
    recorded = service.record(
        session, cid, brand=brand, origin=origin, consents=consents, settings=settings
    )
    return PreferencesChange(recorded, preferences_of(session, cid, brand=brand))


def add_device(
    session: Session, customer_id: int, *, name: str, platform: str, token: str
) -> PushDevice:
    """Register a device to push to, for the customer (or the one they were merged into)."""
    cid = live_customer_id(session, customer_id)
    return service.register_device(session, cid, name=name, platform=platform, token=token)


@dataclass(frozen=True)
class ConsentProof:
    """Every entry about a customer, oldest first, and the check of every chain they span."""

    customer_id: int
    merged_profiles: list[int]
    entries: list[ConsentEntry]
    described: list[dict[str, object]]
    verification: VerifyReport


def consent_proof(session: Session, customer_id: int) -> ConsentProof:
    """The proof of what a customer allowed: their history, their merged profiles', verified."""
    cid = live_customer_id(session, customer_id)
    merged = repository.merged_into(session, cid)
    entries = service.history(session, cid)
    # Described before verifying: verifying streams the ledger and empties the session.
    described: list[dict[str, object]] = [
        {"customer_id": entry.customer_id, **service.describe_entry(entry)} for entry in entries
    ]
    combined = VerifyReport()
    anchors = hashlib.sha256()
    for chain in [cid, *sorted(merged)]:
        report = service.verify(session, customer_id=chain)
        combined.entries += report.entries
        combined.customers += report.customers
        combined.problems.extend(report.problems)
        anchors.update(f"{chain}:{report.anchor}\n".encode())
    combined.anchor = anchors.hexdigest()
    return ConsentProof(cid, merged, entries, described, combined)
