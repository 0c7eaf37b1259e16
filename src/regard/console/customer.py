"""One customer's whole story for the console, read once and shown as the reader's role allows.

``read_story`` gathers the profile and identities, preferences and the consent ledger in plain
words, commitment history, open segments, the event timeline and every decision about the
customer with its reason sentence and what became of the message. Names, email addresses and
phone numbers are masked for a role without ``personal.view``. Opening a customer and finding
one by email are both written to the audit log, in the transaction of the request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from regard.commitment import service as commitment
from regard.config import BrandConfig
from regard.console import repository
from regard.customers import profiles
from regard.customers import repository as customers_repository
from regard.customers.models import Event
from regard.customers.profiles import CustomerRecord, MergedAway
from regard.decisions import reasons
from regard.decisions import repository as decisions_repository
from regard.decisions.models import Decision, OutboxMessage
from regard.preferences import service as preferences
from regard.preferences.catalogue import CHANNEL_LABELS
from regard.preferences.models import ConsentEntry
from regard.preferences.service import ConsentChange, Origin, Preferences
from regard.privacy import audit, roles
from regard.privacy.audit import Actor
from regard.privacy.roles import MaskKind
from regard.segments.models import SegmentMembership
from regard.store.crypto import Vault

__all__ = [
    "CommitmentLine",
    "CustomerStory",
    "LedgerLine",
    "MessageLine",
    "ShownIdentity",
    "find_by_email",
    "ledger_words",
    "read_story",
    "record_phone_consent",
]

# How a change reached the ledger, as a person would say it.
SOURCE_WORDS: dict[str, str] = {
    "center": "in the preference centre",
    "one-click": "by one-click unsubscribe",
    "sms": "by text message",
    "confirmation": "by confirming from their inbox",
    "staff": "to staff",
    "api": "through another system (API)",
    "import": "in an import",
    "merge": "when two profiles were merged",
}
STATE_WORDS: dict[str, str] = {
    "opted-in": "Opted in to",
    "opted-out": "Opted out of",
    "pending": "Asked for (waiting for confirmation)",
}
# Written in the ledger's note of a consent taken by a staff member on the phone.
PHONE_NOTE = "given on the phone"


@dataclass(frozen=True)
class ShownIdentity:
    """An identity as the reader may see it (``value`` masked without ``personal.view``)."""

    kind: str
    namespace: str
    value: str
    source: str
    created_at: datetime
    verified_at: datetime | None


@dataclass(frozen=True)
class LedgerLine:
    """One consent-ledger entry in plain words."""

    seq: int
    occurred_at: datetime
    words: str
    source: str
    actor: str
    note: str


@dataclass(frozen=True)
class CommitmentLine:
    """One survey response, scored with today's cut points."""

    responded_at: datetime
    source: str
    is_user: bool
    score: float | None
    group: str | None


@dataclass(frozen=True)
class MessageLine:
    """A decision about the customer, its sentence, and the message it queued (if sent)."""

    decision: Decision
    sentence: str
    outbox: OutboxMessage | None


@dataclass(frozen=True)
class CustomerStory:
    """Everything about one customer on one page, masked for the reader's role."""

    customer_id: int
    masked: bool
    name: str
    created_at: datetime
    first_seen_at: datetime | None
    last_seen_at: datetime | None
    time_zone: str | None
    locale: str | None
    identities: list[ShownIdentity]
    traits: list[tuple[str, str]]
    personal: list[tuple[str, str]]
    preferences: Preferences
    ledger: list[LedgerLine]
    commitment: list[CommitmentLine]
    segments: Sequence[SegmentMembership]
    events: Sequence[Event]
    messages: list[MessageLine]


def _mask_kind(name: str) -> MaskKind:
    lowered = name.lower()
    if "email" in lowered:
        return "email"
    if "phone" in lowered or "mobile" in lowered:
        return "phone"
    if "name" in lowered:
        return "name"
    return "text"


def _identity_kind(kind: str) -> MaskKind | None:
    # External ids and device ids name a record in another system, not the person.
    return {"email": "email", "phone": "phone"}.get(kind)  # type: ignore[return-value]


def _display_name(personal: dict[str, Any]) -> str:
    parts = [str(personal.get(key) or "").strip() for key in ("first_name", "last_name")]
    joined = " ".join(part for part in parts if part)
    return joined or str(personal.get("name") or "").strip()


def ledger_words(entry: ConsentEntry, *, brand: BrandConfig) -> str:
    """``Opted in to Offers on camping gear by email, in the preference centre.``"""
    how = SOURCE_WORDS.get(entry.source, f"through {entry.source}")
    if entry.kind == "consent":
        labels = {topic.key: topic.label for topic in brand.topics}
        topic = labels.get(entry.topic or "", entry.topic or "a topic")
        channel = CHANNEL_LABELS.get(entry.channel or "", entry.channel or "a channel")
        state = STATE_WORDS.get(entry.state or "", entry.state or "changed")
        return f"{state} {topic} by {channel}, {how}."
    scope = f" for {entry.scope}" if entry.scope else ""
    value = "(personal, not shown)" if entry.value_digest is not None else repr(entry.value)
    return f"Set {entry.setting}{scope} to {value}, {how}."


def _ledger(entries: Sequence[ConsentEntry], *, brand: BrandConfig, role: str) -> list[LedgerLine]:
    return [
        LedgerLine(
            seq=entry.seq,
            occurred_at=entry.occurred_at,
            words=ledger_words(entry, brand=brand),
            source=entry.source,
            actor=entry.actor,
            note=roles.mask(entry.note, "text", role),
        )
        for entry in entries
    ]


def _commitment(session: Session, customer_id: int, *, brand: BrandConfig) -> list[CommitmentLine]:
    found = commitment.history(session, customer_id, brand=brand)
    return [
        CommitmentLine(
            responded_at=row["responded_at"],
            source=row["source"],
            is_user=bool(row["is_user"]),
            score=row.get("score"),
            group=row.get("group"),
        )
        for row in found.history.iter_rows(named=True)
    ]


def _messages(
    session: Session, customer_id: int, *, name: str | None, limit: int
) -> list[MessageLine]:
    decisions = decisions_repository.decisions_of(session, customer_id=customer_id, limit=limit)
    queued = repository.outbox_of_decisions(session, [d.id for d in decisions])
    return [
        MessageLine(
            decision=decision,
            sentence=reasons.sentence(
                decision.outcome,
                decision.reason if decision.outcome != "sent" else None,
                decision.params,
                name=name,
            ),
            outbox=queued.get(decision.id),
        )
        for decision in decisions
    ]


def read_story(
    session: Session,
    customer_id: int,
    *,
    brand: BrandConfig,
    role: str,
    actor: Actor,
    events: int = 100,
    messages: int = 100,
) -> CustomerStory | MergedAway:
    """The customer's whole story as ``role`` may see it; the read is audited.

    A merged-away id returns where its data went (``MergedAway``); an unknown one raises
    ``NotFound``. ``events`` and ``messages``: how many of the most recent to include.
    """
    found = profiles.customer_record(session, customer_id, events=events)
    if not isinstance(found, CustomerRecord):
        return found
    customer = found.customer
    masked = not roles.allows(role, "personal.view")
    personal = customer.personal or {}
    name = _display_name(personal)
    story = CustomerStory(
        customer_id=customer.id,
        masked=masked,
        name=roles.mask(name, "name", role),
        created_at=customer.created_at,
        first_seen_at=customer.first_seen_at,
        last_seen_at=customer.last_seen_at,
        time_zone=customer.time_zone,
        locale=customer.locale,
        identities=[
            ShownIdentity(
                kind=identity.kind,
                namespace=identity.namespace,
                value=(
                    roles.mask(identity.value, kind, role)
                    if (kind := _identity_kind(identity.kind))
                    else identity.value
                ),
                source=identity.source,
                created_at=identity.created_at,
                verified_at=identity.verified_at,
            )
            for identity in sorted(customer.identities, key=lambda i: (i.kind, i.id))
        ],
        traits=sorted((key, str(value)) for key, value in (customer.traits or {}).items()),
        personal=sorted(
            (key, roles.mask(str(value), _mask_kind(key), role))
            for key, value in personal.items()
            if value not in (None, "")
        ),
        preferences=preferences.current(session, customer.id, brand=brand),
        ledger=_ledger(preferences.history(session, customer.id), brand=brand, role=role),
        commitment=_commitment(session, customer.id, brand=brand),
        segments=repository.open_segments_of(session, customer.id),
        events=found.events,
        # A masked reader's sentences say "the customer", never the name.
        messages=_messages(
            session, customer.id, name=None if masked else (name or None), limit=messages
        ),
    )
    audit.record(
        session,
        actor=actor,
        action="customer.read",
        target=f"customer:{customer.id}",
        details={"via": "console", "masked": masked},
    )
    return story


def find_by_email(
    session: Session, email: str, *, region: str, vault: Vault, actor: Actor
) -> int | None:
    """The id of the customer with this email (``None``: no one), through the blind index.

    The look-up is audited whether or not it finds someone. ``InvalidInput`` for text that is
    not an email address.
    """
    identity = profiles.identity_to_find(email=email, phone=None, external=None, region=region)
    lookup = identity.lookup(vault)
    customer_id = customers_repository.customer_ids_by_lookup(session, [lookup]).get(lookup)
    audit.record(
        session,
        actor=actor,
        action="customer.lookup",
        target=f"customer:{customer_id}" if customer_id is not None else None,
        details={"via": "console", "by": "email", "found": customer_id is not None},
        subject_lookup=lookup,
    )
    return customer_id


def record_phone_consent(
    session: Session,
    customer_id: int,
    *,
    brand: BrandConfig,
    topic: str,
    channel: str,
    state: str,
    actor: Actor,
) -> preferences.Recorded:
    """Record a consent the customer gave a staff member on the phone; audited.

    Source ``staff``, the staff member as actor (``staff:3``), the note "given on the phone".
    ``InvalidInput`` (nothing written) for an unknown topic, channel or state.
    """
    found = profiles.customer_record(session, customer_id, events=0)  # NotFound first
    if isinstance(found, MergedAway):
        customer_id = found.survivor_id
    recorded = preferences.record(
        session,
        customer_id,
        brand=brand,
        origin=Origin(
            source="staff",
            actor=actor.reference,
            wording_version=brand.preferences.wording_version,
            note=PHONE_NOTE,
        ),
        consents=[ConsentChange(topic, channel, state)],  # type: ignore[arg-type]
    )
    audit.record(
        session,
        actor=actor,
        action="consent.recorded",
        target=f"customer:{customer_id}",
        details={
            "via": "console",
            "how": "phone",
            "topic": topic,
            "channel": channel,
            "state": state,
            "entries": len(recorded.entries),
        },
    )
    return recorded
