"""Signed, expiring, purpose-bound links: the key to a customer's own preferences.

A link names the customer, what it is for (the preference center, an unsubscribe from one topic
on one channel, the confirmation of an opt-in) and the generation of the customer's links.
It is signed with a key of its own (derived from the brand's keys) and the signature is checked
in constant time. Revoking a customer's links raises their generation: every older link stops.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from regard.config import BrandConfig
from regard.customers import repository as customers_repository
from regard.preferences import repository
from regard.store.crypto import Vault, current_vault

Purpose = Literal["center", "unsubscribe", "confirm"]
PURPOSES: tuple[Purpose, ...] = ("center", "unsubscribe", "confirm")

# Where each purpose lives under the public address.
PATHS: dict[Purpose, str] = {"center": "/p/", "unsubscribe": "/u/", "confirm": "/c/"}


@dataclass(frozen=True)
class LinkClaims:
    """What a link grants: one customer, one purpose, perhaps one topic on one channel."""

    customer_id: int
    purpose: Purpose
    generation: int = 0
    topic: str | None = None
    channel: str | None = None
    # The identity (email address, phone number) the link was sent to: opening it proves the
    # customer receives there.
    identity_id: int | None = None


class LinkProblem(Exception):
    """A link that cannot be used; ``reason`` is tampered, expired or revoked."""

    def __init__(self, reason: Literal["tampered", "expired", "revoked"]) -> None:
        super().__init__(reason)
        self.reason = reason


def _serializer(vault: Vault, purpose: Purpose) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(vault.derive("links"), salt=f"regard.link.{purpose}")


def max_age(brand: BrandConfig, purpose: Purpose) -> int:
    """Seconds a link of ``purpose`` stays valid."""
    days = (
        brand.preferences.unsubscribe_link_days
        if purpose == "unsubscribe"
        else brand.preferences.link_days
    )
    return days * 86_400


def sign(claims: LinkClaims, *, vault: Vault | None = None) -> str:
    payload: dict[str, Any] = {"c": claims.customer_id, "g": claims.generation}
    if claims.topic is not None:
        payload["t"] = claims.topic
    if claims.channel is not None:
        payload["ch"] = claims.channel
    if claims.identity_id is not None:
        payload["i"] = claims.identity_id
    return str(_serializer(vault or current_vault(), claims.purpose).dumps(payload))


def issue(
    session: Session,
    customer_id: int,
    *,
    purpose: Purpose,
    topic: str | None = None,
    channel: str | None = None,
    identity_id: int | None = None,
    vault: Vault | None = None,
) -> str:
    """A fresh token for one of the customer's links, of their current generation."""
    generation = repository.link_generation(session, customer_id)
    return sign(
        LinkClaims(
            customer_id=customer_id,
            purpose=purpose,
            generation=generation,
            topic=topic,
            channel=channel,
            identity_id=identity_id,
        ),
        vault=vault,
    )


def url_for(base_url: str, purpose: Purpose, token: str) -> str:
    return f"{base_url.rstrip('/')}{PATHS[purpose]}{token}"


def open_token(
    session: Session,
    token: str,
    *,
    purpose: Purpose,
    brand: BrandConfig,
    vault: Vault | None = None,
    to_opt_out: bool = False,
) -> LinkClaims:
    """The claims of a valid link, following merges to today's profile; else :class:`LinkProblem`.

    A link signed for another purpose fails as tampered: an unsubscribe link never opens the
    preference center, and the other way round. ``to_opt_out`` opens an authentic link of any
    age, revoked or not, for the one thing that is always safe to honour: an opt-out. Mailbox
    providers send one-click unsubscribes for old messages too, and refusing one would keep
    sending to someone who asked to stop.
    """
    serializer = _serializer(vault or current_vault(), purpose)
    try:
        payload = serializer.loads(token, max_age=None if to_opt_out else max_age(brand, purpose))
    except SignatureExpired as exc:
        raise LinkProblem("expired") from exc
    except BadSignature as exc:
        raise LinkProblem("tampered") from exc
    try:
        customer_id = int(payload["c"])
        generation = int(payload.get("g", 0))
    except (KeyError, TypeError, ValueError) as exc:
        raise LinkProblem("tampered") from exc
    current = repository.live_link_generation(session, customer_id)
    if current is None:
        survivor = customers_repository.survivor_of(session, customer_id)
        if survivor is None:
            raise LinkProblem("revoked")  # erased: the link leads nowhere
        customer_id = survivor
        current = repository.link_generation(session, customer_id)
    if not to_opt_out and generation < current:
        raise LinkProblem("revoked")
    return LinkClaims(
        customer_id=customer_id,
        purpose=purpose,
        generation=generation,
        topic=payload.get("t"),
        channel=payload.get("ch"),
        identity_id=payload.get("i"),
    )


def revoke(session: Session, customer_id: int) -> int:
    """Stop every link issued so far to this customer. Returns the new generation."""
    return repository.raise_link_generation(session, customer_id, datetime.now(UTC))
