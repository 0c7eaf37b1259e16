"""The consent ledger's rules, apart from the database: how an entry is hashed, and how the
current state is read from a customer's entries.

Reading the state is a fold over the entries in the order the customer spoke (``occurred_at``,
then ``seq``): the last word wins, with one exception that protects customers from stale lists.
An opt-in that did not come from the customer (an import from another system, a merge of two
profiles) never undoes an opt-out: only the customer's own later opt-in does.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

ConsentValue = Literal["opted-in", "opted-out", "pending"]
CONSENT_VALUES: tuple[ConsentValue, ...] = ("opted-in", "opted-out", "pending")

# Sources that carry the customer's own word (directly, or relayed by staff or the brand's app).
CUSTOMER_SOURCES = frozenset({"center", "one-click", "sms", "confirmation", "staff", "api"})
# Sources that relay an earlier or another system's record: they never undo an opt-out.
RECORD_SOURCES = frozenset({"import", "merge"})
SOURCES = CUSTOMER_SOURCES | RECORD_SOURCES

GENESIS = "0" * 64


@dataclass(frozen=True)
class EntryFacts:
    """Everything an entry says, as hashed into the chain."""

    customer_id: int
    seq: int
    kind: str
    topic: str | None
    channel: str | None
    state: str | None
    legal_basis: str | None
    setting: str | None
    scope: str | None
    value: Any
    value_digest: str | None
    source: str
    actor: str
    occurred_at: datetime
    recorded_at: datetime
    wording_version: str | None
    client_hash: str | None
    note: str | None
    prev_hash: str

    @classmethod
    def of(cls, entry: Any) -> EntryFacts:
        """The facts of a stored entry (an object with the ledger's column names)."""
        return cls(**{name: getattr(entry, name) for name in cls.__dataclass_fields__})

    def canonical(self) -> bytes:
        document = {
            "customer_id": self.customer_id,
            "seq": self.seq,
            "kind": self.kind,
            "topic": self.topic,
            "channel": self.channel,
            "state": self.state,
            "legal_basis": self.legal_basis,
            "setting": self.setting,
            "scope": self.scope,
            "value": self.value,
            "value_digest": self.value_digest,
            "source": self.source,
            "actor": self.actor,
            "occurred_at": _instant(self.occurred_at),
            "recorded_at": _instant(self.recorded_at),
            "wording_version": self.wording_version,
            "client_hash": self.client_hash,
            "note": self.note,
            "prev_hash": self.prev_hash,
        }
        return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _instant(moment: datetime) -> str:
    # Microseconds and UTC, the precision both databases keep.
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(key: bytes, facts: EntryFacts) -> str:
    """The keyed hash of an entry: without the ledger key, no one can forge a consistent chain."""
    return hmac.new(key, facts.canonical(), "sha256").hexdigest()


def value_digest(key: bytes, value: str) -> str:
    """The keyed digest of a personal value: proves what was said without keeping it readable."""
    return hmac.new(key, b"value\x1f" + value.encode(), "sha256").hexdigest()


@dataclass(frozen=True)
class ConsentWord:
    """The consent that stands for one topic on one channel, and where it came from."""

    state: ConsentValue
    legal_basis: str
    source: str
    actor: str
    occurred_at: datetime
    entry_id: int | None


@dataclass
class LedgerView:
    """A customer's consent and settings as the ledger says they stand."""

    consents: dict[tuple[str, str], ConsentWord] = field(default_factory=dict)
    # setting -> scope -> value
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    # setting -> scope -> entry id of a personal value (read from the ledger when shown).
    personal: dict[str, dict[str, int]] = field(default_factory=dict)

    def setting(self, name: str, scope: str = "", default: Any = None) -> Any:
        return self.settings.get(name, {}).get(scope, default)


@dataclass(frozen=True)
class LedgerLine:
    """The fields of an entry that the fold needs (a row, or an entry about to be written)."""

    entry_id: int | None
    seq: int
    kind: str
    topic: str | None
    channel: str | None
    state: str | None
    legal_basis: str | None
    setting: str | None
    scope: str | None
    value: Any
    has_personal_value: bool
    source: str
    actor: str
    occurred_at: datetime

    @classmethod
    def of(cls, entry: Any) -> LedgerLine:
        """The line of a ledger entry, or of a row with the same column names."""
        return cls(
            entry_id=entry.id,
            seq=entry.seq,
            kind=entry.kind,
            topic=entry.topic,
            channel=entry.channel,
            state=entry.state,
            legal_basis=entry.legal_basis,
            setting=entry.setting,
            scope=entry.scope,
            value=entry.value,
            has_personal_value=entry.value_digest is not None,
            source=entry.source,
            actor=entry.actor,
            occurred_at=entry.occurred_at,
        )


def applies(current: ConsentWord | None, line: LedgerLine) -> bool:
    """Whether ``line`` changes the consent ``current``: the rule that protects opt-outs."""
    if current is None or current.state != "opted-out":
        return True
    return line.state == "opted-out" or line.source in CUSTOMER_SOURCES


def fold(
    lines: Iterable[LedgerLine],
    *,
    until: datetime | None = None,
    start: LedgerView | None = None,
) -> LedgerView:
    """The state after ``lines`` (one customer's), optionally as it stood at ``until``.

    ``start`` is the state before ``lines`` when every one of them came after it (new entries
    on top of the cached state); it is left unchanged.
    """
    view = LedgerView()
    if start is not None:
        view.consents = dict(start.consents)
        view.settings = {name: dict(scopes) for name, scopes in start.settings.items()}
        view.personal = {name: dict(scopes) for name, scopes in start.personal.items()}
    ordered = sorted(lines, key=lambda line: (line.occurred_at, line.seq))
    for line in ordered:
        if until is not None and line.occurred_at > until:
            break
        if line.kind == "consent":
            assert line.topic is not None
            assert line.channel is not None
            assert line.state is not None
            key = (line.topic, line.channel)
            if applies(view.consents.get(key), line):
                view.consents[key] = ConsentWord(
                    state=line.state,  # type: ignore[arg-type]
                    legal_basis=line.legal_basis or "",
                    source=line.source,
                    actor=line.actor,
                    occurred_at=line.occurred_at,
                    entry_id=line.entry_id,
                )
        elif line.kind == "setting":
            assert line.setting is not None
            scope = line.scope or ""
            if line.has_personal_value:
                view.personal.setdefault(line.setting, {})[scope] = line.entry_id or 0
                view.settings.get(line.setting, {}).pop(scope, None)
            elif line.value is None:
                view.settings.get(line.setting, {}).pop(scope, None)
                view.personal.get(line.setting, {}).pop(scope, None)
            else:
                view.settings.setdefault(line.setting, {})[scope] = line.value
                view.personal.get(line.setting, {}).pop(scope, None)
    return view


def settings_document(view: LedgerView) -> Mapping[str, dict[str, Any]]:
    """The settings to cache: plain values only, empty settings left out."""
    return {name: dict(scopes) for name, scopes in view.settings.items() if scopes}
