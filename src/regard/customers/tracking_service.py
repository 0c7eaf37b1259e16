"""Segment-style tracking calls, read into Regard's words and recorded in the data hub.

Reading and recording are two steps. :func:`read_call` and :func:`read_batch` validate every
call first and raise one :class:`InvalidInput` listing each problem (which call, which field,
what is wrong); nothing is recorded unless the whole request is valid, so a batch is never half
applied. :func:`record` then resolves each call to its customer and stores the events.

Mapping (the key's ``source`` names the source of everything it sends):

- ``userId`` is an ``external`` identity in the source's namespace; ``anonymousId`` an
  ``anonymous`` identity; ``traits.email`` / ``traits.phone`` (and the same in
  ``context.traits``) are email and phone identities, normalised as the importers do.
- ``identify`` updates the profile: its traits (``context.traits`` under ``traits``; Segment's
  ``firstName`` / ``lastName`` read as ``first_name`` / ``last_name``), ``context.timezone`` and
  ``context.locale``. Other calls use ``context.traits`` only for the identities in it.
- ``track`` stores an event named after ``event``; ``page`` and ``screen`` store a ``page`` /
  ``screen`` event whose properties carry ``name`` and ``category``; ``group`` stores a
  ``group`` event with the group id and its traits; ``alias`` links ``previousId`` (an anonymous
  id or an earlier user id of this source) to ``userId``, merging their profiles.
- An event is stored once per (source, ``messageId``): a replayed call is accepted and ignored.
  A call without ``messageId`` gets a fresh one and so cannot be recognised when replayed.
- When it happened: ``timestamp``, else ``originalTimestamp``, else when it was received. A
  time without a zone is UTC; one more than a day ahead of the server's clock is refused.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
import polars as pl
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from regard.config import BrandConfig
from regard.customers import repository
from regard.customers.identities import IdentityClaim, claim, external_claim
from regard.customers.schemas import (
    CALL_MODELS,
    AliasCall,
    CallType,
    GroupCall,
    IdentifyCall,
    PageCall,
    ScreenCall,
    SegmentCall,
    TrackCall,
)
from regard.customers.service import (
    EVENT_FRAME_SCHEMA,
    ProfileUpdate,
    Resolver,
    split_personal,
    store_events,
)
from regard.errors import InvalidInput, RegardError
from regard.store.crypto import Vault

# How far ahead of our clock a client's timestamp may be before it is refused.
MAX_CLOCK_AHEAD = timedelta(days=1)
# Segment's reserved traits that Regard spells differently (personal-trait names are snake_case).
TRAIT_NAMES = {"firstName": "first_name", "lastName": "last_name", "createdAt": "created_at"}
_LOCALE_MAX = 35


class TrackingConflict(RegardError):
    """Another request claimed the same new identity at the same moment; retrying succeeds.

    503, so that Segment clients (which retry server errors, never client errors) send again.
    """

    code = "conflict_retry"
    status_code = 503


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request: where (``batch[2].traits.email``) and what."""

    at: str
    problem: str

    def as_dict(self) -> dict[str, str]:
        return {"at": self.at, "problem": self.problem}


class _Problems(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems)
        self.problems = problems


@dataclass(frozen=True)
class TrackedCall:
    """One valid tracking call, in Regard's words."""

    kind: CallType
    identities: tuple[IdentityClaim, ...]
    occurred_at: datetime
    message_id: str
    # The event stored, or None for identify and alias (they change the profile only).
    event_type: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    traits: dict[str, Any] = field(default_factory=dict)
    time_zone: str | None = None
    locale: str | None = None
    # alias: what ``previousId`` may be (anonymous id, or a user id of this source).
    previous: tuple[IdentityClaim, ...] = ()


@dataclass(frozen=True)
class TrackingOutcome:
    """What one request changed."""

    calls: int
    events_stored: int
    replays_ignored: int


def read_call(
    payload: Mapping[str, Any], *, kind: CallType, source: str, region: str, now: datetime
) -> TrackedCall:
    """Validate one call sent to ``/v1/<kind>``; :class:`InvalidInput` lists every problem."""
    try:
        return _read(dict(payload), kind=kind, at="", source=source, region=region, now=now)
    except _Problems as exc:
        raise _invalid(exc.problems) from None


def read_batch(
    payload: Mapping[str, Any], *, source: str, region: str, now: datetime
) -> list[TrackedCall]:
    """Validate a ``/v1/batch`` request: all its calls, before any is recorded.

    The batch's own ``context`` is the base of each call's context (the call's own keys win).
    One bad call refuses the whole batch, naming each bad call by its index.
    """
    items = payload.get("batch")
    if not isinstance(items, list):
        raise _invalid([Problem("batch", "required: a list of calls")])
    shared = payload.get("context")
    if shared is not None and not isinstance(shared, dict):
        raise _invalid([Problem("context", "must be an object")])
    calls: list[TrackedCall] = []
    problems: list[Problem] = []
    for index, item in enumerate(items):
        at = f"batch[{index}]"
        if not isinstance(item, dict):
            problems.append(Problem(at, "must be an object"))
            continue
        kind = item.get("type")
        if kind not in CALL_MODELS:
            known = ", ".join(CALL_MODELS)
            problems.append(Problem(f"{at}.type", f"must be one of {known}"))
            continue
        if shared:
            own = item.get("context")
            item = {**item, "context": {**shared, **(own if isinstance(own, dict) else {})}}
        try:
            calls.append(_read(item, kind=kind, at=at, source=source, region=region, now=now))
        except _Problems as exc:
            problems.extend(exc.problems)
    if problems:
        raise _invalid(problems)
    return calls


def record(
    session: Session,
    calls: Sequence[TrackedCall],
    *,
    vault: Vault,
    brand: BrandConfig,
    source: str,
    received_at: datetime,
) -> TrackingOutcome:
    """Resolve each call to its customer, update profiles and store events; flushes only."""
    wanted = [c.message_id for c in calls if c.event_type is not None]
    stored = repository.existing_message_ids(session, source=source, message_ids=wanted)
    fresh: list[TrackedCall] = []
    for call in calls:
        if call.event_type is not None:
            if call.message_id in stored:
                continue
            stored.add(call.message_id)  # the same message twice in one batch counts once
        fresh.append(call)
    replays = len(calls) - len(fresh)
    resolver = Resolver(session, vault=vault, brand=brand)
    try:
        resolver.prefetch(
            (i for call in fresh for i in (*call.identities, *call.previous)), load_profiles=True
        )
        pending: list[tuple[bytes, TrackedCall]] = []
        for call in fresh:
            _apply(resolver, call, source=source)
            if call.event_type is not None:
                pending.append((resolver.lookup(call.identities[0]), call))
        # Customer ids are read only now: a later call in the batch may have merged profiles.
        rows: list[dict[str, Any]] = []
        for lookup, call in pending:
            plain, personal = split_personal(call.properties, brand.identity.personal_properties)
            rows.append(
                {
                    "customer_id": resolver.lookups[lookup],
                    "type": call.event_type,
                    "occurred_at": call.occurred_at,
                    "message_id": call.message_id,
                    "properties": orjson.dumps(plain).decode(),
                    "personal": orjson.dumps(personal).decode() if personal else None,
                }
            )
        store_events(
            session,
            pl.DataFrame(rows, schema=EVENT_FRAME_SCHEMA),
            vault=vault,
            source=source,
            received_at=received_at,
        )
        session.flush()
    except IntegrityError as exc:
        # Only a concurrent request creating the same identity gets here (events skip
        # duplicates in SQL); the unit of work rolls back and the client sends again.
        raise TrackingConflict(
            "another request was recording the same customer; send this request again"
        ) from exc
    return TrackingOutcome(calls=len(calls), events_stored=len(rows), replays_ignored=replays)


def _apply(resolver: Resolver, call: TrackedCall, *, source: str) -> None:
    if call.kind == "identify":
        resolver.resolve(
            ProfileUpdate(
                source=source,
                observed_at=call.occurred_at,
                identities=call.identities,
                traits=call.traits,
                time_zone=call.time_zone,
                locale=call.locale,
            )
        )
        return
    identities = call.identities
    if call.kind == "alias":
        known = tuple(p for p in call.previous if resolver.lookup(p) in resolver.lookups)
        identities = (*identities, *(known or call.previous[:1]))
    resolver.customer_for(identities, source=source, seen_at=call.occurred_at)


def _invalid(problems: list[Problem]) -> InvalidInput:
    summary = "; ".join(f"{p.at}: {p.problem}" if p.at else p.problem for p in problems[:5])
    if len(problems) > 5:
        summary += f"; and {len(problems) - 5} more"
    return InvalidInput(summary, details={"problems": [p.as_dict() for p in problems]})


def _join(at: str, name: str) -> str:
    return f"{at}.{name}" if at and name else at or name


def _read(
    raw: dict[str, Any], *, kind: str, at: str, source: str, region: str, now: datetime
) -> TrackedCall:
    raw = {**raw, "type": kind}  # the endpoint, not the body, says what a single call is
    problems = _unstorable(raw, at)
    if problems:
        raise _Problems(problems)
    try:
        message = CALL_MODELS[kind].model_validate(raw)
    except ValidationError as exc:
        raise _Problems(
            [
                Problem(_join(at, ".".join(str(p) for p in err["loc"])) or "body", err["msg"])
                for err in exc.errors(include_url=False)
            ]
        ) from None
    reader = _CallReader(message, at=at, source=source, region=region, now=now)
    call = reader.read()
    if reader.problems:
        raise _Problems(reader.problems)
    return call


def _unstorable(raw: object, at: str) -> list[Problem]:
    """Text with NUL characters and non-finite numbers: valid JSON that databases refuse."""
    problems: list[Problem] = []
    stack: list[tuple[str, object]] = [(at, raw)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in key:
                    problems.append(Problem(where or "body", "a name contains a NUL character"))
                stack.append((_join(where, key), item))
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", item) for i, item in enumerate(value))
        elif isinstance(value, str) and "\x00" in value:
            problems.append(Problem(where, "contains a NUL character"))
        elif isinstance(value, float) and not math.isfinite(value):
            problems.append(Problem(where, "is not a finite number"))
    return sorted(problems, key=lambda p: p.at)


class _CallReader:
    """Maps one validated Segment message to a :class:`TrackedCall`, collecting problems."""

    def __init__(
        self, message: SegmentCall, *, at: str, source: str, region: str, now: datetime
    ) -> None:
        self.message = message
        self.at = at
        self.source = source
        self.region = region
        self.now = now
        self.problems: list[Problem] = []

    def problem(self, name: str, text: str) -> None:
        self.problems.append(Problem(_join(self.at, name), text))

    def read(self) -> TrackedCall:
        message = self.message
        context = message.context or {}
        context_traits = context.get("traits")
        if context_traits is not None and not isinstance(context_traits, dict):
            self.problem("context.traits", "must be an object")
            context_traits = None
        context_traits = context_traits or {}
        identities = list(self.ids())
        common: dict[str, Any] = {
            "occurred_at": self.occurred_at(),
            "message_id": message.message_id or str(uuid.uuid4()),
        }
        if isinstance(message, IdentifyCall):
            own = message.traits or {}
            traits = {**context_traits, **own}
            identities += self.contact_claims(
                {kind: "traits" if kind in own else "context.traits" for kind in traits}, traits
            )
            return TrackedCall(
                kind="identify",
                identities=tuple(identities),
                traits={
                    TRAIT_NAMES.get(name, name): value
                    for name, value in traits.items()
                    if name not in ("email", "phone")
                },
                time_zone=self.time_zone(context.get("timezone")),
                locale=self.locale(context.get("locale")),
                **common,
            )
        identities += self.contact_claims(
            dict.fromkeys(context_traits, "context.traits"), context_traits
        )
        if isinstance(message, AliasCall):
            previous = message.previous_id
            return TrackedCall(
                kind="alias",
                identities=tuple(identities),
                previous=(
                    claim("anonymous", previous, region=self.region, source=self.source),
                    self.user_claim(previous),
                ),
                **common,
            )
        if isinstance(message, TrackCall):
            return TrackedCall(
                kind="track",
                identities=tuple(identities),
                event_type=message.event,
                properties=dict(message.properties or {}),
                **common,
            )
        if isinstance(message, PageCall | ScreenCall):
            properties = dict(message.properties or {})
            for name in ("name", "category"):
                value = getattr(message, name)
                if value is not None:
                    properties.setdefault(name, value)
            return TrackedCall(
                kind=message.type,
                identities=tuple(identities),
                event_type=message.type,
                properties=properties,
                **common,
            )
        assert isinstance(message, GroupCall)
        return TrackedCall(
            kind="group",
            identities=tuple(identities),
            event_type="group",
            properties={"group_id": message.group_id, "traits": dict(message.traits or {})},
            **common,
        )

    def user_claim(self, user_id: str) -> IdentityClaim:
        # The namespace is always the key's source, even when the id itself holds a colon.
        return external_claim(f"{self.source}:{user_id}", default_namespace=self.source)

    def ids(self) -> Iterator[IdentityClaim]:
        for name, kind, value in (
            ("userId", "external", self.message.user_id),
            ("anonymousId", "anonymous", self.message.anonymous_id),
        ):
            if value is None:
                continue
            try:
                if kind == "external":
                    yield self.user_claim(value)
                else:
                    yield claim(kind, value, region=self.region, source=self.source)
            except InvalidInput as exc:
                self.problem(name, exc.message)

    def contact_claims(
        self, located: Mapping[str, str], traits: Mapping[str, Any]
    ) -> Iterator[IdentityClaim]:
        """Email and phone identities from traits; ``located`` says where each trait was."""
        for kind in ("email", "phone"):
            raw = traits.get(kind)
            if raw is None or raw == "":
                continue
            where = f"{located[kind]}.{kind}"
            if not isinstance(raw, str):
                self.problem(where, "must be a string")
                continue
            try:
                yield claim(kind, raw, region=self.region, source=self.source)
            except InvalidInput as exc:
                self.problem(where, exc.message)

    def occurred_at(self) -> datetime:
        name = "timestamp" if self.message.timestamp is not None else "originalTimestamp"
        stated = self.message.timestamp or self.message.original_timestamp
        if stated is None:
            return self.now
        if stated.tzinfo is None:
            stated = stated.replace(tzinfo=UTC)
        if stated - self.now > MAX_CLOCK_AHEAD:
            self.problem(name, "is more than a day in the future")
        return stated.astimezone(UTC)

    def time_zone(self, raw: object) -> str | None:
        if raw is None or raw == "":
            return None
        if isinstance(raw, str):
            try:
                ZoneInfo(raw)
            except (ZoneInfoNotFoundError, ValueError):
                pass
            else:
                return raw
        self.problem("context.timezone", "must be an IANA time zone such as 'Europe/Amsterdam'")
        return None

    def locale(self, raw: object) -> str | None:
        if raw is None or raw == "":
            return None
        if isinstance(raw, str) and len(raw) <= _LOCALE_MAX:
            return raw
        self.problem("context.locale", f"must be a language tag of at most {_LOCALE_MAX} chars")
        return None
