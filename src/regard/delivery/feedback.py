"""What happens to a message after it leaves, back on the customer: feedback.

Every report is matched to its outbox message (a provider's status callback by the provider's
id, email feedback by Message-ID, a click or an open by a signed token) and recorded twice:

- as a ``message_feedback`` row, once per message and kind (the same callback twice is stored
  once), which the complaint-rate breaker counts and the engine reads as engagement;
- as an event on the customer's timeline (source ``delivery``, type ``message.<kind>``) whose
  properties name the message, its touchpoint, topic and channel; never an address or a body.

A hard bounce or a complaint suppresses that channel for the customer (the contact policy's
``hard-bounce`` and ``complaint`` reasons), with the blind index of the address when it is
known. Opens, clicks and replies mark the message engaged with.

Click links carry the destination inside a signed token: the redirect goes only where the
token says, so it can never be used to send people elsewhere.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.orm import Session

from regard.customers.identities import (
    IdentityClaim,
    IdentityKind,
    normalize_email,
    normalize_phone,
)
from regard.customers.service import on_merge
from regard.decisions.models import OutboxMessage
from regard.delivery import feedback_repository as repository
from regard.errors import InvalidInput, NotFound
from regard.store.crypto import Vault

log = logging.getLogger("regard.delivery.feedback")

FeedbackKind = Literal[
    "delivered", "bounced", "complained", "opened", "clicked", "replied", "failed"
]
FEEDBACK_KINDS: tuple[FeedbackKind, ...] = get_args(FeedbackKind)
Bounce = Literal["hard", "soft"]
# Events on the timeline come from this source.
EVENT_SOURCE = "delivery"
# Where the signed links live under the public address.
CLICK_PATH = "/r/"
OPEN_PATH = "/o/"
_URL_LIMIT = 2000
# Which kind of identity each channel sends to.
_ADDRESS_KIND: dict[str, IdentityKind] = {"email": "email", "sms": "phone", "voice": "phone"}


class UnknownMessage(NotFound):
    """Feedback names a message Regard never sent."""

    code = "unknown_message"


@dataclass(frozen=True)
class FeedbackOutcome:
    """What one report changed: whether it was new, and whether it suppressed a channel."""

    outbox_id: int
    kind: FeedbackKind
    recorded: bool
    suppressed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "outbox_id": self.outbox_id,
            "kind": self.kind,
            "recorded": self.recorded,
            "suppressed": self.suppressed,
        }


def stream_of(message: OutboxMessage) -> str:
    """The sending stream a message belongs to: ``email:<sender domain>`` (the right-hand side
    of its Message-ID), else its channel."""
    if message.channel != "email":
        return message.channel
    domain = _domain(message.message_id or "")
    return f"email:{domain}" if domain else "email"


def _domain(address: str) -> str:
    return address.strip().strip("<>").rpartition("@")[2].strip().lower()


def record(
    session: Session,
    message: OutboxMessage,
    *,
    kind: FeedbackKind,
    occurred_at: datetime,
    received_at: datetime,
    vault: Vault,
    bounce: Bounce | None = None,
    link: str | None = None,
    address: str | None = None,
) -> FeedbackOutcome:
    """Record one piece of feedback on ``message``; flushes only.

    ``link`` (a click's destination) tells clicks on different links apart; ``address`` (the
    recipient a bounce names) is used only for its blind index.
    """
    if kind == "bounced" and bounce is None:
        bounce = "soft"
    key = f"{message.id}:{kind}" + (f":{bounce}" if kind == "bounced" else "")
    if link is not None:
        key += ":" + hashlib.sha256(link.encode()).hexdigest()[:16]
    stream = stream_of(message)
    fresh = repository.insert_feedback(
        session,
        key=key,
        outbox_id=message.id,
        channel=message.channel,
        stream=stream,
        kind=kind,
        bounce=bounce if kind == "bounced" else None,
        occurred_at=occurred_at,
        received_at=received_at,
    )
    if not fresh:
        return FeedbackOutcome(outbox_id=message.id, kind=kind, recorded=False)
    properties: dict[str, Any] = {
        "outbox_id": message.id,
        "touchpoint": message.touchpoint,
        "topic": message.topic,
        "channel": message.channel,
        "message_id": message.message_id,
    }
    if bounce is not None and kind == "bounced":
        properties["bounce"] = bounce
    if link is not None:
        # The host only: a path or a query may carry personal data.
        properties["link_host"] = urlsplit(link).hostname or ""
    repository.insert_event(
        session,
        customer_id=message.customer_id,
        type_=f"message.{kind}",
        source=EVENT_SOURCE,
        message_id=key,
        occurred_at=occurred_at,
        received_at=received_at,
        properties=properties,
    )
    suppressed = False
    reason = (
        "complaint"
        if kind == "complained"
        else "hard-bounce"
        if kind == "bounced" and bounce == "hard"
        else None
    )
    if reason is not None:
        suppressed = repository.insert_suppression(
            session,
            customer_id=message.customer_id,
            channel=message.channel,
            reason=reason,
            address=_address_lookup(session, message, address=address, vault=vault),
            outbox_id=message.id,
            at=occurred_at,
        )
        if suppressed:
            log.info(
                "channel %s suppressed for customer %s: %s (message %s)",
                message.channel,
                message.customer_id,
                reason,
                message.id,
            )
    session.flush()
    return FeedbackOutcome(outbox_id=message.id, kind=kind, recorded=True, suppressed=suppressed)


def _address_lookup(
    session: Session, message: OutboxMessage, *, address: str | None, vault: Vault
) -> bytes | None:
    """The blind index of the address that bounced or complained: the one the report names,
    else the customer's only address of that kind; unknown when they have several."""
    kind = _ADDRESS_KIND.get(message.channel)
    if kind is None:
        return None
    if address:
        try:
            if kind == "email":
                normalized = normalize_email(address)
            else:
                # Providers report numbers in E.164; a number without its country is not matched.
                normalized = normalize_phone(address, region="ZZ")
        except InvalidInput:
            normalized = ""
        if normalized:
            return IdentityClaim(kind=kind, value=normalized).lookup(vault)
    known = repository.address_lookups(session, message.customer_id, kind=kind)
    return known[0] if len(known) == 1 else None


# Provider status callbacks.

# What providers call each status, in Regard's words.
PROVIDER_STATUSES: dict[str, FeedbackKind] = {
    "delivered": "delivered",
    "bounced": "bounced",
    "bounce": "bounced",
    "undeliverable": "bounced",
    "failed": "failed",
    "undelivered": "failed",
    "rejected": "failed",
    "complained": "complained",
    "complaint": "complained",
    "spam": "complained",
    "opened": "opened",
    "read": "opened",
    "clicked": "clicked",
    "replied": "replied",
    "answered": "replied",
}


@dataclass(frozen=True)
class ProviderStatus:
    """A provider's status callback, read: which message, what happened, when."""

    provider_id: str
    kind: FeedbackKind
    occurred_at: datetime
    bounce: Bounce | None = None
    address: str | None = None


def provider_status(
    session: Session,
    status: ProviderStatus,
    *,
    channel: str,
    received_at: datetime,
    vault: Vault,
) -> FeedbackOutcome:
    """Record a provider's status callback for a message of ``channel``; flushes only."""
    message = repository.outbox_by_provider_id(
        session, channel=channel, provider_id=status.provider_id
    )
    if message is None:
        raise UnknownMessage(f"no {channel} message has the provider id given in 'provider_id'")
    return record(
        session,
        message,
        kind=status.kind,
        occurred_at=status.occurred_at,
        received_at=received_at,
        vault=vault,
        bounce=status.bounce,
        address=status.address,
    )


# Email feedback: bounces, complaints (feedback loops), replies, by Message-ID.

EmailFeedbackKind = Literal["bounce", "complaint", "delivered", "reply"]
_EMAIL_KINDS: dict[str, FeedbackKind] = {
    "bounce": "bounced",
    "complaint": "complained",
    "delivered": "delivered",
    "reply": "replied",
}


def email_feedback(
    session: Session,
    *,
    message_id: str,
    kind: EmailFeedbackKind,
    bounce: Bounce | None,
    occurred_at: datetime,
    received_at: datetime,
    vault: Vault,
    recipient: str | None = None,
) -> FeedbackOutcome:
    """Record a bounce, complaint, delivery or reply reported for the email ``message_id``."""
    bare = message_id.strip().strip("<>").strip()
    message = repository.outbox_by_message_id(session, (f"<{bare}>", bare))
    if message is None or message.channel != "email":
        raise UnknownMessage("no email was sent with the Message-ID given in 'message_id'")
    return record(
        session,
        message,
        kind=_EMAIL_KINDS[kind],
        occurred_at=occurred_at,
        received_at=received_at,
        vault=vault,
        bounce=bounce if kind == "bounce" else None,
        address=recipient,
    )


# Clicks and opens, through signed links.


def _serializer(vault: Vault, purpose: Literal["click", "open"]) -> URLSafeSerializer:
    # No expiry: a link in an old message still leads where it always did, and it can lead
    # nowhere else.
    return URLSafeSerializer(vault.derive("delivery-links"), salt=f"regard.delivery.{purpose}")


def _check_destination(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("a tracked link must be an absolute http(s) URL")
    if len(url) > _URL_LIMIT:
        raise InvalidInput(f"a tracked link may be at most {_URL_LIMIT} characters")
    return url


def click_url(base_url: str, *, outbox_id: int, url: str, vault: Vault) -> str:
    """The link to put in a message in place of ``url``: it records the click, then forwards.

    Only absolute http(s) URLs are wrapped; :class:`InvalidInput` otherwise.
    """
    token = _serializer(vault, "click").dumps({"o": outbox_id, "u": _check_destination(url)})
    return f"{base_url.rstrip('/')}{CLICK_PATH}{token}"


def open_url(base_url: str, *, outbox_id: int, vault: Vault) -> str:
    """The address of the 1x1 image that records an open of the email ``outbox_id``."""
    token = _serializer(vault, "open").dumps({"o": outbox_id})
    return f"{base_url.rstrip('/')}{OPEN_PATH}{token}"


class BadLink(InvalidInput):
    """A click or open link that was altered or never issued."""

    code = "bad_link"


def _claims(token: str, *, purpose: Literal["click", "open"], vault: Vault) -> dict[str, Any]:
    try:
        payload = _serializer(vault, purpose).loads(token)
    except BadSignature as exc:
        raise BadLink("this link is not valid: it was altered or cut short") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("o"), int):
        raise BadLink("this link is not valid: it was altered or cut short")
    return payload


def follow_click(session: Session, token: str, *, now: datetime, vault: Vault) -> str:
    """Record the click a signed link stands for and return where it leads.

    The destination is the one signed into the token, never anything from the request. A
    click on a message no longer stored (erased) still forwards, and records nothing.
    """
    claims = _claims(token, purpose="click", vault=vault)
    url = claims.get("u")
    if not isinstance(url, str):
        raise BadLink("this link is not valid: it was altered or cut short")
    destination = _check_destination(url)
    message = repository.outbox_message(session, claims["o"])
    if message is not None:
        record(
            session,
            message,
            kind="clicked",
            occurred_at=now,
            received_at=now,
            vault=vault,
            link=destination,
        )
    return destination


def record_open(session: Session, token: str, *, now: datetime, vault: Vault) -> bool:
    """Record the open a signed pixel stands for; False when the message is no longer stored."""
    claims = _claims(token, purpose="open", vault=vault)
    message = repository.outbox_message(session, claims["o"])
    if message is None:
        return False
    record(session, message, kind="opened", occurred_at=now, received_at=now, vault=vault)
    return True


# Suppressions.


# A text back within this long of the last one sent answers it.
REPLY_WINDOW = timedelta(days=7)


def text_reply(
    session: Session, customer_id: int, *, at: datetime, vault: Vault
) -> FeedbackOutcome | None:
    """A text from the customer (a keyword or anything else) is a reply to the last text sent
    to them within ``REPLY_WINDOW``: it counts as engagement and shows on their timeline.
    None when no text was sent to them lately."""
    message = repository.latest_sent(session, customer_id, channel="sms", since=at - REPLY_WINDOW)
    if message is None:
        return None
    return record(session, message, kind="replied", occurred_at=at, received_at=at, vault=vault)


def suppressed(session: Session, pairs: list[tuple[int, str]]) -> set[tuple[int, str]]:
    """Which (customer id, channel) pairs must not be sent to: the worker's send-time check.

    One query per few hundred customers, whatever the size of the batch.
    """
    return repository.suppressed_pairs(session, pairs)


def lift(session: Session, customer_id: int, *, channel: str) -> int:
    """Allow ``channel`` again for the customer (a person checked the address); how many
    suppressions were lifted."""
    return repository.lift_suppression(session, customer_id=customer_id, channel=channel)


@on_merge
def _merge_suppressions(session: Session, survivor_id: int, merged_id: int) -> None:
    """A suppression follows the person: the survivor of a merge keeps the merged one's."""
    repository.move_suppressions(session, survivor_id=survivor_id, merged_id=merged_id)
