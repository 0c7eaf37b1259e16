"""How the brand delivers: providers per channel, retries, and the complaint-rate breaker.

The ``[delivery]`` section of ``regard.toml``. Secrets (SMTP password, provider signing keys)
are never here: they come from the environment through :class:`regard.config.Settings`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from regard.touchpoints.options import Duration


class ProviderOptions(BaseModel):
    """An HTTP provider for one channel (texts, push or calls): where Regard posts each message."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: Literal["sms", "push", "voice"]
    url: str = Field(pattern=r"^https?://")
    timeout: Duration = timedelta(seconds=10)


class RetryOptions(BaseModel):
    """Temporary failures are tried again with exponential backoff and jitter, then given up."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: int = Field(default=8, ge=1, le=50)
    first_delay: Duration = timedelta(minutes=1)
    max_delay: Duration = timedelta(hours=6)
    # A send left ambiguous (the provider may have taken it before a crash): at-least-once tries
    # it again with the same Message-ID, so receivers can drop the copy; at-most-once does not.
    ambiguous: Literal["at-least-once", "at-most-once"] = "at-least-once"


class BreakerOptions(BaseModel):
    """The complaint-rate breaker per sending domain and channel (mailbox providers' limits)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    slow_at: float = Field(default=0.001, ge=0, le=1)
    halt_at: float = Field(default=0.003, ge=0, le=1)
    window: Duration = timedelta(days=7)
    # Below this many deliveries in the window, a rate says too little to act on.
    min_deliveries: int = Field(default=500, ge=1)


class DeliveryOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Where messages of a channel with no provider go: files in this folder (development, demo);
    # a relative folder is read beside regard.toml.
    file_dir: str = "messages-out"
    providers: tuple[ProviderOptions, ...] = ()
    retry: RetryOptions = RetryOptions()
    breaker: BreakerOptions = BreakerOptions()
    # Messages a worker claims at once, and how long it holds them before another may take over.
    batch_size: int = Field(default=200, ge=1, le=10_000)
    lease: Duration = timedelta(minutes=5)
