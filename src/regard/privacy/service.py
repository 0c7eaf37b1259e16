"""API keys: created once and shown once, stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from regard.errors import InvalidInput, NotFound, Unauthorized
from regard.privacy.models import ApiKey

KeyScope = Literal["write", "read"]
_PREFIX = {"write": "rw_", "read": "rk_"}


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    secret: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(
    session: Session, *, name: str, scope: KeyScope, source: str | None = None
) -> IssuedKey:
    """A new key. Write keys feed the tracking API and name the source they speak for."""
    if scope == "write" and not source:
        raise InvalidInput("a write key needs the source it speaks for (for example 'web')")
    secret = _PREFIX[scope] + secrets.token_urlsafe(24)
    key = ApiKey(
        name=name,
        scope=scope,
        source=source,
        prefix=secret[:10],
        key_hash=_hash(secret),
        created_at=datetime.now(UTC),
    )
    session.add(key)
    session.flush()
    return IssuedKey(key=key, secret=secret)


def authenticate(session: Session, secret: str, *, scope: KeyScope) -> ApiKey:
    """The live key with this secret and scope, or ``Unauthorized``."""
    key = session.scalars(select(ApiKey).where(ApiKey.key_hash == _hash(secret))).one_or_none()
    if key is None or key.revoked_at is not None or key.scope != scope:
        raise Unauthorized(f"missing or invalid {scope} key")
    return key


def list_keys(session: Session) -> Sequence[ApiKey]:
    return session.scalars(select(ApiKey).order_by(ApiKey.id)).all()


def revoke_key(session: Session, key_id: int) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"no API key with id {key_id}")
    if key.revoked_at is None:
        key.revoked_at = datetime.now(UTC)
    return key
