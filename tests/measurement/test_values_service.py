"""The values refresh: every customer's expected value stored for the engine, and each
touchpoint's value learned from its control group, shrunk toward the configured value until
there is enough data and then replaced by the measurement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from sqlalchemy import func, insert, select

from regard.config import BrandConfig
from regard.decisions.inputs import due_candidates, read_inputs
from regard.decisions.models import DecisionRun
from regard.delivery.models import MessageFeedback
from regard.measurement import clv_service, values_repository
from regard.measurement.models import CustomerValue
from regard.measurement.options import (
    BgNbdParameters,
    ClvOptions,
    GammaGammaParameters,
    MeasurementOptions,
    OutcomeOptions,
)
from regard.measurement.values_service import refresh_values
from regard.segments.models import SegmentMembership
from regard.store.database import Store, unit_of_work
from regard.touchpoints.models import Candidate
from tests.measurement.support import record_decision
from tests.segments.support import add_customer, add_purchases
from tests.touchpoints.support import brand_with_touchpoints

DECIDED = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
NOW = DECIDED + timedelta(days=30)
TREATED, CONTROL = 40, 20
CLV = ClvOptions(
    bg_nbd=BgNbdParameters(r=0.5, alpha=4.0, a=1.2, b=3.0),
    gamma_gamma=GammaGammaParameters(p=6.0, q=4.0, gamma=15.0),
)


def _brand(*, clv: bool) -> BrandConfig:
    measurement = MeasurementOptions(
        outcome=OutcomeOptions(min_per_arm=10), clv=CLV if clv else ClvOptions()
    )
    return brand_with_touchpoints().model_copy(update={"measurement": measurement})


def _campaign(store: Store) -> list[int]:
    """spring_camping decided for 40 treated customers (by email, every one opened) and 20 held
    out, all active: half the treated bought 20.0 within the week, two of the control group
    did. The revenue lift per customer is 20 x 20 / 40 - 2 x 20 / 20 = 8.0, and so per
    engagement (configured: 1.5 for active)."""
    ids = [add_customer(store) for _ in range(TREATED + CONTROL)]
    with unit_of_work(store) as session:
        run = DecisionRun(started_at=DECIDED, status="done")
        session.add(run)
        session.flush()
        for index, customer in enumerate(ids):
            control = index >= TREATED
            outbox = record_decision(
                session,
                run_id=run.id,
                customer=customer,
                touchpoint="spring_camping",
                at=DECIDED,
                control=control,
            )
            if outbox is not None:
                session.add(
                    MessageFeedback(
                        key=f"opened:{outbox}",
                        outbox_id=outbox,
                        channel="email",
                        stream="email",
                        kind="opened",
                        occurred_at=DECIDED + timedelta(hours=1),
                        received_at=DECIDED + timedelta(hours=1),
                    )
                )
            session.add(
                SegmentMembership(
                    segment="lifecycle:active", customer_id=customer, entered_at=DECIDED
                )
            )
    buyers = [*ids[: TREATED // 2], *ids[TREATED : TREATED + 2]]
    for customer in buyers:
        # An earlier purchase too, so that customer value has a history to go on.
        add_purchases(
            store,
            customer,
            (DECIDED - timedelta(days=60), 35.0),
            (DECIDED + timedelta(days=2), 20.0),
        )
    return ids


def _rows(table: pl.DataFrame) -> dict[tuple[str, str, str], dict[str, object]]:
    return {
        (row["touchpoint"], row["segment"], row["channel"]): row
        for row in table.iter_rows(named=True)
    }


def test_few_customers_shrink_toward_the_configured_value(store: Store) -> None:
    _campaign(store)
    with unit_of_work(store) as session:
        refresh = refresh_values(session, brand=_brand(clv=False), as_of=NOW, prior_customers=1_000)
        stored = values_repository.touchpoint_values(session)
        scored = session.scalar(select(func.count()).select_from(CustomerValue))
    assert refresh.customers_scored == 0
    assert refresh.mean_expected_value is None
    assert scored == 0
    rows = _rows(refresh.table)
    active = rows["spring_camping", "lifecycle:active", "all"]
    # 40 treated customers against a prior worth 1,000: 40 / 1,040 of the weight.
    assert active["measured"] == pytest.approx(8.0)
    assert active["weight"] == pytest.approx(40 / 1_040)
    assert active["learned"] == pytest.approx(40 / 1_040 * 8.0 + 1_000 / 1_040 * 1.5)
    # The same for the email channel, from the touchpoint's default.
    email = rows["spring_camping", "default", "email"]
    assert email["configured"] == 0.5
    assert email["learned"] == pytest.approx(40 / 1_040 * 8.0 + 1_000 / 1_040 * 0.5)
    # Never measured: the configured value, with no weight.
    order = rows["order_ready", "default", "all"]
    assert (order["learned"], order["weight"], order["measured"]) == (3.0, 0.0, None)
    assert refresh.learned == refresh.table.height == stored.height
    assert_same(stored, refresh.table)


def assert_same(stored: pl.DataFrame, table: pl.DataFrame) -> None:
    order = ["touchpoint", "segment", "channel"]
    left, right = stored.sort(order), table.select(stored.columns).sort(order)
    assert left.select(order).equals(right.select(order))
    for column in ("configured", "learned", "weight", "customers"):
        assert left[column].to_list() == pytest.approx(right[column].to_list())


def test_enough_data_replaces_the_configured_value_and_the_engine_uses_it(store: Store) -> None:
    ids = _campaign(store)
    brand = _brand(clv=False)
    with unit_of_work(store) as session:
        # A configured value counting as one customer's evidence: 40 measured outweigh it.
        refresh = refresh_values(session, brand=brand, as_of=NOW, prior_customers=1)
    active = _rows(refresh.table)["spring_camping", "lifecycle:active", "all"]
    assert active["weight"] == pytest.approx(40 / 41)
    assert active["learned"] == pytest.approx(40 / 41 * 8.0 + 1 / 41 * 1.5)
    # Active, default and the email channel moved; nothing else was measured.
    assert refresh.replaced == 3
    # A new spring_camping candidate for an active customer is valued at the learned value.
    with unit_of_work(store) as session:
        session.execute(
            insert(Candidate).values(
                touchpoint="spring_camping",
                customer_id=ids[0],
                key="campaign:2",
                triggered_at=NOW,
                status="pending",
                created_at=NOW,
            )
        )
    with unit_of_work(store) as session:
        inputs = read_inputs(session, brand=brand, now=NOW, candidate_ids=due_candidates(NOW))
    assert inputs.candidates["value"].to_list() == pytest.approx([active["learned"]])


def test_customer_values_are_stored_in_bulk_when_configured(store: Store) -> None:
    _campaign(store)
    brand = _brand(clv=True)
    with unit_of_work(store) as session:
        refresh = refresh_values(session, brand=brand, as_of=NOW)
        expected = clv_service.customer_values(session, brand=brand, as_of=NOW)
        stored = {
            customer: (value, alive)
            for customer, value, alive in session.execute(
                select(
                    CustomerValue.customer_id,
                    CustomerValue.expected_value,
                    CustomerValue.probability_alive,
                )
            ).all()
        }
    assert refresh.clv_configured
    assert refresh.customers_scored == 22 == len(stored)
    assert refresh.mean_expected_value == pytest.approx(expected["clv"].mean())
    for row in expected.iter_rows(named=True):
        assert stored[row["customer_id"]] == pytest.approx((row["clv"], row["probability_alive"]))
    # Without the parameters a refresh clears them: the engine must not scale by stale values.
    with unit_of_work(store) as session:
        again = refresh_values(session, brand=_brand(clv=False), as_of=NOW)
        left = session.scalar(select(func.count()).select_from(CustomerValue))
    assert (again.customers_scored, left) == (0, 0)
