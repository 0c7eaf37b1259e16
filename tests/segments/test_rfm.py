"""RFM scores, tie-breaking, the window, and the named groups of the recency x frequency grid."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from pydantic import ValidationError

from regard.errors import InvalidInput
from regard.segments.options import RfmOptions
from regard.segments.rfm import PURCHASES_SCHEMA, RFM_GROUPS, purchases_from_events, rfm

AS_OF = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
OPTIONS = RfmOptions()

# The grid as docs/segments.md draws it: recency score -> frequency score 1..5 -> group.
GRID = {
    5: ("new_customers", "potential_loyalists", "potential_loyalists", "champions", "champions"),
    4: (
        "promising",
        "potential_loyalists",
        "potential_loyalists",
        "loyal_customers",
        "loyal_customers",
    ),
    3: ("about_to_sleep", "about_to_sleep", "need_attention", "loyal_customers", "loyal_customers"),
    2: ("hibernating", "hibernating", "at_risk", "at_risk", "cannot_lose_them"),
    1: ("hibernating", "hibernating", "at_risk", "at_risk", "cannot_lose_them"),
}


def purchases(rows: Sequence[tuple[int, timedelta, float | None]]) -> pl.DataFrame:
    """Purchases from (customer_id, how long before AS_OF, amount)."""
    return pl.DataFrame(
        [(customer, AS_OF - ago, amount) for customer, ago, amount in rows],
        schema=PURCHASES_SCHEMA,
        orient="row",
    )


def customers(*ids: int) -> pl.DataFrame:
    return pl.DataFrame({"customer_id": list(ids)}, schema={"customer_id": pl.Int64})


def scores(frame: pl.DataFrame) -> dict[int, tuple[int | None, int | None, int | None]]:
    return {row["customer_id"]: (row["r"], row["f"], row["m"]) for row in frame.to_dicts()}


def grid_population() -> pl.DataFrame:
    """25 customers, one per cell: customer 10 x r + f lands on recency r and frequency f.

    Five customers share each frequency (f purchases each) and each recency fifth, so every
    score is a whole fifth and ties never cross a boundary.
    """
    rows: list[tuple[int, timedelta, float | None]] = []
    for r in range(1, 6):
        for f in range(1, 6):
            last = timedelta(days=(5 - r) * 40 + f)
            rows += [(10 * r + f, last + timedelta(days=k), 10.0) for k in range(f)]
    return purchases(rows)


def test_every_cell_of_the_grid_gets_its_named_group() -> None:
    ids = [10 * r + f for r in range(1, 6) for f in range(1, 6)]
    result = rfm(grid_population(), customers(*ids), as_of=AS_OF, options=OPTIONS)

    got = {row["customer_id"]: (row["r"], row["f"], row["rfm_group"]) for row in result.to_dicts()}
    expected = {10 * r + f: (r, f, GRID[r][f - 1]) for r in range(1, 6) for f in range(1, 6)}
    assert got == expected
    assert set(result["rfm_group"]) == {
        "champions",
        "loyal_customers",
        "potential_loyalists",
        "new_customers",
        "promising",
        "need_attention",
        "about_to_sleep",
        "at_risk",
        "cannot_lose_them",
        "hibernating",
    }


@pytest.mark.parametrize(
    ("customer_id", "group"),
    [
        (55, "champions"),
        (45, "loyal_customers"),
        (42, "potential_loyalists"),
        (51, "new_customers"),
        (41, "promising"),
        (33, "need_attention"),
        (32, "about_to_sleep"),
        (24, "at_risk"),
        (15, "cannot_lose_them"),
        (11, "hibernating"),
    ],
)
def test_each_named_group(customer_id: int, group: str) -> None:
    ids = [10 * r + f for r in range(1, 6) for f in range(1, 6)]
    result = rfm(grid_population(), customers(*ids), as_of=AS_OF, options=OPTIONS)

    assert result.filter(pl.col("customer_id") == customer_id)["rfm_group"].item() == group


def test_five_customers_golden_frame() -> None:
    bought = purchases(
        [
            (1, timedelta(days=3), 20.0),
            (1, timedelta(days=40), 30.0),
            (2, timedelta(days=10), 500.0),
            (3, timedelta(days=100, hours=6), 5.0),
            (3, timedelta(days=120), 5.0),
            (3, timedelta(days=130), 5.0),
            (4, timedelta(days=200), 70.0),
            (5, timedelta(days=300), 1.0),
            (5, timedelta(days=301), 1.0),
            (5, timedelta(days=302), 1.0),
            (5, timedelta(days=303), 1.0),
        ]
    )
    result = rfm(bought, customers(1, 2, 3, 4, 5, 6), as_of=AS_OF, options=OPTIONS)

    expected = pl.DataFrame(
        {
            "customer_id": [1, 2, 3, 4, 5, 6],
            "recency_days": [3, 10, 100, 200, 300, None],
            "frequency": [2, 1, 3, 1, 4, 0],
            "monetary": [50.0, 500.0, 15.0, 70.0, 4.0, 0.0],
            # Frequency ties (2 and 4 bought once) go to the bigger spender.
            "r": [5, 4, 3, 2, 1, None],
            "f": [3, 2, 4, 1, 5, None],
            "m": [3, 5, 2, 4, 1, None],
            "rfm": ["533", "425", "342", "214", "151", None],
            "rfm_group": [
                "potential_loyalists",
                "potential_loyalists",
                "loyal_customers",
                "hibernating",
                "cannot_lose_them",
                None,
            ],
        },
        schema_overrides={"r": pl.Int8, "f": pl.Int8, "m": pl.Int8},
    ).with_columns(pl.col("rfm_group").cast(RFM_GROUPS))
    assert_frame_equal(result, expected)


def test_equal_customers_split_by_customer_id_the_longer_standing_first() -> None:
    bought = purchases([(customer, timedelta(days=5), 10.0) for customer in range(1, 11)])
    result = rfm(bought, customers(*range(1, 11)), as_of=AS_OF, options=OPTIONS)

    expected_score = {1: 5, 2: 5, 3: 4, 4: 4, 5: 3, 6: 3, 7: 2, 8: 2, 9: 1, 10: 1}
    assert scores(result) == {c: (s, s, s) for c, s in expected_score.items()}


def test_ties_go_to_the_other_measures_before_customer_id() -> None:
    # Same recency to the microsecond; customer 2 bought more often, customer 3 spent more.
    bought = purchases(
        [
            (1, timedelta(days=5), 10.0),
            (2, timedelta(days=5), 10.0),
            (2, timedelta(days=50), 10.0),
            (3, timedelta(days=5), 99.0),
        ]
    )
    result = rfm(bought, customers(1, 2, 3), as_of=AS_OF, options=OPTIONS)

    # r: 2 (more purchases) > 3 (more spent) > 1; f: 2 > 3 > 1; m: 3 > 2 > 1.
    assert scores(result) == {1: (2, 2, 2), 2: (5, 5, 4), 3: (4, 4, 5)}


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_shuffled_rows_give_the_same_scores(seed: int) -> None:
    rows = [
        (customer, timedelta(days=(customer * 7) % 30, hours=k), float(customer % 4))
        for customer in range(1, 41)
        for k in range(customer % 3 + 1)
    ]
    bought = purchases(rows)
    people = customers(*range(1, 45))
    baseline = rfm(bought, people, as_of=AS_OF, options=OPTIONS)

    shuffled = rfm(
        bought.sample(fraction=1.0, shuffle=True, seed=seed),
        people.sample(fraction=1.0, shuffle=True, seed=seed),
        as_of=AS_OF,
        options=OPTIONS,
    )

    assert_frame_equal(shuffled.sort("customer_id"), baseline)


def test_rows_follow_the_customers_frame() -> None:
    bought = purchases([(1, timedelta(days=1), 1.0), (2, timedelta(days=2), 2.0)])
    result = rfm(bought, customers(3, 2, 1), as_of=AS_OF, options=OPTIONS)

    assert result["customer_id"].to_list() == [3, 2, 1]


def test_a_customer_without_purchases_has_no_scores() -> None:
    bought = purchases([(1, timedelta(days=1), 1.0)])
    result = rfm(bought, customers(1, 2), as_of=AS_OF, options=OPTIONS)

    row = result.filter(pl.col("customer_id") == 2).to_dicts()[0]
    assert row == {
        "customer_id": 2,
        "recency_days": None,
        "frequency": 0,
        "monetary": 0.0,
        "r": None,
        "f": None,
        "m": None,
        "rfm": None,
        "rfm_group": None,
    }


def test_a_lone_one_purchase_customer_is_the_best_on_every_measure() -> None:
    bought = purchases([(7, timedelta(days=200), 12.5)])
    result = rfm(bought, customers(7), as_of=AS_OF, options=OPTIONS)

    assert result.row(0) == (7, 200, 1, 12.5, 5, 5, 5, "555", "champions")


def test_the_window_includes_its_first_day_and_excludes_the_future() -> None:
    window = timedelta(days=OPTIONS.window_days)
    bought = purchases(
        [
            (1, window, 10.0),  # exactly window_days ago: in
            (2, window + timedelta(microseconds=1), 10.0),  # just before the window: out
            (3, timedelta(days=-1), 10.0),  # after as_of: out
            (4, timedelta(0), 10.0),  # at as_of: in
        ]
    )
    result = rfm(bought, customers(1, 2, 3, 4), as_of=AS_OF, options=OPTIONS)

    assert result["frequency"].to_list() == [1, 0, 0, 1]
    assert result["recency_days"].to_list() == [365, None, None, 0]


def test_a_shorter_window_from_the_options() -> None:
    bought = purchases([(1, timedelta(days=31), 10.0), (1, timedelta(days=29), 5.0)])
    result = rfm(bought, customers(1), as_of=AS_OF, options=RfmOptions(window_days=30))

    assert result.select("frequency", "monetary").row(0) == (1, 5.0)


def test_a_purchase_without_amount_counts_for_frequency_only() -> None:
    bought = purchases([(1, timedelta(days=1), None), (1, timedelta(days=2), 4.0)])
    result = rfm(bought, customers(1), as_of=AS_OF, options=OPTIONS)

    assert result.select("frequency", "monetary").row(0) == (2, 4.0)


def test_as_of_without_time_zone_is_refused() -> None:
    with pytest.raises(InvalidInput, match="time zone"):
        rfm(purchases([]), customers(1), as_of=datetime(2026, 6, 1), options=OPTIONS)


def test_as_of_in_another_zone_is_the_same_instant() -> None:
    bought = purchases([(1, timedelta(hours=30), 1.0)])
    paris = AS_OF.astimezone(ZoneInfo("Europe/Paris"))
    result = rfm(bought, customers(1), as_of=paris, options=OPTIONS)

    assert result["recency_days"].item() == 1


def events_frame(properties: pl.Series) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_id": [1, 1, 2, 3],
            "type": ["order_completed", "page_viewed", "order_completed", "order_completed"],
            "occurred_at": [AS_OF - timedelta(days=d) for d in (1, 2, 3, 4)],
            "properties": properties,
        },
        schema_overrides={"occurred_at": pl.Datetime("us", "UTC")},
    )


def test_purchases_from_events_with_json_properties() -> None:
    texts = [json.dumps({"amount": 12.5}), json.dumps({"amount": 99}), "{}", '{"amount": "7"}']
    result = purchases_from_events(events_frame(pl.Series(texts)), options=OPTIONS).collect()

    assert result.schema == PURCHASES_SCHEMA
    assert result["customer_id"].to_list() == [1, 2, 3]
    assert result["amount"].to_list() == [12.5, None, 7.0]


def test_purchases_from_events_with_struct_properties() -> None:
    structs = pl.Series([{"total": 1.0}, {"total": 2.0}, {"total": 3.0}, {"total": None}])
    result = purchases_from_events(
        events_frame(structs), options=RfmOptions(amount_property="total")
    ).collect()

    assert result["amount"].to_list() == [1.0, 3.0, None]


def test_purchases_from_events_with_an_amount_column_and_other_types() -> None:
    events = events_frame(pl.Series([None, None, None, None], dtype=pl.String)).drop("properties")
    events = events.with_columns(amount=pl.Series([1.0, 2.0, 3.0, 4.0]))
    options = RfmOptions(purchase_event_types=("order_completed", "page_viewed"))

    result = purchases_from_events(events, options=options).collect()

    assert result["amount"].to_list() == [1.0, 2.0, 3.0, 4.0]


def test_purchases_from_events_without_any_amount() -> None:
    events = events_frame(pl.Series([None] * 4, dtype=pl.String)).drop("properties")

    result = purchases_from_events(events, options=OPTIONS).collect()

    assert result["amount"].null_count() == 3


def test_options_refuse_unknown_keys_and_bad_property_names() -> None:
    with pytest.raises(ValidationError):
        RfmOptions.model_validate({"window": 30})
    with pytest.raises(ValidationError):
        RfmOptions(amount_property="$.amount")
    with pytest.raises(ValidationError):
        RfmOptions(purchase_event_types=())
