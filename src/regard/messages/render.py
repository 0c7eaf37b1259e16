"""Outbox messages written out: a batch of rows in, finished content (or a problem) out.

:func:`render_batch` is what a delivery worker calls. It reads what it needs for the whole batch
in a few queries, renders each message with the brand's compiled templates, and returns, in
order, an :data:`~regard.messages.content.Content` or a :class:`RenderProblem` per message. It
never raises for one message: a customer with no address on the channel, or a template that
fails on this customer's data, is a problem for that message alone.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from html import escape, unescape
from typing import Any, Literal

import css_inline
from jinja2 import TemplateError
from jinja2.exceptions import SecurityError
from sqlalchemy.orm import Session

from regard.config import BrandConfig, Settings
from regard.decisions.models import OutboxMessage
from regard.delivery.feedback import click_url
from regard.errors import InvalidInput
from regard.messages import sms
from regard.messages.content import Content, EmailContent, ProviderContent
from regard.messages.personalisation import Recipient, build_recipients
from regard.messages.templates import MessageTemplate, TemplateSet
from regard.store.crypto import Vault

ProblemReason = Literal["no-address", "no-template", "template-failed", "unsupported-channel"]

_INLINER = css_inline.CSSInliner(load_remote_stylesheets=False, keep_at_rules=True)
_BLANK_LINES = re.compile(r"\n{3,}")


@dataclass(frozen=True, slots=True)
class RenderProblem:
    """Why one message could not be written. ``detail`` holds no personal data. Every problem
    is permanent: the same data and templates give the same result on a retry."""

    outbox_id: int
    reason: ProblemReason
    detail: str


Rendered = Content | RenderProblem


def message_id(idempotency_key: str, *, sender: str, vault: Vault) -> str:
    """The Message-ID of one outbox message: the same on every attempt, and saying nothing of
    the customer (a keyed hash of the idempotency key) at the sender's domain."""
    digest = hmac.new(vault.derive("message-id"), idempotency_key.encode(), hashlib.sha256)
    domain = sender.rpartition("@")[2].rstrip(">").strip() or "regard.invalid"
    return f"<{digest.hexdigest()[:40]}@{domain}>"


def render_batch(
    session: Session,
    messages: Sequence[OutboxMessage],
    *,
    brand: BrandConfig,
    templates: TemplateSet,
    vault: Vault,
    settings: Settings,
) -> list[Rendered]:
    """One :data:`Content` or :class:`RenderProblem` per message, in order.

    Reads only; flushes nothing. The caller owns the transaction.
    """
    if not messages:
        return []
    recipients = build_recipients(session, messages, brand=brand, vault=vault, settings=settings)
    return [
        render_one(
            message,
            recipients[message.id],
            brand=brand,
            templates=templates,
            vault=vault,
            base_url=settings.public_url,
        )
        for message in messages
    ]


def render_one(
    message: OutboxMessage,
    recipient: Recipient,
    *,
    brand: BrandConfig,
    templates: TemplateSet,
    vault: Vault,
    base_url: str | None = None,
) -> Rendered:
    """One message written for its recipient (the context already built).

    With ``base_url`` (Regard's public address), an email's links to other sites go through
    the signed click redirect there, so a click is recorded before the customer lands; links
    to Regard itself (preferences, unsubscribe, survey) stay as they are."""
    template = templates.get(message.content, message.channel)
    if template is None:
        return RenderProblem(
            message.id, "no-template", f"no template {message.content}.{message.channel}"
        )
    if message.channel not in ("email", "sms", "push", "voice"):
        return RenderProblem(
            message.id, "unsupported-channel", f"{message.channel} messages are not rendered"
        )
    if not recipient.address:
        return RenderProblem(
            message.id,
            "no-address",
            f"the customer has no {_ADDRESS_WORDS[message.channel]} for {message.channel}",
        )
    the_id = message.message_id or message_id(
        message.idempotency_key, sender=brand.messages.sender, vault=vault
    )
    try:
        if message.channel == "email":
            email = _email(message, recipient, template, brand=brand, message_id=the_id)
            if base_url and brand.messages.track_clicks:
                tracked = _tracked(email.html, outbox_id=message.id, base_url=base_url, vault=vault)
                email = replace(email, html=tracked)
            return email
        return _provider(message, recipient, template, brand=brand, message_id=the_id)
    except SecurityError:
        # The sandbox refused something a template tried; the message stays unwritten.
        return RenderProblem(message.id, "template-failed", f"{template.path.name}: not allowed")
    except (TemplateError, TypeError, ValueError, ArithmeticError) as exc:
        return RenderProblem(
            message.id, "template-failed", f"{template.path.name}: {type(exc).__name__}"
        )


_ADDRESS_WORDS = {
    "email": "email address",
    "sms": "phone number",
    "voice": "phone number",
    "push": "push device",
}


def _email(
    message: OutboxMessage,
    recipient: Recipient,
    template: MessageTemplate,
    *,
    brand: BrandConfig,
    message_id: str,
) -> EmailContent:
    context = recipient.context
    links: Mapping[str, str] = context["links"]
    subject = " ".join(template.render_block("subject", context).split())
    text = _tidy(template.render_block("text", context))
    html = template.render_block("html", context)
    # Every email carries the way to the customer's preferences, whatever the template says.
    if links["preferences"] not in text:
        text = f"{text}\n\nYour preferences: {links['preferences']}"
    if _html_attr(links["preferences"]) not in html:
        html = _with_footer(html, links["preferences"])
    assert recipient.address is not None
    return EmailContent(
        sender=brand.messages.sender,
        to=recipient.address,
        subject=subject,
        text=text + "\n",
        html=_INLINER.inline(html),
        message_id=message_id,
        headers=(
            ("List-Unsubscribe", f"<{links['unsubscribe']}>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ),
    )


def _provider(
    message: OutboxMessage,
    recipient: Recipient,
    template: MessageTemplate,
    *,
    brand: BrandConfig,
    message_id: str,
) -> ProviderContent:
    context = recipient.context
    assert recipient.address is not None
    bare_id = message_id.strip("<>")
    if message.channel == "sms":
        body = _tidy(template.render_block("body", context))
        topic = brand.topic(context["topic"]["key"]) or brand.topic(_first_topic(context, brand))
        if message.topic == "digest" or (topic is not None and topic.is_marketing):
            body = sms.with_brand_and_stop(body, brand.name)
        length = sms.measure(body)
        extra = {"segments": str(length.segments), "encoding": length.encoding}
        warning = sms.over_limit(length, brand)
        if warning:
            extra["warning"] = warning
        return ProviderContent("sms", recipient.address, body, bare_id, extra=extra)
    if message.channel == "push":
        link = template.render_block("link", context).strip() or None
        return ProviderContent(
            "push",
            recipient.address,
            _tidy(template.render_block("body", context)),
            bare_id,
            title=" ".join(template.render_block("title", context).split()),
            link=link,
        )
    return ProviderContent(
        "voice",
        recipient.address,
        _tidy(template.render_block("script", context)),
        bare_id,
        asks_response=bool(context["touchpoint"]["asks_response"]),
    )


def _first_topic(context: Mapping[str, Any], brand: BrandConfig) -> str:
    definition = brand.touchpoint(context["touchpoint"]["name"])
    return definition.topic if definition else ""


_LINK = re.compile(r'(<a\b[^>]*?\bhref=")(https?://[^"]+)(")', re.IGNORECASE)


def _tracked(html: str, *, outbox_id: int, base_url: str, vault: Vault) -> str:
    """Each link to another site, through the click redirect of ``base_url``."""
    own = base_url.rstrip("/") + "/"

    def swap(found: re.Match[str]) -> str:
        url = unescape(found.group(2))
        if url.startswith(own):
            return found.group(0)
        try:
            tracked = click_url(base_url, outbox_id=outbox_id, url=url, vault=vault)
        except InvalidInput:  # too long to sign: left as the template wrote it
            return found.group(0)
        return f"{found.group(1)}{escape(tracked)}{found.group(3)}"

    return _LINK.sub(swap, html)


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines))


def _html_attr(url: str) -> str:
    return url.replace("&", "&amp;")


def _with_footer(html: str, url: str) -> str:
    footer = (
        f'<p style="font-size:12px;color:#666">'
        f'<a href="{_html_attr(url)}">Choose what we send you</a></p>'
    )
    closing = html.lower().rfind("</body>")
    if closing < 0:
        return html + footer
    return html[:closing] + footer + html[closing:]
