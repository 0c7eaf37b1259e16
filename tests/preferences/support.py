"""Customers for preference tests, made the way an import makes them."""

from __future__ import annotations

from datetime import UTC, datetime

from regard.customers.identities import claim
from regard.customers.service import ProfileUpdate, Resolver
from regard.preferences.service import Origin
from regard.store.database import Store, unit_of_work

CUSTOMER = Origin(source="center", actor="customer")


def new_customer(
    store: Store,
    *,
    email: str | None = "ana@example.com",
    phone: str | None = None,
    source: str = "shop",
    name: str = "Ana",
) -> int:
    """A stored customer with the given email address and phone number; returns their id."""
    identities = []
    if email:
        identities.append(claim("email", email, region=store.brand.region, source=source))
    if phone:
        identities.append(claim("phone", phone, region=store.brand.region, source=source))
    with unit_of_work(store) as session:
        resolver = Resolver(session, vault=store.vault, brand=store.brand)
        resolution = resolver.resolve(
            ProfileUpdate(
                source=source,
                observed_at=datetime.now(UTC),
                identities=tuple(identities),
                traits={"first_name": name},
            )
        )
        resolver.flush()
        return resolution.customer_id
