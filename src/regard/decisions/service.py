"""Running the engine over the store: read the candidates due, decide, write it all down.

``run_engine`` takes the engine lock in a transaction of its own (two runs never overlap, on one
machine or many), reads the inputs in bulk, calls the pure core (``engine.decide``) and writes in
one transaction: the run with its certificate, a decision per candidate, each candidate's new
status (sent and dropped are final; held waits until its ``retry_at``, except a customer in the
touchpoint's control group: that candidate is settled as ``control``, never decided again), and
a message in the
outbox per send. A digest is one message: the sends a customer's digest bundles share one
outbox row. The outbox's idempotency key makes queueing a message twice impossible.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from regard.config import BrandConfig
from regard.decisions import engine, repository
from regard.decisions.inputs import catalogue_frames, due_candidates, read_inputs
from regard.decisions.models import DecisionRun
from regard.decisions.optimiser import ChannelBudget
from regard.decisions.reasons import Reason
from regard.errors import Conflict
from regard.measurement.holdouts import control_groups
from regard.store.database import Store, unit_of_work
from regard.store.frames import fetch_frame
from regard.touchpoints.models import Candidate


class EngineBusy(Conflict):
    """Another run holds the engine lock."""

    code = "engine_busy"

    def __init__(self, holder: str | None) -> None:
        super().__init__(f"another run is deciding ({holder or 'unknown'}); try again later")
        self.holder = holder


@dataclass(frozen=True)
class RunReport:
    run_id: int
    candidates: int
    sent: int
    held: int
    dropped: int
    queued: int
    value: float
    bound: float
    seconds: float
    policy_seconds: float
    optimiser_seconds: float
    # (touchpoint, outcome, reason) -> decisions
    reasons: dict[tuple[str, str, str], int]

    @property
    def gap(self) -> float:
        return (self.bound - self.value) / self.bound if self.bound > 0 else 0.0


def budgets_of(brand: BrandConfig) -> dict[str, ChannelBudget]:
    return {
        channel: ChannelBudget(capacity=limit.capacity, budget=limit.budget)
        for channel, limit in brand.engine.limits.items()
    }


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_engine(store: Store, *, now: datetime | None = None) -> RunReport:
    """Decide every candidate due; raises ``EngineBusy`` while another run holds the lock."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    holder = holder_name()
    with unit_of_work(store) as session:
        taken = repository.take_lock(
            session, holder=holder, now=now, hold_for=store.brand.engine.lock_for
        )
        busy = None if taken else repository.lock_holder(session, now=now)
    if not taken:
        raise EngineBusy(busy)
    try:
        with unit_of_work(store) as session:
            return decide_due(session, brand=store.brand, now=now)
    finally:
        with unit_of_work(store) as session:
            repository.release_lock(session, holder=holder)


def decide_due(session: Session, *, brand: BrandConfig, now: datetime) -> RunReport:
    """Decide the candidates due at ``now`` in this session; flushes, never commits."""
    started = time.perf_counter()
    run = repository.add_run(session, DecisionRun(started_at=now, status="running"))
    due = due_candidates(now)
    inputs = read_inputs(session, brand=brand, now=now, candidate_ids=due)
    result = engine.decide(
        inputs,
        policy=brand.policy,
        budgets=budgets_of(brand),
        now=now,
        control=control_groups(brand),
        explain=False,  # a run stores its decisions; what blocked each channel is not kept
    )
    decisions = pl.concat([result.decisions, _removed(session, due, brand)], how="vertical_relaxed")
    queued = _write(session, decisions, run=run, brand=brand, now=now)
    counts = dict(decisions.group_by("outcome").len().iter_rows())
    run.status = "done"
    run.finished_at = datetime.now(UTC)
    run.candidates = decisions.height
    run.sent, run.held, run.dropped = (int(counts.get(o, 0)) for o in ("sent", "held", "dropped"))
    run.value, run.bound = result.value, result.bound
    run.seconds = time.perf_counter() - started
    session.flush()
    reasons = {
        (row["touchpoint"], row["outcome"], row["reason"]): int(row["len"])
        for row in decisions.group_by("touchpoint", "outcome", "reason").len().iter_rows(named=True)
    }
    return RunReport(
        run_id=run.id,
        candidates=run.candidates,
        sent=run.sent,
        held=run.held,
        dropped=run.dropped,
        queued=queued,
        value=run.value,
        bound=run.bound,
        seconds=run.seconds,
        policy_seconds=result.policy_seconds,
        optimiser_seconds=result.optimiser_seconds,
        reasons=reasons,
    )


def _removed(session: Session, due: Any, brand: BrandConfig) -> pl.DataFrame:
    """Decisions dropping the due candidates whose touchpoint left the catalogue (asked of the
    database, so only those few come back)."""
    names = [touchpoint.name for touchpoint in brand.touchpoints]
    gone = fetch_frame(
        session,
        select(Candidate.id, Candidate.customer_id, Candidate.touchpoint).where(
            Candidate.id.in_(due), Candidate.touchpoint.not_in(names)
        ),
        {"candidate_id": pl.Int64(), "customer_id": pl.Int64(), "touchpoint": pl.String()},
    )
    return gone.with_columns(
        pl.lit("dropped", dtype=engine.OUTCOMES).alias("outcome"),
        pl.lit(Reason.TOUCHPOINT_REMOVED.value, dtype=engine.REASONS).alias("reason"),
        pl.format('{{"touchpoint": "{}"}}', "touchpoint").alias("params"),
        pl.col("touchpoint").cast(pl.Categorical),
    ).match_to_schema(engine.DECISION_SCHEMA, missing_columns="insert")


def _write(
    session: Session,
    decisions: pl.DataFrame,
    *,
    run: DecisionRun,
    brand: BrandConfig,
    now: datetime,
) -> int:
    """Decisions, candidates' new status and the outbox; how many messages were queued."""
    rows = [
        {
            "run_id": run.id,
            "candidate_id": row["candidate_id"],
            "customer_id": row["customer_id"],
            "touchpoint": row["touchpoint"],
            "outcome": row["outcome"],
            "channel": row["channel"],
            "send_at": row["send_at"],
            "value": row["value"],
            "reason": row["reason"],
            "params": json.loads(row["params"]) if row["params"] else {},
            "decided_at": now,
        }
        for row in decisions.iter_rows(named=True)
    ]
    ids = repository.add_decisions(session, rows)
    repository.settle_candidates(
        session,
        [
            {
                "id": row["candidate_id"],
                "status": (
                    "control"
                    if row["reason"] == Reason.CONTROL_GROUP
                    else "pending"
                    if row["outcome"] == "held"
                    else row["outcome"]
                ),
                "not_before": row["retry_at"],
            }
            for row in decisions.select("candidate_id", "outcome", "reason", "retry_at").iter_rows(
                named=True
            )
        ],
    )
    touchpoints, channels, _ = catalogue_frames(brand)
    sends = (
        decisions.filter(pl.col("outcome") == "sent")
        .with_columns(pl.col("channel", "touchpoint").cast(pl.String))
        .join(touchpoints.select("touchpoint", "topic"), on="touchpoint", how="left")
        .join(channels, on=["touchpoint", "channel"], how="left")
        .sort("candidate_id")
    )
    outbox: dict[str, dict[str, Any]] = {}
    for row in sends.iter_rows(named=True):
        digest = row["digest"]
        if digest:
            key = f"digest:{row['customer_id']}:{row['channel']}:{row['send_at']:%Y%m%dT%H%M}"
            content, touchpoint = f"digest-{digest}", "digest"
        else:
            # (customer, candidate, channel): one message per candidate and channel, ever.
            key = f"candidate:{row['customer_id']}:{row['candidate_id']}:{row['channel']}"
            content, touchpoint = row["content"], row["touchpoint"]
        outbox.setdefault(
            key,
            {
                "idempotency_key": key,
                "decision_id": ids[row["candidate_id"]],
                "customer_id": row["customer_id"],
                "touchpoint": touchpoint,
                "topic": row["topic"] if not digest else "digest",
                "channel": row["channel"],
                "content": content,
                "send_at": row["send_at"],
                "due_at": row["send_at"],
                "status": "queued",
                "created_at": now,
            },
        )
    return repository.add_outbox(session, list(outbox.values()))
