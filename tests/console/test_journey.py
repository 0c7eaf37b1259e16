"""The journey map drawn as a grid: cells from its reaches, gaps and pile-ups marked."""

from __future__ import annotations

from regard.console.journey import journey_chart
from regard.touchpoints.journey import JourneyMap, JourneyRow, Reach


def reach(touchpoint: str, customers: int, share: float, per_week: float) -> Reach:
    return Reach(touchpoint, "promotional", ("email",), customers, share, per_week)


MAP = JourneyMap(
    rows=(
        JourneyRow(
            "lifecycle:new",
            10,
            (reach("welcome", 10, 1.0, 0.25), reach("offers", 5, 0.5, 7.0)),
            3.5,
            gap=False,
            pile_up=True,
        ),
        JourneyRow("lifecycle:lapsed", 4, (reach("offers", 1, 0.25, 1.0),), 0.25, True, False),
        JourneyRow("lifecycle:active", 8, (reach("welcome", 2, 0.25, 0.25),), 0.0, False, False),
    ),
    window_days=28,
    pile_up_per_week=3.0,
)


def test_cells_count_the_members_each_touchpoint_reaches() -> None:
    chart = journey_chart(MAP)
    assert chart.table == (
        ("", "welcome", "offers", "Mark"),
        ("lifecycle:new", "10", "5", "pile-up"),
        ("lifecycle:lapsed", "0", "1", "gap"),
        ("lifecycle:active", "2", "0", ""),
    )
    assert "Marked: lifecycle:new (pile-up), lifecycle:lapsed (gap)." in chart.alt
    assert chart.title == "Journey map, last 28 days"


def test_columns_in_the_catalogue_order_and_other_measures() -> None:
    shares = journey_chart(MAP, touchpoints=["offers", "welcome", "birthday"], measure="share")
    assert shares.table[0] == ("", "offers", "welcome", "birthday", "Mark")
    assert shares.table[1] == ("lifecycle:new", "50%", "100%", "0%", "pile-up")
    rates = journey_chart(MAP, measure="per_week")
    assert rates.table[1] == ("lifecycle:new", "0.25", "7", "pile-up")
