"""How the engine runs: the brand's channel limits per run, and how often it runs."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

from regard.touchpoints.options import Duration


class ChannelLimit(BaseModel):
    """Brand-wide limits of one channel in one run: sends (capacity) and money (budget)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    capacity: int | None = Field(default=None, ge=0)
    budget: float | None = Field(default=None, ge=0)


class EngineOptions(BaseModel):
    """``[engine]`` of regard.toml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Per channel, e.g. sms = { budget = 50.0 } (euros a run), voice = { capacity = 20 }.
    limits: dict[str, ChannelLimit] = Field(default_factory=dict)
    # How often ``regard run`` runs triggers and the engine.
    every: Duration = timedelta(minutes=5)
    # A run that has not finished after this long is taken to have died: its lock lapses.
    lock_for: Duration = timedelta(minutes=30)
