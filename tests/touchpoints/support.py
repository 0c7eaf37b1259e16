"""A brand with a small touchpoint catalogue, and events for its customers."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import polars as pl

from regard.config import BrandConfig
from regard.customers.service import EVENT_FRAME_SCHEMA, store_events
from regard.store.database import Store, unit_of_work
from tests.conftest import brand_for_tests

CATALOGUE: list[dict[str, Any]] = [
    {
        "name": "order_ready",
        "label": "Your order is ready to collect",
        "topic": "orders",
        "event": {"event": "order_ready", "where": {"fulfilment": "pickup"}},
        "channels": [
            {"channel": "sms", "content": "order-ready-sms"},
            {"channel": "email", "content": "order-ready-email"},
        ],
        "deadline": "48h",
        "value": {"default": 3.0},
    },
    {
        "name": "newsletter",
        "label": "Monthly newsletter",
        "topic": "events",
        "schedule": {"every": "month", "day": 1, "at": "10:00"},
        "channels": [{"channel": "email", "content": "newsletter"}],
        "deadline": "3d",
    },
    {
        "name": "spring_camping",
        "label": "Spring camping offers",
        "topic": "offers:camping",
        "campaign": True,
        "segments": ["lifecycle:active"],
        "channels": [{"channel": "email", "content": "spring-camping"}],
        "deadline": "7d",
        "value": {"default": 0.5, "lifecycle:active": 1.5},
    },
]


def brand_with_touchpoints(catalogue: list[dict[str, Any]] | None = None) -> BrandConfig:
    return BrandConfig.model_validate(
        {**brand_for_tests().model_dump(), "touchpoints": catalogue or CATALOGUE}
    )


def add_event(
    store: Store,
    customer_id: int,
    event_type: str,
    at: datetime,
    properties: dict[str, Any] | None = None,
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
            source="shop",
            received_at=datetime.now(UTC),
        )
