"""The journey map from frames: who each touchpoint reaches, how often, gaps and pile-ups."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from regard.touchpoints.journey import journey_map
from regard.touchpoints.options import TouchpointDefinition


def touchpoint(name: str, **fields: Any) -> TouchpointDefinition:
    return TouchpointDefinition.model_validate(
        {"label": name, "topic": "t", "channels": [{"channel": "email", "content": name}]}
        | fields
        | {"name": name}
    )


MEMBERS = pl.DataFrame(
    {
        "segment": ["lifecycle:new"] * 4 + ["lifecycle:lapsed"] * 6,
        "customer_id": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    }
)
NO_EVENTS = pl.DataFrame(
    schema={"type": pl.String(), "customer_id": pl.Int64(), "events": pl.Int64()}
)


def test_reach_share_and_rate_per_row() -> None:
    welcome = touchpoint(
        "welcome",
        schedule={"every": "day"},
        segments=["lifecycle:new"],
        once_per_customer=True,
    )
    ready = touchpoint("ready", event={"event": "order_ready"})
    events = pl.DataFrame({"type": ["order_ready"] * 2, "customer_id": [1, 2], "events": [4, 2]})

    found = journey_map(
        [welcome, ready],
        importance={"welcome": "relationship", "ready": "transactional"},
        members=MEMBERS,
        rows=["lifecycle:new", "lifecycle:lapsed"],
        event_counts=events,
        launches={},
    )

    new, lapsed = found.rows
    reaches = {r.touchpoint: r for r in new.reaches}
    assert reaches["welcome"].share == 1.0
    assert reaches["welcome"].per_week == pytest.approx(0.25)  # once in 28 days
    assert reaches["ready"].customers == 2
    assert reaches["ready"].share == 0.5
    assert reaches["ready"].per_week == pytest.approx(3 / 4)  # 3 events each in 4 weeks
    assert lapsed.reaches == ()
    assert (new.gap, lapsed.gap) == (False, True)


def test_offers_alone_leave_a_gap_and_too_many_pile_up() -> None:
    daily = touchpoint("daily", schedule={"every": "day"}, segments=["lifecycle:lapsed"])
    weekly = touchpoint("weekly", schedule={"every": "week", "weekday": "mon"})

    found = journey_map(
        [daily, weekly],
        importance={"daily": "promotional", "weekly": "promotional"},
        members=MEMBERS,
        rows=["lifecycle:new", "lifecycle:lapsed"],
        event_counts=NO_EVENTS,
        launches={},
    )

    new, lapsed = found.rows
    assert new.promotional_per_week == pytest.approx(1.0)
    assert lapsed.promotional_per_week == pytest.approx(8.0)
    assert found.pile_ups == ["lifecycle:lapsed"]
    assert found.gaps == ["lifecycle:new", "lifecycle:lapsed"]


def test_a_campaign_counts_only_when_launched_in_the_window() -> None:
    spring = touchpoint("spring", campaign=True)

    quiet = journey_map(
        [spring],
        importance={"spring": "promotional"},
        members=MEMBERS,
        rows=["lifecycle:new"],
        event_counts=NO_EVENTS,
        launches={},
    )
    launched = journey_map(
        [spring],
        importance={"spring": "promotional"},
        members=MEMBERS,
        rows=["lifecycle:new"],
        event_counts=NO_EVENTS,
        launches={"spring": 2},
    )

    assert quiet.rows[0].reaches == ()
    assert launched.rows[0].reaches[0].per_week == pytest.approx(0.5)
