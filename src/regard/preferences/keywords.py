"""SMS keywords: what a customer's text to the brand's number means, and what Regard answers.

STOP (and the words carriers treat like it) opts the sender out of every topic on the sms
channel and is confirmed by one text; a second STOP changes nothing and is not answered again.
START restores what the STOP took away: the texts owed under the contract (orders, service) and
the marketing topics the customer had opted in to before it. HELP answers who is texting and
how to stop. Anything else is not a keyword: nothing is recorded and nothing is answered.

A text from a number proves the sender holds it, so the phone identity becomes verified.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy.orm import Session

from regard.config import BrandConfig
from regard.customers.identities import IdentityClaim, claim
from regard.customers.service import ProfileUpdate, Resolver
from regard.preferences import catalogue, repository
from regard.preferences.ledger import RECORD_SOURCES, LedgerLine, LedgerView, fold
from regard.preferences.models import ConsentEntry
from regard.preferences.service import ConsentChange, Origin, record
from regard.store.crypto import Vault

Keyword = Literal["stop", "start", "help"]

STOP_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
START_WORDS = frozenset({"START", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})

_SMS = "sms"
# Quotes and marks phones put around a word, beside ASCII punctuation.
_PUNCTUATION = string.punctuation + "¡¿«»“”‘’„…"


def keyword_of(body: str) -> Keyword | None:
    """The keyword a text starts with (any case, punctuation around it ignored), if any."""
    words = body.split()
    if not words:
        return None
    word = words[0].strip(_PUNCTUATION).upper()
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    if word in HELP_WORDS:
        return "help"
    return None


def sms_opt_in_confirmation(brand: BrandConfig) -> str:
    """The text that confirms an SMS opt-in: the brand, how often it texts, HELP and STOP.

    Sent whenever a customer opts in to a topic on sms, wherever they did it.
    """
    return (
        f"{brand.name}: you will get texts from us, {brand.preferences.sms_frequency}. "
        "Msg & data rates may apply. Reply HELP for help, STOP to stop."
    )


def needs_sms_confirmation(entries: Iterable[ConsentEntry]) -> bool:
    """Whether a change (``Recorded.entries``) opted in to a topic on sms and must be confirmed.

    The caller that recorded it sends :func:`sms_opt_in_confirmation`. Not for a START, whose
    reply is that confirmation, nor for imports and merges, which relay an opt-in given before.
    """
    return any(
        entry.kind == "consent"
        and entry.channel == _SMS
        and entry.state == "opted-in"
        and entry.source not in (_SMS, *RECORD_SOURCES)
        for entry in entries
    )


def sms_stop_confirmation(brand: BrandConfig) -> str:
    """The one text that confirms a STOP."""
    return f"You will get no more texts from {brand.name}. Reply START to get texts again."


def sms_help(brand: BrandConfig) -> str:
    """The answer to HELP: the brand's own words, or who is texting and how to stop."""
    return brand.preferences.sms_help or (
        f"{brand.name}: texts about your orders and the topics you chose, "
        f"{brand.preferences.sms_frequency}. Reply STOP to stop, START to start again."
    )


@dataclass(frozen=True)
class KeywordAnswer:
    """What a text meant and the reply to send back (``None``: send nothing)."""

    keyword: Keyword | None
    reply: str | None
    customer_id: int | None
    changes: int


SMS_CUSTOMER = Origin(source="sms", actor="customer")


def answer(
    session: Session,
    *,
    sender: str,
    body: str,
    brand: BrandConfig,
    vault: Vault,
    now: datetime | None = None,
) -> KeywordAnswer:
    """Act on a text from ``sender`` and say what to reply.

    An unknown number that sends STOP gets a profile of its own holding the opt-out, so that a
    later import of that number cannot text it. An unknown number asking for HELP or START is
    answered without creating anything. ``InvalidInput`` when ``sender`` is not a phone number.
    """
    now = now or datetime.now(UTC)
    phone = claim("phone", sender, region=brand.region, source=_SMS)
    keyword = keyword_of(body)
    identity = repository.identity_by_lookup(session, phone.lookup(vault))
    customer_id = identity.customer_id if identity is not None else None
    if identity is not None:
        repository.mark_verified(session, identity.id, now)
    if keyword is None:
        return KeywordAnswer(keyword=None, reply=None, customer_id=customer_id, changes=0)
    if keyword == "help":
        return KeywordAnswer(keyword, sms_help(brand), customer_id, 0)
    if keyword == "start":
        changes = 0
        if customer_id is not None:
            changes = _restore(session, customer_id, brand=brand)
        return KeywordAnswer(keyword, sms_opt_in_confirmation(brand), customer_id, changes)
    if customer_id is None:
        customer_id = _new_customer(session, phone, brand=brand, vault=vault, now=now)
    recorded = record(
        session,
        customer_id,
        brand=brand,
        origin=SMS_CUSTOMER,
        consents=[
            ConsentChange(topic.key, _SMS, "opted-out")
            for topic in brand.topics
            if _SMS in brand.channels
        ],
    )
    changes = len(recorded.entries)
    # One confirmation only: a STOP that changes nothing was already answered.
    reply = sms_stop_confirmation(brand) if changes else None
    return KeywordAnswer(keyword, reply, customer_id, changes)


def _new_customer(
    session: Session, phone: IdentityClaim, *, brand: BrandConfig, vault: Vault, now: datetime
) -> int:
    resolver = Resolver(session, vault=vault, brand=brand)
    resolution = resolver.resolve(
        ProfileUpdate(source=_SMS, observed_at=now, identities=(phone,), activity=True)
    )
    resolver.flush()
    identity = repository.identity_by_lookup(session, phone.lookup(vault))
    if identity is not None:
        repository.mark_verified(session, identity.id, now)
    return resolution.customer_id


def _restore(session: Session, customer_id: int, *, brand: BrandConfig) -> int:
    """Undo the customer's last SMS STOP: back to what each topic on sms was before it."""
    lines = sorted(
        repository.ledger_lines(session, customer_id), key=lambda line: (line.occurred_at, line.seq)
    )
    standing = fold(lines).consents
    restore: list[ConsentChange] = []
    for topic in brand.topics:
        word = standing.get((topic.key, _SMS))
        if word is None or word.state != "opted-out" or word.source != _SMS:
            continue  # not stopped by a text: an opt-out given elsewhere stays
        before = _before(lines, word.entry_id).consents.get((topic.key, _SMS))
        if (before is None and catalogue.default_allows(topic, _SMS)) or (
            before is not None and before.state == "opted-in"
        ):
            restore.append(ConsentChange(topic.key, _SMS, "opted-in"))
    if not restore or _SMS not in brand.channels:
        return 0
    return len(
        record(session, customer_id, brand=brand, origin=SMS_CUSTOMER, consents=restore).entries
    )


def _before(lines: list[LedgerLine], entry_id: int | None) -> LedgerView:
    """The ledger as it stood just before the entry ``entry_id``."""
    cut = next((i for i, line in enumerate(lines) if line.entry_id == entry_id), len(lines))
    return fold(lines[:cut])
