"""A simulation run: the same population, day by day for N weeks, under each policy.

Every policy sees the same customers and the same random draws (one uniform per possible
message, shared; the weekly purchase draws from the same seeded stream), so the differences
between them come from what they send.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import polars as pl

from regard.simulation import responses
from regard.simulation.policies import (
    CapsOnly,
    Day,
    Policy,
    RegardPolicy,
    SprayAndPray,
    Standing,
)
from regard.simulation.population import Population, generate_population, group_of
from regard.simulation.scenario import CHANNELS, GROUPS, WEEKDAYS, Scenario

Array = npt.NDArray[Any]

WEEKLY_COLUMNS = (
    "messages",
    "engaged",
    "complaints",
    "opt_outs",
    "revenue",
    "cost",
    "purchases",
    "lapsed",
    "users",
)


@dataclass
class _Customers:
    """One policy's hidden state of every customer."""

    commitment: Array
    lapsed: Array
    recent: Array  # (7, n, channels): messages per day of the last seven, per channel
    relevant: Array  # this week's relevant engagement
    annoyance: Array  # this week's annoyance


@dataclass(frozen=True)
class PolicyOutcome:
    """What happened under one policy: a row per week (``WEEKLY_COLUMNS``) and the commitment
    groups at the start and at the end."""

    key: str
    label: str
    weekly: pl.DataFrame
    transitions: Array  # (groups, groups): customers from group (row) to group (column)

    def total(self, column: str) -> float:
        return float(self.weekly[column].sum())

    @property
    def revenue_per_message(self) -> float:
        messages = self.total("messages")
        return self.total("revenue") / messages if messages else 0.0

    @property
    def moved_up(self) -> float:
        """Share of customers whose commitment group rose."""
        # Rows (start) and columns (end) run from Entrenched down: up is to a lower index.
        return float(np.tril(self.transitions, -1).sum() / max(self.transitions.sum(), 1))

    @property
    def moved_down(self) -> float:
        """Share of customers whose commitment group fell."""
        return float(np.triu(self.transitions, 1).sum() / max(self.transitions.sum(), 1))


@dataclass(frozen=True)
class SimulationResult:
    """The scenario, its size, and one ``PolicyOutcome`` per policy (Regard's first)."""

    scenario: Scenario
    customers: int
    weeks: int
    outcomes: tuple[PolicyOutcome, ...]
    seconds: float
    decide_seconds: float = 0.0
    start_groups: tuple[int, ...] = field(default=())

    def summary(self) -> pl.DataFrame:
        """One row per policy: the headline figures."""
        rows = []
        for o in self.outcomes:
            messages = o.total("messages")
            rows.append(
                {
                    "policy": o.label,
                    "revenue": o.total("revenue"),
                    "messages": int(messages),
                    "revenue_per_message": o.revenue_per_message,
                    "cost": o.total("cost"),
                    "value": o.total("revenue") - o.total("cost"),
                    "engaged": int(o.total("engaged")),
                    "opt_outs": int(o.total("opt_outs")),
                    "complaints": int(o.total("complaints")),
                    "complaint_rate": o.total("complaints") / messages if messages else 0.0,
                    "lapsed": int(o.weekly["lapsed"][-1]),
                    "moved_up": o.moved_up,
                    "moved_down": o.moved_down,
                    "users_end": int(o.weekly["users"][-1]),
                }
            )
        return pl.DataFrame(rows)

    def outcome(self, key: str) -> PolicyOutcome:
        return next(o for o in self.outcomes if o.key == key)


def simulate(
    scenario: Scenario, *, customers: int | None = None, weeks: int | None = None
) -> SimulationResult:
    """Run the scenario (``customers`` and ``weeks`` override its size) under Regard's policy,
    frequency caps only and spray and pray."""
    scenario = scenario.with_size(customers=customers, weeks=weeks)
    started = time.perf_counter()
    population = generate_population(scenario)
    regard = RegardPolicy(scenario, population)
    policies: list[Policy] = [
        regard,
        CapsOnly(scenario, population),
        SprayAndPray(scenario, population),
    ]
    outcomes = run_policies(scenario, population, policies)
    return SimulationResult(
        scenario=scenario,
        customers=population.size,
        weeks=scenario.weeks,
        outcomes=outcomes,
        seconds=time.perf_counter() - started,
        decide_seconds=regard.decide_seconds,
        start_groups=tuple(
            np.bincount(group_of(population.commitment), minlength=len(GROUPS)).tolist()
        ),
    )


def days_of(scenario: Scenario) -> list[Day]:
    """Every simulated day, with its touchpoints and the time zones' offsets that day."""
    start = datetime(scenario.start.year, scenario.start.month, scenario.start.day, tzinfo=UTC)
    zones = [ZoneInfo(z) for z in scenario.population.time_zones]
    days = []
    for index in range(scenario.weeks * 7):
        midnight = start + timedelta(days=index)
        weekday = WEEKDAYS[midnight.weekday()]
        noon = midnight + timedelta(hours=12)
        offsets = np.array(
            [(noon.astimezone(z).utcoffset() or timedelta(0)).total_seconds() / 3600 for z in zones]
        )
        days.append(
            Day(
                index=index,
                midnight=midnight,
                decide_at=midnight + timedelta(hours=scenario.decide_hour_utc),
                blast_at=midnight + timedelta(hours=scenario.blast_hour_utc),
                touchpoints=tuple(
                    j for j, tp in enumerate(scenario.touchpoints) if tp.day == weekday
                ),
                offsets=offsets,
            )
        )
    return days


def run_policies(
    scenario: Scenario, population: Population, policies: list[Policy]
) -> tuple[PolicyOutcome, ...]:
    """Run each policy over every day of the scenario on the same population and draws."""
    n, c = population.size, len(CHANNELS)
    settings = scenario.responses
    topic_of = np.array([scenario.topics.index(tp.topic) for tp in scenario.touchpoints])
    engagement = np.array(
        [scenario.channels[ch].engagement if ch in scenario.channels else 0.0 for ch in CHANNELS]
    )
    cost = np.array(
        [scenario.channels[ch].cost if ch in scenario.channels else 0.0 for ch in CHANNELS]
    )
    start_group = group_of(population.commitment)
    states = [
        _Customers(
            commitment=population.commitment.copy(),
            lapsed=np.zeros(n, dtype=bool),
            recent=np.zeros((7, n, c), dtype=np.int16),
            relevant=np.zeros(n),
            annoyance=np.zeros(n),
        )
        for _ in policies
    ]
    standings = [
        Standing(
            opted_out=np.zeros((n, c), dtype=bool),
            complained=np.zeros((n, c), dtype=bool),
            sent_this_week=np.zeros(n, dtype=np.int32),
        )
        for _ in policies
    ]
    weekly: list[dict[str, list[float]]] = [
        {column: [] for column in WEEKLY_COLUMNS} for _ in policies
    ]
    day_totals = [
        dict.fromkeys(("messages", "engaged", "complaints", "opt_outs", "cost"), 0.0)
        for _ in policies
    ]
    touchpoints = len(scenario.touchpoints)
    for day in days_of(scenario):
        slot = day.index % 7
        draws = (
            np.random.default_rng([scenario.seed, 1, day.index]).random(
                (n, touchpoints, c), dtype=np.float32
            )
            if day.touchpoints
            else None
        )
        for policy, state, standing, totals in zip(
            policies, states, standings, day_totals, strict=True
        ):
            state.recent[slot] = 0
            if draws is None:
                continue
            sends = policy.plan(day, standing)
            u, ch = sends.customer, sends.channel
            today = np.bincount(u.astype(np.int64) * c + ch, minlength=n * c).reshape(n, c)
            load = state.recent.sum(axis=0)[u, ch] + today[u, ch]
            local = (sends.hour + day.offsets[population.zone[u]]) % 24
            quiet_start, quiet_end = scenario.population.quiet_start, scenario.population.quiet_end
            quiet = (
                (local >= quiet_start) | (local < quiet_end)
                if quiet_start > quiet_end
                else ((local >= quiet_start) & (local < quiet_end))
            )
            reading = np.abs(local - population.reading_hour[u]) <= 2
            relevance = population.interest[u, topic_of[sends.touchpoint]].astype(np.float64)
            chances = responses.message_chances(
                relevance=relevance,
                commitment=state.commitment[u],
                fatigue=responses.fatigue(load, population.tolerance[u, ch]),
                quiet=quiet.astype(np.float64),
                reading_hour=reading.astype(np.float64),
                base_engagement=engagement[ch],
                settings=settings,
            )
            outcome = responses.message_outcomes(chances, draws[u, sends.touchpoint, ch])
            engaged = outcome == responses.ENGAGED
            policy.observe(day, sends, engaged)
            state.recent[slot] = today
            standing.sent_this_week += np.bincount(u, minlength=n).astype(np.int32)
            standing.complained[
                u[outcome == responses.COMPLAINED], ch[outcome == responses.COMPLAINED]
            ] = True
            opted = outcome == responses.OPTED_OUT
            standing.opted_out[u[opted], ch[opted]] = True
            np.add.at(state.relevant, u[engaged], relevance[engaged])
            annoyed = ~engaged
            np.add.at(state.annoyance, u[annoyed], chances.annoyance[annoyed])
            totals["messages"] += sends.size
            totals["engaged"] += int(engaged.sum())
            totals["complaints"] += int((outcome == responses.COMPLAINED).sum())
            totals["opt_outs"] += int(opted.sum())
            totals["cost"] += float(cost[ch].sum())
        if slot == 6:
            week = day.index // 7
            for state, standing, totals, figures in zip(
                states, standings, day_totals, weekly, strict=True
            ):
                _close_week(scenario, population, state, totals, figures, week)
                standing.sent_this_week[:] = 0
    outcomes = []
    for policy, state, figures in zip(policies, states, weekly, strict=True):
        end_group = group_of(state.commitment)
        transitions = np.zeros((len(GROUPS), len(GROUPS)), dtype=np.int64)
        np.add.at(transitions, (start_group, end_group), 1)
        outcomes.append(
            PolicyOutcome(
                key=policy.key,
                label=policy.label,
                weekly=pl.DataFrame({"week": np.arange(1, scenario.weeks + 1), **figures}),
                transitions=transitions,
            )
        )
    return tuple(outcomes)


def _close_week(
    scenario: Scenario,
    population: Population,
    state: _Customers,
    totals: dict[str, float],
    figures: dict[str, list[float]],
    week: int,
) -> None:
    """A week's purchases, lapses and commitment drift, from the week's messages."""
    settings = scenario.responses
    rng = np.random.default_rng([scenario.seed, 2, week])
    rate = responses.purchase_rate(
        base_rate=population.purchase_rate,
        commitment=state.commitment,
        relevant_engagement=state.relevant,
        annoyance=state.annoyance,
        lapsed=state.lapsed,
        settings=settings,
    )
    count, revenue = responses.weekly_purchases(rng, rate=rate, spend=population.spend)
    lapse = responses.lapse_chance(
        commitment=state.commitment,
        relevant_engagement=state.relevant,
        annoyance=state.annoyance,
        settings=settings,
    )
    state.lapsed |= rng.random(population.size) < lapse
    state.commitment = responses.drift_commitment(
        state.commitment,
        relevant_engagement=state.relevant,
        annoyance=state.annoyance,
        settings=settings,
    )
    for column, value in totals.items():
        figures[column].append(value)
        totals[column] = 0.0
    figures["revenue"].append(float(revenue.sum()))
    figures["purchases"].append(float(count.sum()))
    figures["lapsed"].append(float(state.lapsed.sum()))
    figures["users"].append(float((group_of(state.commitment) < 4).sum()))
    state.relevant[:] = 0.0
    state.annoyance[:] = 0.0
