"""The preference center's rules: recording changes in the ledger, reading what stands now or
at any past moment, proving one customer's history, and checking the whole chain.

Services flush, never commit: the request or the command that calls them owns the transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from regard.config import BrandConfig, Topic
from regard.customers import repository as customers_repository
from regard.customers.service import on_merge
from regard.errors import InvalidInput, NotFound
from regard.preferences import catalogue, repository
from regard.preferences.catalogue import SettingProblem
from regard.preferences.ledger import (
    CONSENT_VALUES,
    GENESIS,
    SOURCES,
    ConsentValue,
    ConsentWord,
    EntryFacts,
    LedgerLine,
    LedgerView,
    entry_hash,
    fold,
    settings_document,
    value_digest,
)
from regard.preferences.models import ConsentEntry, PreferenceProfile, PushDevice
from regard.store.crypto import Vault, current_vault

# An occurred time this far ahead of the clock is a mistake, not a clock drift.
_FUTURE_SLACK = timedelta(minutes=5)
# Where the cached settings keep the ledger entries of personal values.
_PERSONAL = "_personal"


def _now() -> datetime:
    return datetime.now(UTC)


def ledger_key(vault: Vault | None = None) -> bytes:
    return (vault or current_vault()).derive("consent-ledger")


def client_fingerprint(*, address: str | None, user_agent: str | None) -> str:
    """A keyed hash of the client's details: evidence of the change without keeping an address."""
    material = f"client\x1f{address or ''}\x1f{user_agent or ''}".encode()
    return hmac.new(ledger_key(), material, "sha256").hexdigest()


@dataclass(frozen=True)
class ConsentChange:
    topic: str
    channel: str
    state: ConsentValue


@dataclass(frozen=True)
class SettingChange:
    setting: str
    value: Any
    scope: str = ""


@dataclass(frozen=True)
class Origin:
    """Who made a change, through what, when, and having seen which wording."""

    source: str
    actor: str
    occurred_at: datetime | None = None
    wording_version: str | None = None
    client_hash: str | None = None
    note: str | None = None


@dataclass
class Recorded:
    """What a change appended, and the email opt-ins that wait for confirmation."""

    entries: list[ConsentEntry] = field(default_factory=list)
    pending: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class TopicConsent:
    """One cell of the grid: may this topic use this channel, and why."""

    topic: Topic
    channel: str
    state: str  # opted-in, opted-out, pending, or "default" when the customer said nothing
    allowed: bool
    legal_basis: str
    source: str | None
    occurred_at: datetime | None


@dataclass(frozen=True)
class Preferences:
    """Everything one customer has set, as it stands."""

    customer_id: int
    consents: dict[tuple[str, str], TopicConsent]
    settings: dict[str, dict[str, Any]]
    note: str | None
    head_seq: int

    def setting(self, name: str, scope: str = "", default: Any = None) -> Any:
        return self.settings.get(name, {}).get(scope, default)

    def allowed(self, topic: str, channel: str) -> bool:
        cell = self.consents.get((topic, channel))
        return cell is not None and cell.allowed


def _problem(at: str, problem: str) -> dict[str, str]:
    return {"at": at, "problem": problem}


def _check(
    brand: BrandConfig,
    consents: Sequence[ConsentChange],
    settings: Sequence[SettingChange],
    origin: Origin,
    now: datetime,
) -> list[SettingChange]:
    """Every problem with a change at once; nothing is written unless there are none."""
    problems: list[dict[str, str]] = []
    if origin.source not in SOURCES:
        problems.append(_problem("source", f"unknown source {origin.source!r}"))
    if origin.occurred_at is not None and origin.occurred_at > now + _FUTURE_SLACK:
        problems.append(_problem("occurred_at", "is in the future"))
    for index, consent in enumerate(consents):
        at = f"consents[{index}]"
        try:
            catalogue.check_topic_channel(brand, consent.topic, consent.channel)
        except SettingProblem as exc:
            problems.append(_problem(at, str(exc)))
        if consent.state not in CONSENT_VALUES:
            problems.append(_problem(f"{at}.state", f"must be one of {', '.join(CONSENT_VALUES)}"))
    cleaned: list[SettingChange] = []
    for index, change in enumerate(settings):
        at = f"settings[{index}] ({change.setting})"
        try:
            value = catalogue.check_setting(brand, change.setting, change.scope, change.value)
        except SettingProblem as exc:
            problems.append(_problem(at, str(exc)))
            continue
        cleaned.append(SettingChange(change.setting, value, change.scope))
    if problems:
        summary = "; ".join(f"{p['at']}: {p['problem']}" for p in problems[:5])
        raise InvalidInput(f"nothing was changed: {summary}", details={"problems": problems})
    return cleaned


def _profile(session: Session, customer_id: int, now: datetime) -> tuple[PreferenceProfile, bool]:
    """The customer's profile, locked: one change at a time is appended to a chain. Also says
    whether the profile was made just now (its cached state then still has to be built)."""
    profile = repository.lock_existing_chain(session, customer_id)
    if profile is not None:
        return profile, False
    if not customers_repository.customer_exists(session, customer_id):
        raise NotFound(f"no customer {customer_id}")
    seq, head = repository.chain_head(session, customer_id)
    profile = repository.lock_new_chain(
        session, customer_id, head_seq=seq, head_hash=head or GENESIS, at=now
    )
    # A simultaneous first change may have made the row a moment before: it is then not new.
    return profile, (profile.head_seq, profile.head_hash) == (seq, head or GENESIS)


def _cached_view(
    session: Session, customer_id: int, profile: PreferenceProfile | None
) -> LedgerView:
    """The state as the cache holds it: what the fold of the whole chain gave last time."""
    view = LedgerView()
    for row in repository.consent_states(session, customer_id):
        view.consents[(row.topic, row.channel)] = ConsentWord(
            state=row.state,  # type: ignore[arg-type]
            legal_basis=row.legal_basis,
            source=row.source,
            actor="",
            occurred_at=row.occurred_at,
            entry_id=row.entry_id,
        )
    settings = dict(profile.settings or {}) if profile is not None else {}
    personal = settings.pop(_PERSONAL, {})
    view.settings = {name: dict(scopes) for name, scopes in settings.items()}
    view.personal = {
        name: {k: int(v) for k, v in scopes.items()} for name, scopes in personal.items()
    }
    return view


class _Chain:
    """Appends entries to one customer's chain, each linked to the one before."""

    def __init__(
        self, session: Session, profile: PreferenceProfile, *, origin: Origin, now: datetime
    ) -> None:
        self.session, self.profile, self.origin, self.now = session, profile, origin, now
        self.key = ledger_key()
        self.appended: list[ConsentEntry] = []

    def append(self, occurred_at: datetime, **fields: Any) -> None:
        personal_value = fields.pop("personal_value", None)
        described: dict[str, Any] = {
            "kind": "consent",
            "topic": None,
            "channel": None,
            "state": None,
            "legal_basis": None,
            "setting": None,
            "scope": None,
            "value": None,
            "value_digest": None,
            **fields,
        }
        facts = EntryFacts(
            customer_id=self.profile.customer_id,
            seq=self.profile.head_seq + 1,
            prev_hash=self.profile.head_hash,
            source=self.origin.source,
            actor=self.origin.actor,
            occurred_at=occurred_at,
            recorded_at=self.now,
            wording_version=self.origin.wording_version,
            client_hash=self.origin.client_hash,
            note=self.origin.note,
            **described,
        )
        digest = entry_hash(self.key, facts)
        entry = ConsentEntry(
            **described,
            personal_value=personal_value,
            customer_id=facts.customer_id,
            seq=facts.seq,
            source=facts.source,
            actor=facts.actor,
            occurred_at=facts.occurred_at,
            recorded_at=facts.recorded_at,
            wording_version=facts.wording_version,
            client_hash=facts.client_hash,
            note=facts.note,
            prev_hash=facts.prev_hash,
            entry_hash=digest,
        )
        self.profile.head_seq, self.profile.head_hash = facts.seq, digest
        self.appended.append(entry)

    def write(self) -> None:
        """Insert what was appended, in one statement; each entry then knows its id."""
        unwritten = [entry for entry in self.appended if entry.id is None]
        if unwritten:
            for entry, entry_id in zip(
                unwritten, repository.insert_entries(self.session, unwritten), strict=True
            ):
                entry.id = entry_id


def record(
    session: Session,
    customer_id: int,
    *,
    brand: BrandConfig,
    origin: Origin,
    consents: Sequence[ConsentChange] = (),
    settings: Sequence[SettingChange] = (),
    form: bool = False,
) -> Recorded:
    """Append the changes that change something, then refresh the cached state.

    A change with any invalid part raises :class:`InvalidInput` and writes nothing. Under the
    brand's double opt-in, an email opt-in to a topic that needs consent is recorded as pending
    until the customer confirms it; those are listed in the result so a confirmation goes out.

    ``form`` says the consents are the whole grid of a submitted form: a box left as its
    default then says nothing (the customer did not touch it), while an explicit opt-out given
    any other way (an SMS STOP, the API) is recorded even where the default is already off.
    """
    now = _now()
    cleaned = _check(brand, consents, settings, origin, now)
    profile, created = _profile(session, customer_id, now)
    # A change said now comes after everything in the chain: it applies on top of the cached
    # state. A dated record (an import) may belong anywhere in the history: the whole chain is
    # read and folded again.
    incremental = origin.occurred_at is None and not (created and profile.head_seq > 0)
    lines = [] if incremental else repository.ledger_lines(session, customer_id)
    view = _cached_view(session, customer_id, profile) if incremental else fold(lines)
    # Within the allowed clock drift, a time ahead of ours counts as now.
    occurred = min(origin.occurred_at, now) if origin.occurred_at else now
    # What the ledger already holds with its original time: importing it again adds nothing.
    said = {
        (ln.topic, ln.channel, ln.state, ln.occurred_at) for ln in lines if ln.kind == "consent"
    }
    chain = _Chain(session, profile, origin=origin, now=now)
    result = Recorded(entries=chain.appended)

    def append(**fields: Any) -> None:
        chain.append(occurred, **fields)

    for consent in consents:
        topic = brand.topic(consent.topic)
        assert topic is not None
        state: ConsentValue = consent.state
        if (
            state == "opted-in"
            and brand.preferences.double_opt_in
            and consent.channel == "email"
            and topic.basis == "consent"
            and origin.source not in ("confirmation", "import", "merge")
        ):
            state = "pending"
        current = view.consents.get((consent.topic, consent.channel))
        # A record with its own time (an import) may fill in history even where the state
        # already agrees; the exact same record twice is still written once.
        if current is not None and current.state == state and origin.occurred_at is None:
            continue
        if (consent.topic, consent.channel, state, occurred) in said:
            continue
        if current is None and state != "pending":
            default = catalogue.default_allows(topic, consent.channel)
            # An opt-in where the default already allows says nothing new; neither does a
            # form's untouched box.
            if (state == "opted-in" and default) or (form and (state == "opted-in") == default):
                continue
        if current is not None and current.state == "opted-in" and state == "pending":
            continue  # already confirmed: asking again changes nothing
        append(
            kind="consent",
            topic=consent.topic,
            channel=consent.channel,
            state=state,
            legal_basis=topic.basis,
        )
        if state == "pending":
            result.pending.append((consent.topic, consent.channel))
    for change in cleaned:
        if catalogue.is_personal(change.setting):
            known = view.personal.get(change.setting, {}).get(change.scope)
            if change.value in (None, "") and known is None:
                continue
            if change.value in (None, ""):
                append(kind="setting", setting=change.setting, scope=change.scope)
                continue
            digest = value_digest(chain.key, str(change.value))
            if known is not None:
                entry = repository.get_entry(session, known)
                if entry is not None and entry.value_digest == digest:
                    continue
            append(
                kind="setting",
                setting=change.setting,
                scope=change.scope,
                value_digest=digest,
                personal_value=str(change.value),
            )
            continue
        if view.setting(change.setting, change.scope) == change.value:
            continue
        append(kind="setting", setting=change.setting, scope=change.scope, value=change.value)
    if result.entries:
        chain.write()
        added = [LedgerLine.of(entry) for entry in result.entries]
        if incremental:
            _write_cache(session, profile, fold(added, start=view), now, before=view)
        else:
            _refresh_cache(session, profile, now, lines=lines + added)
        _publish(session, customer_id, result.entries, now)
    return result


def _refresh_cache(
    session: Session,
    profile: PreferenceProfile,
    now: datetime,
    *,
    lines: list[LedgerLine] | None = None,
) -> LedgerView:
    """Rewrite the cached state from the ledger (``lines``: the whole chain, when at hand)."""
    if lines is None:
        lines = repository.ledger_lines(session, profile.customer_id)
    view = fold(lines)
    _write_cache(session, profile, view, now)
    return view


def _write_cache(
    session: Session,
    profile: PreferenceProfile,
    view: LedgerView,
    now: datetime,
    *,
    before: LedgerView | None = None,
) -> None:
    """Store ``view`` as the cached state; with ``before``, only the cells that changed."""
    changed = (
        None
        if before is None
        else [key for key, word in view.consents.items() if before.consents.get(key) != word]
    )
    repository.replace_consent_states(
        session,
        profile.customer_id,
        [
            {
                "customer_id": profile.customer_id,
                "topic": topic,
                "channel": channel,
                "state": word.state,
                "legal_basis": word.legal_basis,
                "source": word.source,
                "occurred_at": word.occurred_at,
                "entry_id": word.entry_id,
            }
            for (topic, channel), word in view.consents.items()
            if changed is None or (topic, channel) in changed
        ],
        changed_only=changed is not None,
    )
    document: dict[str, Any] = dict(settings_document(view))
    personal = {name: dict(scopes) for name, scopes in view.personal.items() if scopes}
    if personal:
        document[_PERSONAL] = personal
    profile.settings = document
    profile.updated_at = now
    session.flush()


def _publish(
    session: Session, customer_id: int, entries: list[ConsentEntry], now: datetime
) -> None:
    """Queue the change for every subscribed downstream system, in the same transaction."""
    subscriptions = repository.active_subscriptions(session)
    if not subscriptions:
        return
    payload = {
        "type": "preferences.changed",
        "customer_id": customer_id,
        "changes": [describe_entry(entry) for entry in entries],
    }
    repository.add_deliveries(
        session,
        [
            {
                "subscription_id": subscription.id,
                "event_id": f"evt_{secrets.token_hex(12)}",
                "payload": {**payload, "subscription": subscription.name},
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for subscription in subscriptions
        ],
    )


def describe_entry(entry: ConsentEntry) -> dict[str, Any]:
    """An entry as downstream systems and the API see it: never the personal value itself."""
    described: dict[str, Any] = {
        "seq": entry.seq,
        "kind": entry.kind,
        "source": entry.source,
        "actor": entry.actor,
        "occurred_at": entry.occurred_at.isoformat(),
        "recorded_at": entry.recorded_at.isoformat(),
        "wording_version": entry.wording_version,
        "hash": entry.entry_hash,
    }
    if entry.kind == "consent":
        described.update(
            topic=entry.topic,
            channel=entry.channel,
            state=entry.state,
            legal_basis=entry.legal_basis,
        )
    else:
        described.update(
            setting=entry.setting,
            scope=entry.scope or "",
            value=entry.value if entry.value_digest is None else "(personal, encrypted)",
        )
    if entry.note:
        described["note"] = entry.note
    return described


def _grid(
    brand: BrandConfig, words: dict[tuple[str, str], ConsentWord]
) -> dict[tuple[str, str], TopicConsent]:
    grid: dict[tuple[str, str], TopicConsent] = {}
    for topic in brand.topics:
        for channel in brand.channels:
            word = words.get((topic.key, channel))
            if word is None:
                grid[(topic.key, channel)] = TopicConsent(
                    topic=topic,
                    channel=channel,
                    state="default",
                    allowed=catalogue.default_allows(topic, channel),
                    legal_basis=topic.basis,
                    source=None,
                    occurred_at=None,
                )
            else:
                grid[(topic.key, channel)] = TopicConsent(
                    topic=topic,
                    channel=channel,
                    state=word.state,
                    allowed=word.state == "opted-in",
                    legal_basis=word.legal_basis or topic.basis,
                    source=word.source,
                    occurred_at=word.occurred_at,
                )
    return grid


def _preferences(
    session: Session, customer_id: int, view: LedgerView, *, brand: BrandConfig, head_seq: int
) -> Preferences:
    note = None
    note_entry = view.personal.get("note", {}).get("")
    if note_entry is not None:
        entry = repository.get_entry(session, note_entry)
        note = entry.personal_value if entry is not None else None
    return Preferences(
        customer_id=customer_id,
        consents=_grid(brand, view.consents),
        settings={name: dict(scopes) for name, scopes in view.settings.items() if scopes},
        note=note,
        head_seq=head_seq,
    )


def current(session: Session, customer_id: int, *, brand: BrandConfig) -> Preferences:
    """What the customer has set, read from the cache kept beside the ledger."""
    profile = repository.get_profile(session, customer_id)
    view = _cached_view(session, customer_id, profile)
    head_seq = profile.head_seq if profile else 0
    return _preferences(session, customer_id, view, brand=brand, head_seq=head_seq)


def as_of(session: Session, customer_id: int, at: datetime, *, brand: BrandConfig) -> Preferences:
    """What the customer had allowed and set at ``at``, replayed from the ledger."""
    lines: list[LedgerLine] = repository.ledger_lines(session, customer_id)
    head_seq = max((line.seq for line in lines if line.occurred_at <= at), default=0)
    view = fold(lines, until=at)
    return _preferences(session, customer_id, view, brand=brand, head_seq=head_seq)


def history(session: Session, customer_id: int) -> list[ConsentEntry]:
    """Every entry about this customer, including those of profiles merged into theirs."""
    ids = [customer_id, *repository.merged_into(session, customer_id)]
    return list(repository.entries_of(session, ids))


def _opt_out_everywhere(
    session: Session,
    customer_id: int,
    *,
    brand: BrandConfig,
    origin: Origin,
    topics: Iterable[Topic],
) -> Recorded:
    return record(
        session,
        customer_id,
        brand=brand,
        origin=origin,
        consents=[
            ConsentChange(topic.key, channel, "opted-out")
            for topic in topics
            for channel in brand.channels
        ],
    )


def stop_marketing(
    session: Session, customer_id: int, *, brand: BrandConfig, origin: Origin
) -> Recorded:
    """Opt out of every marketing topic on every channel; what is owed stays on."""
    return _opt_out_everywhere(
        session,
        customer_id,
        brand=brand,
        origin=origin,
        topics=[topic for topic in brand.topics if topic.is_marketing],
    )


def stop_all_but_critical(
    session: Session, customer_id: int, *, brand: BrandConfig, origin: Origin
) -> Recorded:
    """Opt out of everything but security and legal notices."""
    return _opt_out_everywhere(
        session,
        customer_id,
        brand=brand,
        origin=origin,
        topics=[topic for topic in brand.topics if topic.importance != "critical"],
    )


@dataclass
class VerifyReport:
    """What a check of the ledger found."""

    entries: int = 0
    customers: int = 0
    problems: list[str] = field(default_factory=list)
    # A digest of every chain's head: write it down, and a later rewrite of history shows.
    anchor: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(session: Session, *, customer_id: int | None = None) -> VerifyReport:
    """Recompute every entry's hash and link, and compare each chain's end with the cache."""
    key = ledger_key()
    report = VerifyReport()
    anchor = hashlib.sha256()
    heads: dict[int, tuple[int, str]] = {}
    current_customer: int | None = None
    expected_seq, prev = 1, GENESIS
    for entry in repository.iter_entries(session, customer_id=customer_id):
        if entry.customer_id != current_customer:
            current_customer = entry.customer_id
            expected_seq, prev = 1, GENESIS
            report.customers += 1
        report.entries += 1
        where = f"customer {entry.customer_id} entry {entry.seq}"
        if entry.seq != expected_seq:
            report.problems.append(f"{where}: expected entry {expected_seq} (one is missing)")
        if entry.prev_hash != prev:
            report.problems.append(f"{where}: does not follow the entry before it")
        facts = EntryFacts.of(entry)
        if entry_hash(key, facts) != entry.entry_hash:
            report.problems.append(f"{where}: its content does not match its hash")
        if (
            entry.value_digest is not None
            and entry.personal_value is not None
            and value_digest(key, entry.personal_value) != entry.value_digest
        ):
            report.problems.append(f"{where}: its personal value does not match its digest")
        expected_seq, prev = entry.seq + 1, entry.entry_hash
        heads[entry.customer_id] = (entry.seq, entry.entry_hash)
    cached = repository.chain_heads(session)
    for cid in sorted(heads if customer_id is not None else set(heads) | set(cached)):
        seq, head = heads.get(cid, (0, GENESIS))
        anchor.update(f"{cid}:{seq}:{head}\n".encode())
        if cid in cached and cached[cid] != (seq, head):
            report.problems.append(
                f"customer {cid}: the ledger ends at entry {seq} but entry {cached[cid][0]} "
                "was recorded as its last (entries removed or added)"
            )
    report.anchor = anchor.hexdigest()
    return report


def rebuild(session: Session, *, customer_ids: Iterable[int] | None = None) -> int:
    """Rebuild the cached state from the ledger. Returns how many customers it covered."""
    ids = (
        list(customer_ids)
        if customer_ids is not None
        else repository.customers_with_entries(session)
    )
    now = _now()
    done = 0
    for cid in ids:
        if not customers_repository.customer_exists(session, cid):
            continue  # merged or erased: the ledger keeps its chain, there is nothing to cache
        profile, _ = _profile(session, cid, now)
        seq, head = repository.chain_head(session, cid)
        profile.head_seq, profile.head_hash = seq, head or GENESIS
        _refresh_cache(session, profile, now)
        done += 1
    return done


def register_device(
    session: Session,
    customer_id: int,
    *,
    name: str,
    platform: str,
    token: str,
    vault: Vault | None = None,
) -> PushDevice:
    """Add a device to push to (or refresh one already known by its token)."""
    vault = vault or current_vault()
    name = name.strip()
    if not name or len(name) > 80:
        raise InvalidInput("a device needs a name of 1 to 80 characters")
    if platform not in ("ios", "android", "web"):
        raise InvalidInput("platform must be ios, android or web")
    if not token or len(token) > 4096:
        raise InvalidInput("a device needs its push token")
    now = _now()
    lookup = vault.blind_index("device", token)
    device = repository.device_by_token(session, lookup)
    if device is not None:
        device.customer_id, device.name, device.last_seen_at = customer_id, name, now
    else:
        device = PushDevice(
            customer_id=customer_id,
            handle=f"d_{secrets.token_hex(6)}",
            name=name,
            platform=platform,
            token=token,
            token_lookup=lookup,
            registered_at=now,
            last_seen_at=now,
        )
        session.add(device)
    session.flush()
    return device


@on_merge
def _merge_preferences(session: Session, survivor_id: int, merged_id: int) -> None:
    """Carry the merged profile's word over to the survivor.

    An opt-out on either profile wins; an opt-in the survivor lacks is carried over with its own
    time, but never undoes the survivor's opt-out (the ledger's rule for merges).
    """
    repository.move_devices(session, survivor_id=survivor_id, merged_id=merged_id)
    theirs = fold(repository.ledger_lines(session, merged_id))
    if not theirs.consents and not theirs.settings and not theirs.personal:
        return
    ours = fold(repository.ledger_lines(session, survivor_id))
    now = _now()
    profile, _ = _profile(session, survivor_id, now)
    origin = Origin(
        source="merge",
        actor=f"merge:{merged_id}",
        note=f"carried over from merged profile {merged_id}",
    )
    chain = _Chain(session, profile, origin=origin, now=now)
    appended = chain.appended
    append = chain.append

    for (topic, channel), word in sorted(theirs.consents.items()):
        mine = ours.consents.get((topic, channel))
        if mine is None:
            append(
                word.occurred_at,
                topic=topic,
                channel=channel,
                state=word.state,
                legal_basis=word.legal_basis,
            )
        elif word.state == "opted-out" and mine.state != "opted-out":
            # Their opt-out stands against our opt-in whenever it was given: it takes effect now.
            append(
                now, topic=topic, channel=channel, state="opted-out", legal_basis=word.legal_basis
            )
    for name, scopes in sorted(theirs.settings.items()):
        for scope, value in sorted(scopes.items()):
            if ours.setting(name, scope) is None and scope not in ours.personal.get(name, {}):
                append(now, kind="setting", setting=name, scope=scope, value=value)
    for name, scopes in sorted(theirs.personal.items()):
        for scope, entry_id in sorted(scopes.items()):
            if scope in ours.personal.get(name, {}):
                continue
            source_entry = repository.get_entry(session, entry_id)
            if source_entry is None or source_entry.personal_value is None:
                continue
            append(
                now,
                kind="setting",
                setting=name,
                scope=scope,
                value_digest=source_entry.value_digest,
                personal_value=source_entry.personal_value,
            )
    if appended:
        chain.write()
        _refresh_cache(session, profile, now)
        _publish(session, survivor_id, appended, now)
