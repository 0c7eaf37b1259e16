"""A store with something to report: decisions with control groups, what the customers did after
them, commitment segments with opt-ins, and two survey waves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from regard.commitment import service as commitment
from regard.config import BrandConfig
from regard.decisions.models import DecisionRun
from regard.measurement.options import MeasurementOptions, OutcomeOptions
from regard.segments.models import SegmentMembership
from regard.store.database import Store, unit_of_work
from regard.touchpoints.options import ChannelContent, TouchpointDefinition
from tests.measurement.support import record_decision
from tests.preferences.support import new_customer
from tests.segments.support import add_event, set_preferences

DECIDED = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday
AS_OF = DECIDED + timedelta(days=30)
MIN_PER_ARM = 5
# Customers' names and addresses: none of them may appear in a report.
PERSONAL = ("customer0@example.com", "Ana")


def report_brand(store: Store) -> BrandConfig:
    """The test brand with a camping offer worth more to Convertible users than to Entrenched
    ones, and lift measured from five customers an arm."""
    offer = TouchpointDefinition(
        name="camping_offer",
        label="Camping offer",
        topic="offers:camping",
        campaign=True,
        channels=(
            ChannelContent(channel="email", content="offer"),
            ChannelContent(channel="sms", content="offer-sms"),
        ),
        value={"default": 1.0, "commitment:Convertible": 3.0, "commitment:Entrenched": 0.2},
    )
    measurement = MeasurementOptions(outcome=OutcomeOptions(min_per_arm=MIN_PER_ARM))
    return store.brand.model_copy(update={"touchpoints": (offer,), "measurement": measurement})


def _decide(store: Store, touchpoint: str, customers: list[int], *, control: bool) -> None:
    with unit_of_work(store) as session:
        run = DecisionRun(started_at=DECIDED, status="done")
        session.add(run)
        session.flush()
        for customer in customers:
            record_decision(
                session,
                run_id=run.id,
                customer=customer,
                touchpoint=touchpoint,
                at=DECIDED,
                control=control,
                content="offer",
            )


def populate(store: Store) -> dict[str, list[int]]:
    """camping_offer: 16 treated (8 bought 40.00 within the week) and 8 in control (1 bought);
    spring_news: 3 treated and 1 in control (too little data). Treated camping customers are
    Convertible or Entrenched users opted in to camping offers by email; three non-users
    answered the survey twice, two of them differently the second time."""
    store.brand = report_brand(store)
    people = [new_customer(store, email=f"customer{i}@example.com", name="Ana") for i in range(28)]
    groups = {
        "treated": people[:16],
        "control": people[16:24],
        "news_treated": people[24:27],
        "news_control": people[27:],
    }
    _decide(store, "camping_offer", groups["treated"], control=False)
    _decide(store, "camping_offer", groups["control"], control=True)
    _decide(store, "spring_news", groups["news_treated"], control=False)
    _decide(store, "spring_news", groups["news_control"], control=True)
    for customer in groups["treated"][:8] + groups["control"][:1]:
        add_event(store, customer, "order_completed", DECIDED + timedelta(days=2), {"amount": 40.0})
    for customer in groups["treated"]:
        set_preferences(store, customer, ("offers:camping", "email", "opted-in"))
    with unit_of_work(store) as session:
        session.add_all(
            SegmentMembership(
                segment="commitment:Convertible" if index % 2 else "commitment:Entrenched",
                customer_id=customer,
                entered_at=DECIDED,
            )
            for index, customer in enumerate(groups["treated"])
        )
    drawn, torn, steady = (
        {"rating_brand": 9, "rating_current": 3},
        {"rating_brand": 2, "rating_current": 9},
        {"rating_brand": 5, "rating_current": 5},
    )
    waves = [(drawn, torn), (steady, drawn), (steady, steady)]
    for customer, (first, second) in zip(groups["control"][:3], waves, strict=True):
        for answers, at in ((first, DECIDED), (second, DECIDED + timedelta(days=14))):
            with unit_of_work(store) as session:
                commitment.record_response(
                    session,
                    customer,
                    brand=store.brand,
                    is_user=False,
                    answers=answers,
                    free_text=None,
                    source="api",
                    responded_at=at,
                )
    return groups
