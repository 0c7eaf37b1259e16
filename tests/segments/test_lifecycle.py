"""Lifecycle stages, each threshold at and just over its boundary, and the reasons given."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from pydantic import ValidationError

from regard.segments.lifecycle import STAGES, lifecycle
from regard.segments.options import LifecycleOptions
from regard.segments.rfm import PURCHASES_SCHEMA

AS_OF = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
OPTIONS = LifecycleOptions()
JUST = timedelta(seconds=1)


def days(*values: float) -> list[timedelta]:
    return [timedelta(days=value) for value in values]


def purchases(history: Mapping[int, Sequence[timedelta]]) -> pl.DataFrame:
    """Purchases from customer_id -> how long before AS_OF each purchase was."""
    return pl.DataFrame(
        [(customer, AS_OF - ago, 10.0) for customer, agos in history.items() for ago in agos],
        schema=PURCHASES_SCHEMA,
        orient="row",
    )


def staged(agos: Sequence[timedelta], options: LifecycleOptions = OPTIONS) -> dict[str, Any]:
    """The lifecycle row of one customer who bought ``agos`` before AS_OF."""
    people = pl.DataFrame({"customer_id": [1]}, schema={"customer_id": pl.Int64})
    return lifecycle(purchases({1: agos}), people, as_of=AS_OF, options=options).to_dicts()[0]


def test_a_customer_without_purchases_is_a_prospect() -> None:
    assert staged([]) == {
        "customer_id": 1,
        "stage": "prospect",
        "since": None,
        "reason": "prospect: no purchase yet",
    }


def test_purchases_after_as_of_are_ignored() -> None:
    assert staged(days(-1))["stage"] == "prospect"


def test_a_first_purchase_within_new_days_is_new_since_that_purchase() -> None:
    assert staged(days(12, 3)) == {
        "customer_id": 1,
        "stage": "new",
        "since": AS_OF - timedelta(days=12),
        "reason": "new: first purchase 12 days ago",
    }


def test_new_ends_just_after_new_days() -> None:
    assert staged(days(30))["stage"] == "new"
    one_purchase = staged([timedelta(days=30) + JUST])
    assert one_purchase["stage"] == "active"
    assert one_purchase["since"] is None
    assert one_purchase["reason"] == (
        "active: last purchase 30 days ago, within twice the 30 days assumed after one purchase"
    )


def test_a_regular_customer_is_active() -> None:
    assert staged(days(130, 90, 50)) == {
        "customer_id": 1,
        "stage": "active",
        "since": None,
        "reason": "active: last purchase 50 days ago, within twice their usual 40",
    }


def test_at_risk_after_more_than_twice_the_usual_interval() -> None:
    # Every 40 days, then silence: at risk after more than 80 days.
    assert staged(days(160, 120, 80))["stage"] == "active"
    assert staged([ago + JUST for ago in days(160, 120, 80)]) == {
        "customer_id": 1,
        "stage": "at_risk",
        "since": AS_OF - JUST,
        "reason": "at risk: no purchase for 80 days, more than twice their usual 40",
    }


def test_at_risk_reason_as_a_marketer_reads_it() -> None:
    row = staged(days(175, 135, 95))

    assert row["stage"] == "at_risk"
    assert row["since"] == AS_OF - timedelta(days=15)
    assert row["reason"] == "at risk: no purchase for 95 days, more than twice their usual 40"


def test_the_usual_interval_is_the_median_gap() -> None:
    # Gaps 200, 40, 16: the median 40 sets the rhythm, not the mean.
    row = staged(days(331, 131, 91, 75))

    assert row["stage"] == "active"
    assert row["reason"] == "active: last purchase 75 days ago, within twice their usual 40"


def test_frequent_buyers_get_the_floor_interval() -> None:
    # Every 5 days, but the usual interval is never under 30: at risk after more than 60.
    assert staged(days(70, 65, 60))["stage"] == "active"
    row = staged([ago + JUST for ago in days(70, 65, 60)])
    assert row["stage"] == "at_risk"
    assert row["reason"] == (
        "at risk: no purchase for 60 days, more than twice the 30-day minimum interval"
    )


def test_a_one_purchase_customer_gets_the_floor_as_their_interval() -> None:
    assert staged(days(60))["stage"] == "active"
    at_risk = staged([timedelta(days=60) + JUST])
    assert at_risk["stage"] == "at_risk"
    assert at_risk["reason"] == (
        "at risk: no purchase for 60 days, more than twice the 30 days assumed after one purchase"
    )
    assert staged(days(120))["stage"] == "at_risk"
    lapsed = staged([timedelta(days=120) + JUST])
    assert lapsed == {
        "customer_id": 1,
        "stage": "lapsed",
        "since": AS_OF - JUST,
        "reason": (
            "lapsed: no purchase for 120 days, more than 4 times the 30 days assumed after one"
            " purchase"
        ),
    }


def test_lapsed_after_more_than_four_usual_intervals() -> None:
    assert staged(days(240, 200, 160))["stage"] == "at_risk"
    assert staged([ago + JUST for ago in days(240, 200, 160)]) == {
        "customer_id": 1,
        "stage": "lapsed",
        "since": AS_OF - JUST,
        "reason": "lapsed: no purchase for 160 days, more than 4 times their usual 40",
    }


def test_lapsed_after_lapsed_after_days_whatever_the_rhythm() -> None:
    # Every 100 days: four intervals would be 400, but a year without a purchase is a lapse.
    assert staged(days(565, 465, 365))["stage"] == "at_risk"
    assert staged([ago + JUST for ago in days(565, 465, 365)]) == {
        "customer_id": 1,
        "stage": "lapsed",
        "since": AS_OF - JUST,
        "reason": "lapsed: no purchase for 365 days, more than the 365-day limit",
    }


def test_without_an_absolute_limit_only_the_rhythm_lapses() -> None:
    options = LifecycleOptions(lapsed_after_days=None)

    assert staged(days(566, 466, 366), options)["stage"] == "at_risk"
    assert staged(days(600, 500, 401), options)["stage"] == "lapsed"


def test_a_purchase_after_a_lapse_wins_the_customer_back() -> None:
    # Every 40 days, then 310 days of silence (a lapse was 160), then a purchase 10 days ago.
    assert staged(days(400, 360, 320, 10)) == {
        "customer_id": 1,
        "stage": "won_back",
        "since": AS_OF - timedelta(days=10),
        "reason": "won back: bought 10 days ago after 310 days without a purchase",
    }


def test_won_back_needs_a_gap_just_over_the_lapse_before_it() -> None:
    # Every 60 days, so a lapse was more than 240 days without a purchase.
    assert staged(days(370, 310, 250, 10))["stage"] == "active"
    row = staged([*days(370, 310), timedelta(days=250) + JUST, timedelta(days=10)])
    assert row["stage"] == "won_back"


def test_won_back_lasts_won_back_days() -> None:
    assert staged(days(510, 450, 390, 90))["stage"] == "won_back"
    assert staged([*days(510, 450, 390), timedelta(days=90) + JUST])["stage"] == "active"


def test_a_second_purchase_long_after_the_first_is_a_win_back() -> None:
    # One purchase has no rhythm: the floor (30) says a lapse was more than 120 days.
    assert staged(days(210, 10))["stage"] == "won_back"
    assert staged(days(120, 10))["stage"] == "active"


def test_slipping_again_after_a_win_back_is_at_risk() -> None:
    # Won back 85 days ago, but their usual interval is 40: at risk wins over won back.
    assert staged(days(420, 380, 340, 85))["stage"] == "at_risk"


def test_thresholds_come_from_the_options() -> None:
    options = LifecycleOptions(
        new_days=7, at_risk_multiple=3.0, lapsed_multiple=5.0, interval_floor_days=10
    )

    assert staged(days(8), options)["stage"] == "active"
    row = staged([timedelta(days=30) + JUST], options)
    assert row["reason"] == (
        "at risk: no purchase for 30 days, more than 3 times the 10 days assumed after one purchase"
    )
    assert staged([timedelta(days=50) + JUST], options)["stage"] == "lapsed"


HISTORY: dict[int, list[timedelta]] = {
    2: days(5),
    3: days(130, 90, 50),
    4: days(175, 135, 95),
    5: days(300),
    6: days(400, 360, 320, 10),
}


def test_every_stage_in_one_golden_frame() -> None:
    people = pl.DataFrame({"customer_id": [6, 5, 4, 3, 2, 1]}, schema={"customer_id": pl.Int64})

    result = lifecycle(purchases(HISTORY), people, as_of=AS_OF, options=OPTIONS)

    expected = pl.DataFrame(
        {
            "customer_id": [6, 5, 4, 3, 2, 1],
            "stage": ["won_back", "lapsed", "at_risk", "active", "new", "prospect"],
            "since": [
                AS_OF - timedelta(days=10),
                AS_OF - timedelta(days=180),
                AS_OF - timedelta(days=15),
                None,
                AS_OF - timedelta(days=5),
                None,
            ],
            "reason": [
                "won back: bought 10 days ago after 310 days without a purchase",
                "lapsed: no purchase for 300 days, more than 4 times the 30 days assumed after"
                " one purchase",
                "at risk: no purchase for 95 days, more than twice their usual 40",
                "active: last purchase 50 days ago, within twice their usual 40",
                "new: first purchase 5 days ago",
                "prospect: no purchase yet",
            ],
        },
        schema={
            "customer_id": pl.Int64,
            "stage": STAGES,
            "since": pl.Datetime("us", "UTC"),
            "reason": pl.String,
        },
    )
    assert_frame_equal(result, expected)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_shuffled_rows_give_the_same_stages(seed: int) -> None:
    people = pl.DataFrame({"customer_id": [1, 2, 3, 4, 5, 6]}, schema={"customer_id": pl.Int64})
    bought = purchases(HISTORY)
    baseline = lifecycle(bought, people, as_of=AS_OF, options=OPTIONS)

    shuffled = lifecycle(
        bought.sample(fraction=1.0, shuffle=True, seed=seed),
        people.sample(fraction=1.0, shuffle=True, seed=seed),
        as_of=AS_OF,
        options=OPTIONS,
    )

    assert_frame_equal(shuffled.sort("customer_id"), baseline)


def test_options_refuse_a_lapse_before_the_risk_and_unknown_keys() -> None:
    with pytest.raises(ValidationError, match="lapsed_multiple"):
        LifecycleOptions(at_risk_multiple=3.0, lapsed_multiple=3.0)
    with pytest.raises(ValidationError):
        LifecycleOptions.model_validate({"new": 30})
    with pytest.raises(ValidationError):
        LifecycleOptions(new_days=-1)
