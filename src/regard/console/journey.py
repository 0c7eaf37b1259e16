"""The journey map as a picture: stage and segment x touchpoint, darker where contact is heavier,
with gaps and pile-ups marked (the map itself is ``regard.touchpoints.journey``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from regard.console.charts import Chart, as_count, as_percent, grid_chart
from regard.touchpoints.journey import JourneyMap, JourneyRow

__all__ = ["JourneyMeasure", "journey_chart"]

JourneyMeasure = Literal["customers", "share", "per_week"]

_MEASURES: dict[str, str] = {
    "customers": "members reached",
    "share": "share of members reached",
    "per_week": "messages a reached member gets a week",
}


def journey_chart(
    journey: JourneyMap,
    *,
    touchpoints: Sequence[str] | None = None,
    measure: JourneyMeasure = "customers",
) -> Chart:
    """The grid of ``journey``: a row per stage or segment, a column per touchpoint (those
    given, such as the catalogue's, in order; else every touchpoint reaching a row), each cell
    the ``measure`` of that touchpoint in that row; gap and pile-up rows are marked."""
    columns = (
        list(touchpoints)
        if touchpoints is not None
        else list(dict.fromkeys(r.touchpoint for row in journey.rows for r in row.reaches))
    )
    values = [[_value(row, touchpoint, measure) for touchpoint in columns] for row in journey.rows]
    marks = {
        row.segment: ", ".join(
            word for word, marked in (("gap", row.gap), ("pile-up", row.pile_up)) if marked
        )
        for row in journey.rows
        if row.gap or row.pile_up
    }
    value_format = {"customers": as_count, "share": as_percent, "per_week": _per_week}[measure]
    return grid_chart(
        [row.segment for row in journey.rows],
        columns,
        values,
        marks,
        title=f"Journey map, last {journey.window_days} days",
        value_label=_MEASURES[measure],
        value_format=value_format,
        maximum=1.0 if measure == "share" else None,
    )


def _value(row: JourneyRow, touchpoint: str, measure: JourneyMeasure) -> float:
    reach = next((r for r in row.reaches if r.touchpoint == touchpoint), None)
    if reach is None:
        return 0.0
    if measure == "customers":
        return float(reach.customers)
    if measure == "share":
        return reach.share
    return reach.per_week


def _per_week(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")
