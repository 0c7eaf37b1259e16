"""Customer lifetime value from the store: fit the models on the brand's purchases, and value
every customer with the fitted parameters configured in ``[measurement.clv]``.

The commands own the transaction; nothing here writes. The fitted parameters are never
stored by Regard itself: ``regard clv fit`` prints them for the brand to put in regard.toml,
so that the values the engine uses are the ones the brand reviewed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import polars as pl
from sqlalchemy.orm import Session

from regard.config import BrandConfig
from regard.errors import ConfigurationError, InvalidInput
from regard.measurement import clv
from regard.measurement.options import ClvOptions
from regard.segments.features import read_purchases

__all__ = [
    "VALUES_SCHEMA",
    "ClvFit",
    "customer_values",
    "expected_values",
    "fit",
    "models_of",
    "summary_of",
]

VALUES_SCHEMA = {"customer_id": pl.Int64(), "clv": pl.Float64()}


@dataclass(frozen=True, slots=True)
class ClvFit:
    """Both models fitted on the brand's purchases up to ``as_of``. ``spending`` is None when
    too few customers bought twice with a known amount (``notes`` says so)."""

    as_of: datetime
    period_days: float
    customers: int
    repeat_customers: int
    purchasing: clv.BgNbd
    spending: clv.GammaGamma | None
    notes: tuple[str, ...]

    def toml(self, options: ClvOptions) -> str:
        """The ``[measurement.clv]`` section with these parameters and the brand's other
        settings as they are, to replace that section of regard.toml."""
        lines = [
            "[measurement.clv]",
            f"period_days = {self.period_days:g}",
            f"horizon_days = {options.horizon_days}",
            f"annual_discount_rate = {options.annual_discount_rate:g}",
            f"margin = {options.margin:g}",
        ]
        m = self.purchasing
        lines.append(
            f"bg_nbd = {{ r = {m.r:.6g}, alpha = {m.alpha:.6g}, a = {m.a:.6g}, b = {m.b:.6g} }}"
        )
        s = self.spending
        if s is None or s.q <= 1.0:
            lines.append("# gamma_gamma: not fitted; see the notes")
        else:
            lines.append(f"gamma_gamma = {{ p = {s.p:.6g}, q = {s.q:.6g}, gamma = {s.gamma:.6g} }}")
        return "\n".join(lines) + "\n"


def summary_of(
    session: Session, *, brand: BrandConfig, as_of: datetime, customer_id: int | None = None
) -> pl.DataFrame:
    """Frequency, recency, age and monetary (``clv.summarise``) of every customer with a
    purchase up to ``as_of``, or of one customer."""
    purchases = read_purchases(session, options=brand.segments.rfm, as_of=as_of)
    if customer_id is not None:
        purchases = purchases.filter(pl.col("customer_id") == customer_id)
    return clv.summarise(purchases, as_of=as_of, period_days=brand.measurement.clv.period_days)


def fit(session: Session, *, brand: BrandConfig, as_of: datetime) -> ClvFit:
    """Fit BG/NBD (and Gamma-Gamma when the data allow) on every purchase up to ``as_of``."""
    period_days = brand.measurement.clv.period_days
    summary = summary_of(session, brand=brand, as_of=as_of)
    try:
        purchasing = clv.fit_bg_nbd(summary)
    except clv.FitError as exc:
        raise InvalidInput(f"cannot fit customer value: {exc}") from None
    notes: list[str] = []
    spending: clv.GammaGamma | None
    try:
        spending = clv.fit_gamma_gamma(summary)
    except clv.FitError as exc:
        spending = None
        notes.append(f"spend per transaction not fitted: {exc}")
    if spending is not None and spending.q <= 1.0:
        notes.append(
            f"spend per transaction: q = {spending.q:.3g} <= 1 means no finite average value; "
            "the amounts are too dispersed for Gamma-Gamma"
        )
    if purchasing.standard_errors is None:
        notes.append("purchasing parameters are weakly identified: no standard errors")
    return ClvFit(
        as_of=as_of,
        period_days=period_days,
        customers=summary.height,
        repeat_customers=int((summary["frequency"] > 0).sum()),
        purchasing=purchasing,
        spending=spending,
        notes=tuple(notes),
    )


def models_of(options: ClvOptions) -> tuple[clv.BgNbd, clv.GammaGamma]:
    """The configured models; a clear error when ``regard clv fit`` has not been applied."""
    if options.bg_nbd is None or options.gamma_gamma is None:
        raise ConfigurationError(
            "customer value is not configured: run 'regard clv fit' and put its "
            "[measurement.clv] section in regard.toml"
        )
    b, g = options.bg_nbd, options.gamma_gamma
    return clv.BgNbd(r=b.r, alpha=b.alpha, a=b.a, b=b.b), clv.GammaGamma(
        p=g.p, q=g.q, gamma=g.gamma
    )


def _period_terms(options: ClvOptions) -> tuple[float, float]:
    """The horizon in periods and the discount rate per period (compounding the yearly one)."""
    horizon = options.horizon_days / options.period_days
    per_period = math.pow(1.0 + options.annual_discount_rate, options.period_days / 365.0) - 1.0
    return horizon, per_period


def customer_values(
    session: Session, *, brand: BrandConfig, as_of: datetime, customer_id: int | None = None
) -> pl.DataFrame:
    """The full valuation (``clv.customer_value`` columns joined to the summary's) of every
    customer with a purchase, or of one."""
    options = brand.measurement.clv
    purchasing, spending = models_of(options)
    summary = summary_of(session, brand=brand, as_of=as_of, customer_id=customer_id)
    horizon, rate = _period_terms(options)
    valued = clv.customer_value(
        purchasing,
        spending,
        summary,
        horizon_periods=horizon,
        period_discount_rate=rate,
        margin=options.margin,
    )
    return summary.join(valued, on="customer_id", how="left", maintain_order="left")


def expected_values(session: Session, *, brand: BrandConfig, as_of: datetime) -> pl.DataFrame:
    """customer_id and clv (discounted expected value over the configured horizon) of every
    customer with a purchase up to ``as_of``, for the engine's values. Customers who never
    bought are absent: the models describe customers after their first purchase."""
    return customer_values(session, brand=brand, as_of=as_of).select(VALUES_SCHEMA.keys())
