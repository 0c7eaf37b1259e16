"""Signed links: each opens only what it was made for, and only while it is valid."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import itsdangerous.timed
import pytest

from regard.customers.identities import claim
from regard.customers.service import ProfileUpdate, Resolver
from regard.preferences import links
from regard.preferences.links import LinkProblem
from regard.store.database import Store, unit_of_work
from tests.preferences.support import new_customer


def test_a_link_opens_for_its_customer_and_purpose(store: Store) -> None:
    customer_id = new_customer(store)
    with unit_of_work(store) as session:
        token = links.issue(
            session, customer_id, purpose="unsubscribe", topic="offers:camping", channel="email"
        )
        claims = links.open_token(session, token, purpose="unsubscribe", brand=store.brand)
    assert claims.customer_id == customer_id
    assert (claims.topic, claims.channel) == ("offers:camping", "email")


def test_a_changed_character_makes_the_link_tampered(store: Store) -> None:
    customer_id = new_customer(store)
    with unit_of_work(store) as session:
        token = links.issue(session, customer_id, purpose="center")
        # Change a character of the payload (not the last, whose low bits base64 may ignore).
        index = 3
        tampered = token[:index] + ("A" if token[index] != "A" else "B") + token[index + 1 :]
        with pytest.raises(LinkProblem) as problem:
            links.open_token(session, tampered, purpose="center", brand=store.brand)
    assert problem.value.reason == "tampered"


def test_an_unsubscribe_link_does_not_open_the_preference_center(store: Store) -> None:
    customer_id = new_customer(store)
    with unit_of_work(store) as session:
        token = links.issue(session, customer_id, purpose="unsubscribe", topic="orders")
        with pytest.raises(LinkProblem) as problem:
            links.open_token(session, token, purpose="center", brand=store.brand)
    assert problem.value.reason == "tampered"


def test_a_link_expires_after_the_brands_lifetime(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer_id = new_customer(store)
    days = store.brand.preferences.link_days
    with unit_of_work(store) as session:
        fresh = links.issue(session, customer_id, purpose="center")
        # Signed a day past the lifetime ago.
        monkeypatch.setattr(
            itsdangerous.timed.TimestampSigner,
            "get_timestamp",
            lambda self: int(time.time()) - (days + 1) * 86_400,
        )
        old = links.issue(session, customer_id, purpose="center")
        monkeypatch.undo()
        assert links.open_token(session, fresh, purpose="center", brand=store.brand)
        with pytest.raises(LinkProblem) as problem:
            links.open_token(session, old, purpose="center", brand=store.brand)
    assert problem.value.reason == "expired"


def test_revoking_stops_every_earlier_link_but_not_new_ones(store: Store) -> None:
    customer_id = new_customer(store)
    with unit_of_work(store) as session:
        old = links.issue(session, customer_id, purpose="center")
        links.revoke(session, customer_id)
        new = links.issue(session, customer_id, purpose="center")
    with unit_of_work(store) as session:
        with pytest.raises(LinkProblem) as problem:
            links.open_token(session, old, purpose="center", brand=store.brand)
        assert problem.value.reason == "revoked"
        assert links.open_token(session, new, purpose="center", brand=store.brand)


def test_a_link_to_a_merged_profile_opens_the_survivor(store: Store) -> None:
    first = new_customer(store, email="ana@example.com", phone=None)
    second = new_customer(store, email=None, phone="+31612345678")
    with unit_of_work(store) as session:
        token = links.issue(session, second, purpose="center")
    with unit_of_work(store) as session:
        resolver = Resolver(session, vault=store.vault, brand=store.brand)
        resolver.resolve(
            ProfileUpdate(
                source="shop",
                observed_at=datetime.now(UTC),
                identities=(
                    claim("email", "ana@example.com", region="NL", source="shop"),
                    claim("phone", "+31612345678", region="NL", source="shop"),
                ),
            )
        )
        resolver.flush()
    with unit_of_work(store) as session:
        claims = links.open_token(session, token, purpose="center", brand=store.brand)
    assert claims.customer_id == first
