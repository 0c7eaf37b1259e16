"""The contact policy: which (candidate, channel) may be sent, when, and why the others may not.

Pure: ``apply_policy(frames, policy, now) -> PolicyResult``; Polars frames in and out, NumPy
inside, no database and no clock. Every rule is a named function below that returns the rows it
stops and its reason code (:mod:`regard.decisions.reasons`); docs/contact-policy.md describes
each rule and its settings.

Input frames (datetimes are UTC; a naive datetime is read as UTC; extra columns are ignored):

``candidates``: candidate_id Int64, customer_id Int64, touchpoint String, topic String,
importance String (critical|transactional|service|relationship|promotional), triggered_at
Datetime, deadline_at Datetime (null: none), asks_response Boolean, value Float64 (expected value
for the customer's segment), relevance Float64 (0-1; null: unknown).

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

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt
import polars as pl

from regard.decisions.policy_options import (
    CHANNEL_ORDER,
    FREQUENCY_PERIODS,
    IMPORTANCE_ORDER,
    ContactPolicy,
)
from regard.decisions.reasons import HELD_REASONS, Reason
from regard.errors import InvalidInput

Array = npt.NDArray[Any]

H = len(CHANNEL_ORDER)
EMAIL, SMS, PUSH, VOICE, POSTAL = range(H)
CRITICAL, TRANSACTIONAL, SERVICE, RELATIONSHIP, PROMOTIONAL = range(5)
BASES = ("legal-obligation", "contract", "legitimate-interest", "consent")
LEGITIMATE_INTEREST, CONSENT = 2, 3
# Consent states as packed per channel: 3 bits each (state, plus 4 when the basis is implied).
NONE_STATE, OPTED_IN, OPTED_OUT, PENDING = 0, 1, 2, 3
STATES = {"opted-in": OPTED_IN, "opted-out": OPTED_OUT, "pending": PENDING}
FREQUENCIES = ("as-it-happens", "daily", "weekly", "monthly")

US = 1_000_000
MINUTE = 60 * US
DAY_MINUTES = 1_440
NEVER = np.iinfo(np.int64).max
LONG_AGO = np.iinfo(np.int64).min
# Offsets are read from a table at 15-minute steps (every tz transition falls on one).
SLOT = 15 * MINUTE
TABLE_DAYS = 48
# How far ahead the next allowed moment is looked for: the windows repeat every week.
SEARCH_DAYS = 8

CODES: tuple[Reason, ...] = tuple(Reason)
CODE = {reason: i + 1 for i, reason in enumerate(CODES)}  # 0: passes
NOT_OFFERED = 255
HELD_CODES = np.array([False] + [r in HELD_REASONS for r in CODES] + [False] * (255 - len(CODES)))

OPTION_SCHEMA = {
    "customer_id": pl.Int64,
    "candidate_id": pl.Int64,
    "channel": pl.Enum(CHANNEL_ORDER),
    "send_at": pl.Datetime("us", "UTC"),
    "value": pl.Float64,
    "cost": pl.Float64,
    "penalty": pl.Float64,
    "promotional": pl.Boolean,
    "exempt": pl.Boolean,
}

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


# ---------------------------------------------------------------------------------------------
# Reading frames


def _require(name: str, frame: pl.DataFrame) -> None:
    missing = [c for c in REQUIRED[name] if c not in frame.columns]
    if missing:
        raise InvalidInput(f"{name} lack the columns {', '.join(missing)}")


def _instants(series: pl.Series, *, null: int) -> Array:
    """Microseconds since the epoch, UTC; nulls as ``null``."""
    if series.dtype == pl.Null:
        return np.full(series.len(), null, dtype=np.int64)
    if not isinstance(series.dtype, pl.Datetime):
        raise InvalidInput(f"{series.name} must be a datetime")
    if series.dtype.time_zone is None:
        series = series.dt.replace_time_zone("UTC")
    values = series.dt.convert_time_zone("UTC").dt.cast_time_unit("us").to_physical()
    return values.fill_null(null).to_numpy().astype(np.int64, copy=False)


def _codes(series: pl.Series, names: tuple[str, ...], what: str, *, strict: bool = True) -> Array:
    """Positions in ``names``; unknown values are an error, or -1 when not ``strict``."""
    mapping = {name: i for i, name in enumerate(names)}
    coded = series.cast(pl.String).replace_strict(mapping, default=-1, return_dtype=pl.Int32)
    values = coded.fill_null(-1).to_numpy()
    if strict and (values < 0).any():
        bad = series.filter(coded.fill_null(-1) < 0).head(1).to_list()
        raise InvalidInput(f"unknown {what} {bad[0]!r}")
    return values


def _index(ids: Array, values: Array) -> tuple[Array, Array]:
    """Each value's position among sorted ``ids``, and whether it is there."""
    if ids.size == 0:
        return np.zeros(values.size, dtype=np.int64), np.zeros(values.size, dtype=bool)
    position = np.searchsorted(ids, values).clip(0, ids.size - 1)
    return position, ids[position] == values


def _bits(mask: Array) -> Array:
    small = mask.astype(np.uint8)
    return np.stack([(small & np.uint8(1 << h)) != 0 for h in range(H)])


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / US, tz=UTC).isoformat()


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# ---------------------------------------------------------------------------------------------
# Local time: offsets by zone, windows, the next allowed moment


@dataclass
class _Clock:
    """UTC offsets (minutes) of each customer's zone, in 15-minute steps around ``now``."""

    start: int
    table: Array  # (zones, slots) int32
    zone: Array  # (n,) row of the table per customer
    shrink: Array  # (n,) minutes: span of possible offsets when the zone is unknown

    def offset(self, rows: Array, at: Array) -> Array:
        slot = ((at - self.start) // SLOT).clip(0, self.table.shape[1] - 1)
        offset: Array = self.table[self.zone[rows], slot].astype(np.int64)
        return offset

    def local_minutes(self, rows: Array, at: Array) -> Array:
        return at // MINUTE + self.offset(rows, at)

    def to_utc(self, rows: Array, local: Array) -> Array:
        """The UTC moment of a local minute (after a spring-forward gap: the moment after)."""
        guess = local * MINUTE - self.offset(rows, local * MINUTE) * MINUTE
        moment: Array = local * MINUTE - self.offset(rows, guess) * MINUTE
        gap = self.local_minutes(rows, moment) != local
        if gap.any():
            # The local minute does not exist (clocks went forward): the moment of the change,
            # the first slot after the minute's earlier reading where the offset is the later.
            where = np.flatnonzero(gap)
            later = self.offset(rows[where], moment[where] + DAY_MINUTES * MINUTE)
            earliest = local[where] * MINUTE - later * MINUTE
            found = np.full(where.size, NEVER, dtype=np.int64)
            for step in range(1, 4 * 24):
                slot = (earliest // SLOT + step) * SLOT
                hit = (found == NEVER) & (self.offset(rows[where], slot) == later)
                found[hit] = slot[hit]
                if (found != NEVER).all():
                    break
            moment[where] = np.where(found == NEVER, moment[where], found)
        return moment


def _clock(customers: pl.DataFrame, policy: ContactPolicy, now: int) -> _Clock:
    start = (now // SLOT) * SLOT - DAY_MINUTES * MINUTE
    slots = TABLE_DAYS * 96
    zone_names = customers["time_zone"].cast(pl.String)
    regions = customers["region"].cast(pl.String).str.to_uppercase()
    known: list[str] = []
    for name in zone_names.drop_nulls().unique().sort().to_list():
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
        known.append(name)
    moments = pl.datetime_range(
        datetime.fromtimestamp(start / US, tz=UTC),
        datetime.fromtimestamp((start + slots * SLOT) / US, tz=UTC),
        "15m",
        closed="left",
        time_zone="UTC",
        eager=True,
    )
    rows: list[Array] = []
    for name in known:
        local = moments.dt.convert_time_zone(name)
        offset = (local.dt.base_utc_offset() + local.dt.dst_offset()).dt.total_minutes()
        rows.append(offset.to_numpy().astype(np.int32))
    # Unknown zones: the lowest offset of the region, with the region's span as the shrink.
    spans = {r: policy.offsets_for(r) for r in regions.unique().to_list() if r is not None}
    world = policy.offsets_for(None)
    lows = sorted({low for low, _high in spans.values()} | {world[0]})
    for low in lows:
        rows.append(np.full(slots, low, dtype=np.int32))
    table = np.stack(rows)
    first_fixed = len(known)
    fixed_row = (
        regions.replace_strict(
            {r: first_fixed + lows.index(low) for r, (low, _high) in spans.items()},
            default=first_fixed + lows.index(world[0]),
            return_dtype=pl.Int64,
        )
        .fill_null(first_fixed + lows.index(world[0]))
        .to_numpy()
    )
    region_span = (
        regions.replace_strict(
            {r: high - low for r, (low, high) in spans.items()},
            default=world[1] - world[0],
            return_dtype=pl.Int64,
        )
        .fill_null(world[1] - world[0])
        .to_numpy()
    )
    zone_index = _codes(zone_names, tuple(known), "time zone", strict=False)
    unknown = zone_index < 0
    zone = np.where(unknown, fixed_row, zone_index).astype(np.int64)
    shrink = np.where(unknown, region_span, 0).astype(np.int64)
    return _Clock(start=start, table=table, zone=zone, shrink=shrink)


@dataclass
class _Window:
    """The allowed local times of one kind of send, per customer: every arc must hold.

    An arc (start, end) in minutes of the day may wrap past midnight; -1: no such arc. Text
    hours are an arc on weekdays and one at weekends (start -2: never at weekends).
    """

    days: Array  # (n,) bit mask mon=1 ... sun=64
    arcs: list[tuple[Array, Array]]
    text: tuple[Array, Array, Array, Array] | None  # weekday start, end; weekend start, end


def _inside(minute: Array, start: Array, end: Array, shrink: Array) -> Array:
    length = (end - start) % DAY_MINUTES
    length = np.where(length == 0, DAY_MINUTES, length)
    return (start < 0) | (((minute - start) % DAY_MINUTES) < (length - shrink))


def _allowed(clock: _Clock, window: _Window, rows: Array, at: Array) -> Array:
    local = clock.local_minutes(rows, at)
    shrink = clock.shrink[rows]
    minute = local % DAY_MINUTES
    day = (local // DAY_MINUTES + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    last_day = ((local + shrink) // DAY_MINUTES + 3) % 7
    days = window.days[rows].astype(np.int64)
    ok = ((days >> day) & 1).astype(bool) & ((days >> last_day) & 1).astype(bool)
    for start, end in window.arcs:
        ok &= _inside(minute, start[rows], end[rows], shrink)
    if window.text is not None:
        weekday_start, weekday_end, weekend_start, weekend_end = window.text
        weekend = day >= 5
        start = np.where(weekend, weekend_start[rows], weekday_start[rows])
        end = np.where(weekend, weekend_end[rows], weekday_end[rows])
        never = (start == -2) | ((last_day >= 5) & (weekend_start[rows] == -2))
        ok &= ~never & _inside(minute, np.maximum(start, 0), end, shrink)
    allowed: Array = ok
    return allowed


def _next_allowed(clock: _Clock, window: _Window, now: int) -> Array:
    """Per customer, the first moment >= now inside the window; -1 when none this week."""
    n = window.days.size
    rows = np.arange(n)
    result = np.full(n, now, dtype=np.int64)
    at_now = np.full(n, now, dtype=np.int64)
    waiting = ~_allowed(clock, window, rows, at_now)
    rows = rows[waiting]
    if rows.size == 0:
        return result
    best = np.full(rows.size, NEVER, dtype=np.int64)
    today = clock.local_minutes(rows, at_now[rows]) // DAY_MINUTES * DAY_MINUTES
    shrink = clock.shrink[rows]
    starts = [np.zeros(rows.size, dtype=np.int64), (DAY_MINUTES - shrink) % DAY_MINUTES]
    starts += [start[rows] for start, _end in window.arcs]
    if window.text is not None:
        starts += [window.text[0][rows], window.text[2][rows]]
    for day in range(SEARCH_DAYS + 1):
        for start in starts:
            local = today + day * DAY_MINUTES + start
            at = clock.to_utc(rows, local)
            fits = (start >= 0) & (at >= now) & (at < best)
            if fits.any():
                fits[fits] = _allowed(clock, window, rows[fits], at[fits])
                best = np.where(fits, at, best)
    result[rows] = np.where(best == NEVER, -1, best)
    return result


def _windows(
    customers: pl.DataFrame, policy: ContactPolicy, clock: _Clock, now: int
) -> tuple[Array, Array, Array]:
    """Next allowed moment per customer for: email and push; texts and calls; critical texts
    and calls (their text hours only)."""

    def minutes(column: str) -> Array:
        return customers[column].cast(pl.Int64).fill_null(-1).to_numpy()

    quiet_start, quiet_end = minutes("quiet_start"), minutes("quiet_end")
    no_quiet = (quiet_start < 0) | (quiet_end < 0) | (quiet_start == quiet_end)
    calm = (np.where(no_quiet, -1, quiet_end), np.where(no_quiet, -1, quiet_start))
    preferred_start, preferred_end = minutes("preferred_start"), minutes("preferred_end")
    no_preferred = (preferred_start < 0) | (preferred_end < 0) | (preferred_start == preferred_end)
    preferred = (
        np.where(no_preferred, -1, preferred_start),
        np.where(no_preferred, -1, preferred_end),
    )
    days = customers["preferred_days"].cast(pl.Int64).fill_null(127).to_numpy() & 127
    days = np.where(days == 0, 127, days)

    regions = customers["region"].cast(pl.String).str.to_uppercase()
    hours = {region: policy.text_hours_for(region) for region in regions.unique().to_list()}

    def per_region(pick: Any) -> Array:
        mapping = {r: pick(h) for r, h in hours.items() if r is not None}
        fallback = pick(policy.text_hours_for(None))
        return (
            regions.replace_strict(mapping, default=fallback, return_dtype=pl.Int64)
            .fill_null(fallback)
            .to_numpy()
        )

    weekday_start = per_region(lambda h: h.weekdays.minutes[0])
    weekday_end = per_region(lambda h: h.weekdays.minutes[1])
    weekend_start = per_region(lambda h: h.weekends.minutes[0] if h.weekends else -2)
    weekend_end = per_region(lambda h: h.weekends.minutes[1] if h.weekends else 0)
    # An unknown zone may be any day: its text hours are those of weekdays and weekends at once.
    unknown = clock.shrink > 0
    both = unknown & (weekend_start >= 0)
    weekday_start = np.where(both, np.maximum(weekday_start, weekend_start), weekday_start)
    weekday_end = np.where(both, np.minimum(weekday_end, weekend_end), weekday_end)
    weekend_start = np.where(both, weekday_start, weekend_start)
    weekend_end = np.where(both, weekday_end, weekend_end)
    text = (weekday_start, weekday_end, weekend_start, weekend_end)
    everything = np.full(customers.height, 127, dtype=np.int64)
    customer_window = _Window(days=days, arcs=[calm, preferred], text=None)
    text_window = _Window(days=days, arcs=[calm, preferred], text=text)
    critical_text = _Window(days=everything, arcs=[], text=text)
    return (
        _next_allowed(clock, customer_window, now),
        _next_allowed(clock, text_window, now),
        _next_allowed(clock, critical_text, now),
    )


def _digest_moments(
    customers: pl.DataFrame, policy: ContactPolicy, clock: _Clock, now: int
) -> tuple[Array, Array]:
    """Per customer and digest frequency (daily, weekly, monthly): whether now is in its digest
    hour, and the start of the next digest hour (UTC)."""
    n = customers.height
    rows = np.arange(n)
    local = clock.local_minutes(rows, np.full(n, now, dtype=np.int64))
    today = local // DAY_MINUTES * DAY_MINUTES
    hour = policy.digest_hour * 60
    weekday = (local // DAY_MINUTES + 3) % 7
    target = ("mon", "tue", "wed", "thu", "fri", "sat", "sun").index(policy.digest_weekday)
    day_number = (local // DAY_MINUTES).astype("datetime64[D]")
    month = day_number.astype("datetime64[M]")

    def month_slot(shift: int) -> Array:
        first = (month + shift).astype("datetime64[D]") + (policy.digest_day - 1)
        return first.astype(np.int64) * DAY_MINUTES + hour

    daily = today + hour
    daily = np.where(daily <= local, daily, daily - DAY_MINUTES)
    weekly = today + hour - ((weekday - target) % 7) * DAY_MINUTES
    weekly = np.where(weekly <= local, weekly, weekly - 7 * DAY_MINUTES)
    this_month = month_slot(0)
    recent = [daily, weekly, np.where(this_month <= local, this_month, month_slot(-1))]
    upcoming = [
        daily + DAY_MINUTES,
        weekly + 7 * DAY_MINUTES,
        np.where(this_month > local, this_month, month_slot(1)),
    ]
    inside = np.zeros((3, n), dtype=bool)
    following = np.zeros((3, n), dtype=np.int64)
    for i in range(3):
        inside[i] = local < recent[i] + 60
        following[i] = clock.to_utc(rows, upcoming[i])
    return inside, following


# ---------------------------------------------------------------------------------------------
# The rules. Each returns the rows it stops (a mask over candidates, or over one channel's column
# of candidates) with its reason code; the driver keeps the first reason that stops a row.


@dataclass
class _Run:
    """Everything the rules read, laid out as arrays over candidates (m) and customers (n)."""

    policy: ContactPolicy
    now: int
    m: int
    n: int
    customer: Array  # (m,) position in customers
    known: Array  # (m,) customer known
    importance: Array  # (m,) 0 critical .. 4 promotional
    topic: Array  # (m,) position in topics, -1 unknown
    topic_count: int
    basis: Array  # (m,) 0..3, -1 unknown topic
    offered: Array  # (H, m) the touchpoint may use the channel
    deadline: Array  # (m,) us, NEVER when none
    asks_response: Array
    value: Array
    relevance: Array  # NaN unknown
    consent: Array  # (m,) packed states
    reachable: Array  # (H, n)
    suppressed: Array  # (H, n) reason code or 0
    do_not_contact: Array  # (n,)
    erased: Array  # (n,)
    implied_until: Array  # (n,) us: implied consent holds until; NEVER: it does not lapse
    ids: Array  # (n,) customer ids, sorted
    topic_keys: tuple[str, ...]
    gap: Array | None = None  # (m,) us: the minimum gap of each candidate's topic
    overall: Array | None = None  # (n,) the customer's overall frequency

    @property
    def marketing(self) -> Array:
        return self.importance >= RELATIONSHIP

    def state(self, channel: int) -> Array:
        return (self.consent >> (3 * channel)) & 3

    def implied(self, channel: int) -> Array:
        state = self.state(channel)
        flagged = ((self.consent >> (3 * channel + 2)) & 1).astype(bool)
        return np.where(state == OPTED_IN, flagged, self.basis == LEGITIMATE_INTEREST)


Stop = tuple[Array, Reason]


def unknown_customer(run: _Run) -> Stop:
    """The candidate's customer is not in the customers frame: nothing is known to check."""
    return ~run.known, Reason.UNKNOWN_CUSTOMER


def no_channel(run: _Run) -> Stop:
    """The touchpoint names no channel the policy knows."""
    return ~np.any(run.offered, axis=0), Reason.NO_CHANNEL


def past_deadline(run: _Run) -> Stop:
    """The candidate's deadline has passed."""
    return run.deadline < run.now, Reason.PAST_DEADLINE


def erased(run: _Run) -> Stop:
    """The customer was erased: nothing more is ever sent."""
    return run.erased[run.customer], Reason.ERASED


def do_not_contact(run: _Run) -> Stop:
    """Do-not-contact stops everything but critical messages (security and legal notices)."""
    return run.do_not_contact[run.customer] & (run.importance != CRITICAL), Reason.DO_NOT_CONTACT


def lawful_basis(run: _Run) -> Stop:
    """A topic outside the brand's catalogue has no legal basis to be sent at all."""
    return run.topic < 0, Reason.NO_LAWFUL_BASIS


def relevance_floor(run: _Run) -> Stop:
    """A promotional candidate predicted less relevant than the floor is not sent (an unknown
    relevance passes)."""
    low = run.relevance < run.policy.relevance_floor  # NaN compares False
    return (run.importance == PROMOTIONAL) & low, Reason.BELOW_RELEVANCE


def opted_out(run: _Run, channel: int) -> Stop:
    """An opt-out from the topic on the channel always wins, whatever the basis."""
    return run.state(channel) == OPTED_OUT, Reason.OPTED_OUT


def promotional_voice(run: _Run, channel: int) -> Stop:
    """Promotional messages never go as phone calls."""
    return (run.importance == PROMOTIONAL) & (channel == VOICE), Reason.PROMOTIONAL_VOICE


def voice_fits_importance(run: _Run, channel: int) -> Stop:
    """A phone call only for critical or transactional messages."""
    return (run.importance > TRANSACTIONAL) & (channel == VOICE), Reason.VOICE_NOT_FITTING


def call_for_information(run: _Run, channel: int) -> Stop:
    """A call demands an interactive response ("press 1"): never for a message that asks
    none, such as an order ready to collect."""
    return ~run.asks_response & (channel == VOICE), Reason.CALL_FOR_INFORMATION


def voice_opt_in(run: _Run, channel: int) -> Stop:
    """A call needs the customer's own opt-in to calls about the topic."""
    return (run.state(channel) != OPTED_IN) & (channel == VOICE), Reason.NO_VOICE_OPT_IN


def consent_needed(run: _Run, channel: int) -> Stop:
    """A topic whose basis is consent needs an opt-in (a pending one is not enough)."""
    return (run.basis == CONSENT) & (run.state(channel) != OPTED_IN), Reason.NO_CONSENT


def implied_consent_expiry(run: _Run, channel: int) -> Stop:
    """Implied consent (legitimate interest from a purchase) lapses where the region says so,
    e.g. CASL's two years after the last purchase."""
    lapsed = run.implied_until[run.customer] < run.now
    return run.implied(channel) & lapsed, Reason.IMPLIED_CONSENT_EXPIRED


def reachable(run: _Run, channel: int) -> Stop:
    """The customer has no usable address on the channel."""
    return ~run.reachable[channel][run.customer], Reason.UNREACHABLE


def suppression(run: _Run, channel: int) -> list[Stop]:
    """A hard bounce or a complaint suppresses the channel."""
    code = run.suppressed[channel][run.customer]
    return [
        (code == CODE[Reason.HARD_BOUNCE], Reason.HARD_BOUNCE),
        (code == CODE[Reason.COMPLAINT], Reason.COMPLAINT),
    ]


CANDIDATE_RULES = (
    unknown_customer,
    no_channel,
    past_deadline,
    erased,
    do_not_contact,
    lawful_basis,
    relevance_floor,
)
CHANNEL_RULES = (
    opted_out,
    promotional_voice,
    voice_fits_importance,
    call_for_information,
    voice_opt_in,
    consent_needed,
    implied_consent_expiry,
    reachable,
)


# ---------------------------------------------------------------------------------------------
# History: what was sent, per (customer, topic) and per cap window


@dataclass
class _Sent:
    customer: Array  # sorted by (customer, sent_at)
    topic: Array
    channel: Array
    importance: Array
    at: Array
    # Per (customer, topic): key, last send, run of ignored marketing messages and its last.
    keys: Array
    last: Array
    ignored: Array
    last_ignored: Array


def _history(history: pl.DataFrame, ids: Array, topics: tuple[str, ...], now: int) -> _Sent:
    at = _instants(history["sent_at"], null=NEVER)
    customer, known = _index(ids, history["customer_id"].cast(pl.Int64).to_numpy())
    keep = known & (at <= now)
    topic = _codes(history["topic"], topics, "topic", strict=False)[keep]
    channel = _codes(history["channel"], CHANNEL_ORDER, "channel", strict=False)[keep]
    importance = _codes(history["importance"], IMPORTANCE_ORDER, "importance", strict=False)[keep]
    engaged = history["engaged"].cast(pl.Boolean).fill_null(True).to_numpy()[keep]
    customer, at = customer[keep], at[keep]
    order = np.lexsort((at, customer))
    customer, topic, channel, importance, at, engaged = (
        a[order] for a in (customer, topic, channel, importance, at, engaged)
    )
    # Per (customer, topic): the last send, and the run of ignored marketing messages at the
    # end (a message not yet known to be engaged with, or not marketing, breaks no run).
    on_topic = np.flatnonzero(topic >= 0)
    key = customer[on_topic] * max(len(topics), 1) + topic[on_topic]
    ok = engaged[on_topic] | (importance[on_topic] < RELATIONSHIP)
    when = at[on_topic]
    order = np.lexsort((when, key))
    key, ok, when = key[order], ok[order], when[order]
    ends = np.flatnonzero(np.append(key[1:] != key[:-1], True)) if key.size else key
    starts = np.append(0, ends[:-1] + 1) if key.size else key
    last_ok = np.maximum.accumulate(np.where(ok, np.arange(key.size), -1)) if key.size else key
    streak = ends - np.maximum(last_ok[ends], starts - 1) if key.size else key
    summary_keys, summary_last = key[ends], when[ends]
    summary_ignored = streak.astype(np.int64)
    summary_last_ignored = np.where(streak > 0, when[ends], LONG_AGO)
    return _Sent(
        customer=customer,
        topic=topic,
        channel=channel,
        importance=importance,
        at=at,
        keys=summary_keys,
        last=summary_last,
        ignored=summary_ignored,
        last_ignored=summary_last_ignored,
    )


# ---------------------------------------------------------------------------------------------
# The driver


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

    ``verdicts`` (built when read): candidate_id, outcome (held|dropped), reason, retry_at
    (held: the earliest moment it may pass), params (JSON), for candidates with no option.
    """

    options: pl.DataFrame
    caps: pl.DataFrame
    _explain: _Explanation

    @cached_property
    def blocked(self) -> pl.DataFrame:
        return self._explain.blocked()

    @cached_property
    def verdicts(self) -> pl.DataFrame:
        return self._explain.verdicts()


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
        _require(name, frame)
    if now.tzinfo is None:
        raise InvalidInput("now must carry its time zone")
    now_us = int(now.timestamp() * US) if now.microsecond == 0 else _exact_us(now)

    customers = _sorted_by(customers, ("customer_id",))
    ids = customers["customer_id"].cast(pl.Int64).to_numpy()
    if ids.size > 1 and (ids[1:] == ids[:-1]).any():
        raise InvalidInput("customers repeat a customer_id")
    candidates = _sorted_by(candidates, ("customer_id", "candidate_id"))
    n, m = ids.size, candidates.height
    topic_keys = tuple(topics["topic"].cast(pl.String).to_list())
    if len(set(topic_keys)) != len(topic_keys):
        raise InvalidInput("topics repeat a topic")
    t_count = max(len(topic_keys), 1)

    customer, known = _index(ids, candidates["customer_id"].cast(pl.Int64).to_numpy())
    customer = np.where(known, customer, 0)
    importance = _codes(candidates["importance"], IMPORTANCE_ORDER, "importance")
    topic = _codes(candidates["topic"], topic_keys, "topic", strict=False)
    topic_basis = _codes(topics["basis"], BASES, "legal basis")
    basis = np.where(topic >= 0, topic_basis[topic.clip(0)] if topic_basis.size else -1, -1)

    channel_of = _codes(touchpoint_channels["channel"], CHANNEL_ORDER, "channel")
    masks = (
        pl.DataFrame({"touchpoint": touchpoint_channels["touchpoint"], "bit": 1 << channel_of})
        .unique()
        .group_by("touchpoint")
        .agg(pl.col("bit").sum())
    )
    touchpoint_mask = (
        candidates["touchpoint"]
        .cast(pl.String)
        .replace_strict(
            dict(zip(masks["touchpoint"].to_list(), masks["bit"].to_list(), strict=True)),
            default=0,
            return_dtype=pl.Int64,
        )
        .to_numpy()
    )

    consent = _consent_lookup(consents, ids, topic_keys, now_us, customer * t_count + topic)
    consent = np.where(known & (topic >= 0), consent, 0)
    suppressed, erased_customers = _suppressions(suppressions, ids, now_us)
    reach = np.stack(
        [customers[name].cast(pl.Boolean).fill_null(False).to_numpy() for name in CHANNEL_ORDER]
    )
    last_purchase = _instants(customers["last_purchase_at"], null=LONG_AGO)
    regions = customers["region"].cast(pl.String).str.to_uppercase()
    lapse_days = (
        regions.replace_strict(
            {
                r: policy.implied_consent_days_for(r)
                for r in regions.unique().to_list()
                if r is not None
            },
            default=policy.implied_consent_days_for(None),
            return_dtype=pl.Int64,
        )
        .fill_null(-1)
        .to_numpy()
    )
    default_days = policy.implied_consent_days_for(None)
    if default_days is not None:
        lapse_days = np.where(regions.is_null().to_numpy(), default_days, lapse_days)
    implied_until = np.where(
        lapse_days < 0,
        NEVER,
        np.where(
            last_purchase == LONG_AGO, LONG_AGO, last_purchase + lapse_days * DAY_MINUTES * MINUTE
        ),
    )

    run = _Run(
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
        offered=_bits(touchpoint_mask),
        deadline=_instants(candidates["deadline_at"], null=NEVER),
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
    )

    # Candidate-wide stops that never pass later.
    reason = np.zeros(m, dtype=np.uint8)
    retry = np.full(m, NEVER, dtype=np.int64)
    for rule in CANDIDATE_RULES:
        _first(reason, *rule(run))
    # Channel stops, one channel at a time: (H, m).
    stopped = np.zeros((H, m), dtype=np.uint8)
    for h in range(H):
        column = stopped[h]
        column[~run.offered[h]] = NOT_OFFERED
        for channel_rule in CHANNEL_RULES:
            _first(column, *channel_rule(run, h))
        for stop in suppression(run, h):
            _first(column, *stop)

    clock = _clock(customers, policy, now_us)
    facts = _Facts(m=m, n=n)
    sent = _history(history, ids, topic_keys, now_us)
    _held_by_customer_choices(run, customers, frequencies, clock, sent, reason, retry, facts)
    rooms, caps = _caps(run, sent)
    _held_by_caps(run, rooms, reason, retry, stopped, facts)

    # Timing: each channel's next allowed moment; past the deadline it stops.
    moments = np.stack(_windows(customers, policy, clock, now_us))
    other = (importance != CRITICAL).astype(np.int64)
    for h in range(H):
        if h == POSTAL:
            continue
        column = stopped[h]
        at = _send_at(moments, WINDOW_KIND[h][other], customer, now_us)
        _first(column, at < 0, Reason.NO_WINDOW)
        _first(column, at > run.deadline, Reason.PAST_DEADLINE)

    _one_voice(run, reason, retry, stopped, facts)
    _extra_caps(run, rooms, reason, stopped, facts)

    open_ = (stopped == 0) & (reason == 0)[None, :]
    touchpoint_names = tuple(masks["touchpoint"].cast(pl.String).to_list())
    touchpoint_code = _codes(candidates["touchpoint"], touchpoint_names, "", strict=False)
    options = _options(
        run, candidates, open_, moments, (touchpoint_names, touchpoint_code.clip(0)), facts
    )
    explain = _Explanation(
        run=run,
        candidates=candidates,
        reason=reason,
        retry=retry,
        stopped=stopped,
        open_=open_,
        facts=facts,
        rooms=rooms,
    )
    return PolicyResult(options=options, caps=caps, _explain=explain)


def _exact_us(now: datetime) -> int:
    delta = now.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * US + delta.microseconds


def _sorted_by(frame: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
    keys = [frame[c].cast(pl.Int64).to_numpy() for c in columns]
    if frame.height < 2:
        return frame
    ok = np.ones(frame.height - 1, dtype=bool)
    tied = np.ones(frame.height - 1, dtype=bool)
    for key in keys:
        ok &= ~tied | (key[1:] >= key[:-1])
        tied &= key[1:] == key[:-1]
    return frame if ok.all() else frame.sort(list(columns))


def _first(column: Array, where: Array, why: Reason) -> None:
    """Record ``why`` where a row is stopped and has no earlier reason."""
    column[where & (column == 0)] = CODE[why]


def _consent_lookup(
    consents: pl.DataFrame, ids: Array, topics: tuple[str, ...], now: int, keys: Array
) -> Array:
    """Packed explicit states per candidate: for each channel 3 bits (state, +4 implied)."""
    t_count = max(len(topics), 1)
    at = _instants(consents["occurred_at"], null=NEVER)
    customer, known = _index(ids, consents["customer_id"].cast(pl.Int64).to_numpy())
    topic = _codes(consents["topic"], topics, "topic", strict=False)
    channel = _codes(consents["channel"], CHANNEL_ORDER, "channel", strict=False)
    state = _codes(consents["state"], ("", "opted-in", "opted-out", "pending"), "consent state")
    implied = consents["legal_basis"].cast(pl.String).fill_null("") == "legitimate-interest"
    keep = known & (topic >= 0) & (channel >= 0) & (at <= now)
    frame = pl.DataFrame(
        {
            "key": (customer * t_count + topic)[keep],
            "channel": channel[keep],
            "at": at[keep],
            "bits": ((state + 4 * implied.to_numpy()) << (3 * channel))[keep],
        }
    )
    latest = (
        frame.with_row_index("seq")
        .sort(["key", "channel", "at", "seq"])
        .unique(["key", "channel"], keep="last", maintain_order=True)
        .group_by("key")
        .agg(pl.col("bits").sum())
        .sort("key")
    )
    found_keys = latest["key"].to_numpy()
    position, found = _index(found_keys, keys)
    packed = latest["bits"].to_numpy()
    return np.where(found, packed[position] if packed.size else 0, 0).astype(np.int64)


def _suppressions(suppressions: pl.DataFrame, ids: Array, now: int) -> tuple[Array, Array]:
    n = ids.size
    at = _instants(suppressions["at"], null=NEVER)
    customer, known = _index(ids, suppressions["customer_id"].cast(pl.Int64).to_numpy())
    why = suppressions["reason"].cast(pl.String)
    channel = _codes(suppressions["channel"].fill_null(""), CHANNEL_ORDER, "", strict=False)
    keep = known & (at <= now)
    erased = np.zeros(n, dtype=bool)
    erased[customer[keep & (why == "erased").fill_null(False).to_numpy()]] = True
    code = np.zeros((H, n), dtype=np.uint8)
    for name, reason in (("complaint", Reason.COMPLAINT), ("hard-bounce", Reason.HARD_BOUNCE)):
        hit = keep & (why == name).fill_null(False).to_numpy()
        for h in range(H):
            code[h, customer[hit & ((channel == h) | (channel < 0))]] = CODE[reason]
    return code, erased


@dataclass
class _Facts:
    """Non-personal facts behind each held candidate, for its params."""

    m: int
    n: int

    def __post_init__(self) -> None:
        self.when = np.full(self.m, LONG_AGO, dtype=np.int64)  # last sent / paused until
        self.count = np.zeros(self.m, dtype=np.int64)  # ignored in a row / sends counted
        self.frequency = np.zeros(self.m, dtype=np.int8)  # 1 daily, 2 weekly, 3 monthly
        self.scope_overall = np.zeros(self.m, dtype=bool)
        self.cap = np.full(self.m, -1, dtype=np.int16)  # which room is used up
        self.digest = np.zeros(self.m, dtype=np.int8)  # frequency of the digest it joins
        self.channel_cap = np.full((H, self.n), -1, dtype=np.int16)


def _frequencies(
    frequencies: pl.DataFrame, ids: Array, topics: tuple[str, ...]
) -> tuple[Array, Array, Array]:
    """Overall frequency per customer; per (customer, topic) keys and their frequency."""
    t_count = max(len(topics), 1)
    customer, known = _index(ids, frequencies["customer_id"].cast(pl.Int64).to_numpy())
    choice = _codes(frequencies["frequency"], FREQUENCIES, "frequency")
    scope = frequencies["topic"].cast(pl.String)
    overall_rows = known & scope.is_null().to_numpy()
    overall = np.zeros(ids.size, dtype=np.int8)
    overall[customer[overall_rows]] = choice[overall_rows]
    topic = _codes(scope.fill_null(""), topics, "topic", strict=False)
    rows = known & (topic >= 0)
    frame = (
        pl.DataFrame({"key": customer[rows] * t_count + topic[rows], "f": choice[rows]})
        .unique("key", keep="last", maintain_order=True)
        .sort("key")
    )
    return overall, frame["key"].to_numpy(), frame["f"].to_numpy().astype(np.int8)


PERIOD_US = np.array(
    [0, *(int(FREQUENCY_PERIODS[f].total_seconds()) * US for f in FREQUENCIES[1:])],
    dtype=np.int64,
)


def _held_by_customer_choices(
    run: _Run,
    customers: pl.DataFrame,
    frequencies: pl.DataFrame,
    clock: _Clock,
    sent: _Sent,
    reason: Array,
    retry: Array,
    facts: _Facts,
) -> None:
    """Pause, fatigue, minimum gap, topic frequency and digests: held until a later moment."""
    policy, now = run.policy, run.now
    key = run.customer * run.topic_count + run.topic
    position, found = _index(sent.keys, key)
    found &= run.topic >= 0
    last = np.where(found, sent.last[position] if sent.last.size else LONG_AGO, LONG_AGO)

    # Pause: until the start of paused_until, local time.
    paused_days = customers["paused_until"].cast(pl.Date).to_physical().fill_null(-1).to_numpy()
    rows = np.arange(run.n)
    resume = np.where(
        paused_days < 0,
        LONG_AGO,
        clock.to_utc(rows, paused_days.astype(np.int64) * DAY_MINUTES),
    )
    exempt = np.isin(run.importance, [IMPORTANCE_ORDER.index(i) for i in policy.pause_exempt])
    until = resume[run.customer]
    _hold(reason, retry, facts, (until > now) & ~exempt, Reason.PAUSED, until, when=until)

    # Fatigue: a run of ignored marketing messages on the topic.
    if policy.fatigue_after is not None:
        ignored = np.where(found, sent.ignored[position] if sent.ignored.size else 0, 0)
        last_ignored = np.where(found, sent.last_ignored[position] if found.any() else 0, 0)
        ends = last_ignored + _us(policy.fatigue_hold)
        tired = run.marketing & (ignored >= policy.fatigue_after) & (ends > now)
        facts.count = np.where(tired & (reason == 0), ignored, facts.count)
        _hold(reason, retry, facts, tired, Reason.FATIGUE, ends, when=last_ignored)

    # Minimum gap per topic.
    gap = np.where(run.marketing, _us(policy.min_gap), 0)
    for name, override in policy.min_gap_by_topic.items():
        if name in run.topic_keys:
            gap = np.where(run.topic == run.topic_keys.index(name), _us(override), gap)
    run.gap = gap
    gap_end = np.where(last == LONG_AGO, LONG_AGO, last + gap)
    _hold(reason, retry, facts, (gap > 0) & (gap_end > now), Reason.MIN_GAP, gap_end, when=last)

    # The customer's frequency: per topic (else overall) for marketing; one per period, bundled
    # into a digest at the digest hour.
    overall, keys, choice = _frequencies(frequencies, run.ids, run.topic_keys)
    run.overall = overall
    at, has = _index(keys, key)
    topic_choice = np.where(has & (run.topic >= 0), choice[at] if choice.size else 0, 0)
    own = run.marketing & (topic_choice > 0)
    period_end = last + PERIOD_US[topic_choice]
    used = own & (last != LONG_AGO) & (period_end > now)
    facts.frequency = np.where(used & (reason == 0), topic_choice, facts.frequency)
    _hold(reason, retry, facts, used, Reason.FREQUENCY, period_end, when=last)

    effective = np.where(topic_choice > 0, topic_choice, overall[run.customer])
    digest = run.marketing & (effective > 0)
    inside, following = _digest_moments(customers, policy, clock, now)
    slot = np.clip(effective.astype(np.int64) - 1, 0, 2)
    in_slot = inside[slot, run.customer]
    waiting = digest & ~in_slot
    facts.frequency = np.where(waiting & (reason == 0), effective, facts.frequency)
    _hold(reason, retry, facts, waiting, Reason.DIGEST, following[slot, run.customer])
    facts.digest = np.where(digest & in_slot, effective, 0).astype(np.int8)


def _us(delta: timedelta) -> int:
    return int(delta.total_seconds() * US)


def _hold(
    reason: Array,
    retry: Array,
    facts: _Facts,
    where: Array,
    why: Reason,
    until: Array,
    *,
    when: Array | None = None,
) -> None:
    """Hold candidates not yet stopped until ``until``."""
    fresh = where & (reason == 0)
    reason[fresh] = CODE[why]
    retry[fresh] = until[fresh]
    if when is not None:
        facts.when[fresh] = when[fresh]


# ---------------------------------------------------------------------------------------------
# Caps: the customer's own frequency and the brand's caps, as room left after history


NO_CAP = 1 << 30
TOTAL, PROMOTIONAL_ROOM, EXTRA = -1, -2, -3


@dataclass
class _Room:
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


def _count(
    sent: _Sent, n: int, now: int, window: Array | int, mask: Array
) -> tuple[Array, Array, Array]:
    """Sends per customer within the window, with the oldest and newest of them."""
    reach = window[sent.customer] if isinstance(window, np.ndarray) else window
    inside = mask & (sent.at > now - reach)
    who = sent.customer[inside]
    when = sent.at[inside]
    count = np.bincount(who, minlength=n)
    oldest = np.full(n, NEVER, dtype=np.int64)
    newest = np.full(n, LONG_AGO, dtype=np.int64)
    if who.size:
        first = np.ones(who.size, dtype=bool)
        first[1:] = who[1:] != who[:-1]
        last = np.ones(who.size, dtype=bool)
        last[:-1] = who[1:] != who[:-1]
        oldest[who[first]] = when[first]
        newest[who[last]] = when[last]
    return count, oldest, newest


def _caps(run: _Run, sent: _Sent) -> tuple[list[_Room], pl.DataFrame]:
    """Room per customer in every cap, and the caps frame for the optimiser."""
    policy, n, now = run.policy, run.n, run.now
    rooms: list[_Room] = []
    marketing_sent = sent.importance >= RELATIONSHIP
    for cap in policy.caps:
        importance = -1 if cap.importance == "marketing" else IMPORTANCE_ORDER.index(cap.importance)
        channel = -1 if cap.channel is None else CHANNEL_ORDER.index(cap.channel)
        mask = marketing_sent if importance < 0 else sent.importance == importance
        if channel >= 0:
            mask = mask & (sent.channel == channel)
        window = _us(cap.window)
        count, oldest, newest = _count(sent, n, now, window, mask)
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
            _Room(
                label=str(label),
                maximum=cap.max,
                window=_span(cap.window),
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
    count, oldest, newest = _count(sent, n, now, period, marketing_sent)
    chosen = overall > 0
    rooms.append(
        _Room(
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


def _held_by_caps(
    run: _Run,
    rooms: list[_Room],
    reason: Array,
    retry: Array,
    stopped: Array,
    facts: _Facts,
) -> None:
    """Marketing candidates whose room is used up wait until it opens again (what room is left
    is the optimiser's to share out)."""
    who = run.customer
    for index, room in enumerate(rooms):
        if room.target == EXTRA:
            continue
        full = room.left[who] == 0
        if room.target == TOTAL:
            hit = run.marketing & full
        elif room.target == PROMOTIONAL_ROOM:
            hit = (run.importance == PROMOTIONAL) & full
        else:
            column = stopped[room.target]
            hit = run.marketing & full & (column == 0)
            column[hit] = CODE[Reason.CAP]
            facts.channel_cap[room.target, who[hit]] = index
            continue
        why = Reason.FREQUENCY if room.label == "frequency" else Reason.CAP
        fresh = hit & (reason == 0)
        facts.cap[fresh] = index
        facts.count[fresh] = room.sent[who[fresh]]
        _hold(reason, retry, facts, hit, why, room.opens[who], when=room.newest[who])
        if why is Reason.FREQUENCY:
            facts.scope_overall[fresh] = True
            facts.frequency[fresh] = run.overall[who[fresh]] if run.overall is not None else 0


def _extra_caps(
    run: _Run, rooms: list[_Room], reason: Array, stopped: Array, facts: _Facts
) -> None:
    """Caps the optimiser cannot price (an importance other than all marketing or promotional,
    or an importance on one channel): at most the room left pass, the most valuable first."""
    for index, room in enumerate(rooms):
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
            facts.channel_cap[room.channel, run.customer[over]] = index
        else:
            reason[over] = CODE[Reason.CAP]
            facts.cap[over] = index
            facts.count[over] = room.sent[run.customer[over]]


# ---------------------------------------------------------------------------------------------
# Timing and one voice

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


def _send_at(moments: Array, kind: Array, customer: Array, now: int) -> Array:
    return np.where(kind < 0, now, moments[kind.clip(0), customer])


def _one_voice(run: _Run, reason: Array, retry: Array, stopped: Array, facts: _Facts) -> None:
    """Of several candidates on one topic for one customer in this run, only the most valuable
    goes (critical messages excepted); the others wait for the topic's minimum gap."""
    alive = (reason == 0) & (stopped == 0).any(axis=0) & (run.importance != CRITICAL)
    rows = np.flatnonzero(alive)
    if rows.size < 2:
        return
    key = run.customer[rows] * run.topic_count + run.topic[rows]
    ranked = (
        pl.DataFrame({"key": key, "value": run.value[rows], "row": rows})
        .sort(["key", "value", "row"], descending=[False, True, False])
        .filter(~pl.col("key").is_first_distinct())
    )
    losers = ranked["row"].to_numpy()
    gap = run.gap[losers] if run.gap is not None else 0
    reason[losers] = CODE[Reason.ONE_VOICE]
    retry[losers] = run.now + gap


# ---------------------------------------------------------------------------------------------
# Output


def _options(
    run: _Run,
    candidates: pl.DataFrame,
    open_: Array,
    moments: Array,
    touchpoints: tuple[tuple[str, ...], Array],
    facts: _Facts,
) -> pl.DataFrame:
    cells = np.flatnonzero(open_.T)
    row = (cells // H).astype(np.int64)
    channel = (cells % H).astype(np.int64)
    del cells
    economics = [run.policy.channels[name] for name in CHANNEL_ORDER]
    engagement = np.array([e.engagement for e in economics])
    cost = np.array([e.cost for e in economics])
    penalty = np.array([e.intrusiveness for e in economics])
    importance = run.importance[row]
    kind = WINDOW_KIND[channel, (importance != CRITICAL).astype(np.int64)]
    send_at = _send_at(moments, kind, run.customer[row], run.now)
    names, touchpoint = touchpoints
    digest = facts.digest[row]
    return pl.DataFrame(
        {
            "customer_id": candidates["customer_id"].cast(pl.Int64).to_numpy()[row],
            "candidate_id": candidates["candidate_id"].cast(pl.Int64).to_numpy()[row],
            "channel": pl.Series(CHANNEL_ORDER, dtype=pl.Enum(CHANNEL_ORDER)).gather(channel),
            "send_at": pl.Series(send_at).cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
            "value": run.value[row] * engagement[channel],
            "cost": cost[channel],
            "penalty": penalty[channel],
            "promotional": importance == PROMOTIONAL,
            "exempt": importance <= SERVICE,
            "digest": _digest_names(digest),
            "topic": pl.Series(run.topic_keys, dtype=pl.Enum(run.topic_keys)).gather(
                run.topic[row]
            ),
            "touchpoint": pl.Series(names, dtype=pl.Enum(names)).gather(touchpoint[row]),
        }
    )


def _digest_names(digest: Array) -> pl.Series:
    periods = FREQUENCIES[1:]
    index = pl.Series(digest.astype(np.int64) - 1)
    index = index.to_frame("i").select(pl.when(pl.col("i") >= 0).then(pl.col("i")))["i"]
    return pl.Series(periods, dtype=pl.Enum(periods)).gather(index)


def _text(us: Array, fmt: str) -> pl.Series:
    """Microseconds as text in UTC; LONG_AGO and NEVER as null."""
    known = (us != LONG_AGO) & (us != NEVER)
    series = pl.Series(np.where(known, us, 0)).cast(pl.Datetime("us")).dt.strftime(fmt)
    return series.to_frame("t").select(pl.when(pl.Series(known)).then(pl.col("t")))["t"]


ISO = "%Y-%m-%dT%H:%M:%S+00:00"
DAY_FORMAT = "%Y-%m-%d"


@dataclass
class _Explanation:
    """What is needed to explain every stop, built into frames only when asked for."""

    run: _Run
    candidates: pl.DataFrame
    reason: Array
    retry: Array
    stopped: Array  # (H, m)
    open_: Array  # (H, m)
    facts: _Facts
    rooms: list[_Room]

    def _code(self, row: Array, channel: Array) -> Array:
        """Per (candidate, channel): a candidate-wide drop, else the channel's stop, else the
        candidate-wide hold."""
        own = self.reason[row]
        column = self.stopped[channel, row]
        dropped = (own != 0) & ~HELD_CODES[own]
        return np.where(dropped | (column == 0), own, column)

    def blocked(self) -> pl.DataFrame:
        offered = self.stopped != NOT_OFFERED
        cells = np.flatnonzero((offered & ~self.open_).T)
        row, channel = cells // H, cells % H
        code = self._code(row, channel)
        retry = np.where(code == self.reason[row], self.retry[row], NEVER)
        return self._frame(row, channel, code, retry=retry).drop("retry_at")

    def verdicts(self) -> pl.DataFrame:
        run = self.run
        rows = np.flatnonzero(~self.open_.any(axis=0))
        own = self.reason[rows]
        stopped = self.stopped[:, rows]
        offered = stopped != NOT_OFFERED
        channel_drop = offered & (stopped != 0) & ~HELD_CODES[stopped]
        all_dropped = offered.any(axis=0) & (channel_drop | ~offered).all(axis=0)
        # The strongest channel drop: the lowest code (rules are numbered in order).
        ranked = np.where(channel_drop, stopped, 254)
        drop_channel = ranked.argmin(axis=0)
        drop_code = ranked.min(axis=0)
        # A channel-wide hold (a channel cap): the earliest channel to open.
        channel_held = offered & (stopped != 0) & HELD_CODES[stopped]
        opens = np.full(stopped.shape, NEVER, dtype=np.int64)
        for h in range(H):
            index = self.facts.channel_cap[h, run.customer[rows]]
            for i, room in enumerate(self.rooms):
                hit = channel_held[h] & (index == i)
                opens[h, hit] = room.opens[run.customer[rows][hit]]
        held_channel = opens.argmin(axis=0)
        held_at = opens.min(axis=0)

        own_drop = (own != 0) & ~HELD_CODES[own]
        code = np.where(
            own_drop,
            own,
            np.where(
                all_dropped,
                drop_code,
                np.where(own != 0, own, np.where(held_at < NEVER, CODE[Reason.CAP], own)),
            ),
        ).astype(np.int64)
        channel = np.where(
            own_drop | (~all_dropped & (own != 0)),
            -1,
            np.where(all_dropped, drop_channel, held_channel),
        )
        retry = np.where(
            own_drop | all_dropped, NEVER, np.where(own != 0, self.retry[rows], held_at)
        )
        held = HELD_CODES[code]
        late = held & (retry > run.deadline[rows])
        held_for = np.where(late, code, 0)
        code = np.where(late, CODE[Reason.PAST_DEADLINE], code)
        held = held & ~late
        frame = self._frame(
            rows, channel, code, retry=np.where(held, retry, NEVER), held_for=held_for
        )
        outcome = pl.Series(np.where(held, "held", "dropped"))
        return frame.select(
            "candidate_id",
            outcome.alias("outcome"),
            "reason",
            "retry_at",
            "params",
        )

    def _frame(
        self,
        row: Array,
        channel: Array,
        code: Array,
        *,
        retry: Array | None,
        held_for: Array | None = None,
    ) -> pl.DataFrame:
        run, facts = self.run, self.facts
        who = run.customer[row]
        reasons = pl.Series([""] + [r.value for r in CODES])
        reason = reasons.gather(code.astype(np.int64))
        channel_names = pl.Series([*CHANNEL_ORDER, None])
        cap_index = np.where(
            channel >= 0,
            facts.channel_cap[channel.clip(0), who],
            facts.cap[row],
        )
        cap_index = np.where(cap_index < 0, len(self.rooms), cap_index)
        labels: list[str | None] = [r.label for r in self.rooms]
        maxima: list[int | None] = [r.maximum for r in self.rooms]
        windows: list[str | None] = [r.window or None for r in self.rooms]
        sent = np.zeros(row.size, dtype=np.int64)
        for i, room in enumerate(self.rooms):
            hit = cap_index == i
            sent[hit] = room.sent[who[hit]]
        gap = run.gap[row] if run.gap is not None else np.zeros(row.size, dtype=np.int64)
        frequency_names = pl.Series([None, *FREQUENCIES[1:]])
        frame = pl.DataFrame(
            {
                "candidate_id": self.candidates["candidate_id"].cast(pl.Int64).to_numpy()[row],
                "channel": channel_names.gather(np.where(channel >= 0, channel, H)),
                "reason": reason,
                "topic": self.candidates["topic"].cast(pl.String).gather(row),
                "importance": pl.Series(IMPORTANCE_ORDER).gather(run.importance[row]),
                "deadline": _text(run.deadline[row], ISO),
                "relevance": run.relevance[row],
                "when": _text(facts.when[row], DAY_FORMAT),
                "count": facts.count[row],
                "frequency": frequency_names.gather(facts.frequency[row].astype(np.int64)),
                "overall": facts.scope_overall[row],
                "cap": pl.Series([*labels, None], dtype=pl.String).gather(cap_index),
                "max": pl.Series([*maxima, None], dtype=pl.Int64).gather(cap_index),
                "window": pl.Series([*windows, None], dtype=pl.String).gather(cap_index),
                "sent": sent,
                "gap": gap,
                "state": (run.consent[row] >> (3 * channel.clip(0))) & 3,
                "expired": _text(run.implied_until[who], DAY_FORMAT),
                "retry": np.full(row.size, NEVER) if retry is None else retry,
                "held_for": reasons.gather(
                    np.zeros(row.size, dtype=np.int64) if held_for is None else held_for
                ),
            }
        )
        frame = frame.with_columns(_text(frame["retry"].to_numpy(), ISO).alias("retry_at"))
        return frame.with_columns(
            pl.col("retry_at").str.to_datetime(ISO, time_zone="UTC").alias("retry_at"),
            _params(run.policy).alias("params"),
        ).select("candidate_id", "channel", "reason", "retry_at", "params")


def _quoted(expr: pl.Expr) -> pl.Expr:
    escaped = expr.cast(pl.String).str.replace_all("\\", "\\\\", literal=True)
    return pl.lit('"') + escaped.str.replace_all('"', '\\"', literal=True) + pl.lit('"')


def _params(policy: ContactPolicy) -> pl.Expr:
    """The non-personal facts of each stop, as a JSON object."""
    reason = pl.col("reason")

    def field(name: str, value: pl.Expr, *reasons: Reason) -> pl.Expr:
        wanted = reason.is_in([r.value for r in reasons]) if reasons else pl.lit(True)
        return pl.when(wanted & value.is_not_null()).then(pl.lit(f'"{name}":') + value)

    day = DAY_MINUTES * MINUTE
    gap = (
        pl.when(pl.col("gap") % day == 0)
        .then((pl.col("gap") // day).cast(pl.String) + pl.lit("d"))
        .otherwise((pl.col("gap") // (60 * MINUTE)).cast(pl.String) + pl.lit("h"))
    )
    frequency_reasons = (Reason.FREQUENCY, Reason.DIGEST)
    parts = [
        field("topic", _quoted(pl.col("topic"))),
        field("channel", _quoted(pl.col("channel"))),
        field("deadline", _quoted(pl.col("deadline")), Reason.PAST_DEADLINE),
        field(
            "held_for",
            _quoted(pl.when(pl.col("held_for") != "").then(pl.col("held_for"))),
            Reason.PAST_DEADLINE,
        ),
        field("relevance", pl.col("relevance").round(3).cast(pl.String), Reason.BELOW_RELEVANCE),
        field("floor", pl.lit(str(policy.relevance_floor)), Reason.BELOW_RELEVANCE),
        field("importance", _quoted(pl.col("importance")), Reason.VOICE_NOT_FITTING),
        field("until", _quoted(pl.col("when")), Reason.PAUSED),
        field("ignored", pl.col("count").cast(pl.String), Reason.FATIGUE),
        field("last_sent", _quoted(pl.col("when")), Reason.MIN_GAP, *frequency_reasons[:1]),
        field("gap", _quoted(gap), Reason.MIN_GAP),
        field("frequency", _quoted(pl.col("frequency")), *frequency_reasons),
        field(
            "scope",
            _quoted(pl.when(pl.col("overall")).then(pl.lit("overall")).otherwise(pl.lit("topic"))),
            Reason.FREQUENCY,
        ),
        field("cap", _quoted(pl.col("cap")), Reason.CAP),
        field("max", pl.col("max").cast(pl.String), Reason.CAP),
        field("window", _quoted(pl.col("window")), Reason.CAP),
        field("sent", pl.col("sent").cast(pl.String), Reason.CAP),
        field(
            "state",
            _quoted(pl.when(pl.col("state") == PENDING).then(pl.lit("pending"))),
            Reason.NO_CONSENT,
        ),
        field("expired_on", _quoted(pl.col("expired")), Reason.IMPLIED_CONSENT_EXPIRED),
        field("retry_at", _quoted(pl.col("retry_at")), Reason.FATIGUE, Reason.DIGEST),
    ]
    return pl.lit("{") + pl.concat_str(parts, separator=",", ignore_nulls=True) + pl.lit("}")
