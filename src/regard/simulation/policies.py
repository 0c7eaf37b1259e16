"""The contact policies compared: Regard's policy and optimiser, frequency caps only, and spray
and pray. Each plans one simulated day's sends from what the brand can know of the customers
(never their hidden traits, except where a customer told the brand)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import polars as pl

from regard.decisions.engine import decide
from regard.decisions.inputs import EngineInputs
from regard.decisions.optimiser import ChannelBudget
from regard.decisions.policy_options import CHANNEL_ORDER, ContactPolicy
from regard.simulation.population import Population
from regard.simulation.scenario import CHANNELS, Scenario

Array = npt.NDArray[Any]

# Relevance Regard predicts from interests a customer stated (as decisions.inputs does).
INTEREST_MATCH, NOT_THEIR_INTEREST = 0.9, 0.1
# A stated interest is one the customer cares for at least this much.
STATED_INTEREST = 0.5
# Regard's engine reads this much history (its caps and fatigue look back less).
HISTORY_DAYS = 30
_UTC_DATETIME = pl.Datetime("us", "UTC")
# Regions of the simulated time zones, for the rules on texts and calls.
_REGIONS = {"Europe/Amsterdam": "NL", "Europe/London": "GB", "Europe/Paris": "FR"}


@dataclass(frozen=True)
class Day:
    """One simulated day: its touchpoints (indices into the scenario's), the moment Regard's
    engine runs, the moment the batch policies send, and each time zone's UTC offset (hours)."""

    index: int
    midnight: datetime
    decide_at: datetime
    blast_at: datetime
    touchpoints: tuple[int, ...]
    offsets: Array


@dataclass(frozen=True)
class Sends:
    """The messages of a day, one row each: customer (index), touchpoint (index), channel
    (index into ``CHANNELS``) and when it arrives, in hours after the day's midnight UTC."""

    customer: Array
    touchpoint: Array
    channel: Array
    hour: Array

    @property
    def size(self) -> int:
        return int(self.customer.size)

    @staticmethod
    def concat(parts: list[Sends]) -> Sends:
        if not parts:
            return Sends(
                np.zeros(0, np.int32), np.zeros(0, np.int16), np.zeros(0, np.int8),
                np.zeros(0, np.float64),
            )  # fmt: skip
        return Sends(
            np.concatenate([p.customer for p in parts]),
            np.concatenate([p.touchpoint for p in parts]),
            np.concatenate([p.channel for p in parts]),
            np.concatenate([p.hour for p in parts]),
        )


@dataclass
class Standing:
    """What a policy's own run has done to the relationship so far, as the brand sees it:
    opt-outs and complaints per (customer, channel), and the marketing messages sent this week."""

    opted_out: Array  # (n, channels) bool
    complained: Array  # (n, channels) bool
    sent_this_week: Array  # (n,) int32

    def reachable(self, population: Population) -> Array:
        return population.reach & ~self.opted_out & ~self.complained


class Policy(Protocol):
    """Plans a day's sends; told afterwards how each was received (``ENGAGED`` or not)."""

    key: str
    label: str

    def plan(self, day: Day, standing: Standing) -> Sends: ...

    def observe(self, day: Day, sends: Sends, engaged: Array) -> None: ...


def _channel_index(scenario: Scenario) -> list[list[int]]:
    return [[CHANNELS.index(c) for c in tp.channels] for tp in scenario.touchpoints]


@dataclass
class SprayAndPray:
    """Every touchpoint to everyone, on every channel the brand can reach them on (an opt-out or
    a complaint on a channel stops it there), all at the same hour."""

    scenario: Scenario
    population: Population
    key: str = "spray"
    label: str = "Spray and pray"

    def plan(self, day: Day, standing: Standing) -> Sends:
        reachable = standing.reachable(self.population)
        hour = float(self.scenario.blast_hour_utc)
        parts = []
        for j in day.touchpoints:
            for c in _channel_index(self.scenario)[j]:
                who = np.flatnonzero(reachable[:, c]).astype(np.int32)
                parts.append(
                    Sends(
                        who, np.full(who.size, j, np.int16), np.full(who.size, c, np.int8),
                        np.full(who.size, hour),
                    )
                )  # fmt: skip
        return Sends.concat(parts)

    def observe(self, day: Day, sends: Sends, engaged: Array) -> None:
        return None


@dataclass
class CapsOnly:
    """A cap per customer per week and nothing else: each touchpoint goes on its first channel
    that reaches the customer, until the customer has had ``per_week`` messages this week; no
    relevance, no quiet hours, all at the same hour."""

    scenario: Scenario
    population: Population
    key: str = "caps"
    label: str = "Frequency caps only"

    def plan(self, day: Day, standing: Standing) -> Sends:
        reachable = standing.reachable(self.population)
        cap = self.scenario.caps_only.per_week
        count = standing.sent_this_week.copy()
        hour = float(self.scenario.blast_hour_utc)
        parts = []
        for j in day.touchpoints:
            channel = np.full(self.population.size, -1, dtype=np.int8)
            for c in reversed(_channel_index(self.scenario)[j]):
                channel[reachable[:, c]] = c
            who = np.flatnonzero((channel >= 0) & (count < cap)).astype(np.int32)
            count[who] += 1
            parts.append(
                Sends(
                    who, np.full(who.size, j, np.int16), channel[who],
                    np.full(who.size, hour),
                )
            )  # fmt: skip
        return Sends.concat(parts)

    def observe(self, day: Day, sends: Sends, engaged: Array) -> None:
        return None


@dataclass
class RegardPolicy:
    """Regard's contact policy and optimiser: each day the real decision core
    (``regard.decisions.engine.decide``) decides on every candidate of the day's touchpoints,
    from frames built the way the engine's inputs are read from the store: the customers' time
    zones, stated quiet hours and reachable channels, the interests they stated (relevance),
    their opt-outs (consent ledger), complaints (suppressions) and what was sent and engaged
    with (history)."""

    scenario: Scenario
    population: Population
    budgets: Mapping[str, ChannelBudget] = field(default_factory=dict)
    key: str = "regard"
    label: str = "Regard"
    policy: ContactPolicy = field(init=False)
    customers: pl.DataFrame = field(init=False)
    topics: pl.DataFrame = field(init=False)
    touchpoint_channels: pl.DataFrame = field(init=False)
    history: list[pl.DataFrame] = field(init=False, default_factory=list)
    next_candidate: int = field(init=False, default=1)
    decide_seconds: float = field(init=False, default=0.0)
    _planned: tuple[int, int] = field(init=False, default=(0, 0))

    def __post_init__(self) -> None:
        self.policy = self.scenario.contact_policy()
        self.customers = customers_frame(self.scenario, self.population)
        topics = self.scenario.topics
        importance = {tp.topic: tp.importance for tp in self.scenario.touchpoints}
        # Existing customers, contacted on the brand's legitimate interest until they opt out.
        self.topics = pl.DataFrame(
            {
                "topic": list(topics),
                "importance": [importance[t] for t in topics],
                "basis": ["legitimate-interest"] * len(topics),
            }
        )
        self.touchpoint_channels = pl.DataFrame(
            {
                "touchpoint": [tp.name for tp in self.scenario.touchpoints for _ in tp.channels],
                "channel": [c for tp in self.scenario.touchpoints for c in tp.channels],
            }
        )

    def plan(self, day: Day, standing: Standing) -> Sends:
        n = self.population.size
        if not day.touchpoints:
            return Sends.concat([])
        inputs = self.inputs(day, standing)
        started = time.perf_counter()
        result = decide(inputs, policy=self.policy, budgets=self.budgets, now=day.decide_at)
        self.decide_seconds += time.perf_counter() - started
        sent = result.decisions.filter(pl.col("outcome") == "sent")
        offset = sent["candidate_id"].to_numpy() - self._planned[0]
        position = offset // n
        hours = (
            sent["send_at"].dt.epoch("us").to_numpy() - int(day.midnight.timestamp()) * 10**6
        ) / 3.6e9
        channel = (
            sent["channel"]
            .replace_strict(list(CHANNELS), list(range(len(CHANNELS))), return_dtype=pl.Int8)
            .to_numpy()
        )
        order = np.array(day.touchpoints, dtype=np.int16)
        return Sends(
            (offset % n).astype(np.int32), order[position], channel.astype(np.int8),
            hours.astype(np.float64),
        )  # fmt: skip

    def inputs(self, day: Day, standing: Standing) -> EngineInputs:
        """The engine's frames for the day's candidates."""
        n, scenario, population = self.population.size, self.scenario, self.population
        first = self.next_candidate
        self._planned = (first, len(day.touchpoints))
        self.next_candidate += n * len(day.touchpoints)
        parts = []
        for position, j in enumerate(day.touchpoints):
            tp = scenario.touchpoints[j]
            topic = scenario.topics.index(tp.topic)
            if tp.topic.startswith("offers:"):
                matches = population.interest[:, topic] >= STATED_INTEREST
                relevance = pl.Series(np.where(matches, INTEREST_MATCH, NOT_THEIR_INTEREST)).set(
                    pl.Series(~population.stated_interest), None
                )
            else:
                relevance = pl.Series([None] * n, dtype=pl.Float64)
            parts.append(
                pl.DataFrame(
                    {
                        "candidate_id": np.arange(n, dtype=np.int64) + first + position * n,
                        "customer_id": np.arange(1, n + 1, dtype=np.int64),
                        "relevance": relevance,
                    }
                ).with_columns(
                    pl.lit(tp.name).alias("touchpoint"),
                    pl.lit(tp.topic).alias("topic"),
                    pl.lit(tp.importance).alias("importance"),
                    pl.lit(day.decide_at, dtype=_UTC_DATETIME).alias("triggered_at"),
                    pl.lit(day.midnight + timedelta(days=1), dtype=_UTC_DATETIME).alias(
                        "deadline_at"
                    ),
                    pl.lit(False).alias("asks_response"),
                    pl.lit(float(tp.value)).alias("value"),
                )
            )
        since = day.decide_at - timedelta(days=HISTORY_DAYS)
        self.history = [h for h in self.history if h["sent_at"].max() >= since]  # type: ignore[operator]
        return EngineInputs(
            candidates=pl.concat(parts),
            touchpoint_channels=self.touchpoint_channels,
            topics=self.topics,
            customers=self.customers,
            frequencies=pl.DataFrame(
                schema={"customer_id": pl.Int64(), "topic": pl.String(), "frequency": pl.String()}
            ),
            consents=self._opt_outs(standing, day),
            suppressions=self._complaints(standing, day),
            history=pl.concat(self.history) if self.history else _empty_history(),
        )

    def observe(self, day: Day, sends: Sends, engaged: Array) -> None:
        if not sends.size:
            return
        tps = self.scenario.touchpoints
        names = pl.Series([tp.name for tp in tps])
        topics = pl.Series([tp.topic for tp in tps])
        importance = pl.Series([tp.importance for tp in tps])
        index = pl.Series(sends.touchpoint.astype(np.int64))
        sent_at = int(day.midnight.timestamp()) * 10**6 + (sends.hour * 3.6e9).astype(np.int64)
        self.history.append(
            pl.DataFrame(
                {
                    "customer_id": sends.customer.astype(np.int64) + 1,
                    "candidate_id": np.zeros(sends.size, dtype=np.int64),
                    "touchpoint": names.gather(index),
                    "topic": topics.gather(index),
                    "channel": pl.Series(list(CHANNELS)).gather(
                        pl.Series(sends.channel.astype(np.int64))
                    ),
                    "importance": importance.gather(index),
                    "sent_at": pl.Series(sent_at).cast(_UTC_DATETIME),
                    "engaged": engaged,
                }
            )
        )

    def _opt_outs(self, standing: Standing, day: Day) -> pl.DataFrame:
        who, channel = np.nonzero(standing.opted_out)
        topics = self.scenario.topics
        rows = who.size * len(topics)
        return pl.DataFrame(
            {
                "customer_id": np.repeat(who.astype(np.int64) + 1, len(topics)),
                "topic": pl.Series(list(topics)).gather(np.tile(np.arange(len(topics)), who.size)),
                "channel": pl.Series(list(CHANNELS)).gather(np.repeat(channel, len(topics))),
                "state": pl.Series(["opted-out"] * rows, dtype=pl.String),
                "legal_basis": pl.Series(["legitimate-interest"] * rows, dtype=pl.String),
                "occurred_at": pl.Series([day.midnight] * rows, dtype=_UTC_DATETIME),
            },
            schema_overrides={"topic": pl.String(), "channel": pl.String()},
        )

    def _complaints(self, standing: Standing, day: Day) -> pl.DataFrame:
        who, channel = np.nonzero(standing.complained)
        return pl.DataFrame(
            {
                "customer_id": who.astype(np.int64) + 1,
                "channel": pl.Series(list(CHANNELS)).gather(channel),
                "reason": pl.Series(["complaint"] * who.size, dtype=pl.String),
                "at": pl.Series([day.midnight] * who.size, dtype=_UTC_DATETIME),
            },
            schema_overrides={"channel": pl.String()},
        )


def _empty_history() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "customer_id": pl.Int64(),
            "candidate_id": pl.Int64(),
            "touchpoint": pl.String(),
            "topic": pl.String(),
            "channel": pl.String(),
            "importance": pl.String(),
            "sent_at": _UTC_DATETIME,
            "engaged": pl.Boolean(),
        }
    )


def customers_frame(scenario: Scenario, population: Population) -> pl.DataFrame:
    """The engine's ``customers`` frame: what the brand knows of each simulated customer."""
    n = population.size
    settings = scenario.population
    stated = pl.Series(~population.stated_quiet)
    zones = pl.Series(list(population.zones)).gather(pl.Series(population.zone.astype(np.int64)))
    reach: dict[str, Array] = {c: population.reach[:, i] for i, c in enumerate(CHANNELS)}
    columns: dict[str, Any] = {
        "customer_id": np.arange(1, n + 1, dtype=np.int64),
        "time_zone": zones,
        "region": zones.replace_strict(_REGIONS, default="US", return_dtype=pl.String),
        "quiet_start": pl.Series(np.full(n, settings.quiet_start * 60), dtype=pl.Int16).set(
            stated, None
        ),
        "quiet_end": pl.Series(np.full(n, settings.quiet_end * 60), dtype=pl.Int16).set(
            stated, None
        ),
        "preferred_days": pl.Series([None] * n, dtype=pl.Int8),
        "preferred_start": pl.Series([None] * n, dtype=pl.Int16),
        "preferred_end": pl.Series([None] * n, dtype=pl.Int16),
        "paused_until": pl.Series([None] * n, dtype=pl.Date),
        **{c: reach.get(c, np.zeros(n, dtype=bool)) for c in CHANNEL_ORDER},
        "last_purchase_at": pl.Series([None] * n, dtype=_UTC_DATETIME),
        "do_not_contact": np.zeros(n, dtype=bool),
    }
    return pl.DataFrame(columns)
