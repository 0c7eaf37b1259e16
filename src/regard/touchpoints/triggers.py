"""Triggers: events, schedules and campaign launches turned into candidates.

A candidate is one touchpoint for one customer. Each trigger says what made it in the
candidate's ``key`` (``event:<id>``, ``schedule:<slot>``, ``campaign:<launch>``, or ``once``
for a touchpoint a customer gets at most once, such as a welcome); the store keeps
(touchpoint, customer, key) unique and skips what exists, so running the triggers twice, or two
runs at once, never makes a candidate twice.

- **Events**: each touchpoint reads the events of its type that arrived since it last read
  (a cursor per touchpoint, by event id). An event counts when its properties match the
  touchpoint's ``where``, its customer is in the touchpoint's audience now, and it is recent:
  no older than the touchpoint's deadline (or ``EVENT_LOOKBACK`` without one). Old events
  arriving by import do not wake touchpoints up years late. An event stamped after now is
  left for a later run: the cursor stops before it.
- **Schedules**: the latest slot at or before now, in the brand's time zone; every customer of
  the audience gets a candidate for it, once. A touchpoint's first run catches up only a slot
  that is still within its deadline (or a day).
- **Campaigns**: staff launch them (``launch_campaign``); everyone in the audience now gets a
  candidate. A launch may be restricted to some of the touchpoint's channels; the launch keeps
  them and the decision engine offers only those for its candidates.

The audience is the customers now in any of the touchpoint's segments, or everyone when it
names none; whether a customer may be contacted at all is the contact policy's question.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from regard.config import BrandConfig
from regard.customers.service import on_merge
from regard.errors import InvalidInput, NotFound
from regard.touchpoints import repository
from regard.touchpoints.models import CampaignLaunch
from regard.touchpoints.options import WEEKDAYS, ScheduleTrigger, TouchpointDefinition

EVENT_LOOKBACK = timedelta(days=7)
FIRST_SLOT_GRACE = timedelta(days=1)


@dataclass
class Triggered:
    """What one touchpoint's trigger did in one run."""

    touchpoint: str
    kind: str
    created: int = 0
    # Seen but not made into a candidate, by why.
    skipped: dict[str, int] = field(default_factory=dict)
    # A campaign's launch, named in its candidates' key (campaign:<launch_id>).
    launch_id: int | None = None

    def skip(self, why: str, count: int = 1) -> None:
        if count:
            self.skipped[why] = self.skipped.get(why, 0) + count


def run_triggers(session: Session, *, brand: BrandConfig, now: datetime) -> list[Triggered]:
    """Run every event and schedule trigger of the catalogue once; flushes, never commits."""
    now = now.astimezone(UTC)
    report = []
    for touchpoint in brand.touchpoints:
        if touchpoint.event is not None:
            report.append(_from_events(session, touchpoint, now=now))
        elif touchpoint.schedule is not None:
            report.append(_from_schedule(session, touchpoint, brand=brand, now=now))
    return report


def _row(
    touchpoint: TouchpointDefinition, customer_id: int, key: str, at: datetime, now: datetime
) -> dict[str, Any]:
    return {
        "touchpoint": touchpoint.name,
        "customer_id": customer_id,
        "key": "once" if touchpoint.once_per_customer else key,
        "triggered_at": at,
        "deadline_at": at + touchpoint.deadline if touchpoint.deadline is not None else None,
        "status": "pending",
        "not_before": None,
        "created_at": now,
    }


def matches(where: Mapping[str, object], properties: Mapping[str, Any]) -> bool:
    """Whether every condition holds: the property equals the value (1 and 1.0 are equal; a
    boolean only equals a boolean)."""
    for name, wanted in where.items():
        found = properties.get(name)
        if isinstance(wanted, bool) or isinstance(found, bool):
            if found is not wanted:
                return False
        elif found != wanted:
            return False
    return True


def _from_events(session: Session, touchpoint: TouchpointDefinition, *, now: datetime) -> Triggered:
    assert touchpoint.event is not None
    done = Triggered(touchpoint.name, "event")
    cursor = repository.cursor(session, touchpoint.name)
    since = now - (touchpoint.deadline or EVENT_LOOKBACK)
    events, last_id = repository.events_after(
        session,
        event_type=touchpoint.event.event,
        after_id=cursor.last_event_id if cursor else 0,
        since=since,
    )
    audience = set(repository.audience(session, touchpoint.segments)) if events else set()
    rows = []
    for event_id, customer_id, occurred_at, properties in events:
        if not matches(touchpoint.event.where, properties or {}):
            done.skip("conditions not met")
        elif customer_id not in audience:
            done.skip("not in the audience")
        elif occurred_at > now:
            done.skip("in the future")
        else:
            rows.append(_row(touchpoint, customer_id, f"event:{event_id}", occurred_at, now))
    done.created = repository.add_candidates(session, rows)
    done.skip("made before", len(rows) - done.created)
    # An event stamped after now (a sender's clock ahead, or a run at an earlier moment) is read
    # again by a later run rather than passed over for good; what was made is not made twice.
    future = [event_id for event_id, _, occurred_at, _ in events if occurred_at > now]
    if future:
        last_id = min(future) - 1
    repository.move_cursor(session, touchpoint.name, at=now, last_event_id=last_id)
    return done


def latest_slot(schedule: ScheduleTrigger, *, now: datetime, zone: ZoneInfo) -> datetime:
    """The schedule's latest moment at or before ``now``, as a UTC time."""
    local = now.astimezone(zone)

    def at(day: datetime) -> datetime:
        return datetime(
            day.year, day.month, day.day, schedule.at.hour, schedule.at.minute, tzinfo=zone
        )

    if schedule.every == "day":
        slot = at(local)
        if slot > local:
            slot = at(local - timedelta(days=1))
    elif schedule.every == "week":
        assert schedule.weekday is not None
        back = (local.weekday() - WEEKDAYS.index(schedule.weekday)) % 7
        slot = at(local - timedelta(days=back))
        if slot > local:
            slot = at(local - timedelta(days=back + 7))
    else:
        assert schedule.day is not None
        slot = at(local.replace(day=schedule.day))
        if slot > local:
            last_month = local.replace(day=1) - timedelta(days=1)
            slot = at(last_month.replace(day=schedule.day))
    return slot.astimezone(UTC)


def _from_schedule(
    session: Session, touchpoint: TouchpointDefinition, *, brand: BrandConfig, now: datetime
) -> Triggered:
    assert touchpoint.schedule is not None
    done = Triggered(touchpoint.name, "schedule")
    slot = latest_slot(touchpoint.schedule, now=now, zone=ZoneInfo(brand.time_zone))
    cursor = repository.cursor(session, touchpoint.name)
    last = cursor.last_slot_at if cursor is not None else None
    if last is not None and last >= slot:
        return done
    if last is None and now - slot > (touchpoint.deadline or FIRST_SLOT_GRACE):
        done.skip("first slot already past")
    else:
        key = f"schedule:{slot:%Y-%m-%dT%H:%MZ}"
        rows = [
            _row(touchpoint, customer_id, key, slot, now)
            for customer_id in repository.audience(session, touchpoint.segments)
        ]
        done.created = repository.add_candidates(session, rows)
        done.skip("made before", len(rows) - done.created)
    repository.move_cursor(session, touchpoint.name, at=now, last_slot_at=slot)
    return done


def launch_campaign(
    session: Session,
    name: str,
    *,
    brand: BrandConfig,
    by: str,
    now: datetime,
    channels: Sequence[str] | None = None,
) -> Triggered:
    """Start a campaign touchpoint: a candidate for everyone in its audience now.

    ``channels`` restricts the launch to some of the touchpoint's channels (None or empty: every
    one it has); a channel the touchpoint has no content for is ``InvalidInput``.
    """
    touchpoint = brand.touchpoint(name)
    if touchpoint is None:
        raise NotFound(f"there is no touchpoint {name!r}")
    if not touchpoint.campaign:
        raise InvalidInput(
            f"touchpoint {name!r} is triggered by {touchpoint.trigger_kind}, not launched by staff"
        )
    chosen = _launch_channels(touchpoint, channels or ())
    now = now.astimezone(UTC)
    audience = repository.audience(session, touchpoint.segments)
    launch = repository.add_launch(
        session,
        CampaignLaunch(
            touchpoint=name,
            launched_by=by,
            launched_at=now,
            audience=len(audience),
            channels=",".join(chosen) if chosen else None,
        ),
    )
    done = Triggered(touchpoint.name, "campaign", launch_id=launch.id)
    rows = [_row(touchpoint, c, f"campaign:{launch.id}", now, now) for c in audience]
    done.created = repository.add_candidates(session, rows)
    return done


def _launch_channels(touchpoint: TouchpointDefinition, channels: Sequence[str]) -> list[str]:
    """The chosen channels in the touchpoint's order; empty when the choice is every channel."""
    offered = [c.channel for c in touchpoint.channels]
    refused = [c for c in dict.fromkeys(channels) if c not in offered]
    if refused:
        raise InvalidInput(
            f"campaign {touchpoint.name!r} has no content for {', '.join(refused)}",
            details={"channels": refused},
        )
    chosen = [c for c in offered if c in channels]
    # Choosing every channel is no restriction: the launch follows the touchpoint.
    return [] if len(chosen) == len(offered) else chosen


@on_merge
def _merge_candidates(session: Session, survivor_id: int, merged_id: int) -> None:
    repository.move_candidates(session, survivor_id=survivor_id, merged_id=merged_id)
