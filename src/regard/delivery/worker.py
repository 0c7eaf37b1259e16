"""The delivery worker: claim due messages, check consent again, render, send, record.

One batch, in three transactions:

1. **Claim** (committed before anything leaves): leases past their end are taken back as
   ambiguous, then up to ``batch_size`` due messages become ``sending`` for this worker.
2. **Check and render** (read only): the contact policy's own consent and suppression rules are
   applied again at the moment of sending, so an opt-out between the decision and the send
   wins; the rest are rendered.
3. **Send and record**: each channel sends its part of the batch on kept connections; every
   outcome is written in one transaction: sent, retry (exponential backoff with full jitter),
   failed (the dead letter, with the reason), cancelled (with the policy's reason) or
   ambiguous.

A worker that loses the database (a restart, a failover) backs off and reconnects; outcomes it
holds are written once the database is back, so nothing it sent is sent again.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

import polars as pl
from sqlalchemy import exc
from sqlalchemy.orm import Session

from regard.config import BrandConfig
from regard.decisions.inputs import read_inputs
from regard.decisions.models import OutboxMessage
from regard.decisions.policy import apply_policy
from regard.decisions.policy_options import CHANNEL_ORDER
from regard.decisions.reasons import Reason
from regard.delivery import breaker, outbox
from regard.delivery.channels.base import Channel, SendResult
from regard.delivery.options import DeliveryOptions, RetryOptions
from regard.messages.content import EmailContent, ProviderContent
from regard.store.database import Store, enter_write, unit_of_work

log = logging.getLogger("regard.delivery.worker")

# How often a worker takes a small share of a batch from a stream the breaker has slowed.
SLOW_PACE = timedelta(minutes=1)

# The policy's stops that hold at the moment of sending: consent, lawful basis, the customer's
# own do-not-contact or erasure, suppressions and a vanished address. Timing and caps are the
# decision's business and are not judged twice.
SEND_TIME_STOPS = frozenset(
    {
        Reason.UNKNOWN_CUSTOMER,
        Reason.ERASED,
        Reason.DO_NOT_CONTACT,
        Reason.NO_LAWFUL_BASIS,
        Reason.OPTED_OUT,
        Reason.NO_CONSENT,
        Reason.IMPLIED_CONSENT_EXPIRED,
        Reason.HARD_BOUNCE,
        Reason.COMPLAINT,
        Reason.UNREACHABLE,
        Reason.NO_VOICE_OPT_IN,
    }
)
_DATABASE_DOWN = (exc.OperationalError, exc.InterfaceError)
_T = TypeVar("_T")


class Renderer(Protocol):
    """Turns claimed messages into content, one per message in order; anything that is not
    :class:`EmailContent` or :class:`ProviderContent` is a problem that fails the message (its
    ``reason``, else its text, says why without personal data)."""

    def __call__(self, session: Session, messages: Sequence[OutboxMessage]) -> Sequence[object]: ...


@dataclass
class WorkerSummary:
    """What a worker did: messages by outcome, over one batch or a whole run."""

    batches: int = 0
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    ambiguous: int = 0

    def add(self, other: WorkerSummary) -> None:
        for field in fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))


def worker_name() -> str:
    """Unique per process and start: a restarted worker never takes its old self's leases."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def backoff(attempts: int, *, retry: RetryOptions, rng: random.Random) -> timedelta:
    """Exponential backoff with full jitter: uniform in [0, min(max_delay, first * 2^(n-1)))."""
    ceiling = min(
        retry.max_delay.total_seconds(),
        retry.first_delay.total_seconds() * 2 ** max(attempts - 1, 0),
    )
    return timedelta(seconds=rng.uniform(0, ceiling))


def send_time_stops(
    session: Session, messages: Sequence[OutboxMessage], *, brand: BrandConfig, now: datetime
) -> dict[int, str]:
    """The messages the contact policy would stop now, by outbox id, with the policy's reason.

    The policy itself judges (``apply_policy`` over the customers' current consent, reach and
    suppressions): critical and transactional topics go on their contract or legal basis
    exactly as when they were decided. A digest is judged on the topic of its decision."""
    if not messages:
        return {}
    topic_of_touchpoint = {tp.name: tp.topic for tp in brand.touchpoints}
    asks = {tp.name: tp.asks_response for tp in brand.touchpoints}
    importance = {topic.key: topic.importance for topic in brand.topics}
    decided = outbox.decided_touchpoints(
        session, (m.decision_id for m in messages if m.touchpoint == "digest")
    )
    rows = []
    for message in messages:
        touchpoint = (
            decided.get(message.decision_id, "")
            if message.touchpoint == "digest"
            else (message.touchpoint)
        )
        topic = topic_of_touchpoint.get(touchpoint, message.topic)
        rows.append(
            {
                "candidate_id": message.id,
                "customer_id": message.customer_id,
                # One pseudo-touchpoint per channel offers exactly the message's channel.
                "touchpoint": message.channel,
                "topic": topic,
                "importance": importance.get(topic, "promotional"),
                "triggered_at": message.created_at,
                "deadline_at": None,
                "asks_response": asks.get(touchpoint, False),
                "value": 0.0,
                "relevance": None,
            }
        )
    candidates = pl.DataFrame(
        rows,
        schema={
            "candidate_id": pl.Int64(),
            "customer_id": pl.Int64(),
            "touchpoint": pl.String(),
            "topic": pl.String(),
            "importance": pl.String(),
            "triggered_at": pl.Datetime("us", "UTC"),
            "deadline_at": pl.Datetime("us", "UTC"),
            "asks_response": pl.Boolean(),
            "value": pl.Float64(),
            "relevance": pl.Float64(),
        },
    )
    inputs = read_inputs(
        session,
        brand=brand,
        now=now,
        candidate_ids=outbox.candidates_of(m.decision_id for m in messages),
    )
    frames = inputs.frames()
    frames["candidates"] = candidates
    frames["touchpoint_channels"] = pl.DataFrame(
        {"touchpoint": list(CHANNEL_ORDER), "channel": list(CHANNEL_ORDER)}
    )
    result = apply_policy(**frames, policy=brand.policy, now=now)
    channel_of = {message.id: message.channel for message in messages}
    stops = {reason.value for reason in SEND_TIME_STOPS}
    return {
        int(row["candidate_id"]): str(row["reason"])
        for row in result.blocked.iter_rows(named=True)
        if row["channel"] == channel_of.get(row["candidate_id"]) and row["reason"] in stops
    }


def _problem(found: object) -> str:
    """A rendering problem in words: its reason code and detail (never personal data)."""
    reason, detail = getattr(found, "reason", None), getattr(found, "detail", None)
    if reason and detail:
        return f"{reason}: {detail}"
    return str(reason or found)


class Worker:
    """One delivery worker: claims batches from the outbox and sends them on its channels.

    ``channels`` maps a channel name (email, sms, push, voice) to the channel that sends it;
    the worker closes them in :meth:`close`. ``clock`` and ``rng`` are for tests.
    """

    def __init__(
        self,
        store: Store,
        *,
        channels: Mapping[str, Channel],
        render: Renderer,
        options: DeliveryOptions | None = None,
        name: str | None = None,
        clock: Callable[[], datetime] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.channels = dict(channels)
        self.render = render
        self.options = options or store.brand.delivery
        self.name = name or worker_name()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.rng = rng or random.Random()
        self.stopping = threading.Event()
        self.slow_until = datetime.min.replace(tzinfo=UTC)

    @property
    def retry_ambiguous(self) -> bool:
        return self.options.retry.ambiguous == "at-least-once"

    def stop(self) -> None:
        """Finish the batch in hand, then return from :meth:`run`."""
        self.stopping.set()

    def close(self) -> None:
        for channel in self.channels.values():
            try:
                channel.close()
            except Exception:  # closing is best effort: the process is ending
                log.warning("channel %s did not close cleanly", channel.name, exc_info=True)

    def run(self, *, poll: float = 1.0, once: bool = False) -> WorkerSummary:
        """Batches until stopped (``once``: until nothing is due), waiting ``poll`` seconds
        when there is nothing to do."""
        total = WorkerSummary()
        while not self.stopping.is_set():
            done = self.run_batch()
            total.add(done)
            if done.claimed == 0:
                if once:
                    break
                self.stopping.wait(poll)
        return total

    def run_batch(self, *, limit: int | None = None) -> WorkerSummary:
        """Claim, check, render, send and record one batch; what became of it."""
        summary = WorkerSummary()
        try:
            claimed = self._database(
                lambda: self._claim(limit or self.options.batch_size, summary), give_up=True
            )
        except _DATABASE_DOWN:
            return summary  # stopping while the database is away: nothing was claimed
        if not claimed:
            return summary
        summary.batches, summary.claimed = 1, len(claimed)
        now = self.clock()
        stops, contents = self._database(lambda: self._prepare(claimed, now), give_up=False)
        outcomes: list[outbox.Outcome] = []
        ready: dict[str, list[tuple[OutboxMessage, EmailContent | ProviderContent]]] = {}
        for message, content in zip(claimed, contents, strict=True):
            if message.id in stops:
                outcomes.append(
                    outbox.Outcome(message.id, "cancelled", last_error=stops[message.id])
                )
            elif isinstance(content, EmailContent | ProviderContent):
                ready.setdefault(message.channel, []).append((message, content))
            else:
                reason = _problem(content)
                outcomes.append(outbox.Outcome(message.id, "failed", last_error=reason))
        for channel_name, batch in ready.items():
            results = self._send(channel_name, [content for _, content in batch])
            now = self.clock()
            outcomes.extend(
                self._outcome(message, content, result, now)
                for (message, content), result in zip(batch, results, strict=True)
            )
        now = self.clock()
        self._database(lambda: self._record(outcomes, now), give_up=False)
        for outcome in outcomes:
            if outcome.status == "sent":
                summary.sent += 1
            elif outcome.status == "retry":
                summary.retried += 1
            elif outcome.status == "failed":
                summary.failed += 1
            elif outcome.status == "cancelled":
                summary.cancelled += 1
            else:
                summary.ambiguous += 1
        return summary

    # The three transactions.

    def _claim(self, limit: int, summary: WorkerSummary) -> list[OutboxMessage]:
        now = self.clock()
        with unit_of_work(self.store) as session:
            enter_write(session)
            expired = outbox.expire_leases(session, now=now)
            if expired:
                log.warning(
                    "%d messages left sending by a stopped worker are ambiguous", len(expired)
                )
            summary.ambiguous += len(expired)
            allowed = self._allowances(session, now)
            normal = [name for name, allows in allowed.items() if allows == "normal"]
            claimed = outbox.claim(
                session,
                worker=self.name,
                now=now,
                limit=limit,
                lease=self.options.lease,
                retry_ambiguous=self.retry_ambiguous,
                channels=normal,
            )
            slow = [name for name, allows in allowed.items() if allows == "slow"]
            if slow and now >= self.slow_until:
                # A slowed stream sends a small share of a batch a minute, however many
                # workers or batches there are otherwise.
                self.slow_until = now + SLOW_PACE
                claimed += outbox.claim(
                    session,
                    worker=self.name,
                    now=now,
                    limit=max(1, int(limit * breaker.SLOW_SHARE)),
                    lease=self.options.lease,
                    retry_ambiguous=self.retry_ambiguous,
                    channels=slow,
                )
            session.expunge_all()
        return claimed

    def _allowances(self, session: Session, now: datetime) -> dict[str, breaker.Allowance]:
        """How each channel's stream may send now (the complaint-rate breaker)."""
        brand = self.store.brand
        return {
            name: breaker.allowance(
                session,
                breaker.stream_for(name, sender=brand.messages.sender),
                now,
                options=self.options.breaker,
            )
            for name in self.channels
        }

    def _prepare(
        self, claimed: Sequence[OutboxMessage], now: datetime
    ) -> tuple[dict[int, str], list[object]]:
        with self.store.sessions() as session:
            stops = send_time_stops(session, claimed, brand=self.store.brand, now=now)
            to_render = [m for m in claimed if m.id not in stops]
            rendered = iter(self.render(session, to_render) if to_render else ())
            contents: list[object] = [
                None if message.id in stops else next(rendered) for message in claimed
            ]
            session.rollback()
        return stops, contents

    def _record(self, outcomes: Sequence[outbox.Outcome], now: datetime) -> None:
        with unit_of_work(self.store) as session:
            enter_write(session)
            written = outbox.record(session, outcomes, worker=self.name, now=now)
        if written < len(outcomes):
            log.warning(
                "%d outcomes not recorded: another worker took those messages over",
                len(outcomes) - written,
            )

    # Sending.

    def _send(
        self, channel_name: str, contents: list[EmailContent | ProviderContent]
    ) -> list[SendResult]:
        channel = self.channels.get(channel_name)
        if channel is None:
            return [SendResult("failed", f"no {channel_name} channel configured")] * len(contents)
        try:
            results = channel.send_batch(contents)
        except Exception as error:  # a channel that cannot work at all sent nothing
            log.exception("the %s channel could not send", channel_name)
            return [SendResult("retry", f"{channel_name} channel: {type(error).__name__}")] * len(
                contents
            )
        if len(results) != len(contents):
            raise RuntimeError(f"the {channel_name} channel answered for a different batch")
        return results

    def _outcome(
        self,
        message: OutboxMessage,
        content: EmailContent | ProviderContent,
        result: SendResult,
        now: datetime,
    ) -> outbox.Outcome:
        retry = self.options.retry
        spent = message.attempts >= retry.max_attempts
        if result.outcome == "sent":
            return outbox.Outcome(
                message.id,
                "sent",
                sent_at=now,
                message_id=content.message_id,
                provider_id=result.provider_id,
            )
        if result.outcome == "failed":
            return outbox.Outcome(
                message.id,
                "failed",
                message_id=content.message_id,
                last_error=result.detail or "failed",
            )
        if result.outcome == "retry":
            if spent:
                return outbox.Outcome(
                    message.id,
                    "failed",
                    message_id=content.message_id,
                    last_error=f"gave up after {message.attempts} attempts: {result.detail}",
                )
            return outbox.Outcome(
                message.id,
                "retry",
                due_at=now + backoff(message.attempts, retry=retry, rng=self.rng),
                message_id=content.message_id,
                last_error=result.detail or "temporary failure",
            )
        return outbox.Outcome(
            message.id,
            "ambiguous",
            due_at=now + backoff(message.attempts, retry=retry, rng=self.rng),
            message_id=content.message_id,
            last_error=f"{outbox.AMBIGUOUS_PREFIX} {result.detail or 'no answer'}",
        )

    # The database may go away (a restart, a failover): back off and try again.

    def _database(self, step: Callable[[], _T], *, give_up: bool) -> _T:
        delay = 0.2
        while True:
            try:
                return step()
            except _DATABASE_DOWN as error:
                if give_up and self.stopping.is_set():
                    raise
                log.warning(
                    "database unavailable (%s); trying again in %.1f s",
                    type(error.orig).__name__ if error.orig is not None else "error",
                    delay,
                )
                threading.Event().wait(delay)
                delay = min(delay * 2, 5.0)
