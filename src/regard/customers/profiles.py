"""Reading customer profiles: by id, by an identity through the blind index, and merges."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from regard.customers import repository
from regard.customers.identities import IdentityClaim, claim, external_claim
from regard.customers.models import Customer, CustomerMerge, Event
from regard.errors import InvalidInput, NotFound
from regard.store.crypto import Vault


@dataclass(frozen=True)
class CustomerRecord:
    """A customer with its identities loaded, and its most recent events, newest first."""

    customer: Customer
    events: Sequence[Event]


@dataclass(frozen=True)
class MergedAway:
    """The profile asked for was merged; ``survivor_id`` holds its data now."""

    survivor_id: int


def customer_record(
    session: Session, customer_id: int, *, events: int
) -> CustomerRecord | MergedAway:
    """The customer with this id, or where it went when it was merged; else ``NotFound``."""
    customer = repository.get_customer(session, customer_id)
    if customer is not None:
        return CustomerRecord(
            customer=customer,
            events=repository.recent_events(session, customer.id, limit=events),
        )
    survivor = repository.survivor_of(session, customer_id)
    if survivor is None:
        raise NotFound(f"no customer with id {customer_id}")
    return MergedAway(survivor_id=survivor)


def identity_to_find(
    *, email: str | None, phone: str | None, external: str | None, region: str
) -> IdentityClaim:
    """The one identity a look-up names, normalised; ``InvalidInput`` unless exactly one."""
    given = {
        kind: raw
        for kind, raw in (("email", email), ("phone", phone), ("external", external))
        if raw is not None
    }
    if len(given) != 1:
        raise InvalidInput("give exactly one of email, phone or external (as 'system:id')")
    ((kind, raw),) = given.items()
    if kind == "external":
        # No default system: a bare id would not say which system's id it is.
        return external_claim(raw, default_namespace="")
    return claim(kind, raw, region=region, source="")


def find_customer(
    session: Session, identity: IdentityClaim, *, vault: Vault, events: int
) -> CustomerRecord:
    """The customer holding this identity, found through its blind index; else ``NotFound``."""
    lookup = identity.lookup(vault)
    customer_id = repository.customer_ids_by_lookup(session, [lookup]).get(lookup)
    if customer_id is None:
        # The kind only: the value is personal data and is not echoed back.
        raise NotFound(f"no customer with that {identity.label} identity")
    found = customer_record(session, customer_id, events=events)
    assert isinstance(found, CustomerRecord)  # an identity always belongs to a live profile
    return found


def recent_merges(session: Session, *, limit: int) -> Sequence[CustomerMerge]:
    """The latest merges, newest first."""
    return repository.list_merges(session, limit=limit)
