"""What was already sent, and the holds it causes: pause, fatigue, minimum gap, frequency,
digests, caps and one voice.

History is summarised without sorting: per (customer, topic) the last send and the run of
ignored marketing messages at its end, per customer and cap window the sends counted with the
oldest and newest of them (NumPy's ``ufunc.at`` over dense group numbers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from regard.decisions.policy_frames import (
    CODE,
    CRITICAL,
    FREQUENCIES,
    LONG_AGO,
    NEVER,
    PERIOD_US,
    PROMOTIONAL,
    RELATIONSHIP,
    Array,
    H,
    codes,
    dense_groups,
    index,
    instants,
    lookup,
    span,
    us,
)
from regard.decisions.policy_options import CHANNEL_ORDER, IMPORTANCE_ORDER
from regard.decisions.policy_rules import Run
from regard.decisions.policy_windows import Clock, digest_moments, resume_at
from regard.decisions.reasons import Reason


@dataclass
class Sent:
    """What was sent by ``now`` to known customers (in input order)."""

    customer: Array
    topic: Array
    channel: Array
    importance: Array
    at: Array
    # Per (customer, topic), sorted by key: last send, run of ignored marketing messages and its
    # last.
    keys: Array
    last: Array
    ignored: Array
    last_ignored: Array


def history_of(history: pl.DataFrame, ids: Array, topics: tuple[str, ...], now: int) -> Sent:
    at = instants(history["sent_at"], null=NEVER)
    customer, known = index(ids, history["customer_id"].cast(pl.Int64).to_numpy())
    counted = known & (at <= now)
    # Every row counts in the usual case: then nothing needs gathering.
    rows = slice(None) if counted.all() else np.flatnonzero(counted)
    del counted
    topic = codes(history["topic"], topics, "topic", strict=False)[rows]
    channel = codes(history["channel"], CHANNEL_ORDER, "channel", strict=False)[rows]
    importance = codes(history["importance"], IMPORTANCE_ORDER, "importance", strict=False)[rows]
    engaged = history["engaged"].cast(pl.Boolean).fill_null(True).to_numpy()[rows]
    customer, at = customer[rows].astype(np.int64), at[rows]
    # Per (customer, topic): the last send, and the run of ignored marketing messages at the
    # end (a message not yet known to be engaged with, or not marketing, breaks no run). Sends
    # are ordered by time, then by their order in the frame.
    t_count = max(len(topics), 1)
    known_topic = topic >= 0
    on_topic = slice(None) if known_topic.all() else np.flatnonzero(known_topic)
    del known_topic
    key = customer[on_topic] * t_count + topic[on_topic]
    ok = engaged[on_topic] | (importance[on_topic] < RELATIONSHIP)
    when = at[on_topic]
    first, group = dense_groups(key, ids.size * t_count)
    count = first.size
    last = np.full(count, LONG_AGO, dtype=np.int64)
    np.maximum.at(last, group, when)
    # The last engaged-with message of each key: its time, then its position among ties.
    last_ok = np.full(count, LONG_AGO, dtype=np.int64)
    np.maximum.at(last_ok, group[ok], when[ok])
    order = np.arange(key.size)
    tied = ok & (when == last_ok[group])
    last_ok_order = np.full(count, -1, dtype=np.int64)
    np.maximum.at(last_ok_order, group[tied], order[tied])
    after = (when > last_ok[group]) | ((when == last_ok[group]) & (order > last_ok_order[group]))
    ignored = np.bincount(group[after], minlength=count).astype(np.int64)
    return Sent(
        customer=customer,
        topic=topic,
        channel=channel,
        importance=importance,
        at=at,
        keys=key[first],
        last=last,
        ignored=ignored,
        last_ignored=np.where(ignored > 0, last, LONG_AGO),
    )


@dataclass
class Facts:
    """Non-personal facts behind each held candidate, for its params."""

    m: int
    n: int
    when: Array = field(init=False)  # last sent / paused until
    count: Array = field(init=False)  # ignored in a row / sends counted
    frequency: Array = field(init=False)  # 1 daily, 2 weekly, 3 monthly
    scope_overall: Array = field(init=False)
    cap: Array = field(init=False)  # which room is used up
    digest: Array = field(init=False)  # frequency of the digest it joins
    channel_cap: Array = field(init=False)

    def __post_init__(self) -> None:
        self.when = np.full(self.m, LONG_AGO, dtype=np.int64)
        self.count = np.zeros(self.m, dtype=np.int32)
        self.frequency = np.zeros(self.m, dtype=np.int8)
        self.scope_overall = np.zeros(self.m, dtype=bool)
        self.cap = np.full(self.m, -1, dtype=np.int16)
        self.digest = np.zeros(self.m, dtype=np.int8)
        self.channel_cap = np.full((H, self.n), -1, dtype=np.int16)


def frequencies_of(
    frequencies: pl.DataFrame, ids: Array, topics: tuple[str, ...]
) -> tuple[Array, Array, Array]:
    """Overall frequency per customer; per (customer, topic) keys and their frequency."""
    t_count = max(len(topics), 1)
    customer, known = index(ids, frequencies["customer_id"].cast(pl.Int64).to_numpy())
    choice = codes(frequencies["frequency"], FREQUENCIES, "frequency").astype(np.int8)
    scope = frequencies["topic"].cast(pl.String)
    overall_rows = known & scope.is_null().to_numpy()
    overall = np.zeros(ids.size, dtype=np.int8)
    overall[customer[overall_rows]] = choice[overall_rows]
    topic = codes(scope.fill_null(""), topics, "topic", strict=False)
    rows = known & (topic >= 0)
    frame = (
        pl.DataFrame({"key": customer[rows] * t_count + topic[rows], "f": choice[rows]})
        .unique("key", keep="last", maintain_order=True)
        .sort("key")
    )
    return overall, frame["key"].to_numpy(), frame["f"].to_numpy().astype(np.int8)


def hold(
    reason: Array,
    retry: Array,
    facts: Facts,
    rows: Array,
    why: Reason,
    until: Array,
    *,
    when: Array | None = None,
) -> tuple[Array, Array]:
    """Hold those of ``rows`` not yet stopped until ``until`` (aligned with ``rows``), with
    ``when`` as their fact; returns the rows held and which of ``rows`` they are."""
    fresh = reason[rows] == 0
    held = rows[fresh]
    reason[held] = CODE[why]
    retry[held] = until[fresh]
    if when is not None:
        facts.when[held] = when[fresh]
    return held, fresh


def held_by_customer_choices(
    run: Run,
    customers: pl.DataFrame,
    frequencies: pl.DataFrame,
    clock: Clock,
    sent: Sent,
    reason: Array,
    retry: Array,
    facts: Facts,
) -> None:
    """Pause, fatigue, minimum gap, topic frequency and digests: held until a later moment.

    Each rule looks only at the rows it can hold: those of paused customers, those whose
    (customer, topic) was sent something before, those of customers with a frequency."""
    policy, now = run.policy, run.now
    key = run.key()
    position, found = lookup(
        sent.keys, np.arange(sent.keys.size, dtype=np.int32), key, missing=np.int32(0)
    )
    found &= run.topic >= 0
    seen = np.flatnonzero(found)  # rows whose (customer, topic) was sent something
    del found
    seen_at = position[seen]
    del position
    last = sent.last[seen_at]
    marketing = run.marketing

    # Pause: until the start of paused_until, local time.
    resume = resume_at(customers, clock)
    paused_customers = resume > now
    if paused_customers.any():
        exempt = np.array([i in policy.pause_exempt for i in IMPORTANCE_ORDER])
        rows = np.flatnonzero(paused_customers[run.customer] & ~exempt[run.importance])
        until = resume[run.customer[rows]]
        hold(reason, retry, facts, rows, Reason.PAUSED, until, when=until)

    # Fatigue: a run of ignored marketing messages on the topic.
    if policy.fatigue_after is not None and sent.keys.size:
        ends_by_key = sent.last_ignored + us(policy.fatigue_hold)
        tired_key = (sent.ignored >= policy.fatigue_after) & (ends_by_key > now)
        tired = marketing[seen] & tired_key[seen_at]
        if tired.any():
            at = seen_at[tired]
            held, fresh = hold(reason, retry, facts, seen[tired], Reason.FATIGUE, ends_by_key[at])
            facts.count[held] = sent.ignored[at[fresh]]
            facts.when[held] = sent.last_ignored[at[fresh]]

    # Minimum gap per topic: by (topic, marketing), the unknown topic in the last row.
    gaps = np.zeros((len(run.topic_keys) + 1, 2), dtype=np.int64)
    gaps[:, 1] = us(policy.min_gap)
    for name, given in policy.min_gap_by_topic.items():
        if name in run.topic_keys:
            gaps[run.topic_keys.index(name)] = us(given)
    run.gaps = gaps
    gap = run.gap(seen)
    gap_end = last + gap
    gapped = (gap > 0) & (gap_end > now)
    hold(reason, retry, facts, seen[gapped], Reason.MIN_GAP, gap_end[gapped], when=last[gapped])
    del gap, gap_end, gapped

    # The customer's frequency: per topic (else overall) for marketing; one per period, bundled
    # into a digest at the digest hour.
    overall, keys, choice = frequencies_of(frequencies, run.ids, run.topic_keys)
    run.overall = overall
    effective = overall[run.customer]
    chooser = np.zeros(run.n, dtype=bool)  # customers with a choice for some topic
    chooser[keys // run.topic_count] = True
    rows = np.flatnonzero(chooser[run.customer] & (run.topic >= 0))
    topic_choice, _has = lookup(keys, choice, key[rows], missing=np.int8(0))
    own = topic_choice > 0
    rows, topic_choice = rows[own], topic_choice[own].astype(np.int8)
    effective[rows] = topic_choice
    digest = marketing & (effective > 0)
    if not digest.any():
        return
    # Their own choice for the topic: one per period after the last send on it.
    mine = marketing[rows]
    rows, topic_choice = rows[mine], topic_choice[mine]
    at = np.searchsorted(seen, rows).clip(0, max(seen.size - 1, 0))
    before = (seen[at] == rows) if seen.size else np.zeros(rows.size, dtype=bool)
    last_own = np.where(before, last[at] if seen.size else LONG_AGO, LONG_AGO)
    period_end = last_own + PERIOD_US[topic_choice]
    used = (last_own != LONG_AGO) & (period_end > now)
    held, fresh = hold(
        reason, retry, facts, rows[used], Reason.FREQUENCY, period_end[used], when=last_own[used]
    )
    facts.frequency[held] = topic_choice[used][fresh]

    inside, following = digest_moments(policy, clock, now)
    rows = np.flatnonzero(digest)
    slot = np.clip(effective[rows].astype(np.int64) - 1, 0, 2)
    who = run.customer[rows]
    in_slot = inside[slot, who]
    waiting = ~in_slot
    held, fresh = hold(
        reason, retry, facts, rows[waiting], Reason.DIGEST, following[slot, who][waiting]
    )
    facts.frequency[held] = effective[held]
    joined = rows[in_slot]
    facts.digest[joined] = effective[joined]


# ---------------------------------------------------------------------------------------------
# Caps: the customer's own frequency and the brand's caps, as room left after history


NO_CAP = 1 << 30
TOTAL, PROMOTIONAL_ROOM, EXTRA = -1, -2, -3


@dataclass
class Room:
    """Room left in one cap per customer, and when it next opens (the oldest counted send
    leaves the window)."""

    label: str  # "marketing", "promotional", a channel, an importance, or "frequency"
    maximum: int
    window: str  # "7d"; the overall frequency's window depends on the customer
    target: int  # TOTAL, PROMOTIONAL_ROOM, a channel (0..4) or EXTRA
    importance: int  # -1: marketing
    channel: int  # -1: any
    sent: Array  # (n,)
    left: Array  # (n,)
    opens: Array  # (n,) us
    newest: Array  # (n,) us


def count_sent(
    sent: Sent, n: int, now: int, window: Array | int, mask: Array
) -> tuple[Array, Array, Array]:
    """Sends per customer within the window, with the oldest and newest of them."""
    reach = window[sent.customer] if isinstance(window, np.ndarray) else window
    within = mask & (sent.at > now - reach)
    who = sent.customer[within]
    when = sent.at[within]
    count = np.bincount(who, minlength=n)
    oldest = np.full(n, NEVER, dtype=np.int64)
    newest = np.full(n, LONG_AGO, dtype=np.int64)
    np.minimum.at(oldest, who, when)
    np.maximum.at(newest, who, when)
    return count, oldest, newest


def caps_of(run: Run, sent: Sent) -> tuple[list[Room], pl.DataFrame]:
    """Room per customer in every cap, and the caps frame for the optimiser."""
    policy, n, now = run.policy, run.n, run.now
    rooms: list[Room] = []
    marketing_sent = sent.importance >= RELATIONSHIP
    for cap in policy.caps:
        importance = -1 if cap.importance == "marketing" else IMPORTANCE_ORDER.index(cap.importance)
        channel = -1 if cap.channel is None else CHANNEL_ORDER.index(cap.channel)
        mask = marketing_sent if importance < 0 else sent.importance == importance
        if channel >= 0:
            mask = mask & (sent.channel == channel)
        window = us(cap.window)
        count, oldest, newest = count_sent(sent, n, now, window, mask)
        if importance < 0 and channel < 0:
            target = TOTAL
        elif importance == PROMOTIONAL and channel < 0:
            target = PROMOTIONAL_ROOM
        elif importance < 0:
            target = channel
        else:
            target = EXTRA
        label = str(cap.channel if importance < 0 and channel >= 0 else cap.importance)
        if importance >= 0 and channel >= 0:
            label = f"{cap.importance} {cap.channel}"
        rooms.append(
            Room(
                label=str(label),
                maximum=cap.max,
                window=span(cap.window),
                target=target,
                importance=importance,
                channel=channel,
                sent=count,
                left=np.maximum(cap.max - count, 0),
                opens=np.where(count > 0, oldest + window, now),
                newest=newest,
            )
        )
    overall = run.overall if run.overall is not None else np.zeros(n, dtype=np.int8)
    period = PERIOD_US[overall]
    count, oldest, newest = count_sent(sent, n, now, period, marketing_sent)
    chosen = overall > 0
    rooms.append(
        Room(
            label="frequency",
            maximum=1,
            window="",
            target=TOTAL,
            importance=-1,
            channel=-1,
            sent=np.where(chosen, count, 0),
            left=np.where(chosen, np.maximum(1 - count, 0), NO_CAP),
            opens=np.where(chosen & (count > 0), oldest + period, now),
            newest=newest,
        )
    )

    def least(target: int) -> Array:
        left = np.full(n, NO_CAP, dtype=np.int64)
        for room in rooms:
            if room.target == target:
                left = np.minimum(left, room.left)
        return left

    columns: dict[str, Any] = {"customer_id": run.ids}
    columns["cap_total"] = least(TOTAL)
    columns["cap_promotional"] = least(PROMOTIONAL_ROOM)
    for h, name in enumerate(CHANNEL_ORDER):
        columns[f"cap_{name}"] = least(h)
    frame = pl.DataFrame(columns).with_columns(
        pl.when(pl.col(c) < NO_CAP).then(pl.col(c)).cast(pl.Int32).alias(c)
        for c in columns
        if c.startswith("cap_")
    )
    cost = policy.interruption_cost if policy.bundle_interruptions else 0.0
    frame = frame.with_columns(pl.lit(cost, dtype=pl.Float64).alias("interruption_cost"))
    return rooms, frame


def held_by_caps(
    run: Run,
    rooms: list[Room],
    reason: Array,
    retry: Array,
    stopped: Array,
    facts: Facts,
) -> None:
    """Marketing candidates whose room is used up wait until it opens again (what room is left
    is the optimiser's to share out)."""
    who = run.customer
    for number, room in enumerate(rooms):
        if room.target == EXTRA or not (room.left == 0).any():
            continue
        full = (room.left == 0)[who]
        if room.target == TOTAL:
            hit = run.marketing & full
        elif room.target == PROMOTIONAL_ROOM:
            hit = (run.importance == PROMOTIONAL) & full
        else:
            column = stopped[room.target]
            hit = run.marketing & full & (column == 0)
            column[hit] = CODE[Reason.CAP]
            facts.channel_cap[room.target, who[hit]] = number
            continue
        why = Reason.FREQUENCY if room.label == "frequency" else Reason.CAP
        fresh = np.flatnonzero(hit & (reason == 0))
        del hit, full
        customer = who[fresh]
        facts.cap[fresh] = number
        facts.count[fresh] = room.sent[customer]
        hold(reason, retry, facts, fresh, why, room.opens[customer], when=room.newest[customer])
        if why is Reason.FREQUENCY:
            facts.scope_overall[fresh] = True
            facts.frequency[fresh] = run.overall[customer] if run.overall is not None else 0


def extra_caps(run: Run, rooms: list[Room], reason: Array, stopped: Array, facts: Facts) -> None:
    """Caps the optimiser cannot price (an importance other than all marketing or promotional,
    or an importance on one channel): at most the room left pass, the most valuable first."""
    for number, room in enumerate(rooms):
        if room.target != EXTRA:
            continue
        matching = (run.marketing if room.importance < 0 else run.importance == room.importance) & (
            reason == 0
        )
        columns = [room.channel] if room.channel >= 0 else list(range(H))
        open_any = np.zeros(run.m, dtype=bool)
        for h in columns:
            open_any |= stopped[h] == 0
        rows = np.flatnonzero(matching & open_any)
        if rows.size == 0:
            continue
        order = rows[np.lexsort((-run.value[rows], run.customer[rows]))]
        who = run.customer[order]
        starts = np.ones(order.size, dtype=bool)
        starts[1:] = who[1:] != who[:-1]
        first = np.maximum.accumulate(np.where(starts, np.arange(order.size), 0))
        rank = np.arange(order.size) - first
        over = order[rank >= room.left[who]]
        if room.channel >= 0:
            column = stopped[room.channel]
            over = over[column[over] == 0]
            column[over] = CODE[Reason.CAP]
            facts.channel_cap[room.channel, run.customer[over]] = number
        else:
            reason[over] = CODE[Reason.CAP]
            facts.cap[over] = number
            facts.count[over] = room.sent[run.customer[over]]


def one_voice(run: Run, reason: Array, retry: Array, stopped: Array) -> None:
    """Of several candidates on one topic for one customer in this run, only the most valuable
    goes (ties: the lowest candidate_id; critical messages excepted); the others wait for the
    topic's minimum gap."""
    alive = (reason == 0) & (run.importance != CRITICAL)
    any_open = stopped[0] == 0
    for h in range(1, H):
        any_open |= stopped[h] == 0
    alive &= any_open
    del any_open
    rows = np.flatnonzero(alive)
    del alive
    if rows.size < 2:
        return
    value = run.value[rows]
    losers = None
    if not np.isnan(value).any():
        losers = _outvoiced(run, rows, value)
    if losers is None:
        ranked = (
            pl.DataFrame({"key": run.key()[rows], "value": value, "row": rows})
            .sort(["key", "value", "row"], descending=[False, True, False])
            .filter(~pl.col("key").is_first_distinct())
        )
        losers = ranked["row"].to_numpy()
    reason[losers] = CODE[Reason.ONE_VOICE]
    retry[losers] = run.now + run.gap(losers)


def _outvoiced(run: Run, rows: Array, value: Array) -> Array:
    """The rows that are not the best of their (customer, topic) (values without NaN): each
    (customer, topic)'s best value and then its lowest row among those with it, found in one
    pass each over a table of every (customer, topic)."""
    key = run.key()[rows]
    if key.size and int(key.min()) < 0:  # an unknown topic has no (customer, topic) to share
        rows, value, key = rows[key >= 0], value[key >= 0], key[key >= 0]
    cells = run.n * run.topic_count
    best = np.full(cells, -np.inf)
    np.maximum.at(best, key, value)
    top = value == best[key]
    del best
    index_type = np.int32 if run.m < np.iinfo(np.int32).max else np.int64
    winner = np.full(cells, run.m, dtype=index_type)
    np.minimum.at(winner, key, np.where(top, rows, run.m).astype(index_type))
    del top
    losers: Array = rows[rows != winner[key]]
    return losers
