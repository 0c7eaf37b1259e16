"""The relationship simulator: 100,000 customers x 26 weeks x three policies (target: 2 minutes).

Times ``regard.simulation.run.simulate`` on the default scenario (Regard's policy through the
real decision core each day, frequency caps only, spray and pray), with the decision core's
share, the process's peak resident memory and the load average (the machine is shared). In the
same run, the baseline: a straightforward per-customer Python loop of the same response models
for the two batch policies only (caps only and spray and pray; no decision engine at all) on a
sample of customers, scaled to the whole population, and the ratio. The baseline does less work
than the simulator, so the ratio understates the gain.

    python benchmarks/bench_simulate.py                      # 100,000 customers, 26 weeks
    python benchmarks/bench_simulate.py --customers 10000    # a quick run
"""

from __future__ import annotations

import argparse
import math
import os
import random
import resource
import time

from regard.simulation.population import Population, generate_population
from regard.simulation.run import days_of, simulate
from regard.simulation.scenario import CHANNELS, Scenario, load_scenario


def loop_batch_policies(scenario: Scenario, population: Population, sample: int) -> int:
    """Caps only and spray and pray for the first ``sample`` customers, one customer, day and
    message at a time, with the response models written out in plain Python. Returns the
    number of messages simulated."""
    r = scenario.responses
    topic_of = [scenario.topics.index(tp.topic) for tp in scenario.touchpoints]
    channels = [[CHANNELS.index(c) for c in tp.channels] for tp in scenario.touchpoints]
    engagement = [
        scenario.channels[c].engagement if c in scenario.channels else 0.0 for c in CHANNELS
    ]
    days = days_of(scenario)
    rng = random.Random(scenario.seed)
    messages = 0
    for policy in ("caps", "spray"):
        for u in range(sample):
            commitment = float(population.commitment[u])
            lapsed = False
            opted = [False] * len(CHANNELS)
            recent = [[0] * len(CHANNELS) for _ in range(7)]
            relevant = annoyance = 0.0
            sent_week = 0
            for day in days:
                slot = day.index % 7
                recent[slot] = [0] * len(CHANNELS)
                for j in day.touchpoints:
                    if policy == "caps":
                        usable = [c for c in channels[j] if population.reach[u, c] and not opted[c]]
                        chosen = usable[:1] if sent_week < scenario.caps_only.per_week else []
                    else:
                        chosen = [c for c in channels[j] if population.reach[u, c] and not opted[c]]
                    for c in chosen:
                        recent[slot][c] += 1
                        sent_week += 1
                        messages += 1
                        load = sum(recent[d][c] for d in range(7))
                        fatigue = max(load / float(population.tolerance[u, c]) - 1.0, 0.0)
                        local = (scenario.blast_hour_utc + day.offsets[population.zone[u]]) % 24
                        quiet = 1.0 if (local >= 21 or local < 8) else 0.0
                        reading = 1.0 if abs(local - population.reading_hour[u]) <= 2 else 0.0
                        relevance = float(population.interest[u, topic_of[j]])
                        base = engagement[c]
                        logit = (
                            math.log(base / (1 - base))
                            + r.engage_relevance * (relevance - 0.5)
                            + r.engage_commitment * (commitment - 0.5)
                            - r.engage_fatigue * fatigue
                            - r.engage_quiet * quiet
                            + r.engage_reading_hour * reading
                        )
                        annoy = (
                            r.annoyance_irrelevance * (1 - relevance)
                            + r.annoyance_fatigue * fatigue
                            + r.annoyance_quiet * quiet
                        )
                        complain = min(r.complaint_base * (1 + annoy) * (1.5 - commitment), 0.5)
                        opt_out = min(r.optout_base * (1 + annoy) * (1.5 - commitment), 0.5)
                        engage = (1 - complain - opt_out) / (1 + math.exp(-logit))
                        draw = rng.random()
                        if draw < engage:
                            relevant += relevance
                        else:
                            annoyance += annoy
                            if draw < engage + complain + opt_out:
                                opted[c] = True
                if slot == 6:
                    rate = (
                        0.0
                        if lapsed
                        else float(population.purchase_rate[u])
                        * (0.2 + commitment)
                        * (1 + r.purchase_lift * relevant)
                        * math.exp(-r.annoyance_penalty * annoyance)
                    )
                    # Poisson by inversion, then a Gamma spend per purchase.
                    count, p, s, draw = 0, math.exp(-rate), math.exp(-rate), rng.random()
                    while draw > s:
                        count += 1
                        p *= rate / count
                        s += p
                    for _ in range(count):
                        rng.gammavariate(4.0, float(population.spend[u]) / 4.0)
                    lapse = r.lapse_base * (1.5 - commitment) * (1 + r.lapse_annoyance * annoyance)
                    lapsed = lapsed or rng.random() < lapse / (1 + relevant)
                    commitment = min(
                        max(
                            commitment + r.commitment_up * relevant - r.commitment_down * annoyance,
                            0.0,
                        ),
                        1.0,
                    )
                    relevant = annoyance = 0.0
                    sent_week = 0
    return messages


def _peak() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--weeks", type=int, default=26)
    parser.add_argument("--sample", type=int, default=2_000)
    args = parser.parse_args()
    scenario = load_scenario().with_size(customers=args.customers, weeks=args.weeks)

    started = time.perf_counter()
    result = simulate(scenario)
    seconds = time.perf_counter() - started
    summary = result.summary()
    print(
        f"simulate: {args.customers:,} customers x {args.weeks} weeks x 3 policies in "
        f"{seconds:.1f} s (target 120 s), of which Regard's decision core "
        f"{result.decide_seconds:.1f} s "
        f"over {sum(1 for d in days_of(scenario) if d.touchpoints)} daily runs; "
        f"peak {_peak():.2f} GB; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    for row in summary.iter_rows(named=True):
        print(
            f"  {row['policy']:<20} messages {row['messages']:>11,}  "
            f"revenue {row['revenue']:>14,.0f}  "
            f"per message {row['revenue_per_message']:>6.2f}  opt-outs {row['opt_outs']:>7,}  "
            f"complaints {row['complaints']:>7,}  commitment down {row['moved_down']:.1%}"
        )

    sample = min(args.sample, args.customers)
    population = generate_population(scenario)
    started = time.perf_counter()
    messages = loop_batch_policies(scenario, population, sample)
    loop_seconds = time.perf_counter() - started
    scaled = loop_seconds * args.customers / sample
    print(
        f"Python loop (batch policies only, no decision engine), {sample:,} customers: "
        f"{loop_seconds:.1f} s for {messages:,} messages, scaled to {args.customers:,}: "
        f"{scaled:.0f} s; simulate (three policies) is {scaled / seconds:.1f}x faster"
    )
    batch = seconds - result.decide_seconds
    print(
        f"simulate without the decision core's time (the part the loop does, and more): "
        f"{batch:.1f} s; the loop is {scaled / batch:.1f}x slower"
    )


if __name__ == "__main__":
    main()
