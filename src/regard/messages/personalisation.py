"""What a template knows about the person it writes to, built for a whole batch at once.

The context of one message (see docs/messages.md for every name):

- ``brand``: ``name``.
- ``customer``: ``first_name`` (empty when unknown), ``language``, ``interests`` (labels),
  ``interest_keys``, ``life_stage``, ``segments``, ``commitment`` (Entrenched, Convertible...,
  or empty), ``traits`` (the plain ones).
- ``greeting``: "Hi Ana" or, with no name, "Hello": never "Dear ,".
- ``touchpoint``: ``name``, ``label``, ``asks_response``; ``topic``: ``key``, ``label``,
  ``importance``.
- ``event``: the event that triggered the message (the order that is ready): ``type``,
  ``occurred_at`` and its plain properties (``order_id``, ``store``...); empty when scheduled.
- ``digest``: ``period`` and ``messages`` (each ``label``, ``topic``), for digests.
- ``links``: ``preferences`` (the customer's signed preference-center link) and
  ``unsubscribe`` (one-click, this topic on this channel).

Personal data is read decrypted for the moment of rendering and never logged.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from regard.config import BrandConfig, Settings
from regard.decisions.models import OutboxMessage
from regard.messages import repository
from regard.preferences.links import LinkClaims, sign, url_for
from regard.store.crypto import Vault

# Which identity carries each channel.
ADDRESS_KINDS = {"email": "email", "sms": "phone", "voice": "phone"}
DIGEST = "digest"


class Facts:
    """Read-only named values for templates. Unlike a dict it has no methods, so a property
    called ``items`` (an order's item count) reads as itself in ``{{ event.items }}``."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = {key: facts(value) for key, value in values.items()}

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"{sorted(self._values)})"


def facts(value: Any) -> Any:
    """Dicts, however nested, as :class:`Facts`; lists as tuples (nothing a template can change)."""
    if isinstance(value, dict):
        return Facts(value)
    if isinstance(value, list | tuple):
        return tuple(facts(item) for item in value)
    return value


@dataclass(frozen=True, slots=True)
class Recipient:
    """Everything needed to write one message: where it goes and what the template sees."""

    outbox_id: int
    # The address on the message's channel (email, E.164 phone, device token), or None.
    address: str | None
    identity_id: int | None
    context: dict[str, Any]


def first_name_of(personal: dict[str, Any] | None) -> str:
    """The name to greet someone by: their first name, else the first word of their name."""
    personal = personal or {}
    for key in ("first_name", "name", "full_name"):
        value = personal.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip().split()[0] if key != "first_name" else value.strip()
    return ""


def build_recipients(
    session: Session,
    messages: Sequence[OutboxMessage],
    *,
    brand: BrandConfig,
    vault: Vault,
    settings: Settings,
) -> dict[int, Recipient]:
    """A recipient per outbox message (by its id), from a fixed number of queries per batch."""
    customer_ids = {m.customer_id for m in messages}
    profiles = {row[0]: row for row in repository.profiles(session, customer_ids)}
    preferences = repository.preference_settings(session, customer_ids)
    generations = repository.link_generations(session, customer_ids)
    segments: dict[int, list[str]] = defaultdict(list)
    for customer_id, segment in repository.current_segments(session, customer_ids):
        segments[customer_id].append(segment)
    addresses: dict[tuple[int, str], tuple[int, str]] = {}
    kinds = {ADDRESS_KINDS[m.channel] for m in messages if m.channel in ADDRESS_KINDS}
    if kinds:
        for row in repository.addresses(session, customer_ids, kinds=kinds):
            addresses.setdefault((row[0], row[1]), (row[2], row[3]))
    tokens: dict[int, str] = {}
    if any(m.channel == "push" for m in messages):
        for customer_id, handle, token in repository.devices(session, customer_ids):
            switched = preferences.get(customer_id, {}).get("push_device", {}).get(handle, True)
            if switched is not False:
                tokens.setdefault(customer_id, token)
    triggers = _triggers(session, messages)
    event_ids = {
        int(key.removeprefix("event:"))
        for key, _at, _touchpoint in triggers.values()
        if key.startswith("event:") and key.removeprefix("event:").isdigit()
    }
    events = {row[0]: row for row in repository.events(session, event_ids)} if event_ids else {}
    digest_decisions = {m.decision_id for m in messages if m.touchpoint == DIGEST}
    bundled: dict[int, list[str]] = defaultdict(list)
    if digest_decisions:
        for decision_id, touchpoint in repository.digest_items(session, digest_decisions):
            bundled[decision_id].append(touchpoint)

    interest_labels = {c.key: c.label for c in brand.preferences.interests}
    stage_labels = {c.key: c.label for c in brand.preferences.life_stages}
    recipients: dict[int, Recipient] = {}
    for message in messages:
        customer_id = message.customer_id
        profile = profiles.get(customer_id)
        personal = profile[3] if profile is not None else None
        settings_of = preferences.get(customer_id, {})
        first_name = first_name_of(personal)
        interest_keys = [k for k in _setting(settings_of, "interests") or [] if isinstance(k, str)]
        member_of = sorted(segments.get(customer_id, []))
        commitment = next(
            (s.removeprefix("commitment:") for s in member_of if s.startswith("commitment:")), ""
        )
        stage = _setting(settings_of, "life_stage")
        language = (
            _setting(settings_of, "language")
            or (profile[1] if profile is not None else None)
            or brand.locale
        )
        is_digest = message.touchpoint == DIGEST
        trigger = triggers.get(message.id)
        # A digest's row names no touchpoint; its first bundled decision does (and its topic
        # is the one its unsubscribe link opts out of).
        touchpoint_name = trigger[2] if is_digest and trigger is not None else message.touchpoint
        definition = brand.touchpoint(touchpoint_name)
        topic = brand.topic(definition.topic if definition else message.topic)
        address, identity_id = _address(message, addresses, tokens)
        event: dict[str, Any] = {}
        if not is_digest and trigger is not None and trigger[0].startswith("event:"):
            found = events.get(int(trigger[0].removeprefix("event:") or 0))
            if found is not None:
                event = {**(found[3] or {}), "type": found[1], "occurred_at": found[2]}
        generation = generations.get(customer_id, 0)
        base_url = settings.public_url
        center = sign(
            LinkClaims(customer_id, "center", generation=generation, identity_id=identity_id),
            vault=vault,
        )
        unsubscribe_topic = topic.key if topic is not None else message.topic
        unsubscribe = sign(
            LinkClaims(
                customer_id,
                "unsubscribe",
                generation=generation,
                topic=unsubscribe_topic,
                channel=message.channel,
                identity_id=identity_id,
            ),
            vault=vault,
        )
        context: dict[str, Any] = {
            "brand": {"name": brand.name},
            "customer": {
                "id": customer_id,
                "first_name": first_name,
                "language": language,
                "interests": [interest_labels[k] for k in interest_keys if k in interest_labels],
                "interest_keys": interest_keys,
                "life_stage": stage_labels.get(stage, "") if isinstance(stage, str) else "",
                "segments": member_of,
                "commitment": commitment,
                "traits": dict(profile[2] or {}) if profile is not None else {},
            },
            "greeting": f"Hi {first_name}" if first_name else "Hello",
            "touchpoint": {
                "name": message.touchpoint,
                "label": definition.label if definition and not is_digest else "",
                "asks_response": bool(definition.asks_response) if definition else False,
            },
            "topic": {
                "key": message.topic,
                "label": topic.label if topic is not None and not is_digest else "",
                "importance": topic.importance if topic is not None else "",
            },
            "event": event,
            "digest": _digest(message, bundled, brand) if is_digest else {},
            "links": {
                "preferences": url_for(base_url, "center", center),
                # The commitment survey opens with the same signed link as the center.
                "survey": url_for(base_url, "center", center) + "/survey",
                "unsubscribe": url_for(base_url, "unsubscribe", unsubscribe),
            },
        }
        context = {name: facts(value) for name, value in context.items()}
        recipients[message.id] = Recipient(message.id, address, identity_id, context)
    return recipients


def _setting(settings: dict[str, Any], name: str) -> Any:
    scoped = settings.get(name)
    return scoped.get("") if isinstance(scoped, dict) else None


def _address(
    message: OutboxMessage,
    addresses: dict[tuple[int, str], tuple[int, str]],
    tokens: dict[int, str],
) -> tuple[str | None, int | None]:
    """The address on the message's channel and the identity it belongs to (none for push)."""
    if message.channel == "push":
        return tokens.get(message.customer_id), None
    kind = ADDRESS_KINDS.get(message.channel)
    found = addresses.get((message.customer_id, kind)) if kind else None
    if found is None:
        return None, None
    return found[1], found[0]


def _triggers(
    session: Session, messages: Sequence[OutboxMessage]
) -> dict[int, tuple[str, datetime, str]]:
    """Per outbox message: the key and moment of the candidate behind it, and its touchpoint."""
    decided = {m.decision_id for m in messages if m.decision_id is not None}
    by_decision = (
        {row[0]: (row[2], row[3], row[1]) for row in repository.triggers(session, decided)}
        if decided
        else {}
    )
    previews = {(m.customer_id, m.touchpoint) for m in messages if m.decision_id is None}
    latest = repository.latest_triggers(session, previews) if previews else {}
    found: dict[int, tuple[str, datetime, str]] = {}
    for message in messages:
        if message.decision_id is not None and message.decision_id in by_decision:
            found[message.id] = by_decision[message.decision_id]
        elif (message.customer_id, message.touchpoint) in latest:
            key, at = latest[(message.customer_id, message.touchpoint)]
            found[message.id] = (key, at, message.touchpoint)
    return found


def _digest(
    message: OutboxMessage, bundled: dict[int, list[str]], brand: BrandConfig
) -> dict[str, Any]:
    items = []
    for name in bundled.get(message.decision_id, []):
        definition = brand.touchpoint(name)
        if definition is None:
            continue
        topic = brand.topic(definition.topic)
        items.append({"label": definition.label, "topic": topic.label if topic else ""})
    period = message.content.removeprefix("digest-")
    return {"period": period, "messages": items}
