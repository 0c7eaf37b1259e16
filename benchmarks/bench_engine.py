"""The whole decision core, policy then optimiser, on 1,000,000 customers x 10 candidates x 4
channels (40M options): the issue's target is under 5 s with peak memory under 3 GB and a
certified gap under 0.1%.

Builds the contact policy benchmark's seeded frames (``bench_policy.build``), then times
``engine.decide`` end to end (``apply_policy``, ``optimise``, and a decision with its reason
for every candidate), reporting each part, the plan's value, bound and gap, and the process's
peak resident memory above what building the data took (``VmHWM`` reset after building, where
Linux allows). The channel limits are the optimiser benchmark's (email and push capacity, an SMS
budget), so the prices bind. The baselines are in ``bench_policy.py`` (a per-customer Python
loop) and ``bench_optimiser.py`` (HiGHS on the largest instance it solves in 60 s).

    python benchmarks/bench_engine.py                      # 1,000,000 customers
    python benchmarks/bench_engine.py --customers 100000   # a quick run
"""

from __future__ import annotations

import argparse
import time

from bench_optimiser import limits, peak_gb, reset_peak, resident_gb
from bench_policy import NOW, build
from regard.decisions.engine import decide
from regard.decisions.inputs import EngineInputs
from regard.decisions.policy_options import ContactPolicy

TARGET_SECONDS = 5.0
TARGET_GB = 3.0
TARGET_GAP = 0.001


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--candidates", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
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

    started = time.perf_counter()
    result = decide(inputs, policy=ContactPolicy(), budgets=limits(args.customers), now=NOW)
    seconds = time.perf_counter() - started
    counts = result.counts()
    plan = result.plan
    gap = plan.gap if plan is not None else 0.0
    explain = seconds - result.policy_seconds - result.optimiser_seconds
    print(
        f"engine.decide: {seconds:.2f} s (target {TARGET_SECONDS:g} s): policy "
        f"{result.policy_seconds:.2f} s, optimiser {result.optimiser_seconds:.2f} s, "
        f"decisions and reasons {explain:.2f} s"
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


if __name__ == "__main__":
    main()
