"""The demo brand measured: customer value fitted on its purchases and put in its regard.toml,
values refreshed, and the measurement report written beside its database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from regard.config import load_brand_config
from regard.measurement import clv_service, values_service
from regard.measurement.clv_service import ClvFit
from regard.measurement.report import MeasurementReport, build_report
from regard.measurement.report_html import write_report
from regard.measurement.values_service import ValuesRefresh
from regard.store.database import Store, unit_of_work

REPORT_DIR = "report"
# The simulator's population in the report: twice the brand's customers, within these bounds
# (enough for stable numbers, a few seconds to run).
SIMULATED_CUSTOMERS = (2_000, 20_000)


@dataclass(frozen=True)
class CustomerValue:
    fitted: ClvFit
    refreshed: ValuesRefresh
    config: Path


def fit_customer_value(store: Store, directory: Path, *, as_of: datetime) -> CustomerValue:
    """Fit customer value on the demo's purchases, put the ``[measurement.clv]`` section that
    ``regard clv fit`` proposes in the demo's regard.toml (a copy of the release's, written
    again on every run), read the brand again, and refresh the values the engine uses."""
    config = directory / "regard.toml"
    with unit_of_work(store) as session:
        fitted = clv_service.fit(session, brand=store.brand, as_of=as_of)
    text = config.read_text(encoding="utf-8")
    if "[measurement.clv]" not in text:
        section = fitted.toml(store.brand.measurement.clv)
        config.write_text(
            text.rstrip("\n")
            + "\n\n# Fitted by `regard demo run` on the demo's purchases (regard clv fit).\n"
            + section,
            encoding="utf-8",
        )
    store.brand = load_brand_config(config)
    with unit_of_work(store) as session:
        refreshed = values_service.refresh_values(session, brand=store.brand, as_of=as_of)
    return CustomerValue(fitted=fitted, refreshed=refreshed, config=config)


def simulated_customers(customers: int) -> int:
    """How many customers the report's simulator draws for a demo of ``customers``."""
    low, high = SIMULATED_CUSTOMERS
    return min(high, max(low, 2 * customers))


def write_demo_report(
    store: Store, directory: Path, *, as_of: datetime, simulate_customers: int
) -> tuple[MeasurementReport, Path]:
    """The measurement report at ``as_of``, written to ``<directory>/report/index.html``."""
    report = build_report(
        store, as_of=as_of, by="commitment", simulate_customers=simulate_customers
    )
    return report, write_report(report, directory / REPORT_DIR)
