"""Customer lifetime value: the models recover what simulated customers were drawn from, their
expectations match what those customers did next, and the store and commands value real rows."""

from __future__ import annotations

import math
import tomllib
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.special import beta as beta_function
from scipy.special import gamma as gamma_function

from regard.config import BrandConfig
from regard.errors import ConfigurationError, InvalidInput
from regard.measurement import clv, clv_service
from regard.measurement.options import (
    BgNbdParameters,
    ClvOptions,
    GammaGammaParameters,
    MeasurementOptions,
)
from regard.store.database import Store, unit_of_work
from tests.cli import Run
from tests.preferences.test_commands import BRAND_TOML
from tests.segments.support import AS_OF, add_customer, add_purchases, days_before

# Close to the CDNOW estimates of Fader, Hardie and Lee (2005), in weeks; a < 1 as there.
TRUE_BG_NBD = clv.BgNbd(r=0.243, alpha=4.414, a=0.793, b=2.426)
TRUE_GAMMA_GAMMA = clv.GammaGamma(p=6.25, q=3.74, gamma=15.44)
CUSTOMERS = 10_000
HOLDOUT_WEEKS = 39.0


@cache
def simulated() -> tuple[pl.DataFrame, np.typing.NDArray[np.float64]]:
    """A summary of CUSTOMERS customers drawn from the true models (ages 26 to 78 weeks) and
    how many purchases each made in the HOLDOUT_WEEKS after being observed."""
    rng = np.random.default_rng(20260601)
    m, s = TRUE_BG_NBD, TRUE_GAMMA_GAMMA
    n = CUSTOMERS
    rate = rng.gamma(m.r, 1.0 / m.alpha, n)
    dropout = rng.beta(m.a, m.b, n)
    age = rng.uniform(26.0, 78.0, n)
    spend_rate = rng.gamma(s.q, 1.0 / s.gamma, n)
    frequency = np.zeros(n)
    recency = np.zeros(n)
    total = np.zeros(n)
    later = np.zeros(n)
    clock = np.zeros(n)
    active = np.ones(n, dtype=bool)
    # The first purchase is at 0; dropout happens only after repeat purchases.
    while active.any():
        who = np.flatnonzero(active)
        clock[who] += rng.exponential(1.0 / rate[who])
        beyond = clock[who] > age[who] + HOLDOUT_WEEKS
        active[who[beyond]] = False
        who = who[~beyond]
        observed = clock[who] <= age[who]
        seen, after = who[observed], who[~observed]
        frequency[seen] += 1
        recency[seen] = clock[seen]
        total[seen] += rng.gamma(s.p, 1.0 / spend_rate[seen])
        later[after] += 1
        active[who[rng.random(who.size) < dropout[who]]] = False
    summary = pl.DataFrame(
        {
            "customer_id": np.arange(n, dtype=np.int64),
            "frequency": frequency.astype(np.int64),
            "recency": recency,
            "age": age,
            "monetary": np.where(frequency > 0, total / np.maximum(frequency, 1), np.nan),
        }
    ).with_columns(pl.col("monetary").fill_nan(None))
    return summary, later


def _history(summary: pl.DataFrame) -> dict[str, np.typing.NDArray[np.float64]]:
    return {
        "frequency": summary["frequency"].to_numpy().astype(np.float64),
        "recency": summary["recency"].to_numpy(),
        "age": summary["age"].to_numpy(),
    }


def test_bg_nbd_recovers_the_parameters_it_was_simulated_from() -> None:
    summary, _ = simulated()
    fitted = clv.fit_bg_nbd(summary)
    assert fitted.customers == CUSTOMERS
    assert fitted.standard_errors is not None
    # Each log-parameter within 3.5 of its standard errors (from the observed information of
    # these 10,000 customers): a 1-in-2,000 miss per parameter were the fit merely right in
    # law, and the errors themselves must be small enough for that to mean something.
    truth = (TRUE_BG_NBD.r, TRUE_BG_NBD.alpha, TRUE_BG_NBD.a, TRUE_BG_NBD.b)
    estimate = (fitted.r, fitted.alpha, fitted.a, fitted.b)
    for true, found, error in zip(truth, estimate, fitted.standard_errors, strict=True):
        assert error < 0.2
        assert abs(math.log(found) - math.log(true)) < 3.5 * error
    # The fit is the maximum: the truth is no more likely than the estimate.
    r, alpha, a, b = truth
    at_truth = clv.bg_nbd_log_likelihood(r, alpha, a, b, **_history(summary)).sum()
    assert fitted.log_likelihood >= at_truth


def test_gamma_gamma_recovers_the_parameters_it_was_simulated_from() -> None:
    summary, _ = simulated()
    fitted = clv.fit_gamma_gamma(summary)
    assert fitted.customers == int((summary["frequency"] > 0).sum())
    assert fitted.standard_errors is not None
    truth = (TRUE_GAMMA_GAMMA.p, TRUE_GAMMA_GAMMA.q, TRUE_GAMMA_GAMMA.gamma)
    estimate = (fitted.p, fitted.q, fitted.gamma)
    for true, found, error in zip(truth, estimate, fitted.standard_errors, strict=True):
        assert error < 0.2
        assert abs(math.log(found) - math.log(true)) < 3.5 * error
    # The population mean is much better determined than p, q and gamma apart.
    assert fitted.population_mean == pytest.approx(TRUE_GAMMA_GAMMA.population_mean, rel=0.05)


def test_expected_purchases_match_the_holdout_period() -> None:
    summary, later = simulated()
    fitted = clv.fit_bg_nbd(summary)
    expected = clv.expected_purchases(fitted, HOLDOUT_WEEKS, **_history(summary))
    # About 6,000 purchases follow. Per group of past frequency, and overall, the miss is
    # measured in standard errors of the sum (from the customers' own residuals): within 3.5.
    x = summary["frequency"].to_numpy()
    for group in (x == 0, x == 1, (x >= 2) & (x < 5), x >= 5, x >= 0):
        residual = later[group] - expected[group]
        assert abs(residual.sum()) < 3.5 * math.sqrt(float(np.sum(residual**2)))
    assert expected.sum() == pytest.approx(later.sum(), rel=0.06)
    # With the true parameters the expectation is unbiased for the same holdout.
    truth = clv.expected_purchases(TRUE_BG_NBD, HOLDOUT_WEEKS, **_history(summary))
    assert truth.sum() == pytest.approx(later.sum(), rel=0.06)


def test_log_likelihood_is_the_published_formula() -> None:
    """The stable form equals FHL (2005) equation 6 written with plain gamma and beta."""
    r, alpha, a, b = 0.5, 3.0, 1.5, 2.5
    x = np.array([0.0, 1.0, 4.0, 10.0])
    t_x = np.array([0.0, 3.0, 20.0, 40.0])
    big_t = np.array([10.0, 30.0, 25.0, 52.0])
    plain = []
    for xi, ti, big in zip(x, t_x, big_t, strict=True):
        head = gamma_function(r + xi) * alpha**r / gamma_function(r)
        first = beta_function(a, b + xi) / beta_function(a, b) / (alpha + big) ** (r + xi)
        second = 0.0
        if xi > 0:
            second = (
                beta_function(a + 1, b + xi - 1) / beta_function(a, b) / (alpha + ti) ** (r + xi)
            )
        plain.append(math.log(head * (first + second)))
    stable = clv.bg_nbd_log_likelihood(r, alpha, a, b, frequency=x, recency=t_x, age=big_t)
    np.testing.assert_allclose(stable, plain, rtol=1e-10)
    # Frequencies far beyond what plain gamma functions can hold stay finite.
    huge = clv.bg_nbd_log_likelihood(
        r, alpha, a, b, frequency=np.array([5000.0]), recency=np.array([50.0]), age=np.array([52.0])
    )
    assert np.isfinite(huge).all()


def test_no_repeat_customers_are_alive_and_valued_at_the_population_mean() -> None:
    summary = pl.DataFrame(
        {
            "customer_id": [1, 2, 3, 4, 5],
            "frequency": [0, 3, 3, 2, 6],
            "recency": [0.0, 10.0, 50.0, 20.0, 30.0],
            "age": [40.0, 52.0, 52.0, 30.0, 52.0],
            # 4 repeated only purchases of an unknown amount; 5 only free ones.
            "monetary": [None, 40.0, 40.0, None, 0.0],
        },
        schema=clv.SUMMARY_SCHEMA,
    )
    alive = clv.probability_alive(TRUE_BG_NBD, **_history(summary))
    assert alive[0] == 1.0
    # The same purchases, the last one long ago: less likely to be active.
    assert alive[1] < alive[2] < 1.0
    value = clv.expected_average_value(
        TRUE_GAMMA_GAMMA,
        frequency=summary["frequency"].to_numpy().astype(np.float64),
        monetary=summary["monetary"].fill_null(np.nan).to_numpy(),
    )
    mean = TRUE_GAMMA_GAMMA.population_mean
    assert value[0] == pytest.approx(mean)
    assert value[3] == pytest.approx(mean)
    # Shrunk toward the mean by weight p x / (p x + q - 1).
    weight = 6.25 * 3 / (6.25 * 3 + 3.74 - 1)
    assert value[1] == pytest.approx(weight * 40.0 + (1 - weight) * mean)
    # Six free purchases are evidence of a low spender, not of an average one.
    assert 0.0 < value[4] < 0.2 * mean
    valued = clv.customer_value(
        TRUE_BG_NBD, TRUE_GAMMA_GAMMA, summary, horizon_periods=52.0, period_discount_rate=0.0
    )
    assert valued["clv"].to_list() == pytest.approx(
        (valued["expected_purchases"] * valued["expected_value"]).to_list()
    )
    discounted = clv.customer_value(
        TRUE_BG_NBD, TRUE_GAMMA_GAMMA, summary, horizon_periods=52.0, period_discount_rate=0.01
    )
    assert (discounted["clv"] < valued["clv"]).all()
    assert discounted["clv"].is_finite().all()


def test_summary_counts_days_and_leaves_out_the_first_purchase_value() -> None:
    at = datetime(2026, 1, 1, 10, tzinfo=UTC)
    purchases = pl.DataFrame(
        {
            "customer_id": [1, 1, 1, 1, 2, 3, 3, 4],
            "occurred_at": [
                at,
                at + timedelta(hours=2),  # the same day: one transaction of 30
                at + timedelta(days=7),
                at + timedelta(days=21),
                at + timedelta(days=14),
                at,
                at + timedelta(days=7),
                at + timedelta(days=70),  # after as_of
            ],
            "amount": [10.0, 20.0, 50.0, 70.0, 5.0, 8.0, None, 9.0],
        },
        schema={
            "customer_id": pl.Int64(),
            "occurred_at": pl.Datetime("us", "UTC"),
            "amount": pl.Float64(),
        },
    )
    summary = clv.summarise(purchases, as_of=at + timedelta(days=28), period_days=7.0)
    assert summary.to_dicts() == [
        {"customer_id": 1, "frequency": 2, "recency": 3.0, "age": 4.0, "monetary": 60.0},
        {"customer_id": 2, "frequency": 0, "recency": 0.0, "age": 2.0, "monetary": None},
        {"customer_id": 3, "frequency": 1, "recency": 1.0, "age": 4.0, "monetary": None},
    ]


def test_too_little_data_is_a_clear_error() -> None:
    few = pl.DataFrame(
        {"customer_id": [1], "frequency": [2], "recency": [3.0], "age": [5.0], "monetary": [9.0]},
        schema=clv.SUMMARY_SCHEMA,
    )
    with pytest.raises(clv.FitError, match="too few"):
        clv.fit_bg_nbd(few)
    once = pl.DataFrame(
        {
            "customer_id": range(20),
            "frequency": [0] * 20,
            "recency": [0.0] * 20,
            "age": [10.0] * 20,
            "monetary": [None] * 20,
        },
        schema=clv.SUMMARY_SCHEMA,
    )
    with pytest.raises(clv.FitError, match="bought twice"):
        clv.fit_bg_nbd(once)
    with pytest.raises(clv.FitError, match="too few"):
        clv.fit_gamma_gamma(once)


def test_a_million_customers_are_valued_at_once() -> None:
    summary, _ = simulated()
    big = pl.concat([summary] * 100).with_columns(pl.int_range(pl.len()).alias("customer_id"))
    valued = clv.customer_value(
        TRUE_BG_NBD, TRUE_GAMMA_GAMMA, big, horizon_periods=52.0, period_discount_rate=0.002
    )
    assert valued.height == 1_000_000
    assert valued["clv"].is_finite().all()
    assert (valued["clv"] >= 0).all()


def _configured(brand: BrandConfig) -> BrandConfig:
    options = ClvOptions(
        bg_nbd=BgNbdParameters(r=0.5, alpha=4.0, a=1.2, b=3.0),
        gamma_gamma=GammaGammaParameters(p=6.0, q=4.0, gamma=15.0),
        margin=0.5,
    )
    return brand.model_copy(update={"measurement": MeasurementOptions(clv=options)})


def _shoppers(store: Store, count: int) -> list[int]:
    """``count`` customers, each buying 1 + (i % 4) times at varying intervals and amounts."""
    ids = []
    for i in range(count):
        cid = add_customer(store)
        times = [days_before(200 - 10 * i)] + [
            days_before(200 - 10 * i - (j + 1) * (7 + i)) for j in range(i % 4)
        ]
        add_purchases(store, cid, *((at, 20.0 + 3 * i + j) for j, at in enumerate(times)))
        ids.append(cid)
    return ids


def test_the_store_is_summarised_fitted_and_valued(store: Store) -> None:
    ids = _shoppers(store, 16)
    never = add_customer(store)
    with unit_of_work(store) as session:
        summary = clv_service.summary_of(session, brand=store.brand, as_of=AS_OF)
        found = clv_service.fit(session, brand=store.brand, as_of=AS_OF)
        with pytest.raises(ConfigurationError, match="regard clv fit"):
            clv_service.expected_values(session, brand=store.brand, as_of=AS_OF)
        brand = _configured(store.brand)
        values = clv_service.expected_values(session, brand=brand, as_of=AS_OF)
        one = clv_service.customer_values(session, brand=brand, as_of=AS_OF, customer_id=ids[3])
    assert summary["customer_id"].to_list() == ids
    first = summary.row(3, named=True)
    # Customer 3 bought 4 times, 10 days apart; first 170 days before as_of (weeks).
    assert first["frequency"] == 3
    assert first["recency"] == pytest.approx(30 / 7)
    assert first["age"] == pytest.approx(170 / 7)
    assert first["monetary"] == pytest.approx((30.0 + 31.0 + 32.0) / 3)
    assert found.customers == 16
    assert found.repeat_customers == 12
    assert found.purchasing.r > 0
    snippet = tomllib.loads(found.toml(store.brand.measurement.clv))
    parsed = ClvOptions.model_validate(snippet["measurement"]["clv"])
    assert parsed.bg_nbd is not None
    assert parsed.bg_nbd.r == pytest.approx(found.purchasing.r, rel=1e-5)
    assert values.schema == pl.Schema(clv_service.VALUES_SCHEMA)
    assert values["customer_id"].to_list() == ids
    assert never not in values["customer_id"].to_list()
    assert (values["clv"] > 0).all()
    assert one.height == 1
    assert one["clv"][0] == pytest.approx(values["clv"][3])


def test_an_empty_store_cannot_be_fitted(store: Store) -> None:
    with unit_of_work(store) as session, pytest.raises(InvalidInput, match="too few"):
        clv_service.fit(session, brand=store.brand, as_of=AS_OF)


def test_clv_fit_prints_a_section_and_show_values_a_customer(
    cli: Run, cli_store: Store, tmp_path: Path
) -> None:
    ids = _shoppers(cli_store, 14)
    fitted = cli("clv", "fit", "--as-of", AS_OF.isoformat())
    assert fitted.returncode == 0, fitted.stderr
    assert "BG/NBD purchases" in fitted.stdout
    assert "14 customers with a purchase" in fitted.stdout
    section = fitted.stdout[fitted.stdout.index("[measurement.clv]") :]
    assert "bg_nbd = {" in section
    unconfigured = cli("clv", "show", str(ids[2]), "--as-of", AS_OF.isoformat())
    assert unconfigured.returncode == 1
    assert "not configured" in unconfigured.stderr

    (tmp_path / "regard.toml").write_text(
        BRAND_TOML
        + "\n[measurement.clv]\nbg_nbd = { r = 0.5, alpha = 4.0, a = 1.2, b = 3.0 }\n"
        + "gamma_gamma = { p = 6.0, q = 4.0, gamma = 15.0 }\n",
        encoding="utf-8",
    )
    shown = cli("clv", "show", str(ids[3]), "--as-of", AS_OF.isoformat())
    assert shown.returncode == 0, shown.stderr
    assert f"Customer value of customer {ids[3]}" in shown.stdout
    assert "chance still active" in shown.stdout
    never = add_customer(cli_store)
    nothing = cli("clv", "show", str(never), "--as-of", AS_OF.isoformat())
    assert nothing.returncode == 0, nothing.stderr
    assert "has no purchase" in nothing.stdout
