"""The value the engine gives each candidate: the touchpoint's value for the customer's best
segment, learned where measurement stored a value, times the customer's value factor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sqlalchemy import insert, select

from regard.config import BrandConfig
from regard.decisions.inputs import IMPORTANCES, due_candidates, read_inputs
from regard.decisions.models import Decision
from regard.decisions.service import run_engine
from regard.measurement import values_repository
from regard.measurement.options import (
    BgNbdParameters,
    ClvOptions,
    GammaGammaParameters,
    MeasurementOptions,
)
from regard.segments.models import SegmentMembership
from regard.store.database import Store, unit_of_work
from regard.touchpoints.models import Candidate
from tests.decisions.support import NOW as SHOP_NOW
from tests.segments.support import add_customer
from tests.touchpoints.support import CATALOGUE, brand_with_touchpoints

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
ORDER_READY = {**CATALOGUE[0], "value": {"default": 3.0, "rfm:champions": 5.0}}


def _brand(*, clv: bool) -> BrandConfig:
    brand = brand_with_touchpoints([ORDER_READY, *CATALOGUE[1:]])
    if not clv:
        return brand
    options = ClvOptions(
        bg_nbd=BgNbdParameters(r=0.5, alpha=4.0, a=1.2, b=3.0),
        gamma_gamma=GammaGammaParameters(p=6.0, q=4.0, gamma=15.0),
    )
    return brand.model_copy(update={"measurement": MeasurementOptions(clv=options)})


def _customers(store: Store) -> dict[str, int]:
    """ana (a champion, worth 100), ben (worth 10), cas (worth 400) and dee (never bought, no
    value), each with an order ready to collect; the mean value is (100 + 10 + 400) / 3 = 170."""
    ids = {name: add_customer(store) for name in ("ana", "ben", "cas", "dee")}
    with unit_of_work(store) as session:
        for name, customer in ids.items():
            session.execute(
                insert(Candidate).values(
                    touchpoint="order_ready",
                    customer_id=customer,
                    key=f"order:{name}",
                    triggered_at=NOW - timedelta(hours=1),
                    deadline_at=NOW + timedelta(hours=47),
                    status="pending",
                    created_at=NOW - timedelta(hours=1),
                )
            )
        session.add(
            SegmentMembership(segment="rfm:champions", customer_id=ids["ana"], entered_at=NOW)
        )
        values_repository.replace_customer_values(
            session,
            pl.DataFrame(
                {
                    "customer_id": [ids["ana"], ids["ben"], ids["cas"]],
                    "expected_value": [100.0, 10.0, 400.0],
                    "probability_alive": [0.9, 0.4, 1.0],
                }
            ),
            scored_at=NOW,
        )
    return ids


def _values(store: Store, brand: BrandConfig, ids: dict[str, int]) -> pl.DataFrame:
    with unit_of_work(store) as session:
        inputs = read_inputs(session, brand=brand, now=NOW, candidate_ids=due_candidates(NOW))
    names = pl.DataFrame({"customer": list(ids), "customer_id": list(ids.values())})
    return (
        inputs.candidates.join(names, on="customer_id").select("customer", "value").sort("customer")
    )


def test_without_customer_value_the_touchpoint_value_stands(store: Store) -> None:
    ids = _customers(store)
    expected = pl.DataFrame(
        {"customer": ["ana", "ben", "cas", "dee"], "value": [5.0, 3.0, 3.0, 3.0]}
    )
    # Customer values are stored, but without [measurement.clv] the engine does not use them.
    assert_frame_equal(_values(store, _brand(clv=False), ids), expected)


def test_customer_value_scales_the_value_clipped_and_one_for_no_value(store: Store) -> None:
    ids = _customers(store)
    expected = pl.DataFrame(
        {
            "customer": ["ana", "ben", "cas", "dee"],
            "value": [
                5.0 * 100.0 / 170.0,  # a champion, worth a little over half the mean
                3.0 * 0.5,  # 10 / 170 is clipped up to 0.5
                3.0 * 2.0,  # 400 / 170 is clipped down to 2
                3.0,  # never bought: no value, factor 1
            ],
        }
    )
    assert_frame_equal(_values(store, _brand(clv=True), ids), expected)


def test_a_learned_value_is_blended_with_the_configured_value_of_now(store: Store) -> None:
    ids = _customers(store)
    learned = pl.DataFrame(
        {
            "touchpoint": ["order_ready", "order_ready", "order_ready"],
            "segment": ["default", "rfm:champions", "default"],
            "channel": ["all", "all", "sms"],
            "configured": [3.0, 5.0, 3.0],
            "measured": [9.0, None, 20.0],
            "learned": [7.5, 5.0, 19.0],
            "weight": [0.75, 0.0, 0.9],
            "customers": [3_000.0, 0.0, 9_000.0],
        }
    )
    with unit_of_work(store) as session:
        values_repository.replace_touchpoint_values(session, learned, measured_at=NOW)
    found = _values(store, _brand(clv=False), ids)
    # The default is 3/4 measured (9.0) and 1/4 configured (3.0); the champions' value has no
    # measurement and stands; the per-channel row is not the engine's.
    default = 0.75 * 9.0 + 0.25 * 3.0
    assert found["value"].to_list() == pytest.approx([5.0, default, default, default])
    # The brand raising its configured default counts at once, through the same weight.
    raised = {**ORDER_READY, "value": {"default": 7.0, "rfm:champions": 5.0}}
    brand = brand_with_touchpoints([raised, *CATALOGUE[1:]])
    again = _values(store, brand, ids)
    assert again["value"][1] == pytest.approx(0.75 * 9.0 + 0.25 * 7.0)


def test_a_sent_decision_shows_the_value_the_engine_used(
    store: Store, shop: dict[str, int]
) -> None:
    """ana's order-ready text is worth 3.0 x her factor: 400 over a mean of 250, 1.6."""
    store.brand = store.brand.model_copy(update={"measurement": _brand(clv=True).measurement})
    with unit_of_work(store) as session:
        values_repository.replace_customer_values(
            session,
            pl.DataFrame(
                {
                    "customer_id": [shop["ana"], shop["ben"]],
                    "expected_value": [400.0, 100.0],
                    "probability_alive": [1.0, 0.5],
                }
            ),
            scored_at=SHOP_NOW,
        )
    run_engine(store, now=SHOP_NOW)
    with unit_of_work(store) as session:
        sent = session.scalars(
            select(Decision).where(Decision.customer_id == shop["ana"], Decision.outcome == "sent")
        ).one()
        channel, params, value = sent.channel, sent.params, sent.value
    assert channel is not None
    engagement = store.brand.policy.channels[channel].engagement  # type: ignore[index]
    assert value == pytest.approx(3.0 * 1.6 * engagement)
    assert params["value"] == pytest.approx(round(3.0 * 1.6 * engagement, 4))


def test_candidates_carry_the_catalogue_as_codes_not_texts(store: Store) -> None:
    _customers(store)
    brand = _brand(clv=False)
    with unit_of_work(store) as session:
        inputs = read_inputs(session, brand=brand, now=NOW, candidate_ids=due_candidates(NOW))
    candidates = inputs.candidates
    touchpoint, topic = candidates["touchpoint"].dtype, candidates["topic"].dtype
    # Enums of the brand's own catalogue: a byte a candidate, the same texts when read.
    assert isinstance(touchpoint, pl.Enum)
    assert sorted(touchpoint.categories.to_list()) == sorted(t.name for t in brand.touchpoints)
    assert isinstance(topic, pl.Enum)
    assert {t.key for t in brand.topics} <= set(topic.categories.to_list())
    assert candidates["importance"].dtype == IMPORTANCES
    assert candidates["touchpoint"].cast(pl.String).to_list() == ["order_ready"] * 4
    assert candidates["importance"].cast(pl.String).unique().to_list() == [
        next(t.importance for t in brand.topics if t.key == ORDER_READY["topic"])
    ]
    assert inputs.customers["time_zone"].dtype == pl.Categorical()
