"""The console's Report page: the measurement report from live data, with the simulation the
last ``regard report`` stored (a page load never runs the simulator)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from markupsafe import Markup
from sqlalchemy.orm import Session

from regard.config import BrandConfig
from regard.measurement.report import MeasurementReport, report_from_session
from regard.measurement.report_html import STYLE, sections_html
from regard.measurement.report_simulation import load_simulation

__all__ = ["STYLE", "read_report", "report_body"]


def read_report(
    session: Session,
    *,
    brand: BrandConfig,
    now: datetime,
    report_dir: Path,
    budget: float | None = None,
    by: str = "commitment",
) -> MeasurementReport:
    """The report's sections on the store now; the simulator's from ``report_dir``, if any;
    customer value as stored (never computed on a page load)."""
    return report_from_session(
        session,
        brand=brand,
        as_of=now,
        budget=budget,
        by=by,
        simulation=load_simulation(report_dir),
        compute_values=False,
    )


def report_body(report: MeasurementReport) -> Markup:
    """The sections as the HTML report shows them."""
    return sections_html(report)
