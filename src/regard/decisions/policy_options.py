"""The brand's contact policy: the settings of every rule of the reasonableness test.

``BrandConfig`` holds one as ``policy`` (``[policy]`` in ``regard.toml``); every field has a
default, so a brand lists only what it changes. docs/contact-policy.md explains each rule and
setting. This module imports nothing from ``regard.config`` (which imports it).
"""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from regard.touchpoints.options import Duration, Weekday

PolicyChannel = Literal["email", "sms", "push", "voice", "postal"]
PolicyImportance = Literal["critical", "transactional", "service", "relationship", "promotional"]
CHANNEL_ORDER: tuple[PolicyChannel, ...] = ("email", "sms", "push", "voice", "postal")
IMPORTANCE_ORDER: tuple[PolicyImportance, ...] = (
    "critical",
    "transactional",
    "service",
    "relationship",
    "promotional",
)
MARKETING: tuple[PolicyImportance, ...] = ("relationship", "promotional")


class Cap(BaseModel):
    """At most ``max`` messages of an importance (or all marketing) on a channel (or any) per
    ``window``, counting what was already sent in the window."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    importance: PolicyImportance | Literal["marketing"] = "marketing"
    channel: PolicyChannel | None = None
    max: int = Field(ge=0)
    window: Duration

    @field_validator("window")
    @classmethod
    def _window_positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be longer than nothing, e.g. 1d or 1w")
        return value


class Hours(BaseModel):
    """A daily window from ``start`` to ``end`` (local time, end excluded, within one day)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: time
    end: time

    @model_validator(mode="after")
    def _start_before_end(self) -> Hours:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end:%H:%M}) must be after start ({self.start:%H:%M})")
        return self

    @property
    def minutes(self) -> tuple[int, int]:
        return self.start.hour * 60 + self.start.minute, self.end.hour * 60 + self.end.minute


class TextHours(BaseModel):
    """When texts and calls may reach a customer, local time: Monday to Friday, and Saturday and
    Sunday (``weekends = None``: never at weekends)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weekdays: Hours = Hours(start=time(8, 0), end=time(21, 0))
    weekends: Hours | None = Hours(start=time(8, 0), end=time(21, 0))


# Stricter regional rules for texts and calls, by region code (ISO 3166 alpha-2). Only what the
# region alone determines: in the US the federal TCPA window (08:00-21:00) is the default, and
# the stricter states (e.g. Florida's 08:00-20:00) cannot be known from "US"; a brand selling
# there lowers the default or adds its own entry.
DEFAULT_REGIONAL_TEXT_HOURS: dict[str, TextHours] = {
    # CRTC Unsolicited Telecommunications Rules: weekdays 09:00-21:30, weekends 10:00-18:00;
    # capped by the 21:00 default.
    "CA": TextHours(
        weekdays=Hours(start=time(9, 0), end=time(21, 0)),
        weekends=Hours(start=time(10, 0), end=time(18, 0)),
    ),
    # Décret 2022-1313: telephone canvassing on weekdays 10:00-13:00 and 14:00-20:00, never at
    # weekends (the lunch break is not modelled: one window a day).
    "FR": TextHours(weekdays=Hours(start=time(10, 0), end=time(20, 0)), weekends=None),
}

# The span of UTC offsets (minutes) a customer of a region can be at, for customers whose time
# zone is unknown: a moment is allowed only if it is allowed at every offset of the span (the
# most restrictive window). Regions not listed span the world, UTC-12 to UTC+14, where no daily
# window fits: their texts and calls wait until the time zone is known.
DEFAULT_REGION_OFFSETS: dict[str, tuple[int, int]] = {
    "US": (-600, -240),
    "CA": (-480, -150),
    "MX": (-480, -300),
    "BR": (-300, -120),
    "GB": (0, 60),
    "IE": (0, 60),
    "PT": (-60, 60),
    "ES": (0, 120),
    "FR": (60, 120),
    "NL": (60, 120),
    "BE": (60, 120),
    "DE": (60, 120),
    "IT": (60, 120),
    "SE": (60, 120),
    "PL": (60, 120),
    "IN": (330, 330),
    "JP": (540, 540),
    "AU": (480, 660),
    "NZ": (720, 825),
}
WORLD_OFFSETS = (-720, 840)

# Days after the last purchase that implied consent lasts, by region. CASL (Canada): two years
# after a purchase or contract.
DEFAULT_IMPLIED_CONSENT_DAYS: dict[str, int | None] = {"CA": 730}


class ChannelEconomics(BaseModel):
    """What one send on a channel costs, how likely it is to be engaged with, and how much it
    intrudes (charged as a penalty, in the same units as a touchpoint's value)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    cost: float = Field(ge=0)
    engagement: float = Field(ge=0, le=1)
    intrusiveness: float = Field(ge=0)


# Defaults in the units of a touchpoint's value (1.0 = a typical message's worth): a text costs a
# few cents, a call most of a message's worth in staff or IVR time and intrusion, a letter its
# postage; engagement chances are typical industry rates (email opens that lead to a click, push
# taps, text replies or clicks, answered calls, letters read). Intrusiveness follows DESIGN.md:
# voice, sms, push, email, postal.
DEFAULT_CHANNELS: dict[PolicyChannel, ChannelEconomics] = {
    "email": ChannelEconomics(cost=0.001, engagement=0.20, intrusiveness=0.02),
    "sms": ChannelEconomics(cost=0.04, engagement=0.30, intrusiveness=0.10),
    "push": ChannelEconomics(cost=0.0005, engagement=0.10, intrusiveness=0.05),
    "voice": ChannelEconomics(cost=0.50, engagement=0.50, intrusiveness=0.50),
    "postal": ChannelEconomics(cost=0.80, engagement=0.05, intrusiveness=0.0),
}

DEFAULT_CAPS: tuple[Cap, ...] = (
    Cap(importance="promotional", max=1, window=timedelta(days=1)),
    Cap(importance="promotional", max=3, window=timedelta(days=7)),
    Cap(importance="marketing", channel="sms", max=2, window=timedelta(days=7)),
)

# The period a frequency choice caps and bundles.
FREQUENCY_PERIODS: dict[str, timedelta] = {
    "daily": timedelta(days=1),
    "weekly": timedelta(days=7),
    "monthly": timedelta(days=30),
}


class ContactPolicy(BaseModel):
    """Every rule of the reasonableness test, with the brand's settings."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    # Brand-wide caps on top of each customer's own frequency choices.
    caps: tuple[Cap, ...] = DEFAULT_CAPS
    # No two marketing messages on one topic closer than this; per-topic overrides apply to any
    # topic named, whatever its importance ("0s" turns the gap off for that topic).
    min_gap: Duration = timedelta(days=2)
    min_gap_by_topic: dict[str, Duration] = Field(default_factory=dict)
    # Texts and calls: never outside these hours, local time; regional rules replace them.
    text_hours: TextHours = TextHours()
    regional_text_hours: dict[str, TextHours] = Field(
        default_factory=lambda: dict(DEFAULT_REGIONAL_TEXT_HOURS)
    )
    region_offsets: dict[str, tuple[int, int]] = Field(
        default_factory=lambda: dict(DEFAULT_REGION_OFFSETS)
    )
    # Implied consent (legitimate interest, e.g. from a purchase) lapses this many days after the
    # last purchase: by region, else the default (None: it does not lapse). CASL: 2 years.
    implied_consent_days: int | None = Field(default=None, ge=1)
    implied_consent_days_by_region: dict[str, int | None] = Field(
        default_factory=lambda: dict(DEFAULT_IMPLIED_CONSENT_DAYS)
    )
    # Fatigue: after this many ignored marketing messages in a row on a topic, the topic waits
    # ``fatigue_hold`` after the last of them. None: no fatigue rule.
    fatigue_after: int | None = Field(default=3, ge=1)
    fatigue_hold: Duration = timedelta(days=14)
    # A promotional candidate whose predicted relevance is below this is not sent; an unknown
    # relevance passes.
    relevance_floor: float = Field(default=0.2, ge=0, le=1)
    # Channel cost, engagement chance and intrusiveness; list only what you change.
    channels: dict[PolicyChannel, ChannelEconomics] = Field(
        default_factory=lambda: dict(DEFAULT_CHANNELS)
    )
    # Charge each customer an interruption cost once per run, so the optimiser sends several
    # things at once rather than spreading them (False: no such cost).
    bundle_interruptions: bool = True
    interruption_cost: float = Field(default=0.02, ge=0)
    # Digests go out in this local hour: daily every day, weekly on ``digest_weekday``, monthly on
    # ``digest_day`` of the month.
    digest_hour: int = Field(default=9, ge=0, le=23)
    digest_weekday: Weekday = "mon"
    digest_day: int = Field(default=1, ge=1, le=28)
    # Importances that a customer's pause does not hold.
    pause_exempt: tuple[PolicyImportance, ...] = ("critical", "transactional")

    @field_validator("channels", mode="before")
    @classmethod
    def _merge_channels(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        merged: dict[str, Any] = {k: v.model_dump() for k, v in DEFAULT_CHANNELS.items()}
        for name, given in value.items():
            if name not in merged:
                return value  # the field's own validation names the problem
            fields = given.model_dump() if isinstance(given, ChannelEconomics) else given
            merged[name] = {**merged[name], **fields} if isinstance(fields, dict) else fields
        return merged

    @field_validator("region_offsets")
    @classmethod
    def _offsets_ordered(cls, value: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
        for region, (low, high) in value.items():
            if not -720 <= low <= high <= 840:
                raise ValueError(f"{region}: offsets must satisfy -720 <= low <= high <= 840")
        return value

    def gap_for(self, topic: str, importance: str) -> timedelta | None:
        """The minimum gap of a topic, or None when none applies."""
        if topic in self.min_gap_by_topic:
            gap = self.min_gap_by_topic[topic]
            return gap if gap > timedelta(0) else None
        return self.min_gap if importance in MARKETING and self.min_gap > timedelta(0) else None

    def text_hours_for(self, region: str | None) -> TextHours:
        if region is not None and region.upper() in self.regional_text_hours:
            return self.regional_text_hours[region.upper()]
        return self.text_hours

    def implied_consent_days_for(self, region: str | None) -> int | None:
        if region is not None and region.upper() in self.implied_consent_days_by_region:
            return self.implied_consent_days_by_region[region.upper()]
        return self.implied_consent_days

    def offsets_for(self, region: str | None) -> tuple[int, int]:
        if region is not None and region.upper() in self.region_offsets:
            return self.region_offsets[region.upper()]
        return WORLD_OFFSETS
