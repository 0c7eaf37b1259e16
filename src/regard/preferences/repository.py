"""All SQL of the preference center."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from regard.customers.models import Customer, CustomerMerge, Identity
from regard.preferences.ledger import LedgerLine
from regard.preferences.models import (
    ConsentEntry,
    ConsentState,
    LinkGeneration,
    LinkRequest,
    PreferenceProfile,
    PushDevice,
    WebhookDelivery,
    WebhookSubscription,
)
from regard.store.database import enter_write
from regard.store.inserts import upsert


def lock_existing_chain(session: Session, customer_id: int) -> PreferenceProfile | None:
    """The customer's profile row locked until the transaction ends, or ``None`` if missing.

    On PostgreSQL the row is locked ``FOR UPDATE``. On SQLite a write that changes nothing
    opens the write transaction at once, so every read that follows sees each append committed
    before it. Appends to one chain queue up instead of forking it.
    """
    enter_write(session)
    query = (
        select(PreferenceProfile)
        .where(PreferenceProfile.customer_id == customer_id)
        .execution_options(populate_existing=True)
    )
    if session.get_bind().dialect.name == "postgresql":
        return session.scalar(query.with_for_update())
    touched = session.execute(
        update(PreferenceProfile)
        .where(PreferenceProfile.customer_id == customer_id)
        .values(head_seq=PreferenceProfile.head_seq)
        .execution_options(synchronize_session=False)
    )
    if getattr(touched, "rowcount", 0) != 1:
        return None
    return session.scalar(query)


def lock_new_chain(
    session: Session, customer_id: int, *, head_seq: int, head_hash: str, at: datetime
) -> PreferenceProfile:
    """The customer's first profile row (or the one a simultaneous change just made), locked."""
    enter_write(session)
    session.execute(
        upsert(session, PreferenceProfile)
        .values(
            customer_id=customer_id,
            settings={},
            head_seq=head_seq,
            head_hash=head_hash,
            updated_at=at,
        )
        .on_conflict_do_nothing(index_elements=["customer_id"]),
        execution_options={"synchronize_session": False},
    )
    profile = lock_existing_chain(session, customer_id)
    assert profile is not None
    return profile


def get_profile(session: Session, customer_id: int) -> PreferenceProfile | None:
    return session.get(PreferenceProfile, customer_id)


def chain_head(session: Session, customer_id: int) -> tuple[int, str | None]:
    """The last ``seq`` and hash of a customer's chain, read from the ledger itself."""
    row = session.execute(
        select(ConsentEntry.seq, ConsentEntry.entry_hash)
        .where(ConsentEntry.customer_id == customer_id)
        .order_by(ConsentEntry.seq.desc())
        .limit(1)
    ).first()
    return (0, None) if row is None else (row[0], row[1])


def ledger_lines(session: Session, customer_id: int) -> list[LedgerLine]:
    rows = session.execute(
        select(
            ConsentEntry.id,
            ConsentEntry.seq,
            ConsentEntry.kind,
            ConsentEntry.topic,
            ConsentEntry.channel,
            ConsentEntry.state,
            ConsentEntry.legal_basis,
            ConsentEntry.setting,
            ConsentEntry.scope,
            ConsentEntry.value,
            ConsentEntry.value_digest,
            ConsentEntry.source,
            ConsentEntry.actor,
            ConsentEntry.occurred_at,
        ).where(ConsentEntry.customer_id == customer_id)
    ).all()
    return [LedgerLine.of(row) for row in rows]


def entries_of(session: Session, customer_ids: Iterable[int]) -> Sequence[ConsentEntry]:
    return session.scalars(
        select(ConsentEntry)
        .where(ConsentEntry.customer_id.in_(list(customer_ids)))
        .order_by(ConsentEntry.occurred_at, ConsentEntry.customer_id, ConsentEntry.seq)
    ).all()


_ENTRY_COLUMNS = tuple(c.key for c in ConsentEntry.__table__.columns if c.key != "id")


def insert_entries(session: Session, entries: list[ConsentEntry]) -> list[int]:
    """Insert new ledger entries in one statement; their ids, in the same order."""
    rows = [{column: getattr(entry, column) for column in _ENTRY_COLUMNS} for entry in entries]
    returned = session.execute(
        insert(ConsentEntry).returning(ConsentEntry.id, sort_by_parameter_order=True), rows
    )
    return [row[0] for row in returned]


def count_entries(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(ConsentEntry)) or 0


def get_entry(session: Session, entry_id: int) -> ConsentEntry | None:
    return session.get(ConsentEntry, entry_id)


def iter_entries(session: Session, *, customer_id: int | None = None) -> Iterator[ConsentEntry]:
    """Every entry in chain order, streamed in pages so the whole ledger never sits in memory."""
    last: tuple[int, int] = (-1, 0)
    while True:
        query = select(ConsentEntry).order_by(ConsentEntry.customer_id, ConsentEntry.seq)
        if customer_id is not None:
            query = query.where(ConsentEntry.customer_id == customer_id)
        query = query.where(
            (ConsentEntry.customer_id > last[0])
            | ((ConsentEntry.customer_id == last[0]) & (ConsentEntry.seq > last[1]))
        ).limit(5000)
        page = session.scalars(query).all()
        if not page:
            return
        yield from page
        last = (page[-1].customer_id, page[-1].seq)
        session.expunge_all()


def chain_heads(session: Session) -> dict[int, tuple[int, str]]:
    """What the cache believes each chain ends with."""
    rows = session.execute(
        select(
            PreferenceProfile.customer_id, PreferenceProfile.head_seq, PreferenceProfile.head_hash
        )
    ).all()
    return {r[0]: (r[1], r[2]) for r in rows}


def replace_consent_states(
    session: Session,
    customer_id: int,
    rows: list[dict[str, Any]],
    *,
    changed_only: bool = False,
) -> None:
    """Write the cached consent of a customer: every cell, or (``changed_only``) just the
    cells in ``rows``; a consent, once given, is never taken out of the grid."""
    if not changed_only:
        session.execute(delete(ConsentState).where(ConsentState.customer_id == customer_id))
        if rows:
            session.execute(insert(ConsentState), rows)
        return
    if not rows:
        return
    statement = upsert(session, ConsentState)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["customer_id", "topic", "channel"],
            set_={
                column: statement.excluded[column]
                for column in ("state", "legal_basis", "source", "occurred_at", "entry_id")
            },
        ),
        rows,
    )


def consent_states(session: Session, customer_id: int) -> Sequence[ConsentState]:
    return session.scalars(
        select(ConsentState).where(ConsentState.customer_id == customer_id)
    ).all()


def customers_with_entries(session: Session) -> list[int]:
    return list(session.scalars(select(ConsentEntry.customer_id).distinct()))


def merged_into(session: Session, survivor_id: int) -> list[int]:
    """Every profile that was merged into ``survivor_id``, directly or through others."""
    found: list[int] = []
    frontier = [survivor_id]
    while frontier:
        merged = list(
            session.scalars(
                select(CustomerMerge.merged_id).where(CustomerMerge.survivor_id.in_(frontier))
            )
        )
        merged = [m for m in merged if m not in found and m != survivor_id]
        found.extend(merged)
        frontier = merged
    return found


def devices_of(session: Session, customer_id: int) -> Sequence[PushDevice]:
    return session.scalars(
        select(PushDevice)
        .where(PushDevice.customer_id == customer_id)
        .order_by(PushDevice.registered_at, PushDevice.id)
    ).all()


def device_by_token(session: Session, token_lookup: bytes) -> PushDevice | None:
    return session.scalar(select(PushDevice).where(PushDevice.token_lookup == token_lookup))


def move_devices(session: Session, *, survivor_id: int, merged_id: int) -> None:
    session.execute(
        update(PushDevice)
        .where(PushDevice.customer_id == merged_id)
        .values(customer_id=survivor_id)
    )


def contact_identities(
    session: Session, customer_id: int, *, kinds: tuple[str, ...] = ("email", "phone")
) -> Sequence[Identity]:
    return session.scalars(
        select(Identity)
        .where(Identity.customer_id == customer_id, Identity.kind.in_(kinds))
        .order_by(Identity.created_at, Identity.id)
    ).all()


def identity_by_lookup(session: Session, lookup: bytes) -> Identity | None:
    return session.scalar(select(Identity).where(Identity.lookup == lookup))


def mark_verified(session: Session, identity_id: int, at: datetime) -> None:
    session.execute(
        update(Identity)
        .where(Identity.id == identity_id, Identity.verified_at.is_(None))
        .values(verified_at=at)
    )


def live_link_generation(session: Session, customer_id: int) -> int | None:
    """The customer's link generation, or ``None`` when no such profile exists (any more)."""
    row = session.execute(
        select(Customer.id, LinkGeneration.generation)
        .outerjoin(LinkGeneration, LinkGeneration.customer_id == Customer.id)
        .where(Customer.id == customer_id)
    ).first()
    return None if row is None else (row[1] or 0)


def link_generation(session: Session, customer_id: int) -> int:
    value = session.scalar(
        select(LinkGeneration.generation).where(LinkGeneration.customer_id == customer_id)
    )
    return value or 0


def raise_link_generation(session: Session, customer_id: int, at: datetime) -> int:
    row = session.get(LinkGeneration, customer_id, with_for_update=True)
    if row is None:
        row = LinkGeneration(customer_id=customer_id, generation=1, revoked_at=at)
        session.add(row)
    else:
        row.generation += 1
        row.revoked_at = at
    session.flush()
    return row.generation


def count_link_requests(
    session: Session, *, address_lookup: bytes | None, client_hash: str | None, since: datetime
) -> int:
    query = select(func.count()).select_from(LinkRequest).where(LinkRequest.requested_at >= since)
    if address_lookup is not None:
        query = query.where(LinkRequest.address_lookup == address_lookup)
    if client_hash is not None:
        query = query.where(LinkRequest.client_hash == client_hash)
    return session.scalar(query) or 0


def active_subscriptions(session: Session) -> Sequence[WebhookSubscription]:
    return session.scalars(
        select(WebhookSubscription)
        .where(WebhookSubscription.disabled_at.is_(None))
        .order_by(WebhookSubscription.id)
    ).all()


def add_deliveries(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(WebhookDelivery), rows)


def subscription_by_name(session: Session, name: str) -> WebhookSubscription | None:
    return session.scalar(select(WebhookSubscription).where(WebhookSubscription.name == name))


def subscriptions(session: Session) -> Sequence[WebhookSubscription]:
    return session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id)).all()


def due_deliveries(
    session: Session, now: datetime, *, limit: int
) -> Sequence[tuple[WebhookDelivery, WebhookSubscription]]:
    """Pending deliveries to live subscriptions whose time has come, oldest first.

    On PostgreSQL the rows are locked and rows another worker holds are skipped, so workers
    claiming at the same moment each get different deliveries.
    """
    rows = session.execute(
        select(WebhookDelivery, WebhookSubscription)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .where(
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at <= now,
            WebhookSubscription.disabled_at.is_(None),
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=WebhookDelivery)
    ).all()
    return [(row[0], row[1]) for row in rows]


def lease_delivery(session: Session, delivery_id: int, *, now: datetime, until: datetime) -> bool:
    """Push a due delivery's next attempt to ``until``; False when another worker already did."""
    result = session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at <= now,
        )
        .values(next_attempt_at=until)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def get_delivery(session: Session, delivery_id: int) -> WebhookDelivery | None:
    return session.get(WebhookDelivery, delivery_id)


def recent_deliveries(
    session: Session, *, status: str | None, limit: int
) -> Sequence[tuple[WebhookDelivery, str]]:
    """The latest deliveries with their subscription's name, newest first."""
    query = (
        select(WebhookDelivery, WebhookSubscription.name)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    return [(row[0], row[1]) for row in session.execute(query).all()]


def add_link_request(
    session: Session,
    *,
    address_lookup: bytes,
    client_hash: str,
    requested_at: datetime,
    sent: bool,
) -> None:
    session.add(
        LinkRequest(
            address_lookup=address_lookup,
            client_hash=client_hash,
            requested_at=requested_at,
            sent=sent,
        )
    )
    session.flush()
