"""The contact policy on 1,000,000 customers x 10 candidates x 4 channels (40M options).

Builds seeded frames with numpy (customers in a dozen time zones, some with quiet hours,
preferred days and hours, pauses, do-not-contact; consents, suppressions, frequencies and three
sends of history each), times ``apply_policy`` to its ``options`` and ``caps`` (what the optimiser
reads), then the ``verdicts`` and ``blocked`` frames apart, each with the process's peak resident
memory so far (``ru_maxrss``), its CPU time and the load average (the machine is shared). In the
same run, a straightforward per-customer Python loop applying the same rules (consent, channel
fit, suppression, relevance, caps, timing) to a sample of customers, scaled to the whole base,
and the ratio.

    python benchmarks/bench_policy.py                     # 1,000,000 customers
    python benchmarks/bench_policy.py --customers 100000  # a quick run
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from regard.decisions.inputs import IMPORTANCES, catalogue_enums
from regard.decisions.policy import apply_policy
from regard.decisions.policy_options import ContactPolicy

NOW = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)
ZONES = (
    "Europe/Amsterdam",
    "Europe/London",
    "Europe/Paris",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "America/Toronto",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Asia/Kolkata",
)
REGIONS = ("NL", "GB", "FR", "US", "US", "US", "CA", "JP", "AU", "IN")
TOPICS = ("account", "orders", "service", "news", "offers", "offers:camping", "events")
TOPIC_IMPORTANCE = (
    "critical",
    "transactional",
    "service",
    "relationship",
    "promotional",
    "promotional",
    "relationship",
)
TOPIC_BASIS = (
    "legal-obligation",
    "contract",
    "contract",
    "consent",
    "consent",
    "consent",
    "legitimate-interest",
)
CHANNELS = ("email", "sms", "push", "voice")


NOW_US = int(NOW.timestamp()) * 1_000_000
DAY_US = 86_400 * 1_000_000


def _at(us: Any) -> pl.Series:
    """Microseconds since the epoch as UTC datetimes."""
    return pl.Series(np.asarray(us, dtype=np.int64)).cast(pl.Datetime("us", "UTC"))


def _coded(values: tuple[str, ...], dtype: pl.Enum, picked: Any) -> pl.Series:
    """``values[picked]`` as ``dtype``, gathered as codes: no string per row on the way."""
    position = np.array([dtype.categories.to_list().index(v) for v in values], dtype=np.uint8)
    return pl.Series(position[np.asarray(picked)]).cat.to(dtype)


def _categorical(values: Any) -> pl.Series:
    return pl.Series(values).cast(pl.Categorical)


def build(customers: int, candidates: int, seed: int) -> dict[str, pl.DataFrame]:
    """Seeded frames with the dtypes ``regard.decisions.inputs.read_inputs`` delivers: Enums of
    the catalogue for the candidates' touchpoint, topic and importance, Categoricals for the
    customers' other texts."""
    touchpoint_names = tuple(f"tp-{t}" for t in TOPICS)
    touchpoint_enum, topic_enum = catalogue_enums(touchpoint_names, TOPICS)
    rng = np.random.default_rng(seed)
    n, k = customers, candidates
    ids = np.arange(1, n + 1, dtype=np.int64)
    zone = rng.integers(0, len(ZONES), n)
    unknown = rng.random(n) < 0.05
    quiet = rng.random(n) < 0.3
    preferred = rng.random(n) < 0.1
    customer_frame = pl.DataFrame(
        {
            "customer_id": ids,
            "time_zone": _categorical(np.array(ZONES)[zone]).set(pl.Series(unknown), None),
            "region": _categorical(np.array(REGIONS)[zone]),
            "quiet_start": pl.Series(np.where(quiet, 21 * 60, 0), dtype=pl.Int16).set(
                pl.Series(~quiet), None
            ),
            "quiet_end": pl.Series(np.where(quiet, 8 * 60, 0), dtype=pl.Int16).set(
                pl.Series(~quiet), None
            ),
            "preferred_days": pl.Series(np.where(preferred, 31, 0), dtype=pl.Int8).set(
                pl.Series(~preferred), None
            ),
            "preferred_start": pl.Series(np.where(preferred, 9 * 60, 0), dtype=pl.Int16).set(
                pl.Series(~preferred), None
            ),
            "preferred_end": pl.Series(np.where(preferred, 18 * 60, 0), dtype=pl.Int16).set(
                pl.Series(~preferred), None
            ),
            "paused_until": pl.Series([None] * n, dtype=pl.Date).set(
                pl.Series(rng.random(n) < 0.01), NOW.date() + timedelta(days=10)
            ),
            "email": rng.random(n) < 0.95,
            "sms": rng.random(n) < 0.6,
            "push": rng.random(n) < 0.4,
            "voice": rng.random(n) < 0.3,
            "postal": rng.random(n) < 0.5,
            "last_purchase_at": _at(NOW_US - rng.integers(1, 1_000, n) * DAY_US),
            "do_not_contact": rng.random(n) < 0.005,
        }
    )
    m = n * k
    topic = rng.choice(len(TOPICS), m, p=[0.02, 0.2, 0.08, 0.2, 0.3, 0.1, 0.1])
    touchpoints = pl.DataFrame(
        {
            "touchpoint": [f"tp-{t}" for t in TOPICS for _ in CHANNELS],
            "channel": [c for _ in TOPICS for c in CHANNELS],
        }
    )
    deadline = rng.random(m) < 0.5
    candidate_frame = pl.DataFrame(
        {
            "candidate_id": np.arange(1, m + 1, dtype=np.int64),
            "customer_id": np.repeat(ids, k),
            "touchpoint": _coded(touchpoint_names, touchpoint_enum, topic),
            "triggered_at": _at(np.full(m, NOW_US)),
            "deadline_at": _at(np.full(m, NOW_US + 2 * DAY_US)).set(pl.Series(~deadline), None),
            "channel_mask": pl.Series([None] * m, dtype=pl.UInt8),
            "topic": _coded(TOPICS, topic_enum, topic),
            "asks_response": rng.random(m) < 0.1,
            "importance": _coded(TOPIC_IMPORTANCE, IMPORTANCES, topic),
            "value": rng.gamma(2.0, 1.0, m),
            "relevance": rng.random(m),
        }
    )
    del topic
    topic_frame = pl.DataFrame(
        {"topic": TOPICS, "importance": TOPIC_IMPORTANCE, "basis": TOPIC_BASIS}
    )
    # Consents: each customer opted in to one marketing topic on email and sms, a few opted out.
    consent_rows = n * 2
    consents = pl.DataFrame(
        {
            "customer_id": np.repeat(ids, 2),
            "topic": pl.Series(TOPICS, dtype=pl.Categorical).gather(
                rng.choice([3, 4, 5], consent_rows)
            ),
            "channel": pl.Series(["email", "sms"], dtype=pl.Categorical).gather(np.tile([0, 1], n)),
            "state": pl.Series(["opted-in", "opted-out"], dtype=pl.Categorical).gather(
                (rng.random(consent_rows) < 0.1).astype(np.int64)
            ),
            "legal_basis": pl.Series(["consent"], dtype=pl.Categorical).gather(
                np.zeros(consent_rows, dtype=np.int64)
            ),
            "occurred_at": _at(np.full(consent_rows, NOW_US - 30 * DAY_US)),
        }
    )
    suppressed = rng.choice(ids, n // 100, replace=False)
    suppressions = pl.DataFrame(
        {
            "customer_id": np.sort(suppressed),
            "channel": pl.Series(["email", "sms"], dtype=pl.Categorical).gather(
                rng.integers(0, 2, suppressed.size)
            ),
            "reason": pl.Series(["hard-bounce", "complaint"], dtype=pl.Categorical).gather(
                rng.integers(0, 2, suppressed.size)
            ),
            "at": [NOW - timedelta(days=3)] * suppressed.size,
        }
    )
    chosen = rng.random(n) < 0.1
    frequencies = pl.DataFrame(
        {
            "customer_id": ids[chosen],
            "topic": pl.Series([None, "offers"]).gather(rng.integers(0, 2, int(chosen.sum()))),
            "frequency": pl.Series(["daily", "weekly", "monthly"]).gather(
                rng.integers(0, 3, int(chosen.sum()))
            ),
        }
    )
    h = n * 3
    sent_topic = rng.choice(len(TOPICS), h)
    history = pl.DataFrame(
        {
            "customer_id": np.repeat(ids, 3),
            "candidate_id": np.arange(h, dtype=np.int64),
            "touchpoint": pl.Series(touchpoint_names, dtype=pl.Categorical).gather(sent_topic),
            "topic": pl.Series(TOPICS, dtype=pl.Categorical).gather(sent_topic),
            "channel": pl.Series(CHANNELS[:3], dtype=pl.Categorical).gather(rng.integers(0, 3, h)),
            "importance": _coded(TOPIC_IMPORTANCE, IMPORTANCES, sent_topic),
            "sent_at": _at(NOW_US - rng.integers(1, 30 * 24 * 60, h) * 60_000_000),
            "engaged": rng.random(h) < 0.3,
        }
    )
    return {
        "candidates": candidate_frame,
        "touchpoint_channels": touchpoints,
        "topics": topic_frame,
        "customers": customer_frame,
        "frequencies": frequencies,
        "consents": consents,
        "suppressions": suppressions,
        "history": history,
    }


# ---------------------------------------------------------------------------------------------
# The baseline: the same rules, one customer at a time, in plain Python


def loop_policy(frames: dict[str, pl.DataFrame], policy: ContactPolicy, now: datetime) -> int:
    """Options that pass consent, channel fit, suppression, relevance, pause, caps and timing,
    customer by customer. Returns how many options passed."""
    channels_of: dict[str, list[str]] = {}
    for row in frames["touchpoint_channels"].iter_rows(named=True):
        channels_of.setdefault(row["touchpoint"], []).append(row["channel"])
    basis = {row["topic"]: row["basis"] for row in frames["topics"].iter_rows(named=True)}
    by_customer: dict[int, list[dict[str, Any]]] = {}
    for row in frames["candidates"].iter_rows(named=True):
        by_customer.setdefault(row["customer_id"], []).append(row)
    consents: dict[tuple[int, str, str], str] = {}
    for row in frames["consents"].iter_rows(named=True):
        consents[(row["customer_id"], row["topic"], row["channel"])] = row["state"]
    suppressed = {
        (row["customer_id"], row["channel"]) for row in frames["suppressions"].iter_rows(named=True)
    }
    sent: dict[int, list[dict[str, Any]]] = {}
    for row in frames["history"].iter_rows(named=True):
        sent.setdefault(row["customer_id"], []).append(row)
    passed = 0
    for customer in frames["customers"].iter_rows(named=True):
        zone = ZoneInfo(customer["time_zone"]) if customer["time_zone"] else None
        local = now.astimezone(zone) if zone else None
        history = sent.get(customer["customer_id"], [])
        promotional_today = sum(
            1
            for h in history
            if h["importance"] == "promotional" and h["sent_at"] > now - timedelta(days=1)
        )
        for candidate in by_customer.get(customer["customer_id"], []):
            importance = candidate["importance"]
            if customer["do_not_contact"] and importance != "critical":
                continue
            if importance == "promotional" and (
                promotional_today >= 1
                or (
                    candidate["relevance"] is not None
                    and candidate["relevance"] < policy.relevance_floor
                )
            ):
                continue
            for channel in channels_of.get(candidate["touchpoint"], []):
                state = consents.get((customer["customer_id"], candidate["topic"], channel))
                if state == "opted-out" or not customer[channel]:
                    continue
                if (customer["customer_id"], channel) in suppressed:
                    continue
                if channel == "voice" and (
                    importance not in ("critical", "transactional")
                    or state != "opted-in"
                    or not candidate["asks_response"]
                ):
                    continue
                if basis.get(candidate["topic"]) == "consent" and state != "opted-in":
                    continue
                if channel in ("sms", "voice") and (local is None or not 8 <= local.hour < 21):
                    continue
                passed += 1
    return passed


def _peak() -> float:
    """The process's peak resident memory so far, in GB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--candidates", type=int, default=10)
    parser.add_argument("--sample", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    policy = ContactPolicy()

    started = time.perf_counter()
    frames = build(args.customers, args.candidates, args.seed)
    print(
        f"built {frames['candidates'].height:,} candidates x 4 channels for "
        f"{args.customers:,} customers in {time.perf_counter() - started:.1f} s"
    )

    started, cpu = time.perf_counter(), _cpu()
    result = apply_policy(**frames, policy=policy, now=NOW)
    policy_seconds = time.perf_counter() - started
    options = result.options
    print(
        f"apply_policy (options and caps): {policy_seconds:.2f} s (CPU {_cpu() - cpu:.2f} s); "
        f"{options.height:,} options of {frames['candidates'].height * 4:,} "
        f"(candidate, channel) pairs; peak {_peak():.2f} GB"
    )
    started, cpu = time.perf_counter(), _cpu()
    verdicts = result.verdicts
    verdict_seconds = time.perf_counter() - started
    print(
        f"verdicts: {verdict_seconds:.2f} s (CPU {_cpu() - cpu:.2f} s) for {verdicts.height:,} "
        f"candidates with no option; peak {_peak():.2f} GB"
    )
    counts = verdicts.group_by("reason").len().sort("len", descending=True)
    print("  " + ", ".join(f"{r} {c:,}" for r, c in counts.iter_rows()))
    started, cpu = time.perf_counter(), _cpu()
    blocked = result.blocked
    print(
        f"blocked: {time.perf_counter() - started:.2f} s (CPU {_cpu() - cpu:.2f} s) for "
        f"{blocked.height:,} rows; peak {_peak():.2f} GB"
    )
    print(f"load average (1 min) on {os.cpu_count()} cores: {os.getloadavg()[0]:.1f}")
    del blocked, verdicts, counts

    # Baseline: a per-customer loop on a sample, scaled.
    sample_ids = frames["customers"]["customer_id"].head(args.sample)
    sample = {
        name: (
            frame.filter(pl.col("customer_id").is_in(sample_ids.implode()))
            if "customer_id" in frame.columns
            else frame
        )
        for name, frame in frames.items()
    }
    started = time.perf_counter()
    loop_passed = loop_policy(sample, policy, NOW)
    loop_seconds = time.perf_counter() - started
    scaled = loop_seconds * args.customers / args.sample
    print(
        f"Python loop (fewer rules), {args.sample:,} customers: {loop_seconds:.2f} s "
        f"({loop_passed:,} pass), scaled to {args.customers:,}: {scaled:.1f} s; "
        f"apply_policy is {scaled / policy_seconds:.1f}x faster"
    )
    print(f"peak resident memory of the process: {_peak():.2f} GB")


if __name__ == "__main__":
    main()
