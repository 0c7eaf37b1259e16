"""How the brand measures what its messages are worth: the ``[measurement]`` section of
``regard.toml``. Each part of measurement owns its own class here."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from regard.touchpoints.options import Duration


class HoldoutOptions(BaseModel):
    """``[measurement.holdout]``: the share of each touchpoint's customers kept as a control
    group, never sent that touchpoint, so that its effect can be measured against them.

    A touchpoint's own ``holdout`` overrides ``share``. Critical and transactional messages are
    never held out. Who is in a control group is a stable hash of the customer, the touchpoint
    and ``salt`` (regard.measurement.holdouts): changing the salt draws new groups.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    share: float = Field(default=0.0, ge=0.0, le=0.5)
    salt: str = Field(default="regard", min_length=1, max_length=80)


class OutcomeOptions(BaseModel):
    """``[measurement.outcome]``: what counts as a conversion after a decision, and how sure
    the lift must be before Regard prints a number."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # A conversion: an event of this type within ``window`` after the decision.
    event: str = Field(default="order_completed", pattern=r"^[A-Za-z_][A-Za-z0-9_.:-]*$")
    window: Duration = timedelta(days=7)
    # The event's property holding what the customer paid (as in [segments.rfm]).
    amount_property: str = Field(default="amount", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    # Fewer customers than this in either arm: "too little data" rather than a number.
    min_per_arm: int = Field(default=100, ge=1)
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)
    # Bootstrap resamples for revenue per customer, and their seed (the same numbers each run).
    resamples: int = Field(default=1_000, ge=100, le=100_000)
    seed: int = 0


class InvestTranche(BaseModel):
    """A share of a segment's reachable contacts on a channel and the fraction of the full value
    per contact that share returns."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    share: float = Field(gt=0, le=1)
    factor: float = Field(ge=0)


class InvestOptions(BaseModel):
    """``[measurement.invest]``: how ``regard invest`` turns a budget into contacts.

    The budget is for one ``period``; each customer's caps are counted over it. Returns
    diminish in ``tranches`` (shares adding up to 1, factors never rising): by default the
    first quarter of a segment's reachable contacts returns the full value, then 70%, 45%, 25%.
    Only touchpoints of ``importances`` count (critical and transactional messages are sent
    whatever the budget); ``channels`` limits the channels planned (default: the brand's own,
    except voice, which never carries marketing).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    period: Duration = timedelta(days=7)
    tranches: tuple[InvestTranche, ...] = (
        InvestTranche(share=0.25, factor=1.0),
        InvestTranche(share=0.25, factor=0.7),
        InvestTranche(share=0.25, factor=0.45),
        InvestTranche(share=0.25, factor=0.25),
    )
    importances: tuple[Literal["service", "relationship", "promotional"], ...] = (
        "service",
        "relationship",
        "promotional",
    )
    channels: tuple[str, ...] | None = None

    @field_validator("tranches")
    @classmethod
    def _diminishing(cls, value: tuple[InvestTranche, ...]) -> tuple[InvestTranche, ...]:
        if not value or abs(sum(t.share for t in value) - 1) > 1e-9:
            raise ValueError("tranche shares must add up to 1")
        if any(b.factor > a.factor for a, b in pairwise(value)):
            raise ValueError("returns must diminish: each factor at most the one before")
        return value


class BgNbdParameters(BaseModel):
    """Fitted BG/NBD parameters (``regard clv fit``), in periods of ``period_days``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    r: float = Field(gt=0)
    alpha: float = Field(gt=0)
    a: float = Field(gt=0)
    b: float = Field(gt=0)


class GammaGammaParameters(BaseModel):
    """Fitted Gamma-Gamma parameters (``regard clv fit``); q > 1 for a finite mean value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    p: float = Field(gt=0)
    q: float = Field(gt=1)
    gamma: float = Field(gt=0)


class ClvOptions(BaseModel):
    """Customer lifetime value: the time unit, the horizon, the discount and, once fitted, the
    models' parameters. docs/measurement.md explains each."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The time unit of the models, in days: parameters are per period of this length.
    period_days: float = Field(default=7.0, gt=0, le=366)
    # How far ahead lifetime value looks.
    horizon_days: int = Field(default=365, ge=1, le=36_500)
    # The yearly discount rate applied to future purchases (0.1: 10% a year).
    annual_discount_rate: float = Field(default=0.10, ge=0, le=10)
    # The share of a purchase's amount that is the brand's to keep (1.0: value is revenue).
    margin: float = Field(default=1.0, gt=0, le=1)
    # None until fitted and pasted from ``regard clv fit``.
    bg_nbd: BgNbdParameters | None = None
    gamma_gamma: GammaGammaParameters | None = None


class MeasurementOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    clv: ClvOptions = ClvOptions()

    holdout: HoldoutOptions = HoldoutOptions()
    outcome: OutcomeOptions = OutcomeOptions()
    invest: InvestOptions = InvestOptions()
