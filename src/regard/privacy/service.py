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

from regard.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from regard.privacy import roles
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
    session: Session,
    *,
    name: str,
    scope: KeyScope,
    source: str | None = None,
    role: str | None = None,
) -> IssuedKey:
    """A new key. Write keys feed the tracking API and name the source they speak for.

    A ``role`` narrows a read key to that role's permissions (an analyst key sees personal
    data masked, say); without one, the key may read what read keys always could.
    """
    if scope == "write" and not source:
        raise InvalidInput("a write key needs the source it speaks for (for example 'web')")
    if role is not None and not roles.is_role(role):
        raise InvalidInput(f"role must be one of {', '.join(roles.ROLES)}")
    secret = _PREFIX[scope] + secrets.token_urlsafe(24)
    key = ApiKey(
        name=name,
        scope=scope,
        source=source,
        role=role,
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


def require_permission(key: ApiKey, permission: roles.Permission) -> ApiKey:
    """``key`` when its role holds ``permission``, else ``Forbidden``."""
    if not roles.allows(key.role, permission):
        raise Forbidden(f"this key's role may not use {permission}")
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
