"""Any message for any customer, written as it would go out, without queueing anything."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from regard.config import BrandConfig, Settings
from regard.decisions.models import OutboxMessage
from regard.errors import InvalidInput, NotFound
from regard.messages import repository
from regard.messages.render import Rendered, render_batch
from regard.messages.templates import TemplateSet
from regard.store.crypto import Vault


@dataclass(frozen=True)
class Preview:
    channel: str
    content: str
    rendered: Rendered


def preview_touchpoint(
    session: Session,
    touchpoint: str,
    *,
    customer_id: int,
    channel: str | None,
    brand: BrandConfig,
    templates: TemplateSet,
    vault: Vault,
    settings: Settings,
) -> list[Preview]:
    """The touchpoint's message on ``channel`` (or on each of its channels) for one customer,
    personalised from their newest candidate of it when they have one."""
    definition = brand.touchpoint(touchpoint)
    if definition is None:
        raise NotFound(f"no touchpoint {touchpoint!r}")
    choices = [c for c in definition.channels if channel is None or c.channel == channel]
    if not choices:
        offered = ", ".join(c.channel for c in definition.channels)
        raise InvalidInput(f"{touchpoint} is not sent by {channel} (its channels: {offered})")
    if not repository.profiles(session, [customer_id]):
        raise NotFound(f"no customer {customer_id}")
    now = datetime.now(UTC)
    messages = [
        OutboxMessage(
            id=-(index + 1),
            idempotency_key=f"preview:{touchpoint}:{customer_id}:{choice.channel}",
            decision_id=None,
            customer_id=customer_id,
            touchpoint=touchpoint,
            topic=definition.topic,
            channel=choice.channel,
            content=choice.content,
            send_at=now,
            message_id=None,
            created_at=now,
        )
        for index, choice in enumerate(choices)
    ]
    rendered = render_batch(
        session, messages, brand=brand, templates=templates, vault=vault, settings=settings
    )
    return [
        Preview(channel=m.channel, content=m.content, rendered=r)
        for m, r in zip(messages, rendered, strict=True)
    ]
