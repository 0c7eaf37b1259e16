"""Customer lifetime value for non-contractual purchasing: BG/NBD for how many purchases a
customer will make, Gamma-Gamma for what each will be worth.

Pure: frames and arrays in, parameters and expectations out; no database here
(``regard.measurement.clv_service`` reads the store).

Time is counted in *periods* of ``period_days`` days (a week by default) and measured in whole
UTC calendar days; purchases on the same day are one transaction (their amounts summed), so
that an order split into several events is not taken for a loyal customer. Per customer:

- ``frequency`` x: repeat transactions (transaction days after the first);
- ``recency`` t_x: periods from the first transaction to the last;
- ``age`` T: periods from the first transaction's day to ``as_of``'s day;
- ``monetary``: the mean amount of the repeat transactions (the first is left out, as
  Gamma-Gamma assumes; null when there is none with a known amount).

BG/NBD (Fader, Hardie and Lee 2005, "Counting your customers the easy way"): while alive, a
customer buys as a Poisson process of rate lambda ~ Gamma(r, alpha); after each purchase they
drop out with probability p ~ Beta(a, b). Gamma-Gamma (Fader, Hardie and Lee 2005, "RFM and
CLV"): each transaction's value is Gamma(p, nu) with nu ~ Gamma(q, gamma) per customer, so a
customer's expected value is their own mean shrunk toward the population mean gamma p / (q - 1).
Both are fitted by maximum likelihood on log-parameters (``scipy.optimize.minimize``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1, logsumexp

__all__ = [
    "SUMMARY_SCHEMA",
    "BgNbd",
    "FitError",
    "GammaGamma",
    "bg_nbd_log_likelihood",
    "customer_value",
    "expected_average_value",
    "expected_purchases",
    "fit_bg_nbd",
    "fit_gamma_gamma",
    "gamma_gamma_log_likelihood",
    "probability_alive",
    "summarise",
]

Array = npt.NDArray[np.float64]

SUMMARY_SCHEMA = {
    "customer_id": pl.Int64(),
    "frequency": pl.Int64(),
    "recency": pl.Float64(),
    "age": pl.Float64(),
    "monetary": pl.Float64(),
}

# Log-parameters are kept within e^-12 .. e^12: wide enough for any purchasing pattern measured
# in days, weeks or months, narrow enough that the optimiser never overflows.
_LOG_BOUND = 12.0


class FitError(ValueError):
    """The data cannot support a fit (too few customers, or no repeat purchases at all)."""


@dataclass(frozen=True, slots=True)
class BgNbd:
    """BG/NBD parameters: purchase rate lambda ~ Gamma(r, alpha) per period, dropout
    probability after each purchase p ~ Beta(a, b). ``standard_errors`` are those of
    log(r), log(alpha), log(a), log(b) from the observed information, when fitted."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float = math.nan
    customers: int = 0
    standard_errors: tuple[float, float, float, float] | None = None


@dataclass(frozen=True, slots=True)
class GammaGamma:
    """Gamma-Gamma parameters: a transaction's value ~ Gamma(shape p, rate nu), with
    nu ~ Gamma(shape q, rate gamma) per customer. ``standard_errors`` are those of log(p),
    log(q), log(gamma), when fitted."""

    p: float
    q: float
    gamma: float
    log_likelihood: float = math.nan
    customers: int = 0
    standard_errors: tuple[float, float, float] | None = None

    @property
    def population_mean(self) -> float:
        """The mean transaction value across customers, gamma p / (q - 1); infinite if q <= 1."""
        return self.gamma * self.p / (self.q - 1.0) if self.q > 1.0 else math.inf


def summarise(
    purchases: pl.DataFrame, *, as_of: datetime, period_days: float = 7.0
) -> pl.DataFrame:
    """Per customer with a purchase before ``as_of``: frequency, recency, age (in periods of
    ``period_days`` days) and monetary (see the module's docstring). ``purchases`` has
    customer_id, occurred_at (UTC) and amount (null when unknown)."""
    period_us = period_days * 86_400_000_000
    moment = pl.lit(as_of).cast(pl.Datetime("us", "UTC"))
    # Whole days throughout: customers with the same history in days share a likelihood term
    # (see _compress), which makes fitting a large base many times faster.
    today = moment.dt.truncate("1d")
    daily = (
        purchases.lazy()
        .filter(pl.col("occurred_at") <= moment)
        .group_by("customer_id", pl.col("occurred_at").dt.truncate("1d").alias("day"))
        .agg(
            # A day's value is known when any of its amounts is: unknown amounts add nothing.
            pl.when(pl.col("amount").is_not_null().any())
            .then(pl.col("amount").sum())
            .alias("amount"),
        )
        .sort("customer_id", "day")
    )
    summary = daily.group_by("customer_id").agg(
        (pl.len() - 1).cast(pl.Int64).alias("frequency"),
        ((pl.col("day").max() - pl.col("day").min()).dt.total_microseconds() / period_us).alias(
            "recency"
        ),
        ((today - pl.col("day").min()).dt.total_microseconds() / period_us).alias("age"),
        pl.col("amount").slice(1).mean().alias("monetary"),
    )
    return summary.sort("customer_id").collect().match_to_schema(SUMMARY_SCHEMA)


def _compress(*columns: Array) -> tuple[Array, ...]:
    """Unique rows of ``columns`` and how often each occurs: customers sharing a history
    share a likelihood term, so a million customers cost what their distinct histories do."""
    stacked = np.column_stack(columns)
    unique, counts = np.unique(stacked, axis=0, return_counts=True)
    return (*(unique[:, i] for i in range(unique.shape[1])), counts.astype(np.float64))


def bg_nbd_log_likelihood(
    r: float, alpha: float, a: float, b: float, *, frequency: Array, recency: Array, age: Array
) -> Array:
    """Each customer's BG/NBD log-likelihood, written with log-gamma and log-beta functions
    and combined with logsumexp so large frequencies neither overflow nor underflow."""
    x, t_x, big_t = frequency, recency, age
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
    still_alive = betaln(a, b + x) - (r + x) * np.log(alpha + big_t)
    repeat = x > 0
    # The dropped-out-after-the-last-purchase term exists only for repeat customers.
    dropped = np.full_like(x, -np.inf)
    dropped[repeat] = betaln(a + 1.0, b + x[repeat] - 1.0) - (r + x[repeat]) * np.log(
        alpha + t_x[repeat]
    )
    return np.asarray(common + logsumexp(np.stack([still_alive, dropped]), axis=0), np.float64)


def gamma_gamma_log_likelihood(
    p: float, q: float, gamma: float, *, frequency: Array, monetary: Array
) -> Array:
    """Each repeat customer's Gamma-Gamma log-likelihood of their mean transaction value
    ``monetary`` over ``frequency`` transactions (both positive)."""
    x, m = frequency, monetary
    px = p * x
    return np.asarray(
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(gamma)
        + (px - 1.0) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(gamma + m * x),
        np.float64,
    )


Objective = Callable[[Array], float]


def _maximise(objective: Objective, start: Array) -> tuple[Array, float, tuple[float, ...] | None]:
    """Minimise a mean negative log-likelihood over log-parameters. Returns the log-parameters,
    the objective there and the standard errors of one customer's share of the information
    (divide by sqrt(n) for the sample's)."""
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(start)
    found = minimize(objective, start, method="L-BFGS-B", bounds=bounds)
    if not np.isfinite(found.fun):
        raise FitError("the likelihood could not be evaluated at any parameters tried")
    # Polish with a derivative-free search: L-BFGS-B's finite differences stop early on the
    # flat ridges these likelihoods have when a parameter is weakly identified.
    polished = minimize(
        objective,
        found.x,
        method="Nelder-Mead",
        bounds=bounds,
        options={"xatol": 1e-7, "fatol": 1e-12, "maxiter": 4000},
    )
    best = polished if polished.fun <= found.fun else found
    return np.asarray(best.x, np.float64), float(best.fun), _hessian_errors(objective, best.x)


def _hessian_errors(f: Objective, at: Array) -> tuple[float, ...] | None:
    """Standard errors (per customer: divide by sqrt(n)) from a central-difference Hessian of
    the mean negative log-likelihood; None where the Hessian is not positive definite."""
    k = len(at)
    step = 1e-4
    hessian = np.empty((k, k))
    base = f(at)
    for i in range(k):
        for j in range(i, k):
            ei = np.zeros(k)
            ej = np.zeros(k)
            ei[i] = step
            ej[j] = step
            if i == j:
                value = (f(at + ei) - 2 * base + f(at - ei)) / step**2
            else:
                value = (f(at + ei + ej) - f(at + ei - ej) - f(at - ei + ej) + f(at - ei - ej)) / (
                    4 * step**2
                )
            hessian[i, j] = hessian[j, i] = value
    try:
        covariance = np.linalg.inv(hessian)
    except np.linalg.LinAlgError:
        return None
    variances = np.diag(covariance)
    if not np.all(variances > 0):
        return None
    return tuple(float(v) for v in np.sqrt(variances))


def fit_bg_nbd(summary: pl.DataFrame) -> BgNbd:
    """BG/NBD parameters by maximum likelihood from a ``summarise`` frame."""
    if summary.height < 10:
        raise FitError(f"{summary.height} customers are too few to fit purchasing (need 10)")
    x = summary["frequency"].to_numpy().astype(np.float64)
    if not np.any(x > 0):
        raise FitError("no customer has bought twice: repeat purchasing cannot be fitted")
    t_x = summary["recency"].to_numpy().astype(np.float64)
    big_t = summary["age"].to_numpy().astype(np.float64)
    # Ages of zero (bought at as_of) carry no information about rates and would divide by zero.
    keep = big_t > 0
    fx, ft_x, fbig_t, weight = _compress(x[keep], t_x[keep], big_t[keep])
    total = weight.sum()

    def negative_mean(log_params: Array) -> float:
        r, alpha, a, b = np.exp(log_params)
        ll = bg_nbd_log_likelihood(r, alpha, a, b, frequency=fx, recency=ft_x, age=fbig_t)
        value = -float(np.dot(weight, ll)) / total
        return value if math.isfinite(value) else 1e100

    # Start from a rate matching the average purchases per period and middling dropout.
    rate = float(np.mean((x[keep] + 1.0) / big_t[keep]))
    start = np.log(np.array([1.0, 1.0 / max(rate, 1e-6), 1.0, 3.0]))
    log_params, objective, errors = _maximise(negative_mean, start)
    r, alpha, a, b = (float(v) for v in np.exp(log_params))
    scaled = (
        None if errors is None else tuple(e / math.sqrt(total) for e in errors)  # per the sample
    )
    return BgNbd(
        r=r,
        alpha=alpha,
        a=a,
        b=b,
        log_likelihood=float(-objective * total),
        customers=int(total),
        standard_errors=None if scaled is None else (scaled[0], scaled[1], scaled[2], scaled[3]),
    )


def _repeat_spenders(summary: pl.DataFrame) -> tuple[Array, Array]:
    """Frequency and mean value of the customers Gamma-Gamma can learn from: at least one
    repeat transaction and a positive mean value (a zero mean has no likelihood)."""
    usable = summary.filter(
        (pl.col("frequency") > 0) & pl.col("monetary").is_not_null() & (pl.col("monetary") > 0)
    )
    return (
        usable["frequency"].to_numpy().astype(np.float64),
        usable["monetary"].to_numpy().astype(np.float64),
    )


def fit_gamma_gamma(summary: pl.DataFrame) -> GammaGamma:
    """Gamma-Gamma parameters by maximum likelihood from a ``summarise`` frame (repeat
    customers with a positive mean value only)."""
    x, m = _repeat_spenders(summary)
    if x.size < 10:
        raise FitError(f"{x.size} repeat customers with a spend are too few to fit spend (need 10)")
    fx, fm, weight = _compress(x, m)
    total = weight.sum()

    def negative_mean(log_params: Array) -> float:
        p, q, gamma = np.exp(log_params)
        ll = gamma_gamma_log_likelihood(p, q, gamma, frequency=fx, monetary=fm)
        value = -float(np.dot(weight, ll)) / total
        return value if math.isfinite(value) else 1e100

    # Method of moments for a start: mean value ~ gamma p / (q - 1) with q = 3, p = 2.
    start = np.log(np.array([2.0, 3.0, float(np.mean(m))]))
    log_params, objective, errors = _maximise(negative_mean, start)
    p, q, gamma = (float(v) for v in np.exp(log_params))
    scaled = None if errors is None else tuple(e / math.sqrt(total) for e in errors)
    return GammaGamma(
        p=p,
        q=q,
        gamma=gamma,
        log_likelihood=float(-objective * total),
        customers=int(total),
        standard_errors=None if scaled is None else (scaled[0], scaled[1], scaled[2]),
    )


def probability_alive(model: BgNbd, *, frequency: Array, recency: Array, age: Array) -> Array:
    """P(the customer has not dropped out by ``age``); 1 for customers with no repeat."""
    x, t_x, big_t = (np.asarray(v, np.float64) for v in (frequency, recency, age))
    r, alpha, a, b = model.r, model.alpha, model.a, model.b
    repeat = x > 0
    log_ratio = np.zeros_like(x)
    log_ratio[repeat] = (
        np.log(a)
        - np.log(b + x[repeat] - 1.0)
        + (r + x[repeat]) * (np.log(alpha + big_t[repeat]) - np.log(alpha + t_x[repeat]))
    )
    return np.asarray(np.where(repeat, 1.0 / (1.0 + np.exp(log_ratio)), 1.0), np.float64)


def expected_purchases(
    model: BgNbd, periods: float | Array, *, frequency: Array, recency: Array, age: Array
) -> Array:
    """Expected transactions in the next ``periods`` periods given each customer's history
    (FHL 2005, equation 10). The closed form holds for any a but a = 1 exactly, where its two
    factors are 0 and infinity; a is then moved by one millionth, far below any fit's error."""
    a = model.a if abs(model.a - 1.0) > 1e-6 else 1.0 + 1e-6
    x, t_x, big_t = (np.asarray(v, np.float64) for v in (frequency, recency, age))
    t = np.asarray(periods, np.float64)
    r, alpha, b = model.r, model.alpha, model.b
    horizon = alpha + big_t + t
    shrink = np.exp((r + x) * (np.log(alpha + big_t) - np.log(horizon)))
    bracket = 1.0 - shrink * hyp2f1(r + x, b + x, a + b + x - 1.0, t / horizon)
    numerator = (a + b + x - 1.0) / (a - 1.0) * bracket
    alive = probability_alive(model, frequency=x, recency=t_x, age=big_t)
    # P(alive) = 1 / (1 + delta a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)): the same denominator.
    return np.asarray(numerator * alive, np.float64)


def expected_average_value(model: GammaGamma, *, frequency: Array, monetary: Array) -> Array:
    """Each customer's expected value per transaction: their mean of ``frequency`` repeat
    transactions shrunk toward the population mean, the more the fewer they made (weight
    p x / (p x + q - 1) on their own mean). A known mean of zero is evidence too and pulls the
    value down; no repeat transaction, or no known amount (NaN), gives the population mean."""
    x = np.asarray(frequency, np.float64)
    m = np.nan_to_num(np.asarray(monetary, np.float64), nan=0.0)
    known = np.isfinite(np.asarray(monetary, np.float64)) & (x > 0)
    p, q = model.p, model.q
    weight = np.where(known, p * x / (p * x + q - 1.0), 0.0)
    return np.asarray((1.0 - weight) * model.population_mean + weight * m, np.float64)


def customer_value(
    purchasing: BgNbd,
    spending: GammaGamma,
    summary: pl.DataFrame,
    *,
    horizon_periods: float,
    period_discount_rate: float,
    margin: float = 1.0,
    steps: int = 12,
) -> pl.DataFrame:
    """CLV per customer of ``summary``: expected purchases over the horizon, each step's
    purchases discounted to today at ``period_discount_rate`` per period (compounded,
    mid-step), times the expected value per transaction and ``margin``.

    Returns customer_id, expected_purchases (undiscounted), probability_alive,
    expected_value (per transaction) and clv.
    """
    x = summary["frequency"].to_numpy().astype(np.float64)
    t_x = summary["recency"].to_numpy().astype(np.float64)
    big_t = summary["age"].to_numpy().astype(np.float64)
    monetary = summary["monetary"].fill_null(np.nan).to_numpy().astype(np.float64)
    history = {"frequency": x, "recency": t_x, "age": big_t}
    edges = np.linspace(0.0, horizon_periods, steps + 1)
    discounted = np.zeros_like(x)
    before = np.zeros_like(x)
    for start, end in itertools.pairwise(edges):
        after = expected_purchases(purchasing, end, **history)
        factor = (1.0 + period_discount_rate) ** (-(start + end) / 2.0)
        discounted += (after - before) * factor
        before = after
    value = expected_average_value(spending, frequency=x, monetary=monetary)
    return pl.DataFrame(
        {
            "customer_id": summary["customer_id"],
            "expected_purchases": before,
            "probability_alive": probability_alive(purchasing, **history),
            "expected_value": value,
            "clv": discounted * value * margin,
        }
    )
