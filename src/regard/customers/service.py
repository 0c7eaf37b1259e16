"""Identity resolution: every record finds its one customer profile.

A record that matches existing identities attaches to that customer; one that matches two or
more customers merges them (the oldest survives, identities and events move over, and a merge
record keeps what happened). Traits conflict by source priority first, then last write wins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl
from sqlalchemy import inspect
from sqlalchemy.orm import Mapper, Session

from regard.config import BrandConfig
from regard.customers import repository
from regard.customers.identities import IdentityClaim
from regard.customers.models import Customer, CustomerMerge, Identity
from regard.store.crypto import Vault

# Later domains keep their own rows per customer; each registers here to follow a merge.
MergeHook = Callable[[Session, int, int], None]
MERGE_HOOKS: list[MergeHook] = []


def on_merge(hook: MergeHook) -> MergeHook:
    """Register ``hook(session, survivor_id, merged_id)`` to run inside every merge."""
    MERGE_HOOKS.append(hook)
    return hook


# Profile fields that follow the same conflict rule as traits.
_PROFILE_FIELDS = ("time_zone", "locale")


@dataclass(frozen=True)
class ProfileUpdate:
    """What one record from one source says about one person."""

    source: str
    observed_at: datetime
    identities: tuple[IdentityClaim, ...]
    traits: dict[str, Any] = field(default_factory=dict)
    time_zone: str | None = None
    locale: str | None = None
    # True when the record is something the customer did (an event, a page view): it moves
    # "last seen". A profile record from a file only says what a system knows about them.
    activity: bool = False


@dataclass(frozen=True)
class Resolution:
    customer: Customer
    created: bool
    merged_ids: tuple[int, ...]
    changed: bool

    @property
    def customer_id(self) -> int:
        """The customer's id; a new customer has one once the resolver has flushed."""
        if self.customer.id is None:
            raise RuntimeError("the new customer has no id until the resolver flushes")
        return self.customer.id


def split_personal(
    values: dict[str, Any], personal_names: Iterable[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(plain, personal): the values named as personal traits go apart, to be encrypted."""
    names = set(personal_names)
    plain = {k: v for k, v in values.items() if k not in names}
    personal = {k: v for k, v in values.items() if k in names}
    return plain, personal


EVENT_FRAME_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.Int64(),
    "type": pl.String(),
    "occurred_at": pl.Datetime("us", "UTC"),
    "message_id": pl.String(),
    "properties": pl.String(),  # a JSON object
    "personal": pl.String(),  # a JSON object of personal properties, or null
}


def store_events(
    session: Session, events: pl.DataFrame, *, vault: Vault, source: str, received_at: datetime
) -> int:
    """Write resolved events (``EVENT_FRAME_SCHEMA``), each (source, message id) once.

    Personal properties are sealed first, and each customer's first and last seen widened.
    Returns how many events were new.
    """
    sealed = [
        vault.seal(text, purpose="event.personal") if text is not None else None
        for text in events["personal"].to_list()
    ]
    events = events.with_columns(pl.Series("personal", sealed, dtype=pl.Binary))
    inserted = repository.insert_events(session, events, source=source, received_at=received_at)
    repository.touch_seen(session, events)
    return inserted


def _row_of(row: Customer | Identity) -> dict[str, Any]:
    """A new ORM object's column values, for a bulk INSERT."""
    mapper: Mapper[Any] = inspect(type(row))
    return {attr.key: getattr(row, attr.key) for attr in mapper.column_attrs}


def _now() -> datetime:
    return datetime.now(UTC)


class Resolver:
    """Resolves records to customers within one transaction, remembering what it has seen.

    ``prefetch`` loads the customers a whole batch refers to in one query, so that resolving the
    batch afterwards touches the database only for what is new.
    """

    def __init__(
        self,
        session: Session,
        *,
        vault: Vault,
        brand: BrandConfig,
        lookup_cache: dict[IdentityClaim, bytes] | None = None,
    ) -> None:
        self.session = session
        self.vault = vault
        self.brand = brand
        self.lookups: dict[bytes, int] = {}
        # New customers not yet written, by the lookups of their identities.
        self.pending: dict[bytes, Customer] = {}
        self.profiles: dict[int, Customer] = {}
        # Identities added to customers already written, waiting for ``flush``.
        self._new_identities: list[Identity] = []
        # Every lookup already asked of the database (found or not).
        self._looked_up: set[bytes] = set()
        self.created = 0
        self.merged = 0
        # Customers merged away during this resolver's work, and where they went.
        self.merged_into: dict[int, int] = {}
        # Blind indexes are pure functions of the identity: an import shares them across batches.
        self._lookup_of: dict[IdentityClaim, bytes] = {} if lookup_cache is None else lookup_cache

    def lookup(self, identity: IdentityClaim) -> bytes:
        found = self._lookup_of.get(identity)
        if found is None:
            found = self._lookup_of[identity] = identity.lookup(self.vault)
        return found

    def prefetch(self, identities: Iterable[IdentityClaim], *, load_profiles: bool) -> None:
        wanted = [self.lookup(i) for i in identities]
        missing = [lookup for lookup in wanted if lookup not in self._looked_up]
        self.lookups.update(repository.customer_ids_by_lookup(self.session, missing))
        self._looked_up.update(missing)
        if load_profiles:
            self.load_profiles(self.lookups[w] for w in wanted if w in self.lookups)

    def load_profiles(self, customer_ids: Iterable[int]) -> None:
        """Load these customers in one query, for resolving rows that name them."""
        wanted = {cid for cid in customer_ids if cid not in self.profiles}
        # Held here: the session's identity map alone would let them be collected.
        self.profiles.update(repository.load_customers(self.session, wanted))

    def flush(self) -> None:
        """Write new customers and identities; from now on they are known by id.

        New profiles never enter the ORM session: they are written with one multi-row INSERT
        per table, their ids reserved up front, rather than one ORM statement per row.
        """
        fresh = list({id(c): c for c in self.pending.values()}.values())
        identities = [i for c in fresh for i in c.identities] + self._new_identities
        # Changes to loaded profiles first: nothing may autoflush into the ids reserved here.
        self.session.flush()
        if fresh or identities:
            with self.session.no_autoflush:
                customer_ids = repository.reserve_ids(self.session, Customer, len(fresh))
                identity_ids = repository.reserve_ids(self.session, Identity, len(identities))
            for customer, customer_id in zip(fresh, customer_ids, strict=True):
                customer.id = customer_id
                for identity in customer.identities:
                    identity.customer_id = customer_id
            for identity, identity_id in zip(identities, identity_ids, strict=True):
                identity.id = identity_id
            repository.insert_profiles(
                self.session, [_row_of(c) for c in fresh], [_row_of(i) for i in identities]
            )
            for lookup, customer in self.pending.items():
                self.lookups[lookup] = customer.id
            self.pending.clear()
            self._new_identities.clear()

    def ids(self, customers: Iterable[int | Customer]) -> list[int]:
        """Ids for what ``customer_for`` returned, after ``flush``."""
        return [c if isinstance(c, int) else c.id for c in customers]

    def customer_for(
        self,
        identities: tuple[IdentityClaim, ...],
        *,
        source: str,
        seen_at: datetime,
        flush: bool = True,
    ) -> int | Customer:
        """The customer these identities name, creating or merging as needed (no traits).

        With ``flush=False`` a new customer is returned unwritten; call ``flush`` and ``ids``
        once the whole batch is resolved, so that a batch writes its new customers together.
        """
        known = {self.lookups.get(self.lookup(i)) for i in identities}
        if len(known) == 1 and None not in known:
            (customer_id,) = known
            assert customer_id is not None
            return customer_id
        update = ProfileUpdate(
            source=source, observed_at=seen_at, identities=identities, activity=True
        )
        resolution = self.resolve(update, flush=flush)
        return resolution.customer.id if flush else resolution.customer

    def _matches(self, update: ProfileUpdate) -> tuple[list[int], list[Customer]]:
        lookups = [self.lookup(i) for i in update.identities]
        if any(
            lookup not in self._looked_up
            and lookup not in self.lookups
            and lookup not in self.pending
            for lookup in lookups
        ):
            self.prefetch(update.identities, load_profiles=False)
        known = sorted({cid for lookup in lookups if (cid := self.lookups.get(lookup)) is not None})
        fresh = list(
            {id(c): c for lookup in lookups if (c := self.pending.get(lookup)) is not None}.values()
        )
        return known, fresh

    def resolve(self, update: ProfileUpdate, *, flush: bool = True) -> Resolution:
        """Attach, create or merge for one record, then apply its traits.

        With ``flush=False`` a new customer stays unwritten until ``flush``.
        """
        if not update.identities:
            raise ValueError("a profile update needs at least one identity")
        now = _now()
        matched, fresh = self._matches(update)
        if fresh and len(matched) + len(fresh) > 1:
            # Merging needs ids on both sides.
            self.flush()
            matched, fresh = self._matches(update)
        created = False
        merged: list[int] = []
        if fresh:
            customer = fresh[0]
        elif not matched:
            customer = Customer(
                created_at=now,
                updated_at=now,
                traits={},
                trait_origins={},
                first_seen_at=update.observed_at,
                last_seen_at=update.observed_at if update.activity else None,
            )
            # Kept out of the session: ``flush`` writes new profiles in bulk.
            created = True
            self.created += 1
        else:
            profiles = [self._customer(cid) for cid in matched]
            profiles.sort(key=lambda c: (c.created_at, c.id))
            customer = profiles[0]
            for other in profiles[1:]:
                self._merge(customer, other, update)
                merged.append(other.id)
                self.merged += 1
        changed = created or bool(merged)
        changed |= self._attach(customer, update, now)
        changed |= self._apply_traits(customer, update)
        if customer.first_seen_at is None or update.observed_at < customer.first_seen_at:
            customer.first_seen_at = update.observed_at
            changed = True
        if update.activity and (
            customer.last_seen_at is None or update.observed_at > customer.last_seen_at
        ):
            customer.last_seen_at = update.observed_at
            changed = True
        if changed:
            customer.updated_at = now
        if flush and (self.pending or self._new_identities):
            self.flush()
        return Resolution(
            customer=customer, created=created, merged_ids=tuple(merged), changed=changed
        )

    def _customer(self, customer_id: int) -> Customer:
        customer = self.profiles.get(customer_id) or self.session.get(Customer, customer_id)
        if customer is None:
            raise LookupError(f"customer {customer_id} vanished during resolution")
        return customer

    def _attach(self, customer: Customer, update: ProfileUpdate, now: datetime) -> bool:
        added = False
        unwritten = customer.id is None
        for identity in update.identities:
            lookup = self.lookup(identity)
            if unwritten:
                if self.pending.get(lookup) is customer:
                    continue
            elif self.lookups.get(lookup) == customer.id:
                continue
            row = Identity(
                kind=identity.kind,
                namespace=identity.namespace,
                lookup=lookup,
                value=identity.value,
                source=update.source,
                created_at=now,
            )
            if unwritten:
                # Written with the customer, in one flush for the whole batch.
                customer.identities.append(row)
                self.pending[lookup] = customer
            else:
                row.customer_id = customer.id
                self._new_identities.append(row)
                self.lookups[lookup] = customer.id
            added = True
        return added

    def _wins(self, origin: dict[str, Any] | None, *, source: str, at: datetime) -> bool:
        """Does a value from ``source`` observed ``at`` replace the one from ``origin``?"""
        if origin is None:
            return True
        old_rank = self.brand.source_rank(str(origin["source"]))
        new_rank = self.brand.source_rank(source)
        if new_rank != old_rank:
            return new_rank < old_rank
        return at >= datetime.fromisoformat(str(origin["at"]))

    def _apply_traits(self, customer: Customer, update: ProfileUpdate) -> bool:
        incoming: dict[str, Any] = dict(update.traits)
        for name in _PROFILE_FIELDS:
            value = getattr(update, name)
            if value is not None:
                incoming[name] = value
        if not incoming:
            return False
        personal_names = set(self.brand.identity.personal_traits)
        origins = dict(customer.trait_origins or {})
        traits = dict(customer.traits or {})
        personal = dict(customer.personal or {})
        changed = False
        stamp = {"source": update.source, "at": update.observed_at.isoformat()}
        for name, value in incoming.items():
            if not self._wins(origins.get(name), source=update.source, at=update.observed_at):
                continue
            if name in _PROFILE_FIELDS:
                current = getattr(customer, name)
            elif name in personal_names:
                current = personal.get(name)
            else:
                current = traits.get(name)
            if origins.get(name) != stamp:
                origins[name] = stamp
                changed = True
            if current == value:
                continue
            changed = True
            if name in _PROFILE_FIELDS:
                setattr(customer, name, value)
            elif name in personal_names:
                personal[name] = value
            else:
                traits[name] = value
        if changed:
            customer.trait_origins = origins
            customer.traits = traits
            customer.personal = personal or None
        return changed

    def _merge(self, survivor: Customer, other: Customer, update: ProfileUpdate) -> None:
        # What waits to be written must be in the database before rows move between profiles.
        self.flush()
        snapshot = {"traits": other.traits, "personal": other.personal or {}}
        # The merged profile's traits compete with the survivor's under the usual rule.
        for name, origin in (other.trait_origins or {}).items():
            at = datetime.fromisoformat(str(origin["at"]))
            if name in _PROFILE_FIELDS:
                value = getattr(other, name)
            elif name in set(self.brand.identity.personal_traits):
                value = (other.personal or {}).get(name)
            else:
                value = (other.traits or {}).get(name)
            self._apply_traits(
                survivor,
                ProfileUpdate(
                    source=str(origin["source"]),
                    observed_at=at,
                    identities=update.identities,
                    **({name: value} if name in _PROFILE_FIELDS else {"traits": {name: value}}),
                ),
            )
        for stamp_name in ("first_seen_at", "last_seen_at"):
            theirs = getattr(other, stamp_name)
            ours = getattr(survivor, stamp_name)
            if theirs is not None and (
                ours is None or (theirs < ours if stamp_name == "first_seen_at" else theirs > ours)
            ):
                setattr(survivor, stamp_name, theirs)
        self.session.flush()
        moving = repository.lookups_of(self.session, other.id)
        identities_moved, events_moved = repository.move_customer_data(
            self.session, survivor_id=survivor.id, merged_id=other.id
        )
        for hook in MERGE_HOOKS:
            hook(self.session, survivor.id, other.id)
        shared = sorted(
            {i.label for i in update.identities if self.lookups.get(self.lookup(i)) == other.id}
        )
        self.session.add(
            CustomerMerge(
                survivor_id=survivor.id,
                merged_id=other.id,
                merged_at=_now(),
                source=update.source,
                matched_on=",".join(shared) or "identity",
                identities_moved=identities_moved,
                events_moved=events_moved,
                merged_profile=snapshot,
            )
        )
        for lookup in moving:
            if lookup in self.lookups:
                self.lookups[lookup] = survivor.id
        for merged_id, into in self.merged_into.items():
            if into == other.id:
                self.merged_into[merged_id] = survivor.id
        self.merged_into[other.id] = survivor.id
        self.profiles.pop(other.id, None)
        self.session.expunge(other)
        repository.delete_customer(self.session, other.id)
