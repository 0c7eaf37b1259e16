"""Reading back what a test stored: a customer by one identity, every event."""

from __future__ import annotations

from sqlalchemy import select

from regard.customers import repository
from regard.customers.identities import IdentityClaim
from regard.customers.models import Customer, Event
from regard.store.database import Store, unit_of_work


def customer_with(store: Store, identity: IdentityClaim) -> Customer:
    """The customer who holds ``identity``, with their identities loaded."""
    with unit_of_work(store) as session:
        lookup = identity.lookup(store.vault)
        customer_id = repository.customer_ids_by_lookup(session, [lookup])[lookup]
        customer = repository.get_customer(session, customer_id)
        assert customer is not None
        return customer


def stored_events(store: Store) -> list[Event]:
    """Every stored event, oldest first."""
    with unit_of_work(store) as session:
        return list(session.scalars(select(Event).order_by(Event.id)))
