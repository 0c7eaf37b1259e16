"""A simulation scenario: the population, the brand's touchpoints, the response parameters and
the policies' settings, read from a TOML file a marketer can edit (``scenario.toml`` is the
default)."""

from __future__ import annotations

import tomllib
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from regard.commitment.scoring import NON_USER_GROUPS, USER_GROUPS
from regard.decisions.policy_options import ChannelEconomics, ContactPolicy
from regard.errors import InvalidInput

# The eight Conversion Model groups on one axis, most drawn to the brand first: the simulator's
# latent commitment runs from 1 (Entrenched) down to 0 (Strongly unavailable).
GROUPS: tuple[str, ...] = (*USER_GROUPS, *NON_USER_GROUPS)
SimChannel = Literal["email", "sms", "push"]
CHANNELS: tuple[SimChannel, ...] = ("email", "sms", "push")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class PopulationSettings(_Strict):
    """Who the simulated customers are."""

    commitment: dict[str, float] = Field(
        default_factory=lambda: dict.fromkeys(GROUPS, 1 / len(GROUPS))
    )
    favourite_share: float = Field(default=0.25, ge=0, le=1)
    stated_interest_share: float = Field(default=0.6, ge=0, le=1)
    quiet_start: int = Field(default=21, ge=0, le=23)
    quiet_end: int = Field(default=8, ge=0, le=23)
    stated_quiet_hours_share: float = Field(default=0.4, ge=0, le=1)
    time_zones: dict[str, float] = Field(default_factory=lambda: {"Europe/London": 1.0})
    reach: dict[str, float] = Field(
        default_factory=lambda: {"email": 0.95, "sms": 0.55, "push": 0.35}
    )
    tolerance: dict[str, float] = Field(
        default_factory=lambda: {"email": 3.0, "sms": 1.0, "push": 2.0}
    )
    purchase_rate: float = Field(default=0.12, ge=0)
    spend: float = Field(default=60.0, gt=0)

    @model_validator(mode="after")
    def _known_groups(self) -> PopulationSettings:
        unknown = sorted(set(self.commitment) - set(GROUPS))
        if unknown:
            raise ValueError(f"unknown commitment groups {unknown}; use {list(GROUPS)}")
        if sum(self.commitment.values()) <= 0 or sum(self.time_zones.values()) <= 0:
            raise ValueError("commitment and time_zones need positive shares")
        return self


class ChannelSettings(_Strict):
    """Cost per message and base engagement chance of one channel."""

    cost: float = Field(ge=0)
    engagement: float = Field(gt=0, lt=1)


class TouchpointSettings(_Strict):
    """A touchpoint of the simulated brand; it fires every week on ``day``."""

    name: str
    topic: str
    importance: Literal["promotional", "relationship"]
    channels: tuple[SimChannel, ...] = Field(min_length=1)
    value: float = Field(ge=0)
    day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class ResponseSettings(_Strict):
    """The response models' parameters (docs/simulator.md has the formulas)."""

    engage_relevance: float = 4.0
    engage_commitment: float = 1.0
    engage_fatigue: float = 1.0
    engage_quiet: float = 1.0
    engage_reading_hour: float = 0.3
    annoyance_irrelevance: float = Field(default=1.0, ge=0)
    annoyance_fatigue: float = Field(default=1.5, ge=0)
    annoyance_quiet: float = Field(default=2.0, ge=0)
    optout_base: float = Field(default=0.0008, ge=0, le=0.2)
    complaint_base: float = Field(default=0.0004, ge=0, le=0.2)
    purchase_lift: float = Field(default=0.25, ge=0)
    annoyance_penalty: float = Field(default=0.04, ge=0)
    lapse_base: float = Field(default=0.003, ge=0, le=1)
    lapse_annoyance: float = Field(default=0.05, ge=0)
    commitment_up: float = Field(default=0.006, ge=0)
    commitment_down: float = Field(default=0.004, ge=0)


class CapsOnlySettings(_Strict):
    """Frequency caps only: a cap per customer per week, nothing else."""

    per_week: int = Field(default=3, ge=0)


class Scenario(_Strict):
    """Everything a simulation run needs besides its random seed's draws."""

    seed: int = 7
    customers: int = Field(default=20_000, ge=1)
    weeks: int = Field(default=26, ge=1)
    start: date = date(2026, 1, 5)
    blast_hour_utc: int = Field(default=12, ge=0, le=23)
    decide_hour_utc: int = Field(default=12, ge=0, le=23)
    population: PopulationSettings = PopulationSettings()
    channels: dict[SimChannel, ChannelSettings]
    touchpoints: tuple[TouchpointSettings, ...] = Field(min_length=1)
    responses: ResponseSettings = ResponseSettings()
    caps_only: CapsOnlySettings = CapsOnlySettings()
    regard: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        names = [tp.name for tp in self.touchpoints]
        if len(set(names)) != len(names):
            raise ValueError("touchpoint names repeat")
        missing = {c for tp in self.touchpoints for c in tp.channels} - set(self.channels)
        if missing:
            raise ValueError(f"touchpoints use channels without settings: {sorted(missing)}")
        self.contact_policy()  # fails early on a bad [regard] table
        return self

    @property
    def topics(self) -> tuple[str, ...]:
        """The brand's topics, in the order the touchpoints first name them."""
        return tuple(dict.fromkeys(tp.topic for tp in self.touchpoints))

    def contact_policy(self) -> ContactPolicy:
        """Regard's contact policy: ``[regard]`` over the defaults, with the scenario's channel
        costs and engagement chances."""
        economics = {
            name: ChannelEconomics(
                cost=settings.cost,
                engagement=settings.engagement,
                intrusiveness=ContactPolicy().channels[name].intrusiveness,
            ).model_dump()
            for name, settings in self.channels.items()
        }
        given = dict(self.regard)
        given["channels"] = {**economics, **given.get("channels", {})}
        return ContactPolicy.model_validate(given)

    def with_size(self, *, customers: int | None = None, weeks: int | None = None) -> Scenario:
        """The same scenario with another population size or length."""
        changes: dict[str, Any] = {}
        if customers is not None:
            changes["customers"] = customers
        if weeks is not None:
            changes["weeks"] = weeks
        return Scenario.model_validate({**self.model_dump(), **changes})


def default_scenario_text() -> str:
    """The default scenario's TOML, as shipped."""
    return resources.files("regard.simulation").joinpath("scenario.toml").read_text("utf-8")


def load_scenario(path: Path | None = None) -> Scenario:
    """The scenario in ``path`` (TOML), else the default one."""
    try:
        text = default_scenario_text() if path is None else path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read the scenario {path}: {exc.strerror}") from exc
    return parse_scenario(text, source=str(path) if path else "the default scenario")


def parse_scenario(text: str, *, source: str = "the scenario") -> Scenario:
    """A scenario from TOML text; an invalid one raises ``InvalidInput`` naming the problem."""
    try:
        raw = tomllib.loads(text)
        return Scenario.model_validate(raw)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{source} is not valid TOML: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise InvalidInput(f"{source} is invalid: {problems}") from exc
