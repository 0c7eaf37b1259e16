"""The demo's weeks of history: Regard run at past moments, the customers answering, and two
survey waves, so that the measurement report has something to measure."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import func, select

from regard.commitment.models import SurveyResponse
from regard.customers.models import Event
from regard.decisions.models import Decision
from regard.decisions.reasons import Reason
from regard.delivery.models import MessageFeedback
from regard.demo import commitment as demo_commitment
from regard.demo import delivery as demo_delivery
from regard.demo import history, loading
from regard.demo.commitment import SurveyLoaded
from regard.demo.generator import DEFAULT_UNTIL, DemoManifest
from regard.measurement.health_service import relationship_health
from regard.measurement.lift import measure_lift
from regard.preferences import service as preferences_service
from regard.store.database import Store, unit_of_work
from regard.touchpoints import triggers

CUSTOMERS = 600
SEED = 7


@dataclass(frozen=True)
class Demo:
    store: Store
    manifest: DemoManifest
    surveyed: SurveyLoaded
    made: history.History
    directory: Path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    directory = tmp_path_factory.mktemp("demo")
    manifest, _ = loading.ensure_generated(
        directory, customers=CUSTOMERS, seed=SEED, until=DEFAULT_UNTIL
    )
    store = loading.open_demo_store(directory)
    loading.import_demo(store, manifest)
    loading.load_preferences(store, manifest, directory, seed=SEED)
    as_of = datetime.combine(manifest.until, time.max, tzinfo=UTC)
    surveyed = demo_commitment.answer_surveys(store, seed=SEED, until=as_of)
    demo_commitment.evaluate(store, as_of=as_of)
    with demo_delivery.mail_server(directory) as server:
        made = history.make_history(
            store,
            lambda clock: demo_delivery.demo_worker(
                store, directory, server, public_url="http://127.0.0.1:8000", clock=clock
            ),
            until=manifest.until,
            seed=SEED,
        )
    yield Demo(store, manifest, surveyed, made, directory)
    store.engine.dispose()


def test_the_moments_are_the_schedules_and_launches_of_the_weeks_before_the_last_day(
    demo: Demo,
) -> None:
    found = history.moments(demo.store.brand, until=demo.manifest.until)
    first = datetime.combine(DEFAULT_UNTIL - timedelta(weeks=history.WEEKS), time(), tzinfo=UTC)
    last = datetime.combine(DEFAULT_UNTIL - timedelta(days=history.QUIET_DAYS), time(), tzinfo=UTC)
    assert all(first - timedelta(hours=2) <= m.at < last for m in found)
    assert [m.launch for m in found if m.launch] == [name for name, _, _ in history.CAMPAIGNS]
    # The weekly restock reminder falls due every Thursday.
    assert sum(1 for m in found if m.at.weekday() == 3 and not m.launch) >= history.WEEKS - 2
    assert [r.moment for r in demo.made.rounds] == found


def test_the_engine_ran_at_each_past_moment_and_kept_control_groups(demo: Demo) -> None:
    with unit_of_work(demo.store) as session:
        runs = session.execute(
            select(func.date(Decision.decided_at), func.count())
            .where(Decision.reason == Reason.CONTROL_GROUP)
            .group_by(func.date(Decision.decided_at))
        ).all()
    # Control-group decisions on several days before the last one, not only on the last.
    days = {str(day) for day, _ in runs}
    assert len(days) >= 5
    assert sum(done.control for done in demo.made.rounds) > 0
    assert sum(done.delivered for done in demo.made.rounds) > 0


def test_customers_answered_through_the_feedback_and_event_paths(demo: Demo) -> None:
    total = demo.made.total
    assert total.opened > 0
    assert total.clicked > 0
    assert total.purchases > 0
    with unit_of_work(demo.store) as session:
        kinds = dict(
            session.execute(
                select(MessageFeedback.kind, func.count()).group_by(MessageFeedback.kind)
            ).all()
        )
        orders = session.scalar(
            select(func.count()).where(
                Event.type == "order_completed", Event.message_id.like("demo-response-%")
            )
        )
        ledger = preferences_service.verify(session)
    assert kinds.get("opened") == total.opened
    assert kinds.get("clicked") == total.clicked
    assert kinds.get("complained", 0) == total.complained
    assert orders == total.purchases
    # Opt-outs went through the preferences service: the ledger still verifies.
    assert ledger.ok


def test_lift_has_intervals_for_the_touchpoints_of_the_history(demo: Demo) -> None:
    brand = demo.store.brand
    # A small demo: fewer customers per arm than the brand asks for at full size.
    outcome = brand.measurement.outcome.model_copy(update={"min_per_arm": 20})
    measured = brand.model_copy(
        update={"measurement": brand.measurement.model_copy(update={"outcome": outcome})}
    )
    as_of = datetime.combine(demo.manifest.until, time.max, tzinfo=UTC)
    with unit_of_work(demo.store) as session:
        rows = measure_lift(session, brand=measured, now=as_of)
    with_interval = [
        row.touchpoint
        for row in rows
        if row.conversion.difference is not None and row.conversion.low is not None
    ]
    assert len(with_interval) >= 3, [(r.touchpoint, r.conversion.reason) for r in rows]


def test_a_second_survey_wave_gives_commitment_movement(demo: Demo) -> None:
    assert demo.surveyed.twice > 0
    with unit_of_work(demo.store) as session:
        twice = session.scalar(
            select(func.count()).select_from(
                select(SurveyResponse.customer_id)
                .group_by(SurveyResponse.customer_id)
                .having(func.count() >= 2)
                .subquery()
            )
        )
    assert twice == demo.surveyed.twice
    as_of = datetime.combine(demo.manifest.until, time.max, tzinfo=UTC)
    with unit_of_work(demo.store) as session:
        found = relationship_health(session, brand=demo.store.brand, as_of=as_of)
    moves = found.commitment_transitions
    assert 0 < moves["customers"].sum() <= twice
    # Most stay near where they were; some move between groups.
    moved = moves.filter(pl.col("from_group") != pl.col("to_group"))["customers"].sum()
    stayed = moves.filter(pl.col("from_group") == pl.col("to_group"))["customers"].sum()
    assert moved > 0
    assert stayed > 0


def test_history_is_made_once(demo: Demo) -> None:
    again = history.make_history(
        demo.store,
        lambda clock: pytest.fail("no worker is needed when history exists"),
        until=demo.manifest.until,
        seed=SEED,
    )
    assert not again.recorded_now
    assert again.rounds == []


def test_response_purchases_are_shop_orders(demo: Demo) -> None:
    with unit_of_work(demo.store) as session:
        sources = session.execute(
            select(Event.source, func.count())
            .where(Event.message_id.like("demo-response-%"))
            .group_by(Event.source)
        ).all()
    assert [source for source, _ in sources] == ["shop"]
    assert pl.Series([count for _, count in sources]).sum() == demo.made.total.purchases


def test_events_after_a_past_run_still_trigger_on_the_last_day(demo: Demo) -> None:
    with unit_of_work(demo.store) as session:
        decided_before = session.scalar(
            select(func.count()).where(
                Decision.touchpoint == "post_purchase_help",
                Decision.decided_at < datetime.combine(demo.manifest.until, time(), tzinfo=UTC),
            )
        )
    # Orders during the history woke the event touchpoints at the time ...
    assert decided_before
    now = datetime.combine(demo.manifest.until, time.max, tzinfo=UTC)
    with unit_of_work(demo.store) as session:
        done = triggers.run_triggers(session, brand=demo.store.brand, now=now)
    # ... and the orders of the last week, stamped after the last past run, were not passed
    # over: the last day's run makes their candidates.
    found = next(t for t in done if t.touchpoint == "post_purchase_help")
    assert found.created > 0
