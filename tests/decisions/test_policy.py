"""Golden frames for every rule of the contact policy: small frames in, exact frames out."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import pytest

from regard.decisions.optimiser import OPTION_COLUMNS, optimise
from regard.decisions.policy import PolicyResult, apply_policy
from regard.decisions.policy_frames import put
from regard.decisions.policy_options import Cap, ContactPolicy
from regard.decisions.reasons import sentence

# Monday 23 November 2026, 09:00 UTC (10:00 in Amsterdam, 04:00 in New York).
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
UTC_US = pl.Datetime("us", "UTC")

TOPICS = {
    "account": ("critical", "legal-obligation"),
    "orders": ("transactional", "contract"),
    "service": ("service", "contract"),
    "offers": ("promotional", "consent"),
    "news": ("relationship", "legitimate-interest"),
    "events": ("promotional", "consent"),
}
IMPORTANCE = {topic: importance for topic, (importance, _basis) in TOPICS.items()}

CUSTOMER_SCHEMA: dict[str, Any] = {
    "customer_id": pl.Int64,
    "time_zone": pl.String,
    "region": pl.String,
    "quiet_start": pl.Int16,
    "quiet_end": pl.Int16,
    "preferred_days": pl.Int8,
    "preferred_start": pl.Int16,
    "preferred_end": pl.Int16,
    "paused_until": pl.Date,
    "email": pl.Boolean,
    "sms": pl.Boolean,
    "push": pl.Boolean,
    "voice": pl.Boolean,
    "postal": pl.Boolean,
    "last_purchase_at": UTC_US,
    "do_not_contact": pl.Boolean,
}
CANDIDATE_SCHEMA: dict[str, Any] = {
    "candidate_id": pl.Int64,
    "customer_id": pl.Int64,
    "touchpoint": pl.String,
    "topic": pl.String,
    "importance": pl.String,
    "triggered_at": UTC_US,
    "deadline_at": UTC_US,
    "asks_response": pl.Boolean,
    "value": pl.Float64,
    "relevance": pl.Float64,
}
CONSENT_SCHEMA: dict[str, Any] = {
    "customer_id": pl.Int64,
    "topic": pl.String,
    "channel": pl.String,
    "state": pl.String,
    "legal_basis": pl.String,
    "occurred_at": UTC_US,
}
HISTORY_SCHEMA: dict[str, Any] = {
    "customer_id": pl.Int64,
    "candidate_id": pl.Int64,
    "touchpoint": pl.String,
    "topic": pl.String,
    "channel": pl.String,
    "importance": pl.String,
    "sent_at": UTC_US,
    "engaged": pl.Boolean,
}
SUPPRESSION_SCHEMA: dict[str, Any] = {
    "customer_id": pl.Int64,
    "channel": pl.String,
    "reason": pl.String,
    "at": UTC_US,
}
FREQUENCY_SCHEMA: dict[str, Any] = {
    "customer_id": pl.Int64,
    "topic": pl.String,
    "frequency": pl.String,
}


def customer(customer_id: int = 1, **given: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "customer_id": customer_id,
        "time_zone": "Europe/Amsterdam",
        "region": "NL",
        "quiet_start": None,
        "quiet_end": None,
        "preferred_days": None,
        "preferred_start": None,
        "preferred_end": None,
        "paused_until": None,
        "email": True,
        "sms": True,
        "push": True,
        "voice": True,
        "postal": True,
        "last_purchase_at": NOW - timedelta(days=10),
        "do_not_contact": False,
    }
    row.update(given)
    return row


def candidate(candidate_id: int = 1, topic: str = "orders", **given: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "candidate_id": candidate_id,
        "customer_id": 1,
        "touchpoint": topic,
        "topic": topic,
        "importance": IMPORTANCE.get(topic, "promotional"),
        "triggered_at": NOW,
        "deadline_at": None,
        "asks_response": False,
        "value": 1.0,
        "relevance": None,
    }
    row.update(given)
    return row


def consent(topic: str, channel: str, state: str = "opted-in", **given: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "customer_id": 1,
        "topic": topic,
        "channel": channel,
        "state": state,
        "legal_basis": "consent",
        "occurred_at": NOW - timedelta(days=30),
    }
    row.update(given)
    return row


def sent(topic: str, ago: timedelta, channel: str = "email", **given: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "customer_id": 1,
        "candidate_id": 0,
        "touchpoint": topic,
        "topic": topic,
        "channel": channel,
        "importance": IMPORTANCE.get(topic, "promotional"),
        "sent_at": NOW - ago,
        "engaged": True,
    }
    row.update(given)
    return row


def run(
    candidates: list[dict[str, Any]],
    *,
    customers: list[dict[str, Any]] | None = None,
    channels: Mapping[str, tuple[str, ...]] | None = None,
    consents: Sequence[Mapping[str, Any]] = (),
    history: Sequence[Mapping[str, Any]] = (),
    suppressions: Sequence[Mapping[str, Any]] = (),
    frequencies: Sequence[Mapping[str, Any]] = (),
    policy: ContactPolicy | None = None,
    now: datetime = NOW,
) -> PolicyResult:
    """Every touchpoint is named after its topic and may use email and sms unless told."""
    channels = channels or {}
    touchpoints = {c["touchpoint"] for c in candidates}
    pairs = [
        (touchpoint, channel)
        for touchpoint in sorted(touchpoints)
        for channel in channels.get(touchpoint, ("email", "sms"))
    ]
    return apply_policy(
        **frames(
            candidates,
            pairs=pairs,
            customers=customers or [customer()],
            frequencies=frequencies,
            consents=consents,
            suppressions=suppressions,
            history=history,
        ),
        policy=policy or ContactPolicy(),
        now=now,
    )


def frames(
    candidates: Sequence[Mapping[str, Any]],
    *,
    pairs: Sequence[tuple[str, str]],
    customers: Sequence[Mapping[str, Any]],
    frequencies: Sequence[Mapping[str, Any]] = (),
    consents: Sequence[Mapping[str, Any]] = (),
    suppressions: Sequence[Mapping[str, Any]] = (),
    history: Sequence[Mapping[str, Any]] = (),
) -> dict[str, pl.DataFrame]:
    """The policy's input frames from rows, over the test catalogue of ``TOPICS``."""
    return {
        "candidates": pl.DataFrame(list(candidates), schema=CANDIDATE_SCHEMA),
        "touchpoint_channels": pl.DataFrame(
            {"touchpoint": [p[0] for p in pairs], "channel": [p[1] for p in pairs]},
            schema={"touchpoint": pl.String, "channel": pl.String},
        ),
        "topics": pl.DataFrame(
            {
                "topic": list(TOPICS),
                "importance": [i for i, _b in TOPICS.values()],
                "basis": [b for _i, b in TOPICS.values()],
            }
        ),
        "customers": pl.DataFrame(list(customers), schema=CUSTOMER_SCHEMA),
        "frequencies": pl.DataFrame(list(frequencies), schema=FREQUENCY_SCHEMA),
        "consents": pl.DataFrame(list(consents), schema=CONSENT_SCHEMA),
        "suppressions": pl.DataFrame(list(suppressions), schema=SUPPRESSION_SCHEMA),
        "history": pl.DataFrame(list(history), schema=HISTORY_SCHEMA),
    }


def sends(result: PolicyResult) -> list[tuple[int, str, datetime]]:
    return [
        (row["candidate_id"], row["channel"], row["send_at"])
        for row in result.options.iter_rows(named=True)
    ]


def stops(result: PolicyResult) -> list[tuple[int, str, str]]:
    return [
        (row["candidate_id"], row["channel"], row["reason"])
        for row in result.blocked.iter_rows(named=True)
    ]


def verdicts(result: PolicyResult) -> list[tuple[int, str, str, datetime | None]]:
    return [
        (row["candidate_id"], row["outcome"], row["reason"], row["retry_at"])
        for row in result.verdicts.iter_rows(named=True)
    ]


def params(result: PolicyResult, candidate_id: int) -> dict[str, Any]:
    row = result.verdicts.filter(pl.col("candidate_id") == candidate_id).row(0, named=True)
    loaded: dict[str, Any] = json.loads(row["params"])
    return loaded


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# Lawful basis and consent


def test_contract_topics_go_by_default_and_consent_topics_need_an_opt_in() -> None:
    result = run([candidate(1, "orders"), candidate(2, "offers")])
    assert sends(result) == [(1, "email", NOW), (1, "sms", NOW)]
    assert stops(result) == [(2, "email", "no-consent"), (2, "sms", "no-consent")]
    assert verdicts(result) == [(2, "dropped", "no-consent", None)]


def test_an_opt_in_allows_its_channel_only() -> None:
    result = run([candidate(2, "offers")], consents=[consent("offers", "email")])
    assert sends(result) == [(2, "email", NOW)]
    assert stops(result) == [(2, "sms", "no-consent")]


def test_a_pending_opt_in_is_not_consent() -> None:
    result = run([candidate(2, "offers")], consents=[consent("offers", "email", "pending")])
    assert stops(result)[0] == (2, "email", "no-consent")
    assert json.loads(result.blocked["params"][0])["state"] == "pending"


def test_an_opt_out_wins_even_over_the_contract_and_only_once_it_occurred() -> None:
    earlier = consent("orders", "email", "opted-out", occurred_at=NOW - timedelta(minutes=1))
    later = consent("orders", "sms", "opted-out", occurred_at=NOW + timedelta(minutes=1))
    result = run([candidate(1, "orders")], consents=[earlier, later])
    assert sends(result) == [(1, "sms", NOW)]
    assert stops(result) == [(1, "email", "opted-out")]


def test_the_latest_ledger_word_counts() -> None:
    entries = [
        consent("offers", "email", "opted-in", occurred_at=NOW - timedelta(days=3)),
        consent("offers", "email", "opted-out", occurred_at=NOW - timedelta(days=2)),
        consent("offers", "sms", "opted-out", occurred_at=NOW - timedelta(days=3)),
        consent("offers", "sms", "opted-in", occurred_at=NOW - timedelta(days=2)),
    ]
    result = run([candidate(2, "offers")], consents=entries)
    assert sends(result) == [(2, "sms", NOW)]
    assert stops(result) == [(2, "email", "opted-out")]


def test_a_topic_outside_the_catalogue_has_no_lawful_basis() -> None:
    result = run([candidate(3, "raffle", importance="promotional")])
    assert verdicts(result) == [(3, "dropped", "no-lawful-basis", None)]


def test_implied_consent_lapses_two_years_after_the_last_purchase_in_canada() -> None:
    customers = [
        customer(
            1, region="CA", time_zone="America/Toronto", last_purchase_at=NOW - timedelta(days=731)
        ),
        customer(
            2, region="CA", time_zone="America/Toronto", last_purchase_at=NOW - timedelta(days=100)
        ),
        customer(3, region="NL", last_purchase_at=NOW - timedelta(days=3000)),
        customer(4, region="CA", time_zone="America/Toronto", last_purchase_at=None),
    ]
    news = {"news": ("email",)}
    result = run(
        [candidate(i, "news", customer_id=i) for i in (1, 2, 3, 4)],
        customers=customers,
        channels=news,
    )
    assert [c for c, _ch, _at in sends(result)] == [2, 3]
    assert verdicts(result) == [
        (1, "dropped", "implied-consent-expired", None),
        (4, "dropped", "implied-consent-expired", None),
    ]
    assert params(result, 1)["expired_on"] == (NOW - timedelta(days=1)).date().isoformat()


def test_an_explicit_opt_in_on_legitimate_interest_lapses_too() -> None:
    old = customer(
        1, region="CA", time_zone="America/Toronto", last_purchase_at=NOW - timedelta(days=800)
    )
    given = consent("offers", "email", legal_basis="legitimate-interest")
    result = run(
        [candidate(2, "offers")], customers=[old], consents=[given], channels={"offers": ("email",)}
    )
    assert stops(result) == [(2, "email", "implied-consent-expired")]


# ---------------------------------------------------------------------------------------------
# Channel fits importance


def test_voice_only_for_critical_or_transactional_that_ask_a_response_with_an_opt_in() -> None:
    voice = dict.fromkeys(("offers", "service", "orders", "account"), ("voice",))
    result = run(
        [
            candidate(1, "offers"),
            candidate(2, "service", asks_response=True),
            candidate(3, "orders"),  # the "press 1" order-ready call
            candidate(4, "orders", asks_response=True),
            candidate(5, "account", asks_response=True),
        ],
        channels=voice,
        consents=[consent("offers", "voice"), consent("account", "voice")],
    )
    assert sends(result) == [(5, "voice", NOW)]
    assert stops(result) == [
        (1, "voice", "promotional-voice"),
        (2, "voice", "voice-not-fitting"),
        (3, "voice", "call-for-information"),
        (4, "voice", "no-voice-opt-in"),
    ]


# ---------------------------------------------------------------------------------------------
# Suppression, reachability, relevance, deadline


def test_hard_bounce_and_complaint_suppress_their_channel_erasure_everything() -> None:
    customers = [customer(1), customer(2)]
    suppressions: list[dict[str, Any]] = [
        {
            "customer_id": 1,
            "channel": "email",
            "reason": "hard-bounce",
            "at": NOW - timedelta(days=1),
        },
        {"customer_id": 1, "channel": "sms", "reason": "complaint", "at": NOW - timedelta(days=1)},
        {"customer_id": 2, "channel": None, "reason": "erased", "at": NOW - timedelta(days=1)},
    ]
    result = run(
        [candidate(1, "orders"), candidate(2, "account", customer_id=2)],
        customers=customers,
        suppressions=suppressions,
    )
    assert sends(result) == []
    assert stops(result) == [
        (1, "email", "hard-bounce"),
        (1, "sms", "complaint"),
        (2, "email", "erased"),
        (2, "sms", "erased"),
    ]
    assert verdicts(result) == [(1, "dropped", "hard-bounce", None), (2, "dropped", "erased", None)]


def test_do_not_contact_lets_only_critical_messages_through() -> None:
    result = run(
        [candidate(1, "orders"), candidate(2, "account")],
        customers=[customer(1, do_not_contact=True)],
        channels={"orders": ("email",), "account": ("email",)},
    )
    assert sends(result) == [(2, "email", NOW)]
    assert verdicts(result) == [(1, "dropped", "do-not-contact", None)]


def test_an_unreachable_channel_is_no_option() -> None:
    result = run([candidate(1, "orders")], customers=[customer(1, sms=False)])
    assert sends(result) == [(1, "email", NOW)]
    assert stops(result) == [(1, "sms", "unreachable")]


def test_a_candidate_narrowed_to_some_channels_gets_options_on_those_only() -> None:
    rows = [candidate(i, "orders", customer_id=i) for i in (1, 2, 3)]
    given = frames(
        rows,
        pairs=[("orders", "email"), ("orders", "sms")],
        customers=[customer(i) for i in (1, 2, 3)],
    )
    # 1: email only (a launch restricted to email); 2: no restriction; 3: only a channel the
    # touchpoint does not have, so nothing.
    given["candidates"] = given["candidates"].with_columns(
        channel_mask=pl.Series([1, None, 4], dtype=pl.UInt8)
    )

    result = apply_policy(**given, policy=ContactPolicy(), now=NOW)

    assert sends(result) == [(1, "email", NOW), (2, "email", NOW), (2, "sms", NOW)]
    assert stops(result) == []
    assert verdicts(result) == [(3, "dropped", "no-channel", None)]


def test_relevance_floor_stops_only_promotional_candidates_below_it() -> None:
    opted = [consent("offers", "email")]
    email = {"offers": ("email",), "orders": ("email",)}
    result = run(
        [
            candidate(1, "offers", relevance=0.1),
            candidate(2, "offers", customer_id=2, relevance=None),
            candidate(3, "orders", relevance=0.01),
        ],
        customers=[customer(1), customer(2)],
        consents=[*opted, consent("offers", "email", customer_id=2)],
        channels=email,
    )
    assert [c for c, _ch, _at in sends(result)] == [3, 2]  # by customer, then candidate
    assert verdicts(result) == [(1, "dropped", "below-relevance-floor", None)]
    assert params(result, 1) == {"topic": "offers", "relevance": 0.1, "floor": 0.2}


def test_a_candidate_past_its_deadline_is_dropped() -> None:
    result = run([candidate(1, "orders", deadline_at=NOW - timedelta(minutes=1))])
    assert verdicts(result) == [(1, "dropped", "past-deadline", None)]


def test_a_text_that_would_wait_past_its_deadline_is_dropped_and_email_goes() -> None:
    night = utc(2026, 11, 23, 2, 0)  # 03:00 in Amsterdam
    result = run([candidate(1, "orders", deadline_at=utc(2026, 11, 23, 6, 0))], now=night)
    assert sends(result) == [(1, "email", night)]
    assert stops(result) == [(1, "sms", "past-deadline")]


# ---------------------------------------------------------------------------------------------
# Timing: windows in the customer's own time zone


def test_texts_wait_for_eight_in_the_morning_local_time() -> None:
    ny = customer(1, time_zone="America/New_York", region="US")  # 04:00 in New York
    result = run([candidate(1, "orders")], customers=[ny])
    assert sends(result) == [(1, "email", NOW), (1, "sms", utc(2026, 11, 23, 13, 0))]


def test_quiet_hours_hold_email_too_but_not_critical_email() -> None:
    quiet = customer(
        1, time_zone="America/New_York", region="US", quiet_start=21 * 60, quiet_end=7 * 60
    )
    result = run(
        [candidate(1, "orders"), candidate(2, "account")],
        customers=[quiet],
        channels={"orders": ("email", "postal"), "account": ("email", "sms")},
    )
    assert sends(result) == [
        (1, "email", utc(2026, 11, 23, 12, 0)),  # 07:00 local, when quiet hours end
        (1, "postal", NOW),  # a letter has no hour
        (2, "email", NOW),  # critical: not held by the customer's quiet hours
        (2, "sms", utc(2026, 11, 23, 13, 0)),  # but never a text before 08:00
    ]


def test_preferred_days_and_hours_move_a_send_to_the_next_allowed_moment() -> None:
    saturday = utc(2026, 11, 28, 12, 0)
    weekdays = customer(1, preferred_days=31, preferred_start=10 * 60, preferred_end=17 * 60)
    result = run([candidate(1, "orders")], customers=[weekdays], now=saturday)
    monday_ten = utc(2026, 11, 30, 9, 0)  # 10:00 in Amsterdam
    assert sends(result) == [(1, "email", monday_ten), (1, "sms", monday_ten)]


def test_quiet_hours_that_wrap_midnight() -> None:
    late = utc(2026, 11, 23, 22, 30)  # 23:30 in Amsterdam
    quiet = customer(1, quiet_start=22 * 60, quiet_end=6 * 60 + 30)
    result = run(
        [candidate(1, "orders")], customers=[quiet], now=late, channels={"orders": ("email",)}
    )
    assert sends(result) == [(1, "email", utc(2026, 11, 24, 5, 30))]


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Spring forward in Amsterdam, 29 March 2026: 08:00 is CEST (UTC+2).
        (utc(2026, 3, 28, 22, 0), utc(2026, 3, 29, 6, 0)),
        # Fall back, 25 October 2026: 08:00 is CET again (UTC+1).
        (utc(2026, 10, 24, 22, 0), utc(2026, 10, 25, 7, 0)),
    ],
)
def test_the_next_morning_across_a_daylight_saving_change(
    now: datetime, expected: datetime
) -> None:
    result = run([candidate(1, "orders")], now=now, channels={"orders": ("sms",)})
    assert sends(result) == [(1, "sms", expected)]


def test_quiet_hours_end_inside_the_spring_forward_gap() -> None:
    # Quiet until 02:30, which does not exist on 29 March 2026 in Amsterdam: the send goes at
    # the first moment after, 03:00 CEST (01:00 UTC).
    quiet = customer(1, quiet_start=23 * 60, quiet_end=2 * 60 + 30)
    result = run(
        [candidate(1, "orders")],
        customers=[quiet],
        now=utc(2026, 3, 28, 23, 0),
        channels={"orders": ("email",)},
    )
    ((_c, _ch, at),) = sends(result)
    assert at == utc(2026, 3, 29, 1, 0)


def test_an_unknown_time_zone_gets_the_window_every_zone_of_its_region_allows() -> None:
    # The US spans UTC-10 to UTC-4: 08:00-21:00 everywhere there is 18:00-01:00 UTC.
    unknown = customer(1, time_zone=None, region="US")
    nowhere = customer(2, time_zone="Mars/Olympus", region=None)
    result = run(
        [candidate(1, "orders"), candidate(2, "orders", customer_id=2)],
        customers=[unknown, nowhere],
    )
    assert sends(result) == [
        (1, "email", NOW),
        (1, "sms", utc(2026, 11, 23, 18, 0)),
        (2, "email", NOW),
    ]
    assert stops(result) == [(2, "sms", "no-allowed-window")]


def test_regional_text_hours_france_has_no_texts_at_weekends() -> None:
    saturday = utc(2026, 11, 28, 12, 0)
    paris = customer(1, time_zone="Europe/Paris", region="FR")
    result = run([candidate(1, "orders")], customers=[paris], now=saturday)
    assert sends(result) == [(1, "email", saturday), (1, "sms", utc(2026, 11, 30, 9, 0))]


# ---------------------------------------------------------------------------------------------
# Held by the customer's choices and the brand's caps


def test_a_pause_holds_marketing_and_service_but_not_orders() -> None:
    paused = customer(1, paused_until=date(2026, 12, 1))
    result = run(
        [candidate(1, "orders"), candidate(2, "service")],
        customers=[paused],
        channels={"orders": ("email",), "service": ("email",)},
    )
    assert sends(result) == [(1, "email", NOW)]
    assert verdicts(result) == [(2, "held", "paused", utc(2026, 11, 30, 23, 0))]


def test_a_hold_past_the_deadline_is_a_drop() -> None:
    paused = customer(1, paused_until=date(2026, 12, 1))
    result = run(
        [candidate(2, "service", deadline_at=NOW + timedelta(days=1))],
        customers=[paused],
        channels={"service": ("email",)},
    )
    assert verdicts(result) == [(2, "dropped", "past-deadline", None)]
    assert params(result, 2)["held_for"] == "paused"


def test_fatigue_after_three_ignored_messages_on_a_topic() -> None:
    ignored = [sent("offers", timedelta(days=d), engaged=False) for d in (20, 10, 5)]
    result = run(
        [candidate(1, "offers")],
        history=ignored,
        consents=[consent("offers", "email")],
        channels={"offers": ("email",)},
    )
    assert verdicts(result) == [
        (1, "held", "fatigue", NOW - timedelta(days=5) + timedelta(days=14))
    ]
    assert params(result, 1)["ignored"] == 3
    # One engaged message in the run breaks it.
    broken = [*ignored[:2], sent("offers", timedelta(days=5), engaged=None)]
    result = run(
        [candidate(1, "offers")],
        history=broken,
        consents=[consent("offers", "email")],
        channels={"offers": ("email",)},
    )
    assert [c for c, _ch, _at in sends(result)] == [1]


def test_minimum_gap_on_a_topic_whichever_touchpoint_sent_it() -> None:
    history = [sent("offers", timedelta(days=1), touchpoint="spring-sale")]
    result = run(
        [candidate(1, "offers")],
        history=history,
        consents=[consent("offers", "email")],
        channels={"offers": ("email",)},
    )
    assert verdicts(result) == [(1, "held", "min-gap", NOW + timedelta(days=1))]


def test_promotional_cap_counts_what_was_already_sent() -> None:
    history = [sent("product", timedelta(hours=3), importance="promotional")]
    result = run(
        [candidate(1, "offers")],
        history=history,
        consents=[consent("offers", "email")],
        channels={"offers": ("email",)},
    )
    assert verdicts(result) == [(1, "held", "cap", NOW + timedelta(hours=21))]
    assert params(result, 1) == {
        "topic": "offers",
        "cap": "promotional",
        "max": 1,
        "window": "1d",
        "sent": 1,
    }
    caps = result.caps.row(0, named=True)
    assert caps["cap_promotional"] == 0
    assert caps["cap_sms"] == 2


def test_two_texts_a_week_then_only_email() -> None:
    history = [
        sent("news", timedelta(days=d), channel="sms", importance="relationship") for d in (3, 5)
    ]
    result = run(
        [candidate(1, "offers")],
        history=history,
        consents=[consent("offers", "email"), consent("offers", "sms")],
    )
    assert sends(result) == [(1, "email", NOW)]
    assert stops(result) == [(1, "sms", "cap")]
    assert result.caps.row(0, named=True)["cap_sms"] == 0


def test_caps_frame_holds_the_room_left_and_the_customers_frequency() -> None:
    history = [sent("offers", timedelta(days=d), channel="sms") for d in (2, 4)]
    result = run(
        [candidate(1, "orders")],
        history=history,
        frequencies=[{"customer_id": 1, "topic": None, "frequency": "monthly"}],
    )
    assert result.caps.to_dicts() == [
        {
            "customer_id": 1,
            "cap_total": 0,
            "cap_promotional": 1,  # 3 a week, 2 sent; 1 a day, none today
            "cap_email": None,
            "cap_sms": 0,
            "cap_push": None,
            "cap_voice": None,
            "cap_postal": None,
            "interruption_cost": 0.02,
        }
    ]


def test_the_customers_weekly_choice_holds_the_topic_with_a_sentence() -> None:
    tuesday = NOW - timedelta(days=6)
    result = run(
        [candidate(1, "offers")],
        history=[sent("offers", timedelta(days=6))],
        consents=[consent("offers", "email")],
        frequencies=[{"customer_id": 1, "topic": "offers", "frequency": "weekly"}],
        channels={"offers": ("email",)},
    )
    assert verdicts(result) == [(1, "held", "frequency", tuesday + timedelta(days=7))]
    facts = params(result, 1)
    assert facts == {
        "topic": "offers",
        "last_sent": "2026-11-17",
        "frequency": "weekly",
        "scope": "topic",
    }
    assert sentence("held", "frequency", facts, name="Ana") == (
        "Held: Ana chose weekly offers and had one on Tuesday 17 November."
    )


def test_digest_holds_until_the_digest_hour_then_goes_marked() -> None:
    weekly = [{"customer_id": 1, "topic": "offers", "frequency": "weekly"}]
    given: dict[str, Any] = {
        "consents": [consent("offers", "email")],
        "frequencies": weekly,
        "channels": {"offers": ("email",)},
    }
    result = run([candidate(1, "offers")], **given, now=utc(2026, 11, 24, 9, 0))
    # Next Monday 09:00 in Amsterdam.
    assert verdicts(result) == [(1, "held", "digest", utc(2026, 11, 30, 8, 0))]
    result = run([candidate(1, "offers")], **given, now=utc(2026, 11, 30, 8, 20))
    assert result.options.select("candidate_id", "digest").to_dicts() == [
        {"candidate_id": 1, "digest": "weekly"}
    ]


def test_one_voice_only_the_most_valuable_on_a_topic_goes() -> None:
    result = run(
        [
            candidate(1, "orders", value=1.0),
            candidate(2, "orders", value=3.0),
            candidate(3, "account"),
        ],
        channels={"orders": ("email",), "account": ("email",)},
    )
    assert [c for c, _ch, _at in sends(result)] == [2, 3]
    assert verdicts(result) == [(1, "held", "one-voice", NOW)]


def test_a_cap_the_optimiser_cannot_price_is_kept_by_the_policy() -> None:
    # Promotional texts: at most one a day. The optimiser has no such cap, so the policy lets
    # only the most valuable promotional text of this run through.
    policy = ContactPolicy(
        caps=(Cap(importance="promotional", channel="sms", max=1, window=timedelta(days=1)),)
    )
    opted = [consent(t, c) for t in ("offers", "events") for c in ("email", "sms")]
    result = run(
        [candidate(1, "offers", value=1.0), candidate(2, "events", value=2.0)],
        policy=policy,
        consents=opted,
    )
    assert sends(result) == [(1, "email", NOW), (2, "email", NOW), (2, "sms", NOW)]
    assert stops(result) == [(1, "sms", "cap")]


def test_options_feed_the_optimiser() -> None:
    result = run(
        [candidate(1, "orders"), candidate(2, "offers", value=2.0)],
        consents=[consent("offers", "email"), consent("offers", "sms")],
    )
    plan = optimise(result.options, result.caps, {})
    assert set(plan.chosen["candidate_id"].to_list()) == {1, 2}
    assert result.options.columns[: len(OPTION_COLUMNS)] == list(OPTION_COLUMNS)


def test_frames_lacking_a_column_are_refused() -> None:
    from regard.errors import InvalidInput

    with pytest.raises(InvalidInput, match="candidates lack"):
        apply_policy(
            candidates=pl.DataFrame({"candidate_id": [1]}),
            touchpoint_channels=pl.DataFrame(),
            topics=pl.DataFrame(),
            customers=pl.DataFrame(),
            frequencies=pl.DataFrame(),
            consents=pl.DataFrame(),
            suppressions=pl.DataFrame(),
            history=pl.DataFrame(),
            policy=ContactPolicy(),
            now=NOW,
        )


@pytest.mark.parametrize("importance", ["urgent", None])
def test_a_candidate_of_unknown_importance_is_refused(importance: str | None) -> None:
    from regard.errors import InvalidInput

    with pytest.raises(InvalidInput, match=f"unknown importance {importance!r}"):
        run([candidate(1, "orders"), candidate(2, "orders", importance=importance)])


def test_categorical_frames_decide_as_strings_do() -> None:
    given = [
        candidate(1, "orders"),
        candidate(2, "offers", value=2.0),
        candidate(3, "raffle", importance="promotional"),
    ]
    entries = [consent("offers", "email"), consent("offers", "sms", "opted-out")]
    pairs = [(t, c) for t in ("offers", "orders", "raffle") for c in ("email", "sms")]
    given_frames = frames(given, pairs=pairs, customers=[customer()], consents=entries)
    as_strings = apply_policy(**given_frames, policy=ContactPolicy(), now=NOW)
    given_frames["candidates"] = given_frames["candidates"].with_columns(
        pl.col("touchpoint", "topic", "importance").cast(pl.Categorical)
    )
    as_codes = apply_policy(**given_frames, policy=ContactPolicy(), now=NOW)
    assert sends(as_codes) == sends(as_strings)
    assert stops(as_codes) == stops(as_strings)
    assert verdicts(as_codes) == verdicts(as_strings)
    assert verdicts(as_codes) == [(3, "dropped", "no-lawful-basis", None)]


def test_nothing_to_decide_gives_empty_frames() -> None:
    given = frames([], pairs=[("orders", "email")], customers=[])
    result = apply_policy(**given, policy=ContactPolicy(), now=NOW)
    assert result.options.height == 0
    assert result.caps.height == 0
    assert result.verdicts.height == 0
    assert result.blocked.height == 0


def test_a_customer_without_ledger_entries_goes_by_the_topics_basis() -> None:
    result = run([candidate(1, "orders"), candidate(2, "offers")])
    assert sends(result) == [(1, "email", NOW), (1, "sms", NOW)]
    assert verdicts(result) == [(2, "dropped", "no-consent", None)]


# ---------------------------------------------------------------------------------------------
# Input types


@pytest.mark.parametrize("kind", ["categorical", "enum"])
def test_categorical_and_enum_inputs_decide_exactly_as_their_text(kind: str) -> None:
    customers = [
        customer(1),
        customer(
            2, region="CA", time_zone="America/Toronto", last_purchase_at=NOW - timedelta(days=800)
        ),
        customer(3, region=None, time_zone=None),
        customer(4, region="US", time_zone="Mars/Olympus"),
    ]
    candidates = [
        candidate(1, "orders"),
        candidate(2, "offers", customer_id=2),
        candidate(3, "news", customer_id=2),
        candidate(4, "raffle", customer_id=3, importance="promotional"),
        candidate(5, "events", customer_id=3, relevance=0.9),
        candidate(6, "account", customer_id=4),
        candidate(7, "offers", customer_id=1),
    ]
    pairs = [
        (t, ch)
        for t in ("account", "orders", "offers", "news", "events")
        for ch in ("email", "sms")
    ]
    given = frames(
        candidates,
        pairs=[*pairs, ("raffle", "push")],
        customers=customers,
        frequencies=[{"customer_id": 1, "topic": "offers", "frequency": "weekly"}],
        consents=[
            consent("offers", "email", customer_id=2, legal_basis="legitimate-interest"),
            consent("events", "sms", customer_id=3),
            consent("offers", "email", "opted-out", customer_id=1),
            consent("offers", "sms", customer_id=1, legal_basis=None),
        ],
        suppressions=[
            {
                "customer_id": 4,
                "channel": "sms",
                "reason": "complaint",
                "at": NOW - timedelta(days=1),
            }
        ],
        history=[sent("offers", timedelta(days=2), "sms"), sent("raffle", timedelta(hours=3))],
    )

    def recoded(frame: pl.DataFrame) -> pl.DataFrame:
        texts = [name for name, dtype in frame.schema.items() if dtype == pl.String]
        if kind == "categorical":
            return frame.with_columns(pl.col(texts).cast(pl.Categorical))
        return frame.with_columns(
            pl.col(name).cast(pl.Enum(sorted(set(frame[name].drop_nulls()) | {"unused"})))
            for name in texts
        )

    as_text = apply_policy(**given, policy=ContactPolicy(), now=NOW)
    coded = apply_policy(
        **{name: recoded(frame) for name, frame in given.items()}, policy=ContactPolicy(), now=NOW
    )
    assert as_text.options.height > 0
    assert as_text.verdicts.height > 0
    assert as_text.blocked.height > 0
    assert coded.options.equals(as_text.options)
    assert coded.caps.equals(as_text.caps)
    assert coded.blocked.equals(as_text.blocked)
    assert coded.verdicts.equals(as_text.verdicts)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
def test_reason_columns_take_every_byte_exactly_where_masked(dtype: Any) -> None:
    # The stops and the verdicts' channels are written as bytes by arithmetic that wraps.
    info = np.iinfo(dtype)
    values = np.arange(info.min, info.max + 1).astype(dtype)
    column = np.repeat(values, values.size)
    written = np.tile(values, values.size)
    mask = np.arange(column.size) % 3 != 0
    expected = np.where(mask, written, column)
    put(column, mask, written)
    assert np.array_equal(column, expected)
    put(column, ~mask, values[-1])
    assert np.array_equal(column, np.where(mask, written, values[-1]))
