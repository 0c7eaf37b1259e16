"""Relationship health from hand-made frames: rates with the complaint line and too little data,
fatigue read from the contact policy's own caps, and the two transition matrices."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from regard.decisions.inputs import EngineInputs, catalogue_frames
from regard.decisions.policy_options import ContactPolicy
from regard.delivery.options import BreakerOptions
from regard.measurement.health import (
    COMPLAINT_LINE,
    GROUPS,
    LIFECYCLE_STAGES,
    MIN_SENT,
    commitment_transitions,
    fatigue,
    lifecycle_transitions,
    message_outcomes,
    rates_by,
    week_starts,
    weekly_rates,
)
from regard.segments.options import LifecycleOptions
from tests.conftest import brand_for_tests

TIME = pl.Datetime("us", "UTC")
MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 11, 12, 0, tzinfo=UTC)  # a Wednesday
DAY = timedelta(days=1)


def test_the_line_and_the_minimum_are_the_breakers() -> None:
    assert BreakerOptions().halt_at == COMPLAINT_LINE == 0.003
    assert BreakerOptions().min_deliveries == MIN_SENT


# ---------------------------------------------------------------------------------------------
# Rates


def _messages(rows: list[tuple[int, int, str, str, datetime]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "outbox_id": pl.Int64(),
            "customer_id": pl.Int64(),
            "touchpoint": pl.String(),
            "channel": pl.String(),
            "sent_at": TIME,
        },
        orient="row",
    )


def _feedback(rows: list[tuple[int, str]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"outbox_id": pl.Int64(), "kind": pl.String()}, orient="row")


def _opt_outs(rows: list[tuple[int, str | None, datetime]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={"customer_id": pl.Int64(), "channel": pl.String(), "occurred_at": TIME},
        orient="row",
    )


def test_each_message_gets_its_feedback_and_the_opt_out_it_was_followed_by() -> None:
    messages = _messages(
        [
            (1, 10, "welcome", "email", MONDAY),
            (2, 10, "newsletter", "sms", MONDAY + DAY),
            (3, 10, "newsletter", "email", MONDAY + 2 * DAY),
            (4, 20, "newsletter", "email", MONDAY),
            (5, 30, "newsletter", "email", MONDAY),
        ]
    )
    feedback = _feedback([(1, "delivered"), (1, "opened"), (3, "delivered"), (3, "complained")])
    opt_outs = _opt_outs(
        [
            # Customer 10 leaves texts: the text (2) is blamed, not the later email (3).
            (10, "sms", MONDAY + 3 * DAY),
            # ... and two email topics at once: the last email (3), counted once.
            (10, "email", MONDAY + 3 * DAY),
            (10, "email", MONDAY + 3 * DAY),
            # Customer 20 leaves everything (no channel) 6 days on: within the week.
            (20, None, MONDAY + 6 * DAY),
            # Customer 30 leaves 8 days on: past the window, nothing blamed.
            (30, None, MONDAY + 8 * DAY),
        ]
    )
    found = message_outcomes(messages, feedback=feedback, opt_outs=opt_outs, window=7 * DAY)
    got = found.sort("outbox_id").select("outbox_id", "delivered", "complained", "opted_out")
    expected = pl.DataFrame(
        {
            "outbox_id": [1, 2, 3, 4, 5],
            "delivered": [True, False, True, False, False],
            "complained": [False, False, True, False, False],
            "opted_out": [False, True, True, True, False],
        }
    )
    assert_frame_equal(got, expected)


def _outcomes(counts: dict[date, tuple[int, int, int, int]]) -> pl.DataFrame:
    """Messages per week: (sent, delivered, opted out, complained), all email, touchpoint by
    week."""
    rows: list[dict[str, object]] = []
    for week, (sent, delivered, opted_out, complained) in counts.items():
        at = datetime(week.year, week.month, week.day, 10, tzinfo=UTC)
        for i in range(sent):
            rows.append(
                {
                    "outbox_id": len(rows) + 1,
                    "customer_id": i,
                    "touchpoint": "newsletter" if week.day < 9 else "spring_camping",
                    "channel": "email",
                    "sent_at": at,
                    "delivered": i < delivered,
                    "opted_out": i < opted_out,
                    "complained": i < complained,
                }
            )
    return pl.DataFrame(
        rows,
        schema={
            "outbox_id": pl.Int64(),
            "customer_id": pl.Int64(),
            "touchpoint": pl.String(),
            "channel": pl.String(),
            "sent_at": TIME,
            "delivered": pl.Boolean(),
            "opted_out": pl.Boolean(),
            "complained": pl.Boolean(),
        },
    )


def test_weekly_rates_flag_the_complaint_line_and_say_when_there_is_too_little_data() -> None:
    weeks = week_starts(NOW, 3)
    assert weeks == [date(2026, 2, 23), date(2026, 3, 2), date(2026, 3, 9)]
    outcomes = _outcomes(
        {
            # 3 complaints in 1,000 is 0.3%: on the line, not over it.
            date(2026, 3, 2): (1000, 990, 5, 3),
            # 4 in 1,000: over it.
            date(2026, 3, 9): (1000, 995, 2, 4),
        }
    )
    rates = weekly_rates(outcomes, weeks=weeks, minimum=500)
    expected = pl.DataFrame(
        {
            "week": weeks,
            "sent": [0, 1000, 1000],
            "delivered": [0, 990, 995],
            "opted_out": [0, 5, 2],
            "complained": [0, 3, 4],
            "opt_out_rate": [None, 0.005, 0.002],
            "complaint_rate": [None, 0.003, 0.004],
            "over_line": [False, False, True],
            "note": [
                "too little data: 0 sent, at least 500 needed",
                None,
                "complaints above the 0.3% line",
            ],
        },
        schema_overrides={
            "sent": pl.Int64,
            "delivered": pl.Int64,
            "opted_out": pl.Int64,
            "complained": pl.Int64,
        },
    )
    assert_frame_equal(rates, expected)


def test_a_few_messages_give_counts_but_no_rate() -> None:
    outcomes = _outcomes({date(2026, 3, 9): (40, 40, 1, 2)})
    (week,) = weekly_rates(outcomes, weeks=[date(2026, 3, 9)], minimum=500).iter_rows(named=True)
    assert week["sent"] == 40
    assert week["complained"] == 2
    # 2 in 40 would be 5%, but 40 messages say too little to judge.
    assert week["complaint_rate"] is None
    assert week["opt_out_rate"] is None
    assert week["over_line"] is False
    assert week["note"] == "too little data: 40 sent, at least 500 needed"


def test_rates_by_channel_and_touchpoint_over_the_whole_period() -> None:
    outcomes = _outcomes({date(2026, 3, 2): (600, 600, 6, 1), date(2026, 3, 9): (400, 400, 0, 3)})
    by_channel = rates_by(outcomes, "channel", include=("email", "sms"), minimum=500)
    assert by_channel.select("channel", "sent", "complained", "complaint_rate").rows() == [
        ("email", 1000, 4, 0.004),
        ("sms", 0, 0, None),
    ]
    assert by_channel["over_line"].to_list() == [True, False]
    by_touchpoint = rates_by(outcomes, "touchpoint", minimum=500)
    assert by_touchpoint.select("touchpoint", "sent", "opt_out_rate", "note").rows() == [
        ("newsletter", 600, 0.01, None),
        ("spring_camping", 400, None, "too little data: 400 sent, at least 500 needed"),
    ]


# ---------------------------------------------------------------------------------------------
# Fatigue


def _customers(ids: list[int], *, sms: bool = True) -> pl.DataFrame:
    n = len(ids)
    return pl.DataFrame(
        {
            "customer_id": ids,
            "time_zone": ["Europe/Amsterdam"] * n,
            "region": ["NL"] * n,
            "quiet_start": [None] * n,
            "quiet_end": [None] * n,
            "preferred_days": [None] * n,
            "preferred_start": [None] * n,
            "preferred_end": [None] * n,
            "paused_until": [None] * n,
            "email": [True] * n,
            "sms": [sms] * n,
            "push": [False] * n,
            "voice": [False] * n,
            "postal": [False] * n,
            "last_purchase_at": [None] * n,
            "do_not_contact": [False] * n,
        },
        schema_overrides={
            "customer_id": pl.Int64,
            "quiet_start": pl.Int16,
            "quiet_end": pl.Int16,
            "preferred_days": pl.Int8,
            "preferred_start": pl.Int16,
            "preferred_end": pl.Int16,
            "paused_until": pl.Date,
            "last_purchase_at": TIME,
        },
    )


def _inputs(
    customers: pl.DataFrame,
    history: list[tuple[int, str, str, datetime]],
    *,
    weekly: tuple[int, ...] = (),
    suppressed: tuple[tuple[int, str | None, str], ...] = (),
) -> EngineInputs:
    """What the policy knows: ``history`` rows are (customer, topic, channel, sent_at)."""
    brand = brand_for_tests()
    _, channels, topics = catalogue_frames(brand)
    importance = dict(zip(topics["topic"], topics["importance"], strict=True))
    return EngineInputs(
        candidates=pl.DataFrame(
            schema={
                "candidate_id": pl.Int64(),
                "customer_id": pl.Int64(),
                "touchpoint": pl.String(),
                "topic": pl.String(),
                "importance": pl.String(),
                "deadline_at": TIME,
                "asks_response": pl.Boolean(),
                "value": pl.Float64(),
                "relevance": pl.Float64(),
            }
        ),
        touchpoint_channels=channels.select("touchpoint", "channel"),
        topics=topics,
        customers=customers,
        frequencies=pl.DataFrame(
            {
                "customer_id": list(weekly),
                "topic": [None] * len(weekly),
                "frequency": ["weekly"] * len(weekly),
            },
            schema={"customer_id": pl.Int64(), "topic": pl.String(), "frequency": pl.String()},
        ),
        consents=pl.DataFrame(
            schema={
                "customer_id": pl.Int64(),
                "topic": pl.String(),
                "channel": pl.String(),
                "state": pl.String(),
                "legal_basis": pl.String(),
                "occurred_at": TIME,
            }
        ),
        suppressions=pl.DataFrame(
            [(c, ch, why, NOW - 30 * DAY) for c, ch, why in suppressed],
            schema={
                "customer_id": pl.Int64(),
                "channel": pl.String(),
                "reason": pl.String(),
                "at": TIME,
            },
            orient="row",
        ),
        history=pl.DataFrame(
            [(c, t, ch, importance[t], at, None) for c, t, ch, at in history],
            schema={
                "customer_id": pl.Int64(),
                "topic": pl.String(),
                "channel": pl.String(),
                "importance": pl.String(),
                "sent_at": TIME,
                "engaged": pl.Boolean(),
            },
            orient="row",
        ),
    )


def _shares(frame: pl.DataFrame) -> dict[str, tuple[int, int]]:
    return {
        row["channel"]: (row["reachable"], row["at_cap"]) for row in frame.iter_rows(named=True)
    }


def test_fatigue_counts_sends_inside_the_cap_window_and_not_outside_it() -> None:
    policy = ContactPolicy()  # one promotional message a day, three a week; two texts a week
    customers = _customers([1, 2, 3, 4])
    history = [
        # 1: an offer three hours ago: at the daily promotional cap, on every channel.
        (1, "offers:camping", "email", NOW - timedelta(hours=3)),
        # 2: an offer 25 hours ago: outside the day; one of three this week.
        (2, "offers:camping", "email", NOW - 25 * timedelta(hours=1)),
        # 3: two texts this week (relationship): at the text cap, email still open.
        (3, "events", "sms", NOW - 2 * DAY),
        (3, "events", "sms", NOW - 4 * DAY),
        # 4: two texts, one 8 days ago: outside the week, room for one more.
        (4, "events", "sms", NOW - 2 * DAY),
        (4, "events", "sms", NOW - 8 * DAY),
    ]
    found = fatigue(_inputs(customers, history), policy=policy, now=NOW, channels=("email", "sms"))
    assert found.columns == ["channel", "reachable", "at_cap", "share"]
    assert _shares(found) == {"email": (4, 1), "sms": (4, 2), "all": (4, 1)}
    assert found.filter(pl.col("channel") == "sms")["share"].item() == 0.5


def test_fatigue_honours_a_customers_weekly_choice() -> None:
    policy = ContactPolicy(caps=())  # no brand caps: only the customer's own choice
    customers = _customers([1, 2, 3])
    history = [
        # Each had one relationship email five days ago.
        (1, "events", "email", NOW - 5 * DAY),
        (2, "events", "email", NOW - 5 * DAY),
        (3, "events", "email", NOW - 9 * DAY),
    ]
    # 1 chose weekly: the week's one message is used up. 2 chose nothing: no cap.
    # 3 chose weekly, but their message was 9 days ago: room again.
    found = fatigue(
        _inputs(customers, history, weekly=(1, 3)), policy=policy, now=NOW, channels=("email",)
    )
    assert _shares(found) == {"email": (3, 1), "all": (3, 1)}


def test_fatigue_counts_only_reachable_customers() -> None:
    customers = _customers([1, 2, 3], sms=False)
    history = [(1, "offers:camping", "email", NOW - timedelta(hours=1))]
    inputs = _inputs(
        customers, history, suppressed=((2, "email", "complaint"), (3, None, "erased"))
    )
    found = fatigue(inputs, policy=ContactPolicy(), now=NOW, channels=("email", "sms"))
    assert _shares(found) == {"email": (1, 1), "sms": (0, 0), "all": (1, 1)}
    assert found.filter(pl.col("channel") == "sms")["share"].item() is None


# ---------------------------------------------------------------------------------------------
# Transitions


def _responses(rows: list[tuple[int, int, str | None]]) -> pl.DataFrame:
    """(customer, days after MONDAY, group)."""
    return pl.DataFrame(
        [(c, MONDAY + days * DAY, i, g) for i, (c, days, g) in enumerate(rows)],
        schema={
            "customer_id": pl.Int64(),
            "responded_at": TIME,
            "response_id": pl.Int64(),
            "group": pl.String(),
        },
        orient="row",
    )


def _cells(matrix: pl.DataFrame, start: str, end: str) -> dict[tuple[str, str], int]:
    return {
        (row[start], row[end]): row["customers"]
        for row in matrix.iter_rows(named=True)
        if row["customers"]
    }


def test_commitment_matrix_is_previous_against_latest_with_every_cell() -> None:
    responses = _responses(
        [
            # 1: Shallow, then Average, then Entrenched: counted Average -> Entrenched.
            (1, 0, "Shallow"),
            (1, 30, "Average"),
            (1, 60, "Entrenched"),
            # 2: Convertible twice.
            (2, 0, "Convertible"),
            (2, 40, "Convertible"),
            # 3: Average, then Convertible (answered in reverse order in the frame).
            (3, 50, "Convertible"),
            (3, 10, "Average"),
            # 4: a single response: not in the matrix.
            (4, 5, "Available"),
            # 5: a second response that could not be scored: only one scored, left out.
            (5, 0, "Ambivalent"),
            (5, 20, None),
        ]
    )
    matrix = commitment_transitions(responses)
    assert matrix.height == 64
    assert matrix.columns == ["from_group", "to_group", "customers", "share"]
    assert matrix["from_group"].unique(maintain_order=True).to_list() == list(GROUPS)
    assert matrix["to_group"].head(8).to_list() == list(GROUPS)
    assert _cells(matrix, "from_group", "to_group") == {
        ("Average", "Entrenched"): 1,
        ("Average", "Convertible"): 1,
        ("Convertible", "Convertible"): 1,
    }
    assert matrix["customers"].sum() == 3
    average = matrix.filter(pl.col("from_group") == "Average")
    assert average["share"].to_list() == [0.5, 0.0, 0.0, 0.5, 0.0, 0.0, 0.0, 0.0]
    # A row nobody started in has no shares.
    assert matrix.filter(pl.col("from_group") == "Available")["share"].null_count() == 8
    # Within a period: the first and last response in it.
    period = commitment_transitions(responses, since=MONDAY + 20 * DAY)
    # (2 and 3 answered once since then.)
    assert _cells(period, "from_group", "to_group") == {("Average", "Entrenched"): 1}


def test_lifecycle_matrix_evaluates_the_segments_rules_at_both_dates() -> None:
    options = LifecycleOptions()
    as_of = NOW
    customers = pl.DataFrame({"customer_id": [1, 2, 3, 4]}, schema={"customer_id": pl.Int64()})
    purchases = pl.DataFrame(
        {
            # 1 bought once, long ago; 2 first bought last month; 3 never; 4 first bought 100
            # days ago (new 90 days ago, at risk now: twice the usual 30 days without buying).
            "customer_id": [1, 2, 4],
            "occurred_at": [as_of - 400 * DAY, as_of - 30 * DAY, as_of - 100 * DAY],
            "amount": [10.0, 20.0, 5.0],
        },
        schema={"customer_id": pl.Int64(), "occurred_at": TIME, "amount": pl.Float64()},
    )
    matrix = lifecycle_transitions(
        purchases, customers, as_of=as_of, period=90 * DAY, options=options
    )
    assert matrix.height == len(LIFECYCLE_STAGES) ** 2
    assert _cells(matrix, "from_stage", "to_stage") == {
        ("prospect", "prospect"): 1,
        ("prospect", "new"): 1,
        ("new", "at_risk"): 1,
        ("lapsed", "lapsed"): 1,
    }
    prospects = matrix.filter(pl.col("from_stage") == "prospect")
    assert prospects["share"].to_list() == [0.5, 0.5, 0.0, 0.0, 0.0, 0.0]
    assert matrix["customers"].dtype == pl.Int64


@pytest.mark.parametrize("weeks", [0, -1])
def test_at_least_one_week(weeks: int) -> None:
    with pytest.raises(ValueError, match="at least one week"):
        week_starts(NOW, weeks)
