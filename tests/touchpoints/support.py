"""A brand with a small touchpoint catalogue (events for its customers: tests.segments.support)."""

from __future__ import annotations

from typing import Any

from regard.config import BrandConfig
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


def campaign(name: str, *, label: str, topic: str, channels: dict[str, str]) -> dict[str, Any]:
    """A campaign touchpoint as regard.toml declares it: launched by staff, sent on these
    channels (channel name to content)."""
    return {
        "name": name,
        "label": label,
        "topic": topic,
        "campaign": True,
        "channels": [
            {"channel": channel, "content": content} for channel, content in channels.items()
        ],
    }


REPAIR_NOTICE = campaign(
    "repair_notice",
    label="Our repair desk is open",
    topic="service",
    channels={"sms": "repair-sms", "email": "repair-email"},
)
AUTUMN_EVENTS = campaign(
    "autumn_events",
    label="Autumn store events",
    topic="events",
    channels={"email": "autumn-email", "sms": "autumn-sms"},
)


def brand_with_touchpoints(catalogue: list[dict[str, Any]] | None = None) -> BrandConfig:
    return BrandConfig.model_validate(
        {**brand_for_tests().model_dump(), "touchpoints": catalogue or CATALOGUE}
    )
