"""A small base for segment tests: customers, purchases, consents and interests in the store."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from regard.config import BrandConfig
from regard.customers.models import Customer
from regard.customers.service import EVENT_FRAME_SCHEMA, store_events
from regard.preferences import service as preferences
from regard.preferences.service import ConsentChange, Origin, SettingChange
from regard.segments.options import SegmentDefinition, SegmentOptions
from regard.store.database import Store, unit_of_work

AS_OF = datetime(2026, 6, 1, 12, tzinfo=UTC)
KEEN = (
    "count(purchase, 90d) >= 2 and sum(purchase.amount, 365d) > 200\n"
    '  and subscribed("offers:camping", "email")'
)
CAMPING_PRO = 'interest("camping") and trait.plan = "pro"'


def segment_brand(store: Store) -> BrandConfig:
    """The test brand with two segments of its own and a declared trait."""
    return store.brand.model_copy(
        update={
            "segments": SegmentOptions(
                traits={"plan": "string"},
                custom=(
                    SegmentDefinition(name="keen_campers", rule=KEEN, description="Buy often"),
                    SegmentDefinition(name="camping_pro", rule=CAMPING_PRO),
                ),
            )
        }
    )


def add_customer(store: Store, **traits: Any) -> int:
    now = datetime.now(UTC)
    with unit_of_work(store) as session:
        customer = Customer(created_at=now, updated_at=now, traits=traits, trait_origins={})
        session.add(customer)
        session.flush()
        return customer.id


def add_purchases(store: Store, customer_id: int, *purchases: tuple[datetime, float]) -> None:
    rows = [
        {
            "customer_id": customer_id,
            "type": "order_completed",
            "occurred_at": at,
            "message_id": uuid.uuid4().hex,
            "properties": json.dumps({"amount": amount}),
            "personal": None,
        }
        for at, amount in purchases
    ]
    with unit_of_work(store) as session:
        store_events(
            session,
            pl.DataFrame(rows, schema=EVENT_FRAME_SCHEMA),
            vault=store.vault,
            source="shop",
            received_at=datetime.now(UTC),
        )


def add_event(
    store: Store,
    customer_id: int,
    event_type: str,
    at: datetime,
    properties: dict[str, Any] | None = None,
    *,
    source: str = "web",
) -> None:
    row = {
        "customer_id": customer_id,
        "type": event_type,
        "occurred_at": at,
        "message_id": uuid.uuid4().hex,
        "properties": json.dumps(properties or {}),
        "personal": None,
    }
    with unit_of_work(store) as session:
        store_events(
            session,
            pl.DataFrame([row], schema=EVENT_FRAME_SCHEMA),
            vault=store.vault,
            source=source,
            received_at=datetime.now(UTC),
        )


def set_preferences(
    store: Store,
    customer_id: int,
    *consents: tuple[str, str, str],
    interests: list[str] | None = None,
) -> None:
    settings = [SettingChange("interests", interests)] if interests is not None else []
    with unit_of_work(store) as session:
        preferences.record(
            session,
            customer_id,
            brand=store.brand,
            origin=Origin(source="center", actor="customer"),
            consents=[ConsentChange(t, c, s) for t, c, s in consents],  # type: ignore[arg-type]
            settings=settings,
        )


def days_before(days: float, moment: datetime = AS_OF) -> datetime:
    return moment - timedelta(days=days)


def small_base(store: Store) -> dict[str, int]:
    """ana buys every month and opted in to camping offers; ben bought once, five days ago,
    and opted in too; cas lapsed long ago; dee never bought and has the default consents."""
    ana = add_customer(store, plan="pro")
    ben = add_customer(store, plan="free")
    cas = add_customer(store)
    dee = add_customer(store, plan="pro")
    add_purchases(store, ana, (days_before(10), 120), (days_before(40), 100), (days_before(70), 80))
    add_purchases(store, ben, (days_before(5), 20))
    add_purchases(store, cas, (days_before(400), 50), (days_before(380), 60))
    set_preferences(store, ana, ("offers:camping", "email", "opted-in"), interests=["camping"])
    set_preferences(store, ben, ("offers:camping", "email", "opted-in"))
    set_preferences(store, dee, interests=["camping", "climbing"])
    return {"ana": ana, "ben": ben, "cas": cas, "dee": dee}
