"""The complaint-rate breaker: each sending stream is slowed, then halted, as complaints rise.

A stream is one sending domain on email (``email:<sender domain>``) and each other channel on
its own (``sms``, ``push``, ``voice``). Its rate is complaints over messages sent in the last
``window`` (``[delivery.breaker]``), counted since it was last resumed:

- at most ``slow_at`` (0.1% by default): ``normal``;
- above ``slow_at``: ``slow``: the worker sends at a reduced pace, and an alert is recorded and
  logged;
- above ``halt_at`` (0.3%): ``halted``: nothing more goes out on the stream until a person runs
  ``regard delivery resume STREAM``. The state is a row in ``breaker_streams``: it holds across
  restarts and across every worker.

With fewer than ``min_deliveries`` messages sent in the window, a rate says too little: the
breaker leaves the stream as it is (``normal`` unless halted) and says so in its reading.
Worked example with the defaults and 1,000 messages sent: 1 complaint (0.1%) is normal, 2
(0.2%) slow, 3 (0.3%) still slow, 4 (0.4%) halted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.orm import Session

from regard.delivery import feedback_repository as repository
from regard.delivery.models import BreakerAlert, BreakerStream
from regard.delivery.options import BreakerOptions
from regard.errors import NotFound

log = logging.getLogger("regard.delivery.breaker")

Allowance = Literal["normal", "slow", "halted"]
# The share of its usual pace a slowed stream keeps (a suggestion for workers).
SLOW_SHARE = 0.1


def stream_for(channel: str, *, sender: str | None = None) -> str:
    """The stream of a message: ``email:<domain of sender>`` for email, else the channel."""
    if channel != "email":
        return channel
    domain = (sender or "").strip().strip("<>").rpartition("@")[2].strip(" >").lower()
    return f"email:{domain}" if domain else "email"


def _parts(stream: str) -> tuple[str, str | None]:
    channel, _, domain = stream.partition(":")
    return channel, (domain or None) if channel == "email" else None


@dataclass(frozen=True)
class BreakerReading:
    """A stream's complaints and sends over the window, and what they call for."""

    stream: str
    complaints: int
    deliveries: int
    # None below min_deliveries: too few sends to judge.
    rate: float | None
    allowance: Allowance
    note: str


def _since(row: BreakerStream | None, now: datetime, *, options: BreakerOptions) -> datetime:
    """Where the stream's window starts: ``window`` ago, or its last resume if later."""
    since = now - options.window
    if row is not None and row.resumed_at is not None and row.resumed_at > since:
        return row.resumed_at
    return since


def read(
    session: Session, stream: str, now: datetime, *, options: BreakerOptions
) -> BreakerReading:
    """The stream's reading now, without changing anything."""
    row = repository.breaker_stream(session, stream)
    since = _since(row, now, options=options)
    channel, domain = _parts(stream)
    complaints = repository.count_complaints(session, stream=stream, since=since, until=now)
    deliveries = repository.count_sent(
        session, channel=channel, domain=domain, since=since, until=now
    )
    halted = row is not None and row.state == "halted"
    if deliveries < options.min_deliveries:
        return BreakerReading(
            stream=stream,
            complaints=complaints,
            deliveries=deliveries,
            rate=None,
            allowance="halted" if halted else "normal",
            note=(
                f"{deliveries} sent in the window, fewer than the {options.min_deliveries} "
                "needed to judge a complaint rate"
            ),
        )
    rate = complaints / deliveries
    judged: Allowance = (
        "halted" if rate > options.halt_at else "slow" if rate > options.slow_at else "normal"
    )
    return BreakerReading(
        stream=stream,
        complaints=complaints,
        deliveries=deliveries,
        rate=rate,
        allowance="halted" if halted else judged,
        note=f"{complaints} complaints in {deliveries} sent ({rate:.3%})",
    )


def allowance(
    session: Session, stream: str, now: datetime, *, options: BreakerOptions
) -> Allowance:
    """How the stream may send now: ``normal``, ``slow`` or ``halted``. Flushes only.

    Crossing a line moves the stream's stored state and records an alert; a halt stays until
    :func:`resume`. A worker asks once per batch and stream.
    """
    row = repository.breaker_stream(session, stream)
    if row is not None and row.state == "halted":
        return "halted"
    stored = row.state if row is not None else "normal"
    if stored == "normal" and not repository.count_complaints(
        session, stream=stream, since=_since(row, now, options=options), until=now
    ):
        # No complaint in the window: the rate is nil whatever was sent, and counting the
        # sends (the costly part, asked once a batch) can wait for a complaint.
        return "normal"
    reading = read(session, stream, now, options=options)
    if reading.allowance == stored:
        return reading.allowance
    # Another worker may be moving the same stream: take the row, then look again.
    row = repository.breaker_stream(session, stream, for_update=True)
    if row is None:
        row = BreakerStream(
            stream=stream, state="normal", complaints=0, deliveries=0, changed_at=now
        )
        repository.add_stream(session, row)
    elif row.state == reading.allowance or row.state == "halted":
        return "halted" if row.state == "halted" else reading.allowance
    row.state = reading.allowance
    row.complaints, row.deliveries = reading.complaints, reading.deliveries
    row.changed_at = now
    if reading.allowance != "normal":
        level = "halt" if reading.allowance == "halted" else "slow"
        repository.add_alert(
            session,
            BreakerAlert(
                stream=stream,
                level=level,
                complaints=reading.complaints,
                deliveries=reading.deliveries,
                rate=reading.rate or 0.0,
                at=now,
            ),
        )
        log.warning(
            "complaint-rate breaker: stream %s %s (%s)",
            stream,
            "halted until resumed" if level == "halt" else "slowed",
            reading.note,
        )
    else:
        log.info("complaint-rate breaker: stream %s back to normal (%s)", stream, reading.note)
    session.flush()
    return reading.allowance


def resume(session: Session, stream: str, *, now: datetime) -> BreakerStream:
    """A person lets a halted or slowed stream send again; complaints before now stop counting.

    Flushes only. Recorded as a ``resumed`` alert.
    """
    row = repository.breaker_stream(session, stream, for_update=True)
    if row is None:
        known = ", ".join(r.stream for r in repository.breaker_streams(session)) or "none"
        raise NotFound(f"the breaker has no stream {stream!r} (streams: {known})")
    row.state = "normal"
    row.resumed_at = now
    row.changed_at = now
    repository.add_alert(
        session,
        BreakerAlert(
            stream=stream,
            level="resumed",
            complaints=row.complaints,
            deliveries=row.deliveries,
            rate=row.complaints / row.deliveries if row.deliveries else 0.0,
            at=now,
        ),
    )
    log.warning("complaint-rate breaker: stream %s resumed by a person", stream)
    session.flush()
    return row


def streams(session: Session) -> list[BreakerStream]:
    """Every stream the breaker has moved, with its state."""
    return repository.breaker_streams(session)


def alerts(session: Session, *, stream: str | None = None, limit: int = 100) -> list[BreakerAlert]:
    """The latest alerts, newest first."""
    return repository.alerts(session, stream=stream, limit=limit)
