"""Local time for the contact policy: UTC offsets by zone, allowed windows, the next allowed
moment and the digest hours.

Windows depend only on a customer's zone, region and own settings, which few distinct customers
do not share: every moment is found once per distinct (zone, region, days, quiet hours,
preferred hours, text hours) and broadcast to the customers who share it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import polars as pl

from regard.decisions.policy_frames import (
    DAY_MINUTES,
    MINUTE,
    NEVER,
    US,
    Array,
    codes,
    dictionary,
    groups,
)
from regard.decisions.policy_options import ContactPolicy, TextHours

# Offsets are read from a table at 15-minute steps (every tz transition falls on one).
SLOT = 15 * MINUTE
TABLE_DAYS = 48
# How far ahead the next allowed moment is looked for: the windows repeat every week.
SEARCH_DAYS = 8


@dataclass
class Clock:
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

    def subset(self, rows: Array) -> Clock:
        return Clock(
            start=self.start, table=self.table, zone=self.zone[rows], shrink=self.shrink[rows]
        )


@dataclass
class Regions:
    """Each customer's region (upper case) as a code into ``names`` (-1: none)."""

    code: Array
    names: tuple[str, ...]

    def per_customer(self, pick: Callable[[str | None], int | None], *, null: int) -> Array:
        """``pick(region)`` for each customer (``pick(None)`` for no region); None as ``null``."""
        values = [pick(name) for name in self.names] + [pick(None)]
        table = np.array([null if v is None else v for v in values], dtype=np.int64)
        picked: Array = table[self.code]  # -1 reads the last slot
        return picked


def regions_of(customers: pl.DataFrame) -> Regions:
    code, names = dictionary(customers["region"])
    upper = tuple(name.upper() for name in names)
    distinct = tuple(dict.fromkeys(upper))
    remap = np.array([distinct.index(u) for u in upper] + [-1], dtype=np.int32)
    return Regions(code=remap[code], names=distinct)


def clock_of(customers: pl.DataFrame, regions: Regions, policy: ContactPolicy, now: int) -> Clock:
    start = (now // SLOT) * SLOT - DAY_MINUTES * MINUTE
    slots = TABLE_DAYS * 96
    zone_code, zone_names = dictionary(customers["time_zone"])
    known: list[str] = []
    for name in sorted(zone_names):
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
    world = policy.offsets_for(None)
    spans = {r: policy.offsets_for(r) for r in regions.names}
    lows = sorted({low for low, _high in spans.values()} | {world[0]})
    for low in lows:
        rows.append(np.full(slots, low, dtype=np.int32))
    table = np.stack(rows)
    first_fixed = len(known)

    def fixed(region: str | None) -> int:
        return first_fixed + lows.index(policy.offsets_for(region)[0])

    def width(region: str | None) -> int:
        low, high = policy.offsets_for(region)
        return high - low

    fixed_row = regions.per_customer(fixed, null=0)
    region_span = regions.per_customer(width, null=0)
    position = {name: i for i, name in enumerate(known)}
    zone_lookup = np.array([position.get(name, -1) for name in zone_names] + [-1], dtype=np.int64)
    zone_index = zone_lookup[zone_code]
    unknown = zone_index < 0
    zone = np.where(unknown, fixed_row, zone_index).astype(np.int64)
    shrink = np.where(unknown, region_span, 0).astype(np.int64)
    return Clock(start=start, table=table, zone=zone, shrink=shrink)


@dataclass
class Window:
    """The allowed local times of one kind of send, per customer: every arc must hold.

    An arc (start, end) in minutes of the day may wrap past midnight; -1: no such arc. Text
    hours are an arc on weekdays and one at weekends (start -2: never at weekends).
    """

    days: Array  # (n,) bit mask mon=1 ... sun=64
    arcs: list[tuple[Array, Array]]
    text: tuple[Array, Array, Array, Array] | None  # weekday start, end; weekend start, end


def inside(minute: Array, start: Array, end: Array, shrink: Array) -> Array:
    length = (end - start) % DAY_MINUTES
    length = np.where(length == 0, DAY_MINUTES, length)
    return (start < 0) | (((minute - start) % DAY_MINUTES) < (length - shrink))


def allowed(clock: Clock, window: Window, rows: Array, at: Array) -> Array:
    local = clock.local_minutes(rows, at)
    shrink = clock.shrink[rows]
    minute = local % DAY_MINUTES
    day = (local // DAY_MINUTES + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    last_day = ((local + shrink) // DAY_MINUTES + 3) % 7
    days = window.days[rows].astype(np.int64)
    ok = ((days >> day) & 1).astype(bool) & ((days >> last_day) & 1).astype(bool)
    for start, end in window.arcs:
        ok &= inside(minute, start[rows], end[rows], shrink)
    if window.text is not None:
        weekday_start, weekday_end, weekend_start, weekend_end = window.text
        weekend = day >= 5
        start = np.where(weekend, weekend_start[rows], weekday_start[rows])
        end = np.where(weekend, weekend_end[rows], weekday_end[rows])
        never = (start == -2) | ((last_day >= 5) & (weekend_start[rows] == -2))
        ok &= ~never & inside(minute, np.maximum(start, 0), end, shrink)
    result: Array = ok
    return result


def next_allowed(clock: Clock, window: Window, now: int) -> Array:
    """Per customer, the first moment >= now inside the window; -1 when none this week.

    Searched among the window boundaries (midnight, the end of an unknown zone's span, every
    arc's start, the text hours' starts) of the next ``SEARCH_DAYS`` days, each checked again at
    its true offset."""
    n = window.days.size
    rows = np.arange(n)
    result = np.full(n, now, dtype=np.int64)
    at_now = np.full(n, now, dtype=np.int64)
    waiting = ~allowed(clock, window, rows, at_now)
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
                fits[fits] = allowed(clock, window, rows[fits], at[fits])
                best = np.where(fits, at, best)
    result[rows] = np.where(best == NEVER, -1, best)
    return result


def windows(
    customers: pl.DataFrame, regions: Regions, policy: ContactPolicy, clock: Clock, now: int
) -> Array:
    """Next allowed moment per customer, (3, n): email and push; texts and calls; critical texts
    and calls (their text hours only). -1: none this week."""

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

    def per_region(pick: Callable[[TextHours], int]) -> Array:
        return regions.per_customer(lambda r: pick(policy.text_hours_for(r)), null=0)

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
    columns = [clock.zone, clock.shrink, days, *calm, *preferred, *text]
    # Once per distinct set of windows, broadcast to the customers who share it.
    first, group = groups(columns)
    clock = clock.subset(first)
    calm = (calm[0][first], calm[1][first])
    preferred = (preferred[0][first], preferred[1][first])
    text = (text[0][first], text[1][first], text[2][first], text[3][first])
    days = days[first]
    everything = np.full(first.size, 127, dtype=np.int64)
    customer_window = Window(days=days, arcs=[calm, preferred], text=None)
    text_window = Window(days=days, arcs=[calm, preferred], text=text)
    critical_text = Window(days=everything, arcs=[], text=text)
    moments = np.stack(
        [
            next_allowed(clock, customer_window, now),
            next_allowed(clock, text_window, now),
            next_allowed(clock, critical_text, now),
        ]
    )
    result: Array = moments[:, group]
    return result


def digest_moments(policy: ContactPolicy, clock: Clock, now: int) -> tuple[Array, Array]:
    """Per digest frequency (daily, weekly, monthly) and customer: whether now is in its digest
    hour, and the start of the next digest hour (UTC). Found once per zone."""
    zones, first, group = np.unique(clock.zone, return_index=True, return_inverse=True)
    clock = clock.subset(first)
    n = zones.size
    rows = np.arange(n)
    local = clock.local_minutes(rows, np.full(n, now, dtype=np.int64))
    today = local // DAY_MINUTES * DAY_MINUTES
    hour = policy.digest_hour * 60
    weekday = (local // DAY_MINUTES + 3) % 7
    target = ("mon", "tue", "wed", "thu", "fri", "sat", "sun").index(policy.digest_weekday)
    day_number = (local // DAY_MINUTES).astype("datetime64[D]")
    month = day_number.astype("datetime64[M]")

    def month_slot(shift: int) -> Array:
        first_day = (month + shift).astype("datetime64[D]") + (policy.digest_day - 1)
        return first_day.astype(np.int64) * DAY_MINUTES + hour

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
    now_inside = np.zeros((3, n), dtype=bool)
    following = np.zeros((3, n), dtype=np.int64)
    for i in range(3):
        now_inside[i] = local < recent[i] + 60
        following[i] = clock.to_utc(rows, upcoming[i])
    group = group.ravel()
    return now_inside[:, group], following[:, group]


def resume_at(customers: pl.DataFrame, clock: Clock) -> Array:
    """When a pause ends: 00:00 of ``paused_until``, customer time (LONG_AGO: not paused)."""
    paused_days = customers["paused_until"].cast(pl.Date).to_physical().fill_null(-1).to_numpy()
    resume = np.full(paused_days.size, np.iinfo(np.int64).min, dtype=np.int64)
    rows = np.flatnonzero(paused_days >= 0)
    if rows.size:
        resume[rows] = clock.to_utc(rows, paused_days[rows].astype(np.int64) * DAY_MINUTES)
    return resume


__all__ = ["Clock", "Regions", "Window", "clock_of", "codes", "digest_moments", "regions_of"]
