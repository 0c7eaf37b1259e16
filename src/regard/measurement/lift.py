"""Incremental lift over the control group, with a confidence interval, or "too little data".

- **Conversion**: the difference in proportions (treated minus control) with Newcombe's hybrid
  score interval (his method 10: each arm's Wilson interval, combined), which stays inside
  [-1, 1] and behaves with few conversions, where the plain Wald interval does not.
- **Revenue per customer**: the difference in means with a percentile bootstrap interval,
  since revenue is mostly zeros and a few large baskets. The bootstrap is seeded (the same
  interval every run) and vectorised: a resample of n customers is a Binomial(n, k/n) number of
  buyers, drawn from the k who bought (a resample of the zeros adds nothing to a sum). From
  ``EXACT_BUYERS`` buyers on, the sum over a resample's buyers is drawn from its normal limit
  (the skew that matters is in how many buy, which is still drawn exactly).

Fewer than ``min_per_arm`` customers in either arm, or no conversion in either, gives no number
but the reason, in words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from statistics import NormalDist
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy.orm import Session

from regard.config import BrandConfig
from regard.decisions.reasons import Reason
from regard.measurement import repository
from regard.measurement.options import OutcomeOptions
from regard.measurement.outcomes import (
    Breakdown,
    outcome_table,
    unit_outcomes,
    units_from_decisions,
)

__all__ = [
    "CONTROL_GROUP",
    "Estimate",
    "LiftRow",
    "bootstrap_mean_difference",
    "lift_rows",
    "measure_lift",
    "newcombe_interval",
    "wilson_interval",
]

CONTROL_GROUP = Reason.CONTROL_GROUP.value
# From this many buyers in an arm, a resample's sum over its buyers is drawn from its normal
# limit rather than buyer by buyer.
EXACT_BUYERS = 5_000
# Bootstrap draws held in memory at once (resamples x buyers), about 64 MB of indices.
_DRAWS_PER_BLOCK = 8_000_000


@dataclass(frozen=True)
class Estimate:
    """A difference with its interval, or why there is none (``reason``)."""

    difference: float | None
    low: float | None
    high: float | None
    reason: str | None = None

    @classmethod
    def none(cls, reason: str) -> Estimate:
        return cls(None, None, None, reason)

    def as_dict(self) -> dict[str, float | str | None]:
        return {"difference": self.difference, "low": self.low, "high": self.high,
                "reason": self.reason}  # fmt: skip


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(successes: int, trials: int, *, confidence: float) -> tuple[float, float]:
    """Wilson's score interval for a proportion."""
    if trials <= 0:
        raise ValueError("a proportion needs at least one trial")
    z = _z(confidence)
    p = successes / trials
    centre = p + z * z / (2 * trials)
    spread = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    scale = 1 + z * z / trials
    return max(0.0, (centre - spread) / scale), min(1.0, (centre + spread) / scale)


def newcombe_interval(
    treated: tuple[int, int], control: tuple[int, int], *, confidence: float
) -> Estimate:
    """Difference of proportions treated - control, each given as (successes, trials)."""
    (x1, n1), (x2, n2) = treated, control
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_interval(x1, n1, confidence=confidence)
    l2, u2 = wilson_interval(x2, n2, confidence=confidence)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Estimate(d, low, high)


def _resampled_sums(
    positives: np.ndarray, n: int, *, resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """Sums of ``resamples`` bootstrap resamples of n values, of which ``positives`` are the
    non-zero ones (the rest zero)."""
    k = positives.size
    if k == 0:
        return np.zeros(resamples)
    buyers = rng.binomial(n, k / n, size=resamples)
    if k >= EXACT_BUYERS:
        # The sum of thousands of draws from the buyers is normal to within a skewness of
        # (the buyers' skewness) / sqrt(buyers), a few hundredths: drawn as such, it is as good
        # as drawing each buyer and takes no time. The number of buyers is still drawn exactly.
        mean, spread = float(positives.mean()), float(positives.std())
        return rng.normal(buyers * mean, np.sqrt(buyers) * spread)
    sums = np.empty(resamples)
    widest = max(int(buyers.max()), 1)
    block = max(1, _DRAWS_PER_BLOCK // widest)
    for start in range(0, resamples, block):
        count = buyers[start : start + block]
        picks = positives[rng.integers(0, k, size=(count.size, widest))]
        keep = np.arange(widest)[None, :] < count[:, None]
        sums[start : start + block] = np.where(keep, picks, 0.0).sum(axis=1)
    return sums


def bootstrap_mean_difference(
    treated: np.ndarray,
    n_treated: int,
    control: np.ndarray,
    n_control: int,
    *,
    confidence: float,
    resamples: int,
    seed: int,
) -> Estimate:
    """Mean per customer treated - control with a percentile bootstrap interval. Each arm is
    given by its non-zero values and its number of customers."""
    rng = np.random.default_rng(seed)
    means_t = _resampled_sums(treated, n_treated, resamples=resamples, rng=rng) / n_treated
    means_c = _resampled_sums(control, n_control, resamples=resamples, rng=rng) / n_control
    differences = means_t - means_c
    tail = (1 - confidence) / 2
    low, high = np.quantile(differences, [tail, 1 - tail])
    d = float(treated.sum() / n_treated - control.sum() / n_control)
    return Estimate(d, float(low), float(high))


@dataclass(frozen=True)
class LiftRow:
    """One touchpoint (and segment, channel or week): both arms' counts and the lift."""

    touchpoint: str
    group: str | None
    treated: dict[str, float]
    control: dict[str, float]
    conversion: Estimate
    revenue: Estimate

    def as_dict(self) -> dict[str, object]:
        return {
            "touchpoint": self.touchpoint,
            "group": self.group,
            "treated": self.treated,
            "control": self.control,
            "conversion_lift": self.conversion.as_dict(),
            "revenue_lift": self.revenue.as_dict(),
        }


_SHOWN = ("customers", "delivered", "engaged", "converted", "revenue", "opted_out", "complained")


def lift_rows(
    table: pl.DataFrame, *, options: OutcomeOptions, by: str | None = None
) -> list[LiftRow]:
    """The lift of each touchpoint (and ``by`` group) of an ``outcomes.outcome_table``."""
    keys = ["touchpoint", *([by] if by else [])]
    rows: list[LiftRow] = []
    for group_key, group in table.group_by(keys, maintain_order=True):
        arms = {row["arm"]: row for row in group.iter_rows(named=True)}
        empty: dict[str, Any] = dict.fromkeys(_SHOWN, 0) | {"revenue_values": []}
        treated, control = arms.get("treated", empty), arms.get("control", empty)
        rows.append(
            LiftRow(
                touchpoint=str(group_key[0]),
                group=None if not by or group_key[1] is None else str(group_key[1]),
                treated={name: float(treated[name]) for name in _SHOWN},
                control={name: float(control[name]) for name in _SHOWN},
                conversion=_conversion(treated, control, options),
                revenue=_revenue(treated, control, options),
            )
        )
    return rows


def _too_little(treated: dict[str, Any], control: dict[str, Any], minimum: int) -> str | None:
    n_t, n_c = int(treated["customers"]), int(control["customers"])
    if n_c == 0:
        return "no control group"
    if n_t < minimum or n_c < minimum:
        return f"too little data: {n_t} treated and {n_c} in control, at least {minimum} each"
    return None


def _conversion(
    treated: dict[str, Any], control: dict[str, Any], options: OutcomeOptions
) -> Estimate:
    short = _too_little(treated, control, options.min_per_arm)
    if short:
        return Estimate.none(short)
    x_t, x_c = int(treated["converted"]), int(control["converted"])
    if x_t + x_c == 0:
        return Estimate.none("too little data: no conversions yet")
    return newcombe_interval(
        (x_t, int(treated["customers"])),
        (x_c, int(control["customers"])),
        confidence=options.confidence,
    )


def _revenue(treated: dict[str, Any], control: dict[str, Any], options: OutcomeOptions) -> Estimate:
    short = _too_little(treated, control, options.min_per_arm)
    if short:
        return Estimate.none(short)
    values_t = np.asarray(treated["revenue_values"] or [], dtype=np.float64)
    values_c = np.asarray(control["revenue_values"] or [], dtype=np.float64)
    if values_t.size + values_c.size == 0:
        return Estimate.none("too little data: no revenue yet")
    return bootstrap_mean_difference(
        values_t,
        int(treated["customers"]),
        values_c,
        int(control["customers"]),
        confidence=options.confidence,
        resamples=options.resamples,
        seed=options.seed,
    )


def measure_lift(
    session: Session,
    *,
    brand: BrandConfig,
    now: datetime,
    touchpoint: str | None = None,
    by: Breakdown | None = None,
) -> list[LiftRow]:
    """The lift of each touchpoint (or only ``touchpoint``), optionally per segment, channel or
    week, from what is in the store at ``now``; reads only, never writes."""
    options = brand.measurement.outcome
    found = repository.decisions(session, touchpoint=touchpoint)
    units = units_from_decisions(found, control_reason=CONTROL_GROUP)
    outcomes = unit_outcomes(
        units,
        messages=repository.messages(session, touchpoint=touchpoint),
        feedback=repository.feedback(session),
        conversions=repository.conversions(session, options=options, until=now),
        opt_outs=repository.opt_outs(session),
        window=options.window,
    )
    members = repository.segments(session) if by == "segment" else None
    table = outcome_table(outcomes, by=by, segments=members)
    return lift_rows(table, options=options, by=by)
