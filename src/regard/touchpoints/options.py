"""The touchpoint catalogue of ``regard.toml``: where the brand can speak, and what it is worth.

Each ``[[touchpoints]]`` entry names a moment in the relationship (an order ready to collect, a
welcome, a renewal due, a seasonal offer), its topic (and so its importance and legal basis), what
makes it happen (an event, a schedule or a campaign started by staff), the segments it is for, the
channels it may use with the content for each, whether it asks the customer to respond, how long
after its trigger it stays worth sending, and its expected value per segment. docs/touchpoints.md
explains each field.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|h|d|w)\s*$")
_UNIT_SECONDS = {"m": 60, "h": 3_600, "d": 86_400, "w": 7 * 86_400}


def parse_duration(value: Any) -> Any:
    """``"30m"``, ``"48h"``, ``"2d"`` or ``"1w"`` as a timedelta; anything else is left to
    Pydantic (a number of seconds, an ISO 8601 duration) and its message."""
    if isinstance(value, str):
        found = _DURATION.match(value)
        if found:
            return timedelta(seconds=float(found.group(1)) * _UNIT_SECONDS[found.group(2)])
    return value


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than nothing, e.g. 48h or 2d")
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class EventTrigger(BaseModel):
    """An event of this type makes a candidate for its customer, when its properties match."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.:-]*$", max_length=80)
    # Property equal to value, every one of them (e.g. {fulfilment = "pickup"}).
    where: dict[str, str | float | bool] = Field(default_factory=dict)


class ScheduleTrigger(BaseModel):
    """Every day, week or month at a time of the brand's time zone, for everyone it targets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    every: Literal["day", "week", "month"]
    # Weekly: the weekday; monthly: the day of the month (1-28, so every month has it).
    weekday: Weekday | None = None
    day: int | None = Field(default=None, ge=1, le=28)
    at: time = time(10, 0)

    @model_validator(mode="after")
    def _day_fits(self) -> Self:
        if self.every == "week" and self.weekday is None:
            raise ValueError('a weekly schedule needs its weekday, e.g. weekday = "thu"')
        if self.every == "month" and self.day is None:
            raise ValueError("a monthly schedule needs its day of the month, e.g. day = 1")
        if self.every != "week" and self.weekday is not None:
            raise ValueError("weekday is for weekly schedules")
        if self.every != "month" and self.day is not None:
            raise ValueError("day is for monthly schedules")
        return self


class ChannelContent(BaseModel):
    """A channel the touchpoint may use, and the content it sends there."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # One of the brand's channels (checked against them when the configuration is read).
    channel: str = Field(pattern=r"^[a-z]+$")
    # The name of the message template for this channel (the messages domain renders it).
    content: str = Field(min_length=1, max_length=120)


class TouchpointDefinition(BaseModel):
    """One touchpoint of the catalogue."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$", max_length=80)
    label: str = Field(min_length=1, max_length=200)
    topic: str
    # Exactly one: an event, a schedule, or campaign = true (started by staff).
    event: EventTrigger | None = None
    schedule: ScheduleTrigger | None = None
    campaign: bool = False
    # Segments it is for (any of them); none: everyone the topic may reach.
    segments: tuple[str, ...] = ()
    channels: tuple[ChannelContent, ...] = Field(min_length=1)
    # Whether the message asks the customer to do something back (reply, press a key, book).
    asks_response: bool = False
    # At most one candidate per customer ever (a welcome), however often the trigger fires.
    once_per_customer: bool = False
    # How long after its trigger the message is still worth sending; none: no deadline.
    deadline: Duration | None = None
    # Expected value of one message, by segment; "default" for everyone else.
    value: dict[str, float] = Field(default_factory=lambda: {"default": 1.0})
    # Share of its customers kept as a control group; none: [measurement.holdout] share.
    holdout: float | None = Field(default=None, ge=0.0, le=0.5)

    @model_validator(mode="after")
    def _one_trigger(self) -> Self:
        given = [
            kind
            for kind, present in (
                ("event", self.event is not None),
                ("schedule", self.schedule is not None),
                ("campaign", self.campaign),
            )
            if present
        ]
        if len(given) != 1:
            raise ValueError(
                f"touchpoint {self.name!r}: give exactly one trigger (event, schedule or "
                f"campaign = true), not {' and '.join(given) if given else 'none'}"
            )
        channels = [c.channel for c in self.channels]
        twice = sorted({c for c in channels if channels.count(c) > 1})
        if twice:
            raise ValueError(f"touchpoint {self.name!r}: channel {twice[0]} listed twice")
        if self.deadline is not None:
            _positive(self.deadline)
        if "default" not in self.value:
            raise ValueError(
                f"touchpoint {self.name!r}: value needs a default, e.g. value = {{default = 1.0}}"
            )
        return self

    @property
    def trigger_kind(self) -> Literal["event", "schedule", "campaign"]:
        if self.event is not None:
            return "event"
        return "schedule" if self.schedule is not None else "campaign"

    @property
    def trigger_text(self) -> str:
        """What makes the touchpoint happen, in a few words."""
        if self.event is not None:
            where = ", ".join(f"{k} = {v!r}" for k, v in self.event.where.items())
            return f"event {self.event.event}" + (f" where {where}" if where else "")
        if self.schedule is not None:
            every, weekday, day = self.schedule.every, self.schedule.weekday, self.schedule.day
            on = {"day": "", "week": f" on {weekday}", "month": f" on day {day}"}[every]
            return f"every {every}{on} at {self.schedule.at:%H:%M}"
        return "campaign (launched by staff)"

    def value_for(self, segments: set[str]) -> float:
        """The highest value among the customer's segments listed here, else the default."""
        found = [v for name, v in self.value.items() if name != "default" and name in segments]
        return max(found) if found else self.value["default"]
