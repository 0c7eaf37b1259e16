"""The decision core: (frames, policy, budgets, now) -> a decision for every candidate.

Pure: no database, no clock, no HTTP. The contact policy (``policy.apply_policy``) finds every
(candidate, channel, moment) that may be sent and the room left in each cap; the optimiser
(``optimiser.optimise``) chooses among them what creates most value within the caps and the
brand's channel limits, with a bound that certifies how far from the best plan it can be.
Every candidate then ends as one decision:

- **sent**: the option the optimiser chose (channel, moment, expected value), reason ``chosen``;
- **held** because the plan had better uses for the customer's room or the channel's capacity,
  reason ``outvalued``, to be looked at again in the next run; or held by a policy rule (paused,
  fatigue, minimum gap, frequency, caps, digest, one voice) until its ``retry_at``;
- **dropped** by a policy rule that will never pass (opted out, no consent, past deadline ...);
- **held** for good, reason ``control-group``, when the customer is in the touchpoint's control
  group (``regard.measurement.holdouts``): such a candidate never reaches the policy or the
  optimiser, so a control-group customer is never sent that touchpoint, and is measured beside
  those who were.

Each decision carries its reason code and non-personal facts (``params``, JSON); the sentence a
person reads is written from them when shown (``reasons.sentence``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from regard.decisions.inputs import EngineInputs
from regard.decisions.optimiser import ChannelBudget, Plan, optimise
from regard.decisions.parallel import in_parallel
from regard.decisions.policy import PolicyResult, apply_policy, stacked
from regard.decisions.policy_frames import FREQUENCIES, small_pages
from regard.decisions.policy_options import CHANNEL_ORDER, ContactPolicy
from regard.decisions.reasons import Reason
from regard.decisions.shards import partition
from regard.measurement.holdouts import NEVER_HELD_OUT, ControlGroups, in_control_group

Array = npt.NDArray[Any]

CHOSEN = "chosen"
# An outvalued candidate is looked at again in the next run, not before this.
RETRY_OUTVALUED = timedelta(hours=1)

# Outcome, reason, channel and digest are Enums: a byte per decision, not a string.
OUTCOMES = pl.Enum(["sent", "held", "dropped"])
REASONS = pl.Enum([CHOSEN, *(reason.value for reason in Reason)])
CHANNELS = pl.Enum(CHANNEL_ORDER)
DIGESTS = pl.Enum(FREQUENCIES[1:])
DECISION_SCHEMA: dict[str, pl.DataType] = {
    "candidate_id": pl.Int64(),
    "customer_id": pl.Int64(),
    "touchpoint": pl.Categorical(),  # four bytes a decision, not a text
    "outcome": OUTCOMES,
    "channel": CHANNELS,
    "send_at": pl.Datetime("us", "UTC"),
    "value": pl.Float64(),
    "reason": REASONS,
    "params": pl.String(),
    "retry_at": pl.Datetime("us", "UTC"),
    "digest": DIGESTS,
}


@dataclass(frozen=True)
class EngineResult:
    """A decision per candidate (``DECISION_SCHEMA``), the plan's certificate and timings.

    ``policy`` holds the policy's options and caps; its ``blocked`` (why each channel of a
    candidate did not pass) only when ``decide`` was asked to ``explain``."""

    decisions: pl.DataFrame
    policy: PolicyResult
    plan: Plan | None
    policy_seconds: float
    optimiser_seconds: float

    @property
    def value(self) -> float:
        return self.plan.value if self.plan is not None else 0.0

    @property
    def bound(self) -> float:
        return self.plan.bound if self.plan is not None else 0.0

    def counts(self) -> dict[str, int]:
        counted = dict(self.decisions.group_by("outcome").len().iter_rows())
        return {outcome: int(counted.get(outcome, 0)) for outcome in ("sent", "held", "dropped")}


def decide(
    inputs: EngineInputs,
    *,
    policy: ContactPolicy,
    budgets: Mapping[str, ChannelBudget],
    now: datetime,
    control: ControlGroups | None = None,
    explain: bool = True,
) -> EngineResult:
    """Decide every candidate of ``inputs`` at ``now``; candidates in their touchpoint's
    control group (``control``) are held for good before the policy sees them.

    With ``explain`` false, what the policy keeps to explain each blocked channel is let go
    once the verdicts are taken (about 100 bytes a candidate): the decisions are the same, but
    the result's ``policy.blocked`` cannot be read."""
    with small_pages():  # for the whole run: freed memory is kept for the next step's arrays
        return _decide(
            inputs, policy=policy, budgets=budgets, now=now, control=control, explain=explain
        )


def _decide(
    inputs: EngineInputs,
    *,
    policy: ContactPolicy,
    budgets: Mapping[str, ChannelBudget],
    now: datetime,
    control: ControlGroups | None,
    explain: bool,
) -> EngineResult:
    started = time.perf_counter()
    inputs, held_out = _hold_out(inputs, control=control)
    split = partition(inputs)

    def check(shard: EngineInputs) -> tuple[PolicyResult, pl.DataFrame]:
        result = apply_policy(**shard.frames(), policy=policy, now=now)
        verdicts = result.verdicts  # the policy's own account of what did not pass: its time
        if not explain:
            result = replace(result, _explain=_UNEXPLAINED)
        return result, verdicts

    checked_shards = in_parallel(check, split.shards)
    result = stacked([shard_result for shard_result, _ in checked_shards])
    checked = time.perf_counter()
    plan = optimise(result.options, result.caps, budgets) if result.options.height else None
    planned = time.perf_counter()
    chosen = plan.chosen if plan is not None else result.options.head(0)
    chosen_shards = split.split(chosen)

    def decided(shard: int) -> pl.DataFrame:
        (policed, verdicts), candidates = checked_shards[shard], split.shards[shard].candidates
        return _decisions(candidates, policed.options, verdicts, chosen_shards[shard], now=now)

    stacked_decisions = in_parallel(decided, range(len(split.shards)))
    decisions = split.in_run_order(pl.concat(stacked_decisions, how="vertical", rechunk=False))
    if held_out.height:
        decisions = pl.concat([decisions, held_out], how="vertical_relaxed")
    return EngineResult(
        decisions=decisions,
        policy=result,
        plan=plan,
        policy_seconds=checked - started,
        optimiser_seconds=planned - checked,
    )


class _Unexplained:
    """In place of the policy's explanation when ``decide`` was not asked to ``explain``."""

    def blocked(self) -> pl.DataFrame:
        raise RuntimeError("decide(..., explain=False) kept no explanation of blocked channels")

    def verdicts(self) -> pl.DataFrame:
        raise RuntimeError("decide(..., explain=False) kept no verdicts")


_UNEXPLAINED: Any = _Unexplained()


def _decisions(
    candidates: pl.DataFrame,
    options: pl.DataFrame,
    verdicts: pl.DataFrame,
    chosen: pl.DataFrame,
    *,
    now: datetime,
) -> pl.DataFrame:
    """One decision per candidate, in the candidates' order (``DECISION_SCHEMA``).

    Every candidate either has options (then the plan sent one of them, ``chosen``, or it was
    outvalued) or a verdict of the policy. What is told of a decision (outcome, reason, params,
    retry) is stacked once (as chunks, not copied), verdicts then sends then one row per topic
    for the outvalued; what only a send has (channel, moment, value, digest) comes from the
    sends and one empty row. Each candidate gathers its rows by position: no join, and a string
    column gathered from a few distinct texts shares them.
    """
    ids = candidates["candidate_id"].cast(pl.Int64).to_numpy()
    place = _Places(ids)
    topics, topic_code = _topics(options)
    verdict_count, sent_count = verdicts.height, chosen.height
    # Row numbers as Polars indexes them (UInt32), so gathering takes them as they are.
    index = np.uint32 if verdict_count + sent_count + len(topics) < (1 << 32) - 1 else np.uint64
    none = np.iinfo(index).max  # no row: a candidate the policy neither passed nor stopped
    row = np.full(ids.size, none, dtype=index)
    # Candidates with options start outvalued (the row of their topic) ...
    option_ids = options["candidate_id"].cast(pl.Int64).to_numpy()
    row[place.of(option_ids)] = verdict_count + sent_count + topic_code
    del option_ids, topic_code
    # ... unless the plan sent one of their options.
    sent_at = place.of(chosen["candidate_id"].cast(pl.Int64).to_numpy())
    row[sent_at] = np.arange(verdict_count, verdict_count + sent_count, dtype=index)
    verdict_ids = verdicts["candidate_id"].cast(pl.Int64).to_numpy()
    row[place.of(verdict_ids)] = np.arange(verdict_count, dtype=index)
    send = np.full(ids.size, sent_count, dtype=index)
    send[sent_at] = np.arange(sent_count, dtype=index)
    del place, sent_at, verdict_ids
    sends = _sent_rows(chosen)
    told = pl.concat(
        [
            _verdict_rows(verdicts),
            sends.select(_TOLD),
            _outvalued_rows(topics, now=now),
        ],
        how="vertical",
        rechunk=False,
    )
    facts = pl.concat(
        [sends.select(list(_NULLS)), pl.DataFrame(schema=_NULLS).clear(1)], how="vertical"
    ).rechunk()
    del sends
    decided = row != none
    if not decided.all():  # not expected: a candidate the policy neither passed nor stopped
        keep = pl.Series(decided)
        candidates, row, send = candidates.filter(keep), row[decided], send[decided]
    return (
        candidates.select(
            pl.col("candidate_id").cast(pl.Int64),
            pl.col("customer_id").cast(pl.Int64),
        )
        .with_columns(_categorical(candidates["touchpoint"]))
        .hstack(told.gather(row))
        .hstack(facts.gather(send))
        .select(list(DECISION_SCHEMA))
    )


def _categorical(touchpoint: pl.Series) -> pl.Series:
    """The touchpoint as a Categorical; from the catalogue's Enum, by gathering its few names
    by code rather than casting row by row."""
    if not isinstance(touchpoint.dtype, pl.Enum):
        return touchpoint.cast(pl.Categorical)
    names = pl.Series(touchpoint.name, touchpoint.dtype.categories, dtype=pl.Categorical)
    return names.gather(touchpoint.to_physical())


class _Places:
    """Where candidate ids sit among the candidates.

    Ids from the store are dense, so a table indexed by id (a few bytes per id in their span)
    finds each in one step; sparse ids go through a binary search over them sorted."""

    def __init__(self, ids: Array) -> None:
        self.low = int(ids.min()) if ids.size else 0
        span = int(ids.max()) - self.low + 1 if ids.size else 0
        self.table: Array | None = None
        self.order: Array | None = None
        if span <= 4 * ids.size + 1024:
            self.table = np.full(span, -1, dtype=np.int64 if ids.size >= 1 << 31 else np.int32)
            self.table[ids - self.low] = np.arange(ids.size, dtype=self.table.dtype)
        else:
            if ids.size > 1 and not bool(np.all(ids[1:] > ids[:-1])):
                self.order = np.argsort(ids, kind="stable")
                ids = ids[self.order]
        self.ids = ids

    def of(self, wanted: Array) -> Array:
        found: Array
        if self.table is not None:
            found = self.table[wanted - self.low]
            return found
        found = np.searchsorted(self.ids, wanted)
        return found if self.order is None else self.order[found]


def _topics(options: pl.DataFrame) -> tuple[list[str | None], Array]:
    """The topics of the options (None last: no topic) and each option's topic as a number."""
    topic = options["topic"]
    if not isinstance(topic.dtype, pl.Enum):
        topic = topic.cast(pl.String)
        topic = topic.cast(pl.Enum(topic.unique().sort().drop_nulls().to_list()))
    names: list[str | None] = (
        list(topic.dtype.categories.to_list()) if isinstance(topic.dtype, pl.Enum) else []
    )
    code = topic.to_physical().cast(pl.Int64).fill_null(len(names)).to_numpy()
    return [*names, None], code


_NULLS = {name: DECISION_SCHEMA[name] for name in ("channel", "send_at", "value", "digest")}
_TOLD = ["outcome", "reason", "params", "retry_at"]


def _verdict_rows(verdicts: pl.DataFrame) -> pl.DataFrame:
    return verdicts.select(
        pl.col("outcome").cast(OUTCOMES),
        pl.col("reason").cast(REASONS),
        pl.col("params").cast(pl.String),
        pl.col("retry_at").cast(pl.Datetime("us", "UTC")),
    )


def _sent_rows(chosen: pl.DataFrame) -> pl.DataFrame:
    channel = pl.col("channel").cast(pl.String)
    return chosen.select(
        channel.cast(CHANNELS).alias("channel"),
        pl.col("send_at").cast(pl.Datetime("us", "UTC")),
        pl.col("value").cast(pl.Float64),
        (pl.col("digest") if "digest" in chosen.columns else pl.lit(None))
        .cast(pl.String)
        .cast(DIGESTS)
        .alias("digest"),
        pl.lit("sent", dtype=OUTCOMES).alias("outcome"),
        pl.lit(CHOSEN, dtype=REASONS).alias("reason"),
        pl.concat_str(
            pl.lit('{"channel": "'),
            channel,
            pl.lit('", "topic": "'),
            pl.col("topic").cast(pl.String),
            pl.lit('", "value": '),
            pl.col("value").round(4).cast(pl.String),
            pl.lit("}"),
        ).alias("params"),
        pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias("retry_at"),
    )


def _outvalued_rows(topics: list[str | None], *, now: datetime) -> pl.DataFrame:
    """One row per topic: held, to be looked at again in the next run."""
    return pl.DataFrame(
        {
            "outcome": pl.Series(["held"] * len(topics), dtype=OUTCOMES),
            "reason": pl.Series([Reason.OUTVALUED.value] * len(topics), dtype=REASONS),
            "params": [json.dumps({"topic": topic}) for topic in topics],
            "retry_at": pl.Series(
                [now + RETRY_OUTVALUED] * len(topics), dtype=pl.Datetime("us", "UTC")
            ),
        }
    )


def _hold_out(
    inputs: EngineInputs, *, control: ControlGroups | None
) -> tuple[EngineInputs, pl.DataFrame]:
    """(the inputs without the control-group candidates, their decisions)."""
    candidates = inputs.candidates
    empty = pl.DataFrame(schema=DECISION_SCHEMA)
    if control is None or not control.shares or not candidates.height:
        return inputs, empty
    fragile = inputs.topics.filter(pl.col("importance").is_in(list(NEVER_HELD_OUT)))["topic"]
    drawn = in_control_group(candidates["customer_id"], candidates["touchpoint"], groups=control)
    mask = drawn & ~candidates["topic"].is_in(fragile.implode())
    if not mask.any():
        return inputs, empty
    held = candidates.filter(mask).select(
        "candidate_id",
        "customer_id",
        pl.col("touchpoint").cast(pl.Categorical),
        pl.lit("held", dtype=OUTCOMES).alias("outcome"),
        pl.lit(None, dtype=CHANNELS).alias("channel"),
        pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias("send_at"),
        pl.lit(None, dtype=pl.Float64).alias("value"),
        pl.lit(Reason.CONTROL_GROUP.value, dtype=REASONS).alias("reason"),
        pl.concat_str(
            pl.lit('{"touchpoint": "'), pl.col("touchpoint").cast(pl.String), pl.lit('"}')
        ).alias("params"),
        pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias("retry_at"),
        pl.lit(None, dtype=DIGESTS).alias("digest"),
    )
    return replace(inputs, candidates=candidates.filter(~mask)), held.match_to_schema(
        DECISION_SCHEMA
    )
