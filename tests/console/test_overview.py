"""The overview's figures on a small hand-made base, exact, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from regard.console.overview import (
    REASON_LABELS,
    OutcomeCount,
    Overview,
    overview_charts,
    read_overview,
    week_starts,
)
from regard.customers.models import Customer
from regard.decisions.models import Decision, DecisionRun, OutboxMessage
from regard.decisions.reasons import Reason
from regard.delivery.models import MessageFeedback
from regard.preferences.models import ConsentEntry, ConsentState
from regard.segments.models import SegmentMembership
from regard.store.database import Store, unit_of_work
from regard.touchpoints.models import Candidate

# A Wednesday: the three weeks shown start on Mondays 2, 9 and 16 November.
NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)


def at(day: int, hour: int = 12, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def _base(store: Store) -> None:
    with unit_of_work(store) as session:
        created = [
            at(1, month=10),  # before the weeks shown
            at(3),
            at(10, 9),
            at(15, 23, 59),  # Sunday night: still the week of 9 November
            at(16, 0),  # Monday midnight: the week of 16 November
            at(18, 11),
        ]
        customers = [Customer(created_at=when, updated_at=when) for when in created]
        session.add_all(customers)
        session.flush()
        c1, c2, c3, c4, c5, c6 = (customer.id for customer in customers)

        def stay(segment: str, customer: int, exited: datetime | None = None) -> None:
            session.add(
                SegmentMembership(
                    segment=segment, customer_id=customer, entered_at=at(1), exited_at=exited
                )
            )

        stay("commitment:Entrenched", c1)
        stay("commitment:Entrenched", c2)
        stay("commitment:Shallow", c3)
        stay("commitment:Shallow", c4, exited=at(5))
        stay("commitment:Available", c5)
        stay("lifecycle:active", c1)
        stay("lifecycle:active", c2)
        stay("lifecycle:prospect", c5)
        stay("lifecycle:prospect", c6)
        stay("lifecycle:lapsed", c3, exited=at(6))
        stay("rfm:champions", c1)

        for customer, topic, channel, state in [
            (c1, "events", "email", "opted-in"),
            (c1, "offers:camping", "email", "opted-in"),
            (c1, "orders", "email", "opted-out"),
            (c2, "offers:camping", "sms", "opted-in"),
            (c2, "orders", "voice", "opted-in"),
            (c3, "events", "email", "pending"),
            (c4, "offers:footwear", "push", "opted-out"),
        ]:
            session.add(
                ConsentState(
                    customer_id=customer,
                    topic=topic,
                    channel=channel,
                    state=state,
                    legal_basis="consent",
                    source="center",
                    occurred_at=at(2),
                    entry_id=0,
                )
            )

        entries = [
            (c1, "orders", "email", "opted-out", at(3)),
            (c1, "orders", "sms", "opted-out", at(4)),  # the same customer, the same week
            (c4, "offers:footwear", "push", "opted-out", at(17)),
            (c2, "offers:camping", "sms", "opted-in", at(10)),
            (c3, "events", "email", "opted-out", at(1, month=10)),  # before the weeks shown
        ]
        for seq, (customer, topic, channel, state, when) in enumerate(entries, start=1):
            session.add(
                ConsentEntry(
                    customer_id=customer,
                    seq=seq,
                    kind="consent",
                    topic=topic,
                    channel=channel,
                    state=state,
                    source="center",
                    actor="customer",
                    occurred_at=when,
                    recorded_at=when,
                    prev_hash="0" * 64,
                    entry_hash=f"{seq:064d}",
                )
            )

        run = DecisionRun(started_at=at(1, month=10), status="done")
        session.add(run)
        session.flush()
        decisions: list[Decision] = []

        def decide(customer: int, key: str, *steps: tuple[str, str, datetime]) -> Decision:
            candidate = Candidate(
                touchpoint="news",
                customer_id=customer,
                key=key,
                triggered_at=at(1, month=10),
                created_at=at(1, month=10),
            )
            session.add(candidate)
            session.flush()
            for outcome, reason, when in steps:
                decision = Decision(
                    run_id=run.id,
                    candidate_id=candidate.id,
                    customer_id=customer,
                    touchpoint="news",
                    outcome=outcome,
                    reason=reason,
                    decided_at=when,
                )
                session.add(decision)
                session.flush()
                decisions.append(decision)
            return decisions[-1]

        sent = decide(c1, "k1", ("held", "frequency", at(10)), ("sent", "chosen", at(11)))
        decide(c2, "k2", ("held", "cap", at(12)))
        decide(c3, "k3", ("dropped", "opted-out", at(12)))
        decide(c4, "k4", ("dropped", "opted-out", at(13)))
        decide(c5, "k5", ("sent", "chosen", at(14)))
        decide(c6, "k6", ("dropped", "no-consent", at(1, month=10)))  # before the 30 days
        decide(c6, "k7", ("held", "fatigue", at(12)))

        outbox: list[OutboxMessage] = []
        for number, sent_at in enumerate(
            [at(3, 10), at(4), at(10), at(17), None, at(20, month=10)], start=1
        ):
            message = OutboxMessage(
                idempotency_key=f"m{number}",
                decision_id=sent.id,
                customer_id=c1,
                touchpoint="news",
                topic="events",
                channel="email",
                content="news",
                send_at=sent_at or at(18),
                status="sent" if sent_at else "queued",
                sent_at=sent_at,
                created_at=at(1),
            )
            session.add(message)
            outbox.append(message)
        session.flush()
        m1, m2, m3 = outbox[0].id, outbox[1].id, outbox[2].id
        for key, outbox_id, kind, when in [
            ("f1", m1, "complained", at(5)),
            ("f2", m1, "complained", at(5, 13)),  # a second report of the same complaint
            ("f3", m2, "opened", at(5)),
            ("f4", m3, "complained", at(16, 1)),
        ]:
            session.add(
                MessageFeedback(
                    key=key,
                    outbox_id=outbox_id,
                    channel="email",
                    stream="email:example.com",
                    kind=kind,
                    occurred_at=when,
                    received_at=when,
                )
            )


@pytest.fixture
def overview(store: Store) -> Overview:
    _base(store)
    with store.sessions() as session:
        return read_overview(session, brand=store.brand, now=NOW, weeks=3, days=30)


def test_week_starts_are_mondays_ending_with_the_week_of_now() -> None:
    assert week_starts(NOW, weeks=3) == [at(2, 0), at(9, 0), at(16, 0)]
    assert week_starts(at(16, 0), weeks=1) == [at(16, 0)]


def test_customers_and_growth(overview: Overview) -> None:
    assert overview.growth.customers == 6
    assert [(w.week, w.count) for w in overview.growth.new_per_week] == [
        (date(2026, 11, 2), 1),
        (date(2026, 11, 9), 2),
        (date(2026, 11, 16), 2),
    ]


def test_commitment_mix_counts_open_memberships(overview: Overview) -> None:
    mix = overview.commitment
    assert [(g.label, g.customers) for g in mix.users] == [
        ("Entrenched", 2),
        ("Average", 0),
        ("Shallow", 1),
        ("Convertible", 0),
    ]
    assert [(g.label, g.customers) for g in mix.non_users] == [
        ("Available", 1),
        ("Ambivalent", 0),
        ("Weakly unavailable", 0),
        ("Strongly unavailable", 0),
    ]
    assert mix.scored == 4
    assert mix.users[0].description


def test_lifecycle_stages(overview: Overview) -> None:
    assert {g.key: g.customers for g in overview.lifecycle} == {
        "lifecycle:prospect": 2,
        "lifecycle:new": 0,
        "lifecycle:active": 2,
        "lifecycle:at_risk": 0,
        "lifecycle:lapsed": 0,
        "lifecycle:won_back": 0,
    }


def test_opt_in_rates_follow_the_subscribed_rule(overview: Overview) -> None:
    rates = overview.opt_in
    assert rates.customers == 6
    expected = {
        ("orders", "email"): 5,  # on by contract, one opted out
        ("orders", "sms"): 6,
        ("orders", "voice"): 1,  # calls need an opt-in
        ("account", "email"): 6,
        ("account", "voice"): 0,
        ("events", "email"): 1,  # pending is not yet in
        ("offers:camping", "email"): 1,
        ("offers:camping", "sms"): 1,
        ("offers:footwear", "push"): 0,
        ("service", "push"): 6,
    }
    for (topic, channel), customers in expected.items():
        cell = rates.cell(topic, channel)
        assert (topic, channel, cell.customers) == (topic, channel, customers)
        assert cell.share == pytest.approx(customers / 6)
    assert len(rates.cells) == 6 * 4
    assert {r.key: r.customers for r in rates.by_channel} == {
        "email": 1,
        "sms": 1,
        "push": 0,
        "voice": 1,
    }
    assert {r.key: r.customers for r in rates.by_topic} == {
        "account": 6,
        "orders": 6,
        "service": 6,
        "events": 1,
        "offers:camping": 2,
        "offers:footwear": 0,
    }


def test_messages_count_each_candidate_by_its_latest_decision(overview: Overview) -> None:
    messages = overview.messages
    assert (messages.sent, messages.held, messages.dropped) == (2, 2, 2)
    assert messages.by_reason == (
        OutcomeCount("sent", None, "sent", 2),
        OutcomeCount("held", "cap", "brand-wide cap", 1),
        OutcomeCount("held", "fatigue", "fatigue", 1),
        OutcomeCount("dropped", "opted-out", "opted out", 2),
    )


def test_opt_outs_and_complaints_per_week(overview: Overview) -> None:
    assert [(w.week, w.opt_outs, w.sent, w.complaints) for w in overview.feedback] == [
        (date(2026, 11, 2), 1, 2, 1),
        (date(2026, 11, 9), 0, 1, 0),
        (date(2026, 11, 16), 1, 1, 1),
    ]
    assert [w.complaint_rate for w in overview.feedback] == [0.5, 0.0, 1.0]


def test_every_reason_has_a_short_label() -> None:
    assert set(REASON_LABELS) == {reason.value for reason in Reason}


def test_the_overview_charts_state_the_figures(overview: Overview) -> None:
    charts = overview_charts(overview)
    assert set(charts) == {
        "growth",
        "commitment",
        "lifecycle",
        "opt_in_channels",
        "opt_in_topics",
        "opt_in_grid",
        "messages",
        "opt_outs",
        "complaints",
    }
    assert "1 (2 Nov), 2 (9 Nov), 2 (16 Nov)" in charts["growth"].alt
    assert "Users Entrenched: 2, Users Average: 0" in charts["commitment"].alt
    assert "Non-users Available: 1" in charts["commitment"].alt
    assert "Prospect: 2" in charts["lifecycle"].alt
    assert "Held brand-wide cap: 1" in charts["messages"].alt
    assert "Dropped opted out: 2" in charts["messages"].alt
    complaints = charts["complaints"]
    assert "50% (2 Nov), 0% (9 Nov), 100% (16 Nov)" in complaints.alt
    assert "Complaint-rate limit: 0.3%" in complaints.alt
    assert "reference-line" in complaints.svg
    assert ("orders", "83.3%", "100%", "100%", "16.7%") in charts["opt_in_grid"].table


def test_an_empty_store_gives_zeros_and_charts_that_say_so(store: Store) -> None:
    with store.sessions() as session:
        empty = read_overview(session, brand=store.brand, now=NOW, weeks=2, days=7)
    assert empty.growth.customers == 0
    assert [w.count for w in empty.growth.new_per_week] == [0, 0]
    assert empty.commitment.scored == 0
    assert {cell.share for cell in empty.opt_in.cells} == {0.0}
    assert (empty.messages.sent, empty.messages.held, empty.messages.dropped) == (0, 0, 0)
    assert [w.complaint_rate for w in empty.feedback] == [0.0, 0.0]
    charts = overview_charts(empty)
    assert "0% (9 Nov), 0% (16 Nov)" in charts["complaints"].alt
    assert "never above it" in charts["complaints"].alt
