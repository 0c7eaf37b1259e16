"""The whole decision core, policy then optimiser, on 1,000,000 customers x 10 candidates x 4
channels (40M options): the issue's target is under 5 s with peak memory under 3 GB and a
certified gap under 0.1%.

Builds the contact policy benchmark's seeded frames (``bench_policy.build``), then times
``engine.decide`` end to end (``apply_policy`` with its verdicts, ``optimise``, and a decision
with its reason for every candidate), reporting each part, the CPU time of the process (all
threads: less sensitive than the elapsed time to other work on the shared machine), the plan's
value, bound and gap, and the process's peak resident memory, during ``decide`` too (``VmHWM``
reset after building, where Linux allows); then the same run again in the same process, as the
scheduler's next run finds it. The channel limits are the optimiser benchmark's
(email and push capacity, an SMS budget), so the prices bind. In the same run, the baselines:

(a) a straightforward per-customer Python loop on a sample of customers, scaled to the whole base:
    the contact policy's main rules (``bench_policy.loop_policy``), then a greedy choice at the
    plan's multipliers (``bench_optimiser.python_loop``);
(b) HiGHS (``scipy.optimize.milp``) on the engine's own model (the policy's options and caps) for
    5,000, 10,000 and 20,000 customers, each with a 60 s limit, and the optimiser's gap to the
    optimum on the largest one solved.

    python benchmarks/bench_engine.py                      # 1,000,000 customers
    python benchmarks/bench_engine.py --customers 100000   # a quick run
    python benchmarks/bench_engine.py --exact ""           # without HiGHS
"""

from __future__ import annotations

import argparse
import os
import time

import polars as pl

from bench_optimiser import limits, peak_gb, python_loop, reset_peak, resident_gb
from bench_policy import NOW, build, loop_policy
from regard.decisions.engine import decide
from regard.decisions.exact import solve_exactly
from regard.decisions.inputs import EngineInputs
from regard.decisions.optimiser import Plan
from regard.decisions.policy_options import ContactPolicy

TARGET_SECONDS = 5.0
TARGET_GB = 3.0
TARGET_GAP = 0.001


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--candidates", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sample", type=int, default=10_000)
    parser.add_argument("--exact", default="5000,10000,20000")
    parser.add_argument("--exact-seconds", type=float, default=60.0)
    args = parser.parse_args()

    started = time.perf_counter()
    frames = build(args.customers, args.candidates, args.seed)
    inputs = EngineInputs(**frames)
    built_gb = resident_gb("VmRSS")
    print(
        f"built {frames['candidates'].height:,} candidates x 4 channels for "
        f"{args.customers:,} customers in {time.perf_counter() - started:.1f} s"
        + (f" ({built_gb:.2f} GB resident)" if built_gb is not None else "")
    )
    measured_step = reset_peak()

    started, cpu = time.perf_counter(), time.process_time()
    result = decide(
        inputs,
        policy=ContactPolicy(),
        budgets=limits(args.customers),
        now=NOW,
        explain=False,  # as ``regard decide`` runs it (decisions.service.decide_due)
    )
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    counts = result.counts()
    plan = result.plan
    gap = plan.gap if plan is not None else 0.0
    explain = seconds - result.policy_seconds - result.optimiser_seconds
    print(
        f"engine.decide: {seconds:.2f} s (target {TARGET_SECONDS:g} s): policy "
        f"{result.policy_seconds:.2f} s (options, caps and verdicts), optimiser "
        f"{result.optimiser_seconds:.2f} s, decisions and reasons {explain:.2f} s; CPU time "
        f"{cpu_seconds:.2f} s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print(
        f"{result.decisions.height:,} decisions: {counts['sent']:,} sent, {counts['held']:,} "
        f"held, {counts['dropped']:,} dropped; {result.policy.options.height:,} options"
    )
    print(
        f"value {result.value:,.2f}, bound {result.bound:,.2f}, certified gap {gap:.4%} "
        f"(target {TARGET_GAP:.1%})"
    )
    step = resident_gb("VmHWM") if measured_step else None
    print(
        f"peak resident memory: {peak_gb():.2f} GB for the process"
        + (f", {step:.2f} GB during decide" if step is not None else "")
        + f" (target {TARGET_GB:g} GB)"
    )
    if plan is None:
        return
    del result
    # The scheduler (``regard run``) decides again and again in one process: its next run finds
    # the memory the first one faulted in.
    started = time.perf_counter()
    again = decide(
        inputs, policy=ContactPolicy(), budgets=limits(args.customers), now=NOW, explain=False
    )
    print(
        f"the same run again in the same process: {time.perf_counter() - started:.2f} s (policy "
        f"{again.policy_seconds:.2f} s, optimiser {again.optimiser_seconds:.2f} s), value "
        f"{again.value:,.2f}"
    )
    del again, inputs
    baselines(frames, plan, args)


def baselines(frames: dict[str, pl.DataFrame], plan: Plan, args: argparse.Namespace) -> None:
    """(a) the per-customer Python loop on a sample, scaled; (b) HiGHS on small instances."""
    policy = ContactPolicy()
    sample = min(args.sample, args.customers)
    ids = frames["customers"]["customer_id"].head(sample).implode()
    few = {
        name: frame.filter(pl.col("customer_id").is_in(ids))
        if "customer_id" in frame.columns
        else frame
        for name, frame in frames.items()
    }
    started = time.perf_counter()
    loop_policy(few, policy, NOW)
    policy_loop = time.perf_counter() - started
    passed = decide(EngineInputs(**few), policy=policy, budgets=limits(sample), now=NOW).policy
    choice_loop, _sends = python_loop(passed.options, passed.caps, plan, sample)
    scaled = (policy_loop + choice_loop) * args.customers / sample
    print(
        f"(a) Python loop, customer by customer: {policy_loop + choice_loop:.2f} s for "
        f"{sample:,} customers (policy {policy_loop:.2f} s, choice at the plan's multipliers "
        f"{choice_loop:.2f} s), {scaled:.1f} s scaled to {args.customers:,}"
    )
    for size in (int(s) for s in args.exact.split(",") if s):
        small = build(size, args.candidates, args.seed + size)
        checked = decide(EngineInputs(**small), policy=policy, budgets=limits(size), now=NOW)
        ours = checked.plan
        if ours is None:
            continue
        exact = solve_exactly(
            checked.policy.options,
            checked.policy.caps,
            limits(size),
            time_limit=args.exact_seconds,
        )
        if exact is None or not exact.optimal:
            print(f"(b) HiGHS, {size:,} customers: no optimum within {args.exact_seconds:.0f} s")
            break
        print(
            f"(b) HiGHS, {size:,} customers ({checked.policy.options.height:,} options): optimum "
            f"{exact.value:,.2f} in {exact.seconds:.1f} s; optimise {ours.value:,.2f} in "
            f"{checked.optimiser_seconds:.2f} s, {1 - ours.value / exact.value:.4%} below the "
            f"optimum, its own certified gap {ours.gap:.4%}"
        )


if __name__ == "__main__":
    main()
