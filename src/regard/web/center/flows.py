"""The preference center's steps that span more than one service call: opening a link,
asking for a link by email, and the mail that follows a change.

Messages are composed here, inside the transaction, and sent by the page only after it commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import phonenumbers
from sqlalchemy.orm import Session

from regard.config import BrandConfig
from regard.customers.identities import IdentityClaim, normalize_email
from regard.delivery.mail import Mailer, compose, send_quietly
from regard.errors import InvalidInput
from regard.preferences import links, repository
from regard.preferences.catalogue import CHANNEL_LABELS
from regard.preferences.links import LinkClaims
from regard.store.crypto import Vault

_BULLETS = "•••••"


@dataclass(frozen=True)
class CenterMail:
    """How the center's own mail goes out, and the address its links start with."""

    mailer: Mailer
    public_url: str
    sender: str


def mask_email(address: str) -> str:
    """``ana@example.com`` as ``a•••@example.com``: enough to recognise, not to copy."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}•••@{domain}"


def mask_phone(number: str) -> str:
    """``+31612345678`` as ``+31 6•••••78``."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return f"{number[:3]}{_BULLETS}{number[-2:]}"
    national = str(parsed.national_number)
    return f"+{parsed.country_code} {national[:1]}{_BULLETS}{national[-2:]}"


@dataclass(frozen=True)
class Address:
    masked: str
    verified: bool


@dataclass(frozen=True)
class Device:
    handle: str
    name: str
    platform: str


@dataclass(frozen=True)
class ChannelRow:
    """One of the brand's channels as the customer can be reached on it."""

    channel: str
    label: str
    addresses: list[Address]
    devices: list[Device]


def channel_rows(session: Session, customer_id: int, *, brand: BrandConfig) -> list[ChannelRow]:
    identities = repository.contact_identities(session, customer_id)
    emails = [
        Address(mask_email(i.value), i.verified_at is not None)
        for i in identities
        if i.kind == "email"
    ]
    phones = [
        Address(mask_phone(i.value), i.verified_at is not None)
        for i in identities
        if i.kind == "phone"
    ]
    devices = devices_of(session, customer_id)
    rows: list[ChannelRow] = []
    for channel in brand.channels:
        addresses = emails if channel == "email" else phones if channel in ("sms", "voice") else []
        rows.append(
            ChannelRow(
                channel=channel,
                label=CHANNEL_LABELS.get(channel, channel),
                addresses=addresses,
                devices=devices if channel == "push" else [],
            )
        )
    return rows


def devices_of(session: Session, customer_id: int) -> list[Device]:
    return [
        Device(d.handle, d.name, d.platform) for d in repository.devices_of(session, customer_id)
    ]


def prove_address(session: Session, claims: LinkClaims) -> None:
    """A link sent to an address was opened: the customer receives there."""
    if claims.identity_id is None:
        return
    owned = {i.id for i in repository.contact_identities(session, claims.customer_id)}
    if claims.identity_id in owned:
        repository.mark_verified(session, claims.identity_id, datetime.now(UTC))


def _email_identity(
    session: Session, customer_id: int, preferred: int | None
) -> tuple[int, str] | None:
    emails = repository.contact_identities(session, customer_id, kinds=("email",))
    for identity in emails:
        if identity.id == preferred:
            return identity.id, identity.value
    verified = [i for i in emails if i.verified_at is not None]
    candidates = verified or emails
    return (candidates[0].id, candidates[0].value) if candidates else None


@dataclass(frozen=True)
class LinkRequestOutcome:
    """``limited`` when over the hourly limit; ``message`` only when the address is known."""

    limited: bool
    message: EmailMessage | None = None


class NotAnAddress(ValueError):
    """What was typed is not an email address."""


def request_link(
    session: Session,
    *,
    raw_email: str,
    client_hash: str,
    brand: BrandConfig,
    vault: Vault,
    mail: CenterMail,
) -> LinkRequestOutcome:
    """Record a "send me a link" request and compose the link's email for a known address.

    Known and unknown addresses do the same work up to the look-up and are counted alike, so
    the answer says nothing about which addresses are customers'.
    """
    try:
        address = normalize_email(raw_email)
    except InvalidInput as exc:  # its message would echo the address
        raise NotAnAddress("not an email address") from exc
    lookup = IdentityClaim(kind="email", value=address).lookup(vault)
    now = datetime.now(UTC)
    since = now - timedelta(hours=1)
    limit = brand.preferences.link_requests_per_hour
    if (
        repository.count_link_requests(
            session, address_lookup=lookup, client_hash=None, since=since
        )
        >= limit
        or repository.count_link_requests(
            session, address_lookup=None, client_hash=client_hash, since=since
        )
        >= limit
    ):
        return LinkRequestOutcome(limited=True)
    identity = repository.identity_by_lookup(session, lookup)
    known = identity is not None and identity.kind == "email"
    repository.add_link_request(
        session, address_lookup=lookup, client_hash=client_hash, requested_at=now, sent=known
    )
    if identity is None or not known:
        return LinkRequestOutcome(limited=False)
    token = links.issue(session, identity.customer_id, purpose="center", identity_id=identity.id)
    url = links.url_for(mail.public_url, "center", token)
    days = brand.preferences.link_days
    body = (
        f"Hello,\n\nSomeone (we hope you) asked for a link to your choices with {brand.name}.\n"
        f"Open it to see and change what we send you, how often and when:\n\n{url}\n\n"
        f"The link works for {days} days. Anyone with it can change your choices, so please "
        "do not forward this email.\n\n"
        "If you did not ask for it, you can ignore this email: nothing changes.\n"
    )
    message = compose(
        sender=mail.sender,
        to=address,
        subject=f"Your link to your choices with {brand.name}",
        body=body,
    )
    return LinkRequestOutcome(limited=False, message=message)


@dataclass(frozen=True)
class ConfirmationTarget:
    """Where a double opt-in confirmation goes: read before the change, so that writing the
    email can wait until after the change is committed."""

    customer_id: int
    email_id: int
    address: str
    generation: int


def confirmation_target(
    session: Session,
    customer_id: int,
    *,
    identity_id: int | None = None,
    generation: int | None = None,
) -> ConfirmationTarget | None:
    """``generation``: the customer's current link generation, when already known (a link that
    just opened carries it)."""
    found = _email_identity(session, customer_id, identity_id)
    if found is None:
        return None
    return ConfirmationTarget(
        customer_id=customer_id,
        email_id=found[0],
        address=found[1],
        generation=(
            generation
            if generation is not None
            else repository.link_generation(session, customer_id)
        ),
    )


def confirmation_email(
    target: ConfirmationTarget,
    pending: list[tuple[str, str]],
    *,
    brand: BrandConfig,
    mail: CenterMail,
) -> EmailMessage:
    """One email with a confirmation link per opt-in that waits for it (double opt-in)."""
    lines: list[str] = []
    for topic_key, channel in pending:
        topic = brand.topic(topic_key)
        label = topic.label if topic else topic_key
        token = links.sign(
            LinkClaims(
                customer_id=target.customer_id,
                purpose="confirm",
                generation=target.generation,
                topic=topic_key,
                channel=channel,
                identity_id=target.email_id,
            )
        )
        lines.append(
            f"{label} by {CHANNEL_LABELS.get(channel, channel)}:\n"
            f"{links.url_for(mail.public_url, 'confirm', token)}\n"
        )
    body = (
        f"Hello,\n\nYou asked {brand.name} to send you:\n\n"
        + "\n".join(lines)
        + "\nOpen each link and press the button to confirm. Until you do, we send nothing of "
        f"these. The links work for {brand.preferences.link_days} days.\n\n"
        "If you did not ask for this, ignore this email: nothing will be sent.\n"
    )
    return compose(
        sender=mail.sender,
        to=target.address,
        subject=f"Please confirm what {brand.name} may send you",
        body=body,
    )


def send_confirmation(
    target: ConfirmationTarget | None,
    pending: list[tuple[str, str]],
    *,
    brand: BrandConfig,
    mail: CenterMail,
) -> None:
    """Write and send the confirmation email (run after the change is committed)."""
    if target is not None and pending:
        send_quietly(mail.mailer, confirmation_email(target, pending, brand=brand, mail=mail))
