"""The contact policy: which (candidate, channel) may be sent, when, and why the others may not.

Pure: ``apply_policy(frames, policy, now) -> PolicyResult``; Polars frames in and out, NumPy
inside, no database and no clock. Every rule is a named function in
:mod:`regard.decisions.policy_rules` that returns the rows it stops and its reason code
(:mod:`regard.decisions.reasons`); docs/contact-policy.md describes each rule and its settings.
The parts: :mod:`~regard.decisions.policy_frames` (codes and lookups),
:mod:`~regard.decisions.policy_windows` (local time and the next allowed moment),
:mod:`~regard.decisions.policy_history` (caps, gaps, fatigue, frequency, digests, one voice) and
:mod:`~regard.decisions.policy_explain` (``blocked`` and ``verdicts``).

Input frames (datetimes are UTC; a naive datetime is read as UTC; extra columns are ignored).
Every text column may also come as an Enum or a Categorical, as ``read_inputs`` delivers them
(the brand's catalogue as Enums, the customers' free texts as Categoricals): the policy then
works on their codes and never turns a row into text.

``candidates``: candidate_id Int64, customer_id Int64, touchpoint String, topic String,
importance String (critical|transactional|service|relationship|promotional), triggered_at
Datetime, deadline_at Datetime (null: none), asks_response Boolean, value Float64 (expected value
for the customer's segment), relevance Float64 (0-1; null: unknown). Optional: channel_mask
UInt8, the channels this candidate may use (bit 1 << i for ``CHANNEL_ORDER[i]``, so email=1,
sms=2, push=4, voice=8, postal=16), such as those a campaign launch was restricted to; null, or
the column absent: every channel of its touchpoint. It only narrows ``touchpoint_channels``.

``touchpoint_channels``: touchpoint String, channel String (email|sms|push|voice|postal): the
channels each touchpoint may use.

``topics``: topic String, importance String, basis String (legal-obligation|contract|
legitimate-interest|consent): the brand's catalogue; a topic not in it has no lawful basis.

``customers``: customer_id Int64, time_zone String (IANA; null or unknown: the most restrictive
window), region String (ISO 3166 alpha-2; null: unknown), quiet_start, quiet_end Int16 (minutes
of the day; null: no quiet hours), preferred_days Int8 (bit mask mon=1 ... sun=64; null: any),
preferred_start, preferred_end Int16 (minutes; null: any time), paused_until Date (null: not
paused), email, sms, push, voice, postal Boolean (reachable there; null: no), last_purchase_at
Datetime (null: none), do_not_contact Boolean.

``frequencies``: customer_id Int64, topic String (null: overall), frequency String
(as-it-happens|daily|weekly|monthly).

``consents``: customer_id Int64, topic String, channel String, state String (opted-in|opted-out|
pending), legal_basis String, occurred_at Datetime: explicit ledger states (the latest entry per
topic and channel that occurred by ``now`` counts); without one the topic's basis decides.

``suppressions``: customer_id Int64, channel String (null: every channel), reason String
(hard-bounce|complaint|erased), at Datetime.

``history``: customer_id Int64, candidate_id Int64, touchpoint String, topic String, channel
String, importance String, sent_at Datetime, engaged Boolean (null: not known yet): what was
already sent.

The result (:class:`PolicyResult`): ``options`` and ``caps`` feed the optimiser
(:mod:`regard.decisions.optimiser`); ``blocked`` and ``verdicts`` are built when first read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Protocol

import numpy as np
import polars as pl

from regard.decisions.policy_explain import Explanation
from regard.decisions.policy_frames import (
    BASES,
    CODE,
    CRITICAL,
    DAY,
    FREQUENCIES,
    LONG_AGO,
    NEVER,
    NOT_OFFERED,
    POSTAL,
    PROMOTIONAL,
    SERVICE,
    US,
    Array,
    H,
    bits,
    codes,
    dictionary,
    exact_us,
    first,
    index,
    instants,
    known_codes,
    lookup,
    overwrite,
    put,
    require,
    small_pages,
    sorted_by,
    with_nulls,
)
from regard.decisions.policy_history import (
    Facts,
    caps_of,
    extra_caps,
    held_by_caps,
    held_by_customer_choices,
    history_of,
    one_voice,
)
from regard.decisions.policy_options import CHANNEL_ORDER, IMPORTANCE_ORDER, ContactPolicy
from regard.decisions.policy_rules import CANDIDATE_RULES, CHANNEL_RULES, Run, suppression
from regard.decisions.policy_windows import clock_of, regions_of, windows
from regard.decisions.reasons import Reason
from regard.errors import InvalidInput

REQUIRED: dict[str, tuple[str, ...]] = {
    "candidates": (
        "candidate_id",
        "customer_id",
        "touchpoint",
        "topic",
        "importance",
        "deadline_at",
        "asks_response",
        "value",
        "relevance",
    ),
    "touchpoint_channels": ("touchpoint", "channel"),
    "topics": ("topic", "basis"),
    "customers": (
        "customer_id",
        "time_zone",
        "region",
        "quiet_start",
        "quiet_end",
        "preferred_days",
        "preferred_start",
        "preferred_end",
        "paused_until",
        *CHANNEL_ORDER,
        "last_purchase_at",
        "do_not_contact",
    ),
    "frequencies": ("customer_id", "topic", "frequency"),
    "consents": ("customer_id", "topic", "channel", "state", "legal_basis", "occurred_at"),
    "suppressions": ("customer_id", "channel", "reason", "at"),
    "history": ("customer_id", "topic", "channel", "importance", "sent_at", "engaged"),
}

# Which window a send waits for: 0 the customer's (email, push), 1 the customer's and the text
# hours (sms, voice), 2 the text hours alone (critical texts and calls); -1 none (critical email
# and push, post).
WINDOW_KIND = np.array(
    [
        [-1, 0],  # email: critical, other
        [2, 1],  # sms
        [-1, 0],  # push
        [2, 1],  # voice
        [-1, -1],  # postal
    ],
    dtype=np.int64,
)


class Explains(Protocol):
    """What builds a result's ``blocked`` and ``verdicts`` when they are read."""

    def blocked(self) -> pl.DataFrame: ...

    def verdicts(self) -> pl.DataFrame: ...


@dataclass
class PolicyResult:
    """What passed, the room left in each cap, and why everything else did not.

    ``options``: candidate_id, customer_id, channel (Enum), send_at (the next allowed moment,
    exactly ``now`` when allowed now), value (value x engagement chance), cost, penalty,
    promotional, exempt (critical, transactional and service: owed to the customer, counted in
    no marketing cap), digest (null, or the frequency whose digest bundles it), topic,
    touchpoint; sorted by (customer_id, candidate_id, channel) as the optimiser wants them.

    ``caps``: customer_id, cap_total (marketing: relationship + promotional), cap_promotional,
    cap_<channel> (marketing on that channel), each the room left after history (null: no cap),
    and interruption_cost.

    ``blocked`` (built when read): candidate_id, channel, reason, params (JSON) for every
    (candidate, channel) the touchpoint offers that is not an option.

    ``verdicts`` (built when read): candidate_id, outcome (Enum held|dropped), reason (Enum of
    the reason codes), retry_at (held: the earliest moment it may pass), params (JSON), for
    candidates with no option. Cast outcome and reason to String (or another Enum) as needed.
    """

    options: pl.DataFrame
    caps: pl.DataFrame
    _explain: Explains

    @cached_property
    def blocked(self) -> pl.DataFrame:
        with small_pages():
            return self._explain.blocked()

    @cached_property
    def verdicts(self) -> pl.DataFrame:
        with small_pages():
            return self._explain.verdicts()


def stacked(parts: Sequence[PolicyResult]) -> PolicyResult:
    """The result of a run from the results of its shards (``regard.decisions.shards``), given
    in order of their customer ranges: each frame stacked, still sorted as documented."""
    if len(parts) == 1:
        return parts[0]
    return PolicyResult(
        options=pl.concat([part.options for part in parts], how="vertical", rechunk=False),
        caps=pl.concat([part.caps for part in parts], how="vertical", rechunk=False),
        _explain=_Stacked(tuple(part._explain for part in parts)),
    )


@dataclass(frozen=True)
class _Stacked:
    parts: tuple[Explains, ...]

    def blocked(self) -> pl.DataFrame:
        return pl.concat([part.blocked() for part in self.parts], how="vertical")

    def verdicts(self) -> pl.DataFrame:
        return pl.concat([part.verdicts() for part in self.parts], how="vertical")


def apply_policy(
    *,
    candidates: pl.DataFrame,
    touchpoint_channels: pl.DataFrame,
    topics: pl.DataFrame,
    customers: pl.DataFrame,
    frequencies: pl.DataFrame,
    consents: pl.DataFrame,
    suppressions: pl.DataFrame,
    history: pl.DataFrame,
    policy: ContactPolicy,
    now: datetime,
) -> PolicyResult:
    """Apply every rule of the contact policy; see the module docstring for the frames."""
    with small_pages():
        return _apply_policy(
            candidates=candidates,
            touchpoint_channels=touchpoint_channels,
            topics=topics,
            customers=customers,
            frequencies=frequencies,
            consents=consents,
            suppressions=suppressions,
            history=history,
            policy=policy,
            now=now,
        )


def _apply_policy(
    *,
    candidates: pl.DataFrame,
    touchpoint_channels: pl.DataFrame,
    topics: pl.DataFrame,
    customers: pl.DataFrame,
    frequencies: pl.DataFrame,
    consents: pl.DataFrame,
    suppressions: pl.DataFrame,
    history: pl.DataFrame,
    policy: ContactPolicy,
    now: datetime,
) -> PolicyResult:
    for name, frame in (
        ("candidates", candidates),
        ("touchpoint_channels", touchpoint_channels),
        ("topics", topics),
        ("customers", customers),
        ("frequencies", frequencies),
        ("consents", consents),
        ("suppressions", suppressions),
        ("history", history),
    ):
        require(name, frame, REQUIRED[name])
    if now.tzinfo is None:
        raise InvalidInput("now must carry its time zone")
    now_us = int(now.timestamp() * US) if now.microsecond == 0 else exact_us(now)

    customers = sorted_by(customers, ("customer_id",))
    ids = customers["customer_id"].cast(pl.Int64).to_numpy()
    if ids.size > 1 and (ids[1:] == ids[:-1]).any():
        raise InvalidInput("customers repeat a customer_id")
    candidates = sorted_by(candidates, ("customer_id", "candidate_id"))
    n, m = ids.size, candidates.height
    topic_keys = tuple(topics["topic"].cast(pl.String).to_list())
    if len(set(topic_keys)) != len(topic_keys):
        raise InvalidInput("topics repeat a topic")
    t_count = max(len(topic_keys), 1)

    customer_ids = candidates["customer_id"].cast(pl.Int64).to_numpy()
    position, known = index(ids, customer_ids)
    # index() gives a missing customer some position: 0 stands for it (its rows are stopped).
    customer = (position if known.all() else np.where(known, position, 0)).astype(np.int32)
    del position
    importance = codes(candidates["importance"], IMPORTANCE_ORDER, "importance").astype(np.int8)
    in_catalogue = known_codes(candidates["topic"], topic_keys)
    if in_catalogue is not None:  # the usual case: a topic's code is its place in the catalogue
        topic = topic_code = in_catalogue
    else:
        topic_code, topic_texts = dictionary(candidates["topic"])
        catalogue = {name: i for i, name in enumerate(topic_keys)}
        topic = np.array([catalogue.get(t, -1) for t in topic_texts] + [-1], np.int32)[topic_code]
    topic_basis = codes(topics["basis"], BASES, "legal basis")
    basis_of = np.append(topic_basis, -1).astype(np.int8)  # -1 (unknown topic): the last slot
    basis = basis_of[topic] if topic_basis.size else np.full(m, -1, dtype=np.int8)

    channel_of = codes(touchpoint_channels["channel"], CHANNEL_ORDER, "channel")
    masks = (
        pl.DataFrame({"touchpoint": touchpoint_channels["touchpoint"], "bit": 1 << channel_of})
        .unique(maintain_order=True)
        .group_by("touchpoint", maintain_order=True)
        .agg(pl.col("bit").sum())
    )
    touchpoint_names = tuple(masks["touchpoint"].cast(pl.String).to_list())
    touchpoint_code = codes(candidates["touchpoint"], touchpoint_names, "", strict=False)
    mask_of = np.append(masks["bit"].to_numpy(), 0).astype(np.uint8)  # -1: no channel
    allowed = mask_of[touchpoint_code]
    if "channel_mask" in candidates.columns:
        # A candidate may be narrowed to some of its touchpoint's channels (a restricted launch).
        narrowed = candidates["channel_mask"].cast(pl.UInt8).fill_null(0xFF).to_numpy()
        allowed = allowed & narrowed
    offered = bits(allowed)

    cell = customer.astype(np.int64 if n * t_count >= 1 << 31 else np.int32) * t_count + topic
    if (topic < 0).any():
        cell[topic < 0] = -1  # an unknown topic has no (customer, topic) key
    consent = consent_lookup(consents, ids, topic_keys, now_us, cell)
    if not known.all():
        consent[~known] = 0
    suppressed, erased_customers = suppressions_of(suppressions, ids, now_us)
    reach = np.stack(
        [customers[name].cast(pl.Boolean).fill_null(False).to_numpy() for name in CHANNEL_ORDER]
    )
    last_purchase = instants(customers["last_purchase_at"], null=LONG_AGO)
    regions = regions_of(customers)
    lapse_days = regions.per_customer(policy.implied_consent_days_for, null=-1)
    implied_until = np.where(
        lapse_days < 0,
        NEVER,
        np.where(last_purchase == LONG_AGO, LONG_AGO, last_purchase + lapse_days * DAY),
    )

    run = Run(
        policy=policy,
        now=now_us,
        m=m,
        n=n,
        customer=customer,
        known=known,
        importance=importance,
        topic=topic,
        topic_count=t_count,
        basis=basis,
        offered=offered,
        deadline=instants(candidates["deadline_at"], null=NEVER),
        asks_response=candidates["asks_response"].cast(pl.Boolean).fill_null(False).to_numpy(),
        value=candidates["value"].cast(pl.Float64).fill_null(0.0).to_numpy(),
        relevance=candidates["relevance"].cast(pl.Float64).fill_null(np.nan).to_numpy(),
        consent=consent,
        reachable=reach,
        suppressed=suppressed,
        do_not_contact=customers["do_not_contact"].cast(pl.Boolean).fill_null(False).to_numpy(),
        erased=erased_customers,
        implied_until=implied_until,
        ids=ids,
        topic_keys=topic_keys,
        cell=cell,
    )

    # Candidate-wide stops that never pass later.
    reason = np.zeros(m, dtype=np.uint8)
    retry = np.full(m, NEVER, dtype=np.int64)
    for rule in CANDIDATE_RULES:
        first(reason, *rule(run))
    # Channel stops, one channel at a time: (H, m).
    stopped = np.zeros((H, m), dtype=np.uint8)
    for h in range(H):
        column = stopped[h]
        if not offered[h].any():
            column[:] = NOT_OFFERED  # no candidate may use the channel: nothing to check
            continue
        # The first stop in order gives a row its reason: the stops are written from the last
        # to the first, each over the ones after it (a pass less per rule than keeping the
        # first), and "not offered" over them all.
        for stop in reversed(suppression(run, h)):
            overwrite(column, *stop)
        for channel_rule in reversed(CHANNEL_RULES):
            overwrite(column, *channel_rule(run, h))
        put(column, ~offered[h], NOT_OFFERED)

    clock = clock_of(customers, regions, policy, now_us)
    facts = Facts(m=m, n=n)
    sent = history_of(history, ids, topic_keys, now_us)
    held_by_customer_choices(run, customers, frequencies, clock, sent, reason, retry, facts)
    rooms, caps = caps_of(run, sent)
    del sent
    held_by_caps(run, rooms, reason, retry, stopped, facts)

    # Timing: each channel's next allowed moment (once per customer and kind of window); past
    # the deadline it stops.
    moments = windows(customers, regions, policy, clock, now_us)
    other = importance != CRITICAL
    timed = np.flatnonzero(run.deadline < NEVER)
    timed_who, timed_other, timed_deadline = customer[timed], other[timed], run.deadline[timed]
    for kind, channels in ((0, (0, 2)), (1, (1, 3))):
        never = moments[kind] < 0
        never_critical = moments[2] < 0
        late = np.zeros(m, dtype=bool)
        # Critical email and push go now; critical texts and calls wait for the text hours.
        critical_at = moments[2][timed_who] if kind == 1 else now_us
        at = np.where(timed_other, moments[kind][timed_who], critical_at)
        late[timed] = at > timed_deadline
        del at
        none = (never[customer] & other) if never.any() else np.zeros(m, dtype=bool)
        if kind == 1 and never_critical.any():
            none |= never_critical[customer] & ~other
        for h in channels:
            first(stopped[h], none, Reason.NO_WINDOW)
            first(stopped[h], late, Reason.PAST_DEADLINE)

    one_voice(run, reason, retry, stopped)
    extra_caps(run, rooms, reason, stopped, facts)

    open_ = (stopped == 0) & (reason == 0)[None, :]
    candidate_ids = candidates["candidate_id"].cast(pl.Int64).to_numpy()
    options = options_of(
        run,
        candidate_ids,
        customer_ids,
        open_,
        moments,
        (touchpoint_names, touchpoint_code.clip(0)),
        facts,
    )
    explain = Explanation(
        run=run,
        candidate_ids=candidate_ids,
        topics=candidates["topic"],
        topic_code=topic_code,
        reason=reason,
        retry=retry,
        stopped=stopped,
        facts=facts,
        rooms=rooms,
    )
    return PolicyResult(options=options, caps=caps, _explain=explain)


def consent_lookup(
    consents: pl.DataFrame, ids: Array, topics: tuple[str, ...], now: int, wanted: Array
) -> Array:
    """Packed explicit states (uint16) for each wanted (customer, topic) key: for each channel
    3 bits (state, +4 implied). Per (customer, topic, channel) the latest entry that occurred
    by ``now`` counts (ties: the last in the frame)."""
    t_count = max(len(topics), 1)
    at = instants(consents["occurred_at"], null=NEVER)
    position, known = index(ids, consents["customer_id"].cast(pl.Int64).to_numpy())
    topic_of = codes(consents["topic"], topics, "topic", strict=False)
    channel = codes(consents["channel"], CHANNEL_ORDER, "channel", strict=False)
    state = codes(consents["state"], ("", "opted-in", "opted-out", "pending"), "consent state")
    implied = codes(consents["legal_basis"], ("legitimate-interest",), "", strict=False) == 0
    keep = np.flatnonzero(known & (topic_of >= 0) & (channel >= 0) & (at <= now))
    key = position[keep].astype(np.int64) * t_count + topic_of[keep]
    channel, at = channel[keep].astype(np.int64), at[keep]
    packed = (state[keep] + 4 * implied[keep]) << (3 * channel)
    # The last entry of each (key, channel) in (time, frame order).
    order = np.lexsort((at, key * H + channel))
    cell = (key * H + channel)[order]
    last = np.append(cell[1:] != cell[:-1], True) if cell.size else cell.astype(bool)
    latest_key, latest_bits = key[order][last], packed[order][last]
    # Keys come sorted; channels of one key occupy different bits: their sum is the word.
    heads = np.flatnonzero(np.append(True, latest_key[1:] != latest_key[:-1]))
    if not latest_key.size:
        heads = heads[:0]
    keys = latest_key[heads]
    words = np.add.reduceat(latest_bits, heads) if heads.size else latest_bits[:0]
    word, _found = lookup(keys, words.astype(np.uint16), wanted, missing=np.uint16(0))
    return word


def suppressions_of(suppressions: pl.DataFrame, ids: Array, now: int) -> tuple[Array, Array]:
    n = ids.size
    at = instants(suppressions["at"], null=NEVER)
    customer, known = index(ids, suppressions["customer_id"].cast(pl.Int64).to_numpy())
    why = suppressions["reason"].cast(pl.String)
    channel = codes(suppressions["channel"].fill_null(""), CHANNEL_ORDER, "", strict=False)
    keep = known & (at <= now)
    erased = np.zeros(n, dtype=bool)
    erased[customer[keep & (why == "erased").fill_null(False).to_numpy()]] = True
    code = np.zeros((H, n), dtype=np.uint8)
    for name, reason in (("complaint", Reason.COMPLAINT), ("hard-bounce", Reason.HARD_BOUNCE)):
        hit = keep & (why == name).fill_null(False).to_numpy()
        for h in range(H):
            code[h, customer[hit & ((channel == h) | (channel < 0))]] = CODE[reason]
    return code, erased


def options_of(
    run: Run,
    candidate_ids: Array,
    customer_ids: Array,
    open_: Array,
    moments: Array,
    touchpoints: tuple[tuple[str, ...], Array],
    facts: Facts,
) -> pl.DataFrame:
    """One row per open (candidate, channel), in candidate then channel order."""
    row, channel = open_cells(open_)
    economics = [run.policy.channels[name] for name in CHANNEL_ORDER]
    engagement = np.array([e.engagement for e in economics])
    cost = np.array([e.cost for e in economics])
    penalty = np.array([e.intrusiveness for e in economics])
    importance = run.importance[row]
    kind = WINDOW_KIND[channel, (importance != CRITICAL).astype(np.int64)]
    who = run.customer[row]
    send_at = np.full(row.size, run.now, dtype=np.int64)
    for k in range(3):
        rows = np.flatnonzero(kind == k)
        send_at[rows] = moments[k][who[rows]]
    names, touchpoint = touchpoints
    digest = facts.digest[row]
    return pl.DataFrame(
        {
            "customer_id": customer_ids[row],
            "candidate_id": candidate_ids[row],
            "channel": pl.Series(channel).cat.to(pl.Enum(CHANNEL_ORDER)),
            "send_at": pl.Series(send_at).cast(pl.Datetime("us", "UTC")),
            "value": run.value[row] * engagement[channel],
            "cost": cost[channel],
            "penalty": penalty[channel],
            "promotional": importance == PROMOTIONAL,
            "exempt": importance <= SERVICE,
            "digest": digest_names(digest),
            "topic": pl.Series(run.topic[row]).cat.to(pl.Enum(run.topic_keys)),
            "touchpoint": pl.Series(touchpoint[row]).cat.to(pl.Enum(names)),
        }
    )


def open_cells(open_: Array) -> tuple[Array, Array]:
    """The open (candidate, channel) cells of (H, m), in candidate then channel order: the mask
    laid out candidate by candidate (m, H) and its set cells found in one pass, each cell's
    place giving its candidate (place // H) and channel (place % H)."""
    by_candidate = np.empty(open_.shape[::-1], dtype=bool)
    by_candidate.T[...] = open_
    place = np.flatnonzero(by_candidate)
    del by_candidate
    row, channel = np.divmod(place, open_.shape[0])
    return row, channel.astype(np.int8)


def digest_names(digest: Array) -> pl.Series:
    periods = FREQUENCIES[1:]
    code = np.maximum(digest.astype(np.int8) - 1, 0).view(np.uint8)
    return with_nulls(code, digest > 0, pl.UInt8()).cat.to(pl.Enum(periods))


__all__ = ["POSTAL", "REQUIRED", "PolicyResult", "apply_policy", "stacked"]
