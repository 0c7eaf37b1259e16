"""Tables of the preference center: the consent ledger, the state derived from it, devices,
links, and the downstream systems that hear of every change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from regard.store.base import Base, BigId
from regard.store.types import JSONDocument, Sealed, UTCDateTime


class ConsentEntry(Base):
    """One change to what a customer allows or prefers. Appended, never updated or deleted.

    Each customer's entries form a chain: ``seq`` counts from 1 and ``prev_hash`` is the hash of
    the entry before, so a changed, removed or inserted entry breaks the chain.
    """

    __tablename__ = "consent_entries"
    __table_args__ = (
        UniqueConstraint("customer_id", "seq"),
        Index("ix_consent_entries_recorded_at", "recorded_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # No foreign key: the ledger outlives merges and erasure; a merged customer's chain stays.
    customer_id: Mapped[int] = mapped_column(BigId)
    seq: Mapped[int]
    # "consent" (topic, channel, state) or "setting" (setting, scope, value).
    kind: Mapped[str] = mapped_column(String(16))
    topic: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(16))
    state: Mapped[str | None] = mapped_column(String(16))
    legal_basis: Mapped[str | None] = mapped_column(String(32))
    setting: Mapped[str | None] = mapped_column(String(32))
    # What a setting applies to: a topic (frequency per topic) or a device; "" for the whole.
    scope: Mapped[str | None] = mapped_column(String(80))
    # The new value of a setting that is not personal data.
    value: Mapped[Any | None] = mapped_column(JSONDocument)
    # The new value of a setting that is personal data (the customer's own words), encrypted;
    # its keyed digest is in the chain, so the proof survives when the value is erased.
    personal_value: Mapped[str | None] = mapped_column(Sealed("consent.value"))
    value_digest: Mapped[str | None] = mapped_column(String(64))
    # Where the change came from: center, one-click, sms, confirmation, staff, api, import, merge.
    source: Mapped[str] = mapped_column(String(32))
    # Who made it: "customer", "staff:<name>", "api:<key name>", "import:<system>".
    actor: Mapped[str] = mapped_column(String(120))
    # When the customer said it (for imports, the other system's time); the order of the ledger.
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    wording_version: Mapped[str | None] = mapped_column(String(40))
    # Keyed hash of the client (address and user agent): proof without keeping the address.
    client_hash: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))


class ConsentState(Base):
    """The current consent per customer, topic and channel: a cache rebuilt from the ledger."""

    __tablename__ = "consent_states"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    topic: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    legal_basis: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    entry_id: Mapped[int] = mapped_column(BigId)


class PreferenceProfile(Base):
    """The current settings of one customer and the head of their chain: a cache of the ledger."""

    __tablename__ = "preference_profiles"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    # {"setting": {"scope": value}}: frequency, pause, timing, language, life stage, interests,
    # devices. Personal settings are not here: they are read from the ledger when shown.
    settings: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    head_seq: Mapped[int] = mapped_column(default=0)
    head_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PushDevice(Base):
    """A device registered for push messages, listed by the name its owner knows it by."""

    __tablename__ = "push_devices"
    __table_args__ = (Index("ix_push_devices_customer_id", "customer_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    # A short public handle used in URLs and in the ledger's scope ("d_3f9a...").
    handle: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(Sealed("device.name"))
    platform: Mapped[str] = mapped_column(String(16))
    token: Mapped[str] = mapped_column(Sealed("device.token"))
    token_lookup: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LinkGeneration(Base):
    """Revoking a customer's links raises their generation; older links stop working."""

    __tablename__ = "link_generations"

    customer_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    generation: Mapped[int] = mapped_column(default=0)
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LinkRequest(Base):
    """One "send me a link" request, kept to limit how often an address or a client may ask."""

    __tablename__ = "link_requests"
    __table_args__ = (
        Index("ix_link_requests_address_lookup", "address_lookup", "requested_at"),
        Index("ix_link_requests_client_hash", "client_hash", "requested_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    address_lookup: Mapped[bytes] = mapped_column(LargeBinary(32))
    client_hash: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Whether a link went out: only when the address belongs to a customer.
    sent: Mapped[bool]


class WebhookSubscription(Base):
    """A downstream system (service desk, shop) told of every consent change."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    url: Mapped[str] = mapped_column(String(2000))
    # The shared secret the receiver checks the signature with, encrypted.
    secret: Mapped[str] = mapped_column(Sealed("webhook.secret"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookDelivery(Base):
    """One change to send to one subscriber, and what came of each attempt."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_subscription_id", "subscription_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    # A stable id the receiver can use to ignore repeats.
    event_id: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    # pending, delivered, failed (gave up after the last retry).
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
