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

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import polars as pl

from regard.decisions.inputs import EngineInputs
from regard.decisions.optimiser import ChannelBudget, Plan, optimise
from regard.decisions.policy import PolicyResult, apply_policy
from regard.decisions.policy_options import ContactPolicy
from regard.decisions.reasons import Reason
from regard.measurement.holdouts import NEVER_HELD_OUT, ControlGroups, in_control_group

CHOSEN = "chosen"
# An outvalued candidate is looked at again in the next run, not before this.
RETRY_OUTVALUED = timedelta(hours=1)

DECISION_SCHEMA = {
    "candidate_id": pl.Int64(),
    "customer_id": pl.Int64(),
    "touchpoint": pl.String(),
    "outcome": pl.String(),
    "channel": pl.String(),
    "send_at": pl.Datetime("us", "UTC"),
    "value": pl.Float64(),
    "reason": pl.String(),
    "params": pl.String(),
    "retry_at": pl.Datetime("us", "UTC"),
    "digest": pl.String(),
}


@dataclass(frozen=True)
class EngineResult:
    """A decision per candidate (``DECISION_SCHEMA``), the plan's certificate and timings."""

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
) -> EngineResult:
    """Decide every candidate of ``inputs`` at ``now``; candidates in their touchpoint's
    control group (``control``) are held for good before the policy sees them."""
    started = time.perf_counter()
    inputs, held_out = _hold_out(inputs, control=control)
    result = apply_policy(**inputs.frames(), policy=policy, now=now)
    checked = time.perf_counter()
    plan = optimise(result.options, result.caps, budgets) if result.options.height else None
    planned = time.perf_counter()
    candidates = inputs.candidates.select("candidate_id", "customer_id", "touchpoint")
    chosen = plan.chosen if plan is not None else result.options.head(0)
    sent = chosen.select(
        "candidate_id",
        pl.col("channel").cast(pl.String),
        "send_at",
        "value",
        pl.lit("sent").alias("outcome"),
        pl.lit(CHOSEN).alias("reason"),
        pl.concat_str(
            pl.lit('{"channel": "'),
            pl.col("channel").cast(pl.String),
            pl.lit('", "topic": "'),
            pl.col("topic"),
            pl.lit('", "value": '),
            pl.col("value").round(4).cast(pl.String),
            pl.lit("}"),
        ).alias("params"),
        pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias("retry_at"),
        (pl.col("digest") if "digest" in chosen.columns else pl.lit(None))
        .cast(pl.String)
        .alias("digest"),
    )
    outvalued = (
        result.options.group_by("candidate_id")
        .agg(pl.col("topic").first())
        .join(sent.select("candidate_id"), on="candidate_id", how="anti")
        .select(
            "candidate_id",
            pl.lit(None, dtype=pl.String).alias("channel"),
            pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias("send_at"),
            pl.lit(None, dtype=pl.Float64).alias("value"),
            pl.lit("held").alias("outcome"),
            pl.lit(Reason.OUTVALUED.value).alias("reason"),
            pl.concat_str(pl.lit('{"topic": "'), pl.col("topic"), pl.lit('"}')).alias("params"),
            pl.lit(now + RETRY_OUTVALUED, dtype=pl.Datetime("us", "UTC")).alias("retry_at"),
            pl.lit(None, dtype=pl.String).alias("digest"),
        )
    )
    verdicts = result.verdicts.select(
        "candidate_id",
        pl.lit(None, dtype=pl.String).alias("channel"),
        pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias("send_at"),
        pl.lit(None, dtype=pl.Float64).alias("value"),
        pl.col("outcome").cast(pl.String),
        pl.col("reason").cast(pl.String),
        pl.col("params").cast(pl.String),
        pl.col("retry_at").cast(pl.Datetime("us", "UTC")),
        pl.lit(None, dtype=pl.String).alias("digest"),
    )
    decided = pl.concat([sent, outvalued, verdicts], how="vertical_relaxed")
    decisions = pl.concat(
        [
            candidates.join(decided, on="candidate_id", how="inner").select(list(DECISION_SCHEMA)),
            held_out.select(list(DECISION_SCHEMA)),
        ],
        how="vertical_relaxed",
    )
    return EngineResult(
        decisions=decisions.match_to_schema(DECISION_SCHEMA),
        policy=result,
        plan=plan,
        policy_seconds=checked - started,
        optimiser_seconds=planned - checked,
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
        "touchpoint",
        pl.lit("held").alias("outcome"),
        pl.lit(None, dtype=pl.String).alias("channel"),
        pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias("send_at"),
        pl.lit(None, dtype=pl.Float64).alias("value"),
        pl.lit(Reason.CONTROL_GROUP.value).alias("reason"),
        pl.concat_str(pl.lit('{"touchpoint": "'), pl.col("touchpoint"), pl.lit('"}')).alias(
            "params"
        ),
        pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias("retry_at"),
        pl.lit(None, dtype=pl.String).alias("digest"),
    )
    return replace(inputs, candidates=candidates.filter(~mask)), held.match_to_schema(
        DECISION_SCHEMA
    )
