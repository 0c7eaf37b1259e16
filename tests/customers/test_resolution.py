"""Identity resolution: attach, add, merge, and which source's trait wins; on both databases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from regard.customers import repository
from regard.customers.identities import IdentityClaim, claim
from regard.customers.models import Customer, CustomerMerge, Event, Identity
from regard.customers.profiles import MergedAway, customer_record
from regard.customers.service import ProfileUpdate, Resolver
from regard.errors import InvalidInput
from regard.store.database import Store, unit_of_work

T0 = datetime(2024, 6, 1, 12, tzinfo=UTC)


def email(raw: str) -> IdentityClaim:
    return claim("email", raw, region="NL", source="")


def phone(raw: str) -> IdentityClaim:
    return claim("phone", raw, region="NL", source="")


def external(system: str, value: str) -> IdentityClaim:
    return claim("external", f"{system}:{value}", region="NL", source="")


@dataclass(frozen=True)
class Outcome:
    customer_id: int
    created: bool
    merged_ids: tuple[int, ...]
    changed: bool


def resolve(
    store: Store,
    *identities: IdentityClaim,
    source: str = "crm",
    at: datetime = T0,
    traits: dict[str, Any] | None = None,
    time_zone: str | None = None,
    locale: str | None = None,
) -> Outcome:
    """One record, in its own transaction, the way every caller uses the resolver."""
    with unit_of_work(store) as session:
        resolver = Resolver(session, vault=store.vault, brand=store.brand)
        resolver.prefetch(identities, load_profiles=True)
        resolution = resolver.resolve(
            ProfileUpdate(
                source=source,
                observed_at=at,
                identities=identities,
                traits=traits or {},
                time_zone=time_zone,
                locale=locale,
            )
        )
        return Outcome(
            resolution.customer_id,
            resolution.created,
            resolution.merged_ids,
            resolution.changed,
        )


def customer(store: Store, customer_id: int) -> Customer:
    with unit_of_work(store) as session:
        found = repository.get_customer(session, customer_id)
        assert found is not None, f"customer {customer_id} is gone"
        return found


def identities_of(store: Store, customer_id: int) -> set[tuple[str, str, str]]:
    return {(i.kind, i.namespace, i.value) for i in customer(store, customer_id).identities}


def add_events(store: Store, customer_id: int, *message_ids: str) -> None:
    with unit_of_work(store) as session:
        for n, message_id in enumerate(message_ids):
            session.add(
                Event(
                    customer_id=customer_id,
                    type="purchase",
                    occurred_at=T0 - timedelta(days=n + 1),
                    received_at=T0,
                    source="shop",
                    message_id=message_id,
                    properties={},
                )
            )


def merges(store: Store) -> list[CustomerMerge]:
    with unit_of_work(store) as session:
        return list(session.scalars(select(CustomerMerge).order_by(CustomerMerge.id)))


def survivor_of(store: Store, customer_id: int) -> int | None:
    with unit_of_work(store) as session:
        return repository.survivor_of(session, customer_id)


def exists(store: Store, customer_id: int) -> bool:
    with unit_of_work(store) as session:
        return session.get(Customer, customer_id) is not None


# ---- attach, add, create ---------------------------------------------------------------------


def test_a_new_identity_creates_a_customer(store: Store) -> None:
    outcome = resolve(store, email("new@example.org"), at=T0)

    assert (outcome.created, outcome.merged_ids, outcome.changed) == (True, (), True)
    created = customer(store, outcome.customer_id)
    assert identities_of(store, outcome.customer_id) == {("email", "", "new@example.org")}
    assert created.first_seen_at == T0
    assert created.last_seen_at is None  # a profile record is not activity


def test_a_record_matching_an_identity_attaches(store: Store) -> None:
    first = resolve(store, email("ann@example.org"), traits={"plan": "gold"})

    again = resolve(store, email("ann@example.org"), traits={"plan": "gold"})

    assert again.customer_id == first.customer_id
    assert (again.created, again.merged_ids, again.changed) == (False, (), False)
    with unit_of_work(store) as session:
        assert repository.count_customers(session) == 1


def test_saying_nothing_new_leaves_updated_at_alone(store: Store) -> None:
    first = resolve(store, email("ann@example.org"), traits={"plan": "gold"})
    before = customer(store, first.customer_id).updated_at

    resolve(store, email("ann@example.org"), traits={"plan": "gold"})
    assert customer(store, first.customer_id).updated_at == before

    changed = resolve(store, email("ann@example.org"), traits={"plan": "platinum"})
    assert changed.changed
    assert customer(store, first.customer_id).updated_at > before


def test_a_new_identity_on_a_known_customer_is_added(store: Store) -> None:
    first = resolve(store, email("ann@example.org"))

    second = resolve(store, email("ann@example.org"), phone("0612345678"), external("pos", "L1"))

    assert second.customer_id == first.customer_id
    assert (second.created, second.changed) == (False, True)
    assert identities_of(store, first.customer_id) == {
        ("email", "", "ann@example.org"),
        ("phone", "", "+31612345678"),
        ("external", "pos", "L1"),
    }
    # Each identity now finds the customer on its own.
    assert resolve(store, phone("+31 6 12345678")).customer_id == first.customer_id
    assert resolve(store, external("POS", "L1")).customer_id == first.customer_id


def test_email_matching_ignores_case_and_spaces(store: Store) -> None:
    first = resolve(store, email("  Ann.Smith@Example.ORG "))

    assert email("ANN.SMITH@example.org").value == "ann.smith@example.org"
    assert resolve(store, email("ann.smith@example.org")).customer_id == first.customer_id
    assert identities_of(store, first.customer_id) == {("email", "", "ann.smith@example.org")}


@pytest.mark.parametrize("raw", ["ann@", "ann.example.org", "", "ann@@example.org", "a b@x.org"])
def test_an_invalid_email_is_invalid_input(raw: str) -> None:
    with pytest.raises(InvalidInput, match="invalid email"):
        email(raw)


def test_an_invalid_phone_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="invalid phone"):
        phone("0612")


def test_a_record_without_identities_is_refused(store: Store) -> None:
    with unit_of_work(store) as session:
        resolver = Resolver(session, vault=store.vault, brand=store.brand)
        with pytest.raises(ValueError, match="at least one identity"):
            resolver.resolve(ProfileUpdate(source="crm", observed_at=T0, identities=()))


def test_resolve_without_prefetch_still_finds_a_known_customer(store: Store) -> None:
    first = resolve(store, email("ann@example.org"))

    with unit_of_work(store) as session:
        resolver = Resolver(session, vault=store.vault, brand=store.brand)
        resolution = resolver.resolve(
            ProfileUpdate(source="crm", observed_at=T0, identities=(email("ann@example.org"),))
        )
        assert resolution.customer_id == first.customer_id


# ---- merges ----------------------------------------------------------------------------------


def test_a_record_matching_two_customers_merges_them_into_the_older(store: Store) -> None:
    older = resolve(
        store,
        email("ann@example.org"),
        at=T0,
        traits={"plan": "gold", "first_name": "Ann"},
    ).customer_id
    newer = resolve(
        store,
        phone("0612345678"),
        external("pos", "L-77"),
        source="pos",
        at=T0 - timedelta(days=30),
        traits={"store": "Utrecht"},
    ).customer_id
    add_events(store, older, "o1")
    add_events(store, newer, "n1", "n2")

    outcome = resolve(store, email("ann@example.org"), phone("06 12345678"), source="shop")

    assert outcome.customer_id == older
    assert outcome.merged_ids == (newer,)
    assert (outcome.created, outcome.changed) == (False, True)
    assert not exists(store, newer)
    assert identities_of(store, older) == {
        ("email", "", "ann@example.org"),
        ("phone", "", "+31612345678"),
        ("external", "pos", "L-77"),
    }
    with unit_of_work(store) as session:
        owners = set(session.scalars(select(Event.customer_id)))
        identity_owners = set(session.scalars(select(Identity.customer_id)))
    assert owners == identity_owners == {older}
    survivor = customer(store, older)
    assert survivor.traits == {"plan": "gold", "store": "Utrecht"}
    assert survivor.personal == {"first_name": "Ann"}
    assert survivor.first_seen_at == T0 - timedelta(days=30)

    (merge,) = merges(store)
    assert (merge.survivor_id, merge.merged_id, merge.source) == (older, newer, "shop")
    assert merge.matched_on == "phone"
    assert (merge.identities_moved, merge.events_moved) == (2, 2)
    assert merge.merged_profile == {"traits": {"store": "Utrecht"}, "personal": {}}

    assert survivor_of(store, newer) == older
    assert survivor_of(store, older) is None
    with unit_of_work(store) as session:
        assert customer_record(session, newer, events=5) == MergedAway(survivor_id=older)


def test_merge_record_names_identity_kinds_never_values(store: Store) -> None:
    older = resolve(store, email("keep@example.org")).customer_id
    newer = resolve(store, phone("0612345678"), external("pos", "SECRET-9")).customer_id

    resolve(store, email("keep@example.org"), phone("0612345678"), external("pos", "SECRET-9"))

    (merge,) = merges(store)
    assert (merge.survivor_id, merge.merged_id) == (older, newer)
    assert merge.matched_on == "external:pos,phone"
    for value in ("SECRET-9", "+31612345678", "612345678", "keep@example.org"):
        assert value not in merge.matched_on
        assert value not in (merge.note or "")


def test_a_record_matching_three_customers_folds_all_into_the_oldest(store: Store) -> None:
    ids = [resolve(store, email(f"p{n}@example.org")).customer_id for n in range(3)]

    outcome = resolve(store, *(email(f"p{n}@example.org") for n in (2, 0, 1)))

    assert outcome.customer_id == ids[0]
    assert sorted(outcome.merged_ids) == ids[1:]
    assert [(m.survivor_id, m.merged_id) for m in merges(store)] == [
        (ids[0], ids[1]),
        (ids[0], ids[2]),
    ]
    assert all(survivor_of(store, i) == ids[0] for i in ids[1:])
    assert len(identities_of(store, ids[0])) == 3


def test_survivor_is_found_through_a_chain_of_merges(store: Store) -> None:
    oldest = resolve(store, email("z@example.org")).customer_id
    middle = resolve(store, email("y@example.org")).customer_id
    newest = resolve(store, email("x@example.org")).customer_id

    assert resolve(store, email("x@example.org"), email("y@example.org")).merged_ids == (newest,)
    assert resolve(store, email("y@example.org"), email("z@example.org")).merged_ids == (middle,)

    assert survivor_of(store, middle) == oldest
    assert len(merges(store)) == 2  # the history of both merges is kept
    assert survivor_of(store, newest) == oldest


def test_merged_traits_compete_by_source_priority(store: Store) -> None:
    older = resolve(
        store, email("ann@example.org"), source="web", traits={"plan": "free", "city": "Delft"}
    ).customer_id
    resolve(
        store,
        phone("0612345678"),
        source="crm",
        at=T0 - timedelta(days=365),
        traits={"plan": "gold", "last_name": "Jansen"},
    )

    resolve(store, email("ann@example.org"), phone("0612345678"), source="support")

    survivor = customer(store, older)
    assert survivor.traits == {"plan": "gold", "city": "Delft"}
    assert survivor.personal == {"last_name": "Jansen"}
    assert survivor.trait_origins["plan"]["source"] == "crm"


# ---- trait conflicts -------------------------------------------------------------------------


def test_a_higher_priority_source_wins_regardless_of_time(store: Store) -> None:
    ann = email("ann@example.org")
    cid = resolve(store, ann, source="shop", at=T0, traits={"plan": "silver"}).customer_id

    resolve(store, ann, source="web", at=T0 + timedelta(days=10), traits={"plan": "bronze"})
    assert customer(store, cid).traits == {"plan": "silver"}

    resolve(store, ann, source="crm", at=T0 - timedelta(days=300), traits={"plan": "gold"})
    assert customer(store, cid).traits == {"plan": "gold"}
    assert customer(store, cid).trait_origins["plan"] == {
        "source": "crm",
        "at": (T0 - timedelta(days=300)).isoformat(),
    }

    outcome = resolve(store, ann, source="shop", at=T0 + timedelta(days=20), traits={"plan": "x"})
    assert customer(store, cid).traits == {"plan": "gold"}
    assert not outcome.changed


def test_among_equal_sources_the_newer_observation_wins(store: Store) -> None:
    ann = email("ann@example.org")
    cid = resolve(store, ann, source="shop", at=T0, traits={"plan": "silver"}).customer_id

    resolve(store, ann, source="shop", at=T0 + timedelta(hours=1), traits={"plan": "gold"})
    assert customer(store, cid).traits == {"plan": "gold"}

    older = resolve(
        store, ann, source="shop", at=T0 + timedelta(minutes=30), traits={"plan": "tin"}
    )
    assert customer(store, cid).traits == {"plan": "gold"}
    assert not older.changed


def test_a_source_not_listed_ranks_after_every_listed_one(store: Store) -> None:
    ann = email("ann@example.org")
    cid = resolve(store, ann, source="web", traits={"plan": "free"}).customer_id

    resolve(store, ann, source="partner", at=T0 + timedelta(days=1), traits={"plan": "pro"})
    resolve(store, ann, source="partner", traits={"referrer": "acme"})

    assert customer(store, cid).traits == {"plan": "free", "referrer": "acme"}


def test_traits_are_decided_one_by_one(store: Store) -> None:
    ann = email("ann@example.org")
    cid = resolve(store, ann, source="crm", traits={"plan": "gold"}).customer_id

    resolve(store, ann, source="web", traits={"plan": "free", "colour": "green"})

    assert customer(store, cid).traits == {"plan": "gold", "colour": "green"}


def test_time_zone_and_locale_follow_the_same_rule(store: Store) -> None:
    ann = email("ann@example.org")
    cid = resolve(store, ann, source="crm", time_zone="Europe/Paris", locale="fr-FR").customer_id

    resolve(store, ann, source="web", at=T0 + timedelta(days=1), time_zone="Asia/Tokyo")
    resolve(store, ann, source="crm", at=T0 + timedelta(days=1), locale="nl-NL")

    found = customer(store, cid)
    assert (found.time_zone, found.locale) == ("Europe/Paris", "nl-NL")


def test_personal_traits_are_kept_apart_and_encrypted(store: Store) -> None:
    cid = resolve(
        store,
        email("ann@example.org"),
        traits={"first_name": "Annabel", "last_name": "Vermeulen", "plan": "gold"},
    ).customer_id

    found = customer(store, cid)
    assert found.traits == {"plan": "gold"}
    assert found.personal == {"first_name": "Annabel", "last_name": "Vermeulen"}
    assert set(found.trait_origins) == {"first_name", "last_name", "plan"}
    with store.engine.connect() as connection:
        raw_personal, raw_traits = connection.execute(
            text("SELECT personal, traits FROM customers WHERE id = :id"), {"id": cid}
        ).one()
    assert isinstance(raw_personal, bytes | memoryview)
    assert b"Annabel" not in bytes(raw_personal)
    assert b"first_name" not in bytes(raw_personal)
    assert "Annabel" not in str(raw_traits)


def test_personal_traits_follow_source_priority(store: Store) -> None:
    ann = email("ann@example.org")
    cid = resolve(store, ann, source="crm", traits={"first_name": "Ann"}).customer_id

    resolve(store, ann, source="web", at=T0 + timedelta(days=1), traits={"first_name": "Annie"})
    resolve(store, ann, source="crm", at=T0 + timedelta(days=1), traits={"birthday": "1990-02-03"})

    assert customer(store, cid).personal == {"first_name": "Ann", "birthday": "1990-02-03"}
    assert customer(store, cid).traits == {}
