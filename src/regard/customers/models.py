"""Tables of the customer data hub."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from regard.store.base import Base, BigId
from regard.store.types import JSONDocument, Sealed, SealedJSON, UTCDateTime


class Customer(Base):
    """One person, however many systems know them and by whatever names."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    time_zone: Mapped[str | None] = mapped_column(String(64))
    locale: Mapped[str | None] = mapped_column(String(35))
    # Traits that are not personal data (plan, favourite activity, store...), in plain JSON.
    traits: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    # Personal traits (name, address...), encrypted as one document.
    personal: Mapped[dict[str, Any] | None] = mapped_column(SealedJSON("customer.personal"))
    # Per trait: which source set it and when, for last-write-wins with source priority.
    trait_origins: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    first_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    identities: Mapped[list[Identity]] = relationship(
        back_populates="customer", lazy="raise", cascade="all, delete-orphan"
    )


class Identity(Base):
    """A name a system knows the customer by: email, phone, an external id, a device id."""

    __tablename__ = "identities"
    __table_args__ = (Index("ix_identities_customer_id", "customer_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    # email, phone, external (namespace is the source system) or anonymous.
    kind: Mapped[str] = mapped_column(String(16))
    namespace: Mapped[str] = mapped_column(String(64), default="")
    # HMAC of kind, namespace and the normalised value: the only way to look one up.
    lookup: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    value: Mapped[str] = mapped_column(Sealed("identity.value"))
    source: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # When the customer showed they receive at this address (opened a link sent there, replied).
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    customer: Mapped[Customer] = relationship(back_populates="identities", lazy="raise")


class Event(Base):
    """Something a customer did or that happened to them, as a source reported it."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("source", "message_id"),
        Index("ix_events_customer_id_occurred_at", "customer_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(128))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str] = mapped_column(String(128))
    properties: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    # Properties that are personal data (a name on a delivery note...), encrypted.
    personal: Mapped[dict[str, Any] | None] = mapped_column(SealedJSON("event.personal"))


class CustomerMerge(Base):
    """Two profiles found to be one person: the older survived and took the other's data."""

    __tablename__ = "customer_merges"
    __table_args__ = (Index("ix_customer_merges_merged_id", "merged_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # No foreign key: a survivor may itself be merged later, and this record must outlive it
    # so that the chain of merges can be followed to today's profile.
    survivor_id: Mapped[int] = mapped_column(BigId)
    # The profile that was folded in; its row no longer exists.
    merged_id: Mapped[int] = mapped_column(BigId)
    merged_at: Mapped[datetime] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(String(64))
    # Which kind of identity tied the two together (email, phone, external:pos...).
    matched_on: Mapped[str] = mapped_column(String(80))
    identities_moved: Mapped[int]
    events_moved: Mapped[int]
    # What the merged profile held (traits, personal traits), encrypted.
    merged_profile: Mapped[dict[str, Any] | None] = mapped_column(SealedJSON("merge.profile"))
    note: Mapped[str | None] = mapped_column(Text)
