"""The thresholds behind RFM scores and lifecycle stages; docs/segments.md explains each one."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class RfmOptions(BaseModel):
    """What counts as a purchase, where its amount is, and how far back RFM looks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Purchases on or after ``as_of`` minus this many days count; older ones do not.
    window_days: int = Field(default=365, ge=1, le=36_500)
    # Event types that are purchases.
    purchase_event_types: tuple[str, ...] = Field(default=("order_completed",), min_length=1)
    # The property of a purchase event that holds what the customer paid.
    amount_property: str = Field(default="amount", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


class LifecycleOptions(BaseModel):
    """Where one lifecycle stage ends and the next begins, in days or in usual intervals."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # A customer whose first purchase is at most this many days old is new.
    new_days: int = Field(default=30, ge=0)
    # At risk after more than this many usual intervals without a purchase.
    at_risk_multiple: float = Field(default=2.0, ge=1.0)
    # The usual interval is never shorter than this, and is this for a single purchase.
    interval_floor_days: float = Field(default=30.0, gt=0)
    # Lapsed after more than this many usual intervals without a purchase...
    lapsed_multiple: float = Field(default=4.0, ge=1.0)
    # ...or after more than this many days, whichever comes first (None: no absolute limit).
    lapsed_after_days: int | None = Field(default=365, ge=1)
    # Won back for this many days after a purchase that ended a lapse.
    won_back_days: int = Field(default=90, ge=1)

    @model_validator(mode="after")
    def _lapse_comes_after_risk(self) -> Self:
        if self.lapsed_multiple <= self.at_risk_multiple:
            raise ValueError("lapsed_multiple must be greater than at_risk_multiple")
        return self
