"""API credentials and staff accounts (stored only as hashes), staff sessions, the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from regard.store.base import Base, BigId
from regard.store.types import JSONDocument, Sealed, UTCDateTime


class ApiKey(Base):
    """A credential for the API. ``write`` keys feed the tracking API for one source."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(120))
    scope: Mapped[str] = mapped_column(String(16))  # write | read
    source: Mapped[str | None] = mapped_column(String(64))
    # A role (see privacy.roles) narrows what a read key may see; none: the scope alone decides.
    role: Mapped[str | None] = mapped_column(String(16))
    prefix: Mapped[str] = mapped_column(String(12))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class StaffMember(Base):
    """A person who signs in to the console. The email is personal data: sealed, found by index."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # HMAC of the normalised address: the only way to look a member up by email.
    email_lookup: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    email: Mapped[str] = mapped_column(Sealed("staff.email"))
    role: Mapped[str] = mapped_column(String(16))  # admin | marketer | analyst | agent
    # argon2id, in the PHC string form that names its own parameters.
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class StaffSession(Base):
    """A signed-in browser. Only the hash of the cookie's token is kept."""

    __tablename__ = "staff_sessions"
    __table_args__ = (Index("ix_staff_sessions_staff_id", "staff_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    client: Mapped[str | None] = mapped_column(String(64))


class AuditEntry(Base):
    """Who did what, to what, when and from where. Written, never changed.

    ``details`` holds ids, counts and settings' names, never personal data; ``subject_lookup``
    is the blind index of the email a sign-in was tried with (to limit attempts per address).
    """

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_at", "at"),
        Index("ix_audit_entries_action", "action", "at"),
        Index("ix_audit_entries_actor", "actor_kind", "actor_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor_kind: Mapped[str] = mapped_column(String(16))  # staff | key | cli | anonymous
    actor_id: Mapped[int | None] = mapped_column(BigId)
    actor_label: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(200))
    client: Mapped[str | None] = mapped_column(String(64))
    subject_lookup: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
