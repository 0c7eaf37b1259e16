"""Invariants of the contact policy over random frames (hypothesis).

No option without a lawful basis for its topic and channel; none after an opt-out that precedes
``now``; no promotional phone call; every option's send_at inside the customer's allowed window
(critical messages excepted from the customer's own windows, never from text hours); caps never
negative and equal to max(M - k, 0) for a cap of M with k sent in its window.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regard.decisions.policy import PolicyResult, apply_policy
from regard.decisions.policy_options import Cap, ContactPolicy
from tests.decisions.test_policy import TOPICS, frames

CHANNELS = ("email", "sms", "push", "voice", "postal")
ZONES = (
    None,
    "Europe/Amsterdam",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Bad/Zone",
)
REGIONS = (None, "NL", "US", "FR", "CA")
START = datetime(2026, 1, 1, tzinfo=UTC)
TOPIC_KEYS = (*TOPICS, "unknown-topic")

moments = st.integers(0, 364 * 24 * 4).map(lambda q: START + timedelta(minutes=15 * q + 7))
minutes = st.one_of(st.none(), st.integers(0, 1439))


@st.composite
def worlds(draw: st.DrawFn) -> dict[str, Any]:
    now = draw(moments)
    n = draw(st.integers(1, 3))
    customers = []
    for i in range(1, n + 1):
        quiet = draw(st.tuples(minutes, minutes))
        preferred = draw(st.tuples(minutes, minutes))
        customers.append(
            {
                "customer_id": i,
                "time_zone": draw(st.sampled_from(ZONES)),
                "region": draw(st.sampled_from(REGIONS)),
                "quiet_start": quiet[0],
                "quiet_end": quiet[1],
                "preferred_days": draw(st.one_of(st.none(), st.integers(1, 127))),
                "preferred_start": preferred[0],
                "preferred_end": preferred[1],
                "paused_until": draw(st.one_of(st.none(), st.just(now.date() + timedelta(days=3)))),
                **{c: draw(st.booleans()) for c in CHANNELS},
                "last_purchase_at": draw(
                    st.one_of(st.none(), st.just(now - timedelta(days=draw(st.integers(0, 900)))))
                ),
                "do_not_contact": draw(st.booleans()),
            }
        )
    candidates = []
    for c in range(1, draw(st.integers(1, 6)) + 1):
        topic = draw(st.sampled_from(TOPIC_KEYS))
        importance = TOPICS[topic][0] if topic in TOPICS else "promotional"
        candidates.append(
            {
                "candidate_id": c,
                "customer_id": draw(st.integers(1, n)),
                "touchpoint": f"tp-{draw(st.integers(0, 2))}",
                "topic": topic,
                "importance": importance,
                "triggered_at": now,
                "deadline_at": draw(
                    st.one_of(st.none(), st.just(now + timedelta(hours=draw(st.integers(-2, 72)))))
                ),
                "asks_response": draw(st.booleans()),
                "value": draw(st.floats(0, 10)),
                "relevance": draw(st.one_of(st.none(), st.floats(0, 1))),
            }
        )
    pairs = [(f"tp-{t}", ch) for t in range(3) for ch in CHANNELS if draw(st.booleans())]
    consents = [
        {
            "customer_id": draw(st.integers(1, n)),
            "topic": draw(st.sampled_from(TOPIC_KEYS)),
            "channel": draw(st.sampled_from(CHANNELS)),
            "state": draw(st.sampled_from(("opted-in", "opted-out", "pending"))),
            "legal_basis": draw(st.sampled_from(("consent", "legitimate-interest"))),
            "occurred_at": now + timedelta(hours=draw(st.integers(-2000, 5))),
        }
        for _ in range(draw(st.integers(0, 12)))
    ]
    history = [
        {
            "customer_id": draw(st.integers(1, n)),
            "candidate_id": 0,
            "touchpoint": "tp-0",
            "topic": (topic := draw(st.sampled_from(TOPIC_KEYS))),
            "channel": draw(st.sampled_from(CHANNELS)),
            "importance": TOPICS[topic][0] if topic in TOPICS else "promotional",
            "sent_at": now - timedelta(hours=draw(st.integers(-5, 24 * 20))),
            "engaged": draw(st.one_of(st.none(), st.booleans())),
        }
        for _ in range(draw(st.integers(0, 10)))
    ]
    suppressions = [
        {
            "customer_id": draw(st.integers(1, n)),
            "channel": draw(st.sampled_from((None, *CHANNELS))),
            "reason": draw(st.sampled_from(("hard-bounce", "complaint", "erased"))),
            "at": now - timedelta(hours=draw(st.integers(-5, 100))),
        }
        for _ in range(draw(st.integers(0, 2)))
    ]
    frequencies = [
        {
            "customer_id": i,
            "topic": draw(st.sampled_from((None, "offers", "news"))),
            "frequency": draw(st.sampled_from(("as-it-happens", "daily", "weekly", "monthly"))),
        }
        for i in range(1, n + 1)
        if draw(st.booleans())
    ]
    caps = tuple(
        Cap(
            importance=draw(st.sampled_from(("marketing", "promotional", "relationship"))),
            channel=draw(st.sampled_from((None, *CHANNELS))),
            max=draw(st.integers(0, 3)),
            window=timedelta(days=draw(st.integers(1, 10))),
        )
        for _ in range(draw(st.integers(0, 3)))
    )
    return {
        "now": now,
        "policy": ContactPolicy(caps=caps),
        "candidates": candidates,
        "touchpoint_channels": pairs,
        "customers": customers,
        "consents": consents,
        "history": history,
        "suppressions": suppressions,
        "frequencies": frequencies,
    }


def world_frames(world: dict[str, Any]) -> dict[str, pl.DataFrame]:
    """The random world's rows as the policy's input frames."""
    return frames(
        world["candidates"],
        pairs=world["touchpoint_channels"],
        customers=world["customers"],
        frequencies=world["frequencies"],
        consents=world["consents"],
        suppressions=world["suppressions"],
        history=world["history"],
    )


def apply(world: dict[str, Any]) -> PolicyResult:
    return apply_policy(**world_frames(world), policy=world["policy"], now=world["now"])


def latest_state(world: dict[str, Any], customer: int, topic: str, channel: str) -> str | None:
    """The ledger's last word by now (ties: the later entry), as the customer's state."""
    entries = [
        (e["occurred_at"], i, e["state"])
        for i, e in enumerate(world["consents"])
        if (e["customer_id"], e["topic"], e["channel"]) == (customer, topic, channel)
        and e["occurred_at"] <= world["now"]
    ]
    return max(entries)[2] if entries else None


def options_of(world: dict[str, Any]) -> tuple[PolicyResult, list[dict[str, Any]]]:
    result = apply(world)
    by_id = {c["candidate_id"]: c for c in world["candidates"]}
    rows = [{**row, "candidate": by_id[row["candidate_id"]]} for row in result.options.to_dicts()]
    return result, rows


SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(worlds())
def test_no_option_without_a_lawful_basis_or_after_an_opt_out(world: dict[str, Any]) -> None:
    _result, rows = options_of(world)
    for row in rows:
        topic, channel = row["candidate"]["topic"], str(row["channel"])
        assert topic in TOPICS, "a topic outside the catalogue has no lawful basis"
        state = latest_state(world, row["customer_id"], topic, channel)
        assert state != "opted-out"
        if TOPICS[topic][1] == "consent" or channel == "voice":
            assert state == "opted-in"


@SETTINGS
@given(worlds())
def test_no_promotional_voice_call(world: dict[str, Any]) -> None:
    _result, rows = options_of(world)
    for row in rows:
        if str(row["channel"]) == "voice":
            assert row["candidate"]["importance"] in ("critical", "transactional")
            assert row["candidate"]["asks_response"]


def allowed_at(
    world: dict[str, Any], customer: dict[str, Any], channel: str, critical: bool, at: datetime
) -> bool:
    """The window, checked independently with zoneinfo, at every offset an unknown zone may be."""
    policy: ContactPolicy = world["policy"]
    if channel == "postal":
        return True
    zone_name = customer["time_zone"]
    try:
        zone = ZoneInfo(zone_name) if zone_name else None
    except Exception:
        zone = None
    if zone is not None:
        locals_ = [at.astimezone(zone).replace(tzinfo=None)]
    else:
        low, high = policy.offsets_for(customer["region"])
        locals_ = [
            (at + timedelta(minutes=o)).replace(tzinfo=None) for o in range(low, high + 1, 15)
        ]
    hours = policy.text_hours_for(customer["region"])
    for local in locals_:
        minute = local.hour * 60 + local.minute
        if channel in ("sms", "voice"):
            window = hours.weekdays if local.weekday() < 5 else hours.weekends
            if window is None:
                return False
            start, end = window.minutes
            if not start <= minute < end:
                return False
        if critical:
            continue
        days = customer["preferred_days"] or 127
        if not (days >> local.weekday()) & 1:
            return False
        for start, end, inside in (
            (customer["quiet_start"], customer["quiet_end"], False),
            (customer["preferred_start"], customer["preferred_end"], True),
        ):
            if start is None or end is None or start == end:
                continue
            within = (minute - start) % 1440 < (end - start) % 1440
            if within != inside:
                return False
    return True


@SETTINGS
@given(worlds())
def test_every_send_is_inside_the_customers_window(world: dict[str, Any]) -> None:
    _result, rows = options_of(world)
    customers = {c["customer_id"]: c for c in world["customers"]}
    for row in rows:
        candidate = row["candidate"]
        assert row["send_at"] >= world["now"]
        if candidate["deadline_at"] is not None:
            assert row["send_at"] <= candidate["deadline_at"]
        critical = candidate["importance"] == "critical"
        assert allowed_at(
            world, customers[row["customer_id"]], str(row["channel"]), critical, row["send_at"]
        ), (row, customers[row["customer_id"]])


@SETTINGS
@given(worlds())
def test_caps_count_history_and_are_never_negative(world: dict[str, Any]) -> None:
    result = apply(world)
    now = world["now"]
    policy: ContactPolicy = world["policy"]
    importance = {"relationship": 3, "promotional": 4}
    for row in result.caps.to_dicts():
        who = row["customer_id"]
        expected: dict[str, int | None] = dict.fromkeys(
            ("cap_total", "cap_promotional", *(f"cap_{ch}" for ch in CHANNELS))
        )
        for cap in policy.caps:
            if cap.importance == "marketing":
                column = "cap_total" if cap.channel is None else f"cap_{cap.channel}"
            elif cap.importance == "promotional" and cap.channel is None:
                column = "cap_promotional"
            else:
                continue
            least = 4 if cap.importance == "promotional" else 3
            sent = sum(
                1
                for h in world["history"]
                if h["customer_id"] == who
                and now - cap.window < h["sent_at"] <= now
                and importance.get(h["importance"], 0) >= least
                and (cap.channel is None or h["channel"] == cap.channel)
            )
            room = max(cap.max - sent, 0)
            current = expected[column]
            expected[column] = room if current is None else min(current, room)
        overall = [
            f["frequency"]
            for f in world["frequencies"]
            if f["customer_id"] == who and f["topic"] is None
        ]
        if overall and overall[0] != "as-it-happens":
            window = {"daily": 1, "weekly": 7, "monthly": 30}[overall[0]]
            sent = sum(
                1
                for h in world["history"]
                if h["customer_id"] == who
                and now - timedelta(days=window) < h["sent_at"] <= now
                and h["importance"] in importance
            )
            room = max(1 - sent, 0)
            current = expected["cap_total"]
            expected["cap_total"] = room if current is None else min(current, room)
        for column, value in expected.items():
            assert row[column] == value, (column, row, expected)
            assert row[column] is None or row[column] >= 0
