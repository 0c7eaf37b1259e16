"""The complaint-rate breaker, with numbers worked by hand on both sides of each line.

With the defaults (slow above 0.1%, halt above 0.3%, at least 500 sends) and 1,000 emails sent
in the window: 1 complaint is 0.1% (normal), 2 are 0.2% (slow), 3 are 0.3% (still slow, the
line is not passed), 4 are 0.4% (halted).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest

from regard.delivery import breaker, feedback
from regard.delivery.options import BreakerOptions
from regard.errors import NotFound
from regard.store.database import Store, unit_of_work
from tests.cli import Run
from tests.delivery.feedback_support import NOW, customer, message, sent

DEFAULTS = BreakerOptions()
# Lines easy to reach by hand: slow above 10%, halt above 30%, from 10 sends.
LINES = BreakerOptions(slow_at=0.1, halt_at=0.3, min_deliveries=10, window=timedelta(days=7))
STREAM = "email:news.example"


def _complain(store: Store, outbox_ids: list[int], *, at: datetime = NOW) -> None:
    with unit_of_work(store) as session:
        for outbox_id in outbox_ids:
            feedback.record(
                session,
                message(store, outbox_id),
                kind="complained",
                occurred_at=at,
                received_at=NOW,
                vault=store.vault,
            )


def _allowance(
    store: Store, stream: str = STREAM, options: BreakerOptions = DEFAULTS
) -> breaker.Allowance:
    with unit_of_work(store) as session:
        return breaker.allowance(session, stream, NOW, options=options)


def test_streams_name_the_sender_domain_or_the_channel() -> None:
    assert breaker.stream_for("email", sender="Northwind <news@News.Example>") == STREAM
    assert breaker.stream_for("sms", sender="ignored@x.example") == "sms"
    assert breaker.stream_for("email") == "email"


def test_the_default_lines_with_a_thousand_sends(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    ana = customer(store, email="ana@example.com")
    ids = sent(store, ana, count=1000, sent_at=NOW - timedelta(days=1))
    _complain(store, ids[:1])
    assert _allowance(store) == "normal"  # 1 / 1000 = 0.1%: not past the line
    _complain(store, ids[1:2])
    with caplog.at_level(logging.WARNING, logger="regard.delivery.breaker"):
        assert _allowance(store) == "slow"  # 2 / 1000 = 0.2%
    assert "slowed" in caplog.text
    assert "ana@" not in caplog.text
    _complain(store, ids[2:3])
    assert _allowance(store) == "slow"  # 3 / 1000 = 0.3%: not past the halt line
    _complain(store, ids[3:4])
    assert _allowance(store) == "halted"  # 4 / 1000 = 0.4%
    with unit_of_work(store) as session:
        alerts = breaker.alerts(session, stream=STREAM)
        assert [(a.level, a.complaints, a.deliveries) for a in alerts] == [
            ("halt", 4, 1000),
            ("slow", 2, 1000),
        ]
        assert alerts[0].rate == pytest.approx(0.004)
        reading = breaker.read(session, STREAM, NOW, options=DEFAULTS)
    assert (reading.complaints, reading.deliveries, reading.allowance) == (4, 1000, "halted")


def test_a_halt_holds_until_a_person_resumes(store: Store) -> None:
    ana = customer(store, email="ana@example.com")
    ids = sent(store, ana, count=10, sent_at=NOW - timedelta(days=1))
    _complain(store, ids[:4])  # 4 / 10 = 40%
    assert _allowance(store, options=LINES) == "halted"
    # More sends bring the rate down (4 / 30 = 13%), but a halt is for a person to lift.
    sent(store, ana, count=20, sent_at=NOW - timedelta(hours=1))
    assert _allowance(store, options=LINES) == "halted"
    with unit_of_work(store) as session:
        assert breaker.streams(session)[0].state == "halted"  # a row: it survives restarts
        breaker.resume(session, STREAM, now=NOW)
    # Complaints before the resume no longer count, and nothing was sent since: too few.
    assert _allowance(store, options=LINES) == "normal"
    with unit_of_work(store) as session:
        reading = breaker.read(session, STREAM, NOW, options=LINES)
        assert reading.rate is None
        assert "fewer than the 10 needed" in reading.note
        assert [a.level for a in breaker.alerts(session)] == ["resumed", "halt"]


def test_below_min_deliveries_nothing_moves(store: Store) -> None:
    ana = customer(store, email="ana@example.com")
    ids = sent(store, ana, count=9, sent_at=NOW - timedelta(days=1))
    _complain(store, ids[:5])  # 5 / 9 would be 56%, but 9 sends are fewer than 10
    assert _allowance(store, options=LINES) == "normal"
    sent(store, ana, count=1, sent_at=NOW - timedelta(days=1))
    assert _allowance(store, options=LINES) == "halted"  # 5 / 10 = 50%


def test_only_the_window_and_the_stream_count(store: Store) -> None:
    ana = customer(store, email="ana@example.com")
    old = sent(store, ana, count=10, sent_at=NOW - timedelta(days=8))
    _complain(store, old[:5], at=NOW - timedelta(days=8))
    recent = sent(store, ana, count=10, sent_at=NOW - timedelta(days=6))
    other = sent(store, ana, count=10, sent_at=NOW - timedelta(days=1), domain="other.example")
    _complain(store, other[:5])
    # In the window on news.example: 10 sent, 1 complaint = 10%, not past slow.
    _complain(store, recent[:1])
    assert _allowance(store, options=LINES) == "normal"
    # 2 complaints = 20%: slow. The other domain, 5 / 10, is halted on its own.
    _complain(store, recent[1:2])
    assert _allowance(store, options=LINES) == "slow"
    assert _allowance(store, "email:other.example", options=LINES) == "halted"
    assert _allowance(store, "sms", options=LINES) == "normal"
    # Fewer complaints later (the stream recovers) bring a slowed stream back to normal.
    assert _allowance(store, options=LINES.model_copy(update={"slow_at": 0.25})) == "normal"


def test_resuming_a_stream_never_seen_names_the_known_ones(store: Store) -> None:
    with unit_of_work(store) as session, pytest.raises(NotFound, match="no stream 'sms'"):
        breaker.resume(session, "sms", now=NOW)


def test_a_person_resumes_a_halted_stream_from_the_command_line(cli: Run, cli_store: Store) -> None:
    ana = customer(cli_store, email="ana@example.com")
    ids = sent(cli_store, ana, count=10, sent_at=NOW - timedelta(days=1))
    _complain(cli_store, ids[:4])
    assert _allowance(cli_store, options=LINES) == "halted"
    listed = cli("delivery", "streams")
    assert listed.returncode == 0, listed.stderr
    assert STREAM in listed.stdout
    assert "halted" in listed.stdout
    resumed = cli("delivery", "resume", STREAM)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed" in resumed.stdout
    with unit_of_work(cli_store) as session:
        assert [row.state for row in breaker.streams(session)] == ["normal"]
    unknown = cli("delivery", "resume", "fax")
    assert unknown.returncode == 2
    assert "no stream 'fax'" in unknown.stderr
