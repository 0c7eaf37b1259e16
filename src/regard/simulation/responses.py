"""The response models: how a simulated customer answers each message, and what a week of
messages does to their purchases, their lapsing and their commitment. Vectorised over arrays of
messages or customers; docs/simulator.md states the formulas.

Outcome codes of a message: ``IGNORED``, ``ENGAGED``, ``COMPLAINED``, ``OPTED_OUT``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from regard.simulation.scenario import ResponseSettings

Array = npt.NDArray[Any]

IGNORED, ENGAGED, COMPLAINED, OPTED_OUT = 0, 1, 2, 3
# No single message is more likely than this to bring a complaint or an opt-out.
MOST_LIKELY_ANNOYED = 0.5


@dataclass(frozen=True)
class MessageChances:
    """Per message: the chances of each outcome (ignored is the rest) and the annoyance it
    causes when not engaged with."""

    engage: Array
    complain: Array
    opt_out: Array
    annoyance: Array


def fatigue(load: Array, tolerance: Array) -> Array:
    """How far the contacts on a channel in the last seven days (this message included) exceed
    the customer's tolerance: 0 within it, 1 at twice it."""
    return np.maximum(np.asarray(load, dtype=np.float64) / tolerance - 1.0, 0.0)


def message_chances(
    *,
    relevance: Array,
    commitment: Array,
    fatigue: Array,
    quiet: Array,
    reading_hour: Array,
    base_engagement: Array,
    settings: ResponseSettings,
) -> MessageChances:
    """The outcome chances of each message.

    ``relevance`` is the customer's hidden interest in its topic (0-1), ``commitment`` their
    latent commitment (0-1), ``fatigue`` as :func:`fatigue`, ``quiet`` whether it arrived in
    their quiet hours, ``reading_hour`` whether it arrived near the hour they usually read and
    ``base_engagement`` the channel's base chance."""
    base = np.clip(base_engagement, 1e-6, 1 - 1e-6)
    logit = (
        np.log(base / (1 - base))
        + settings.engage_relevance * (relevance - 0.5)
        + settings.engage_commitment * (commitment - 0.5)
        - settings.engage_fatigue * fatigue
        - settings.engage_quiet * quiet
        + settings.engage_reading_hour * reading_hour
    )
    annoyance = (
        settings.annoyance_irrelevance * (1.0 - relevance)
        + settings.annoyance_fatigue * fatigue
        + settings.annoyance_quiet * quiet
    )
    # Annoyed customers complain and leave; committed ones forgive more.
    forgiveness = 1.5 - commitment
    complain = np.minimum(
        settings.complaint_base * (1.0 + annoyance) * forgiveness, MOST_LIKELY_ANNOYED
    )
    opt_out = np.minimum(
        settings.optout_base * (1.0 + annoyance) * forgiveness, MOST_LIKELY_ANNOYED
    )
    engage = (1.0 - complain - opt_out) / (1.0 + np.exp(-logit))
    return MessageChances(engage=engage, complain=complain, opt_out=opt_out, annoyance=annoyance)


def message_outcomes(chances: MessageChances, uniform: Array) -> Array:
    """One outcome code per message from one uniform draw each (the same draws for every
    policy, so that policies differ only by what they send)."""
    outcome = np.full(uniform.shape, IGNORED, dtype=np.int8)
    edge = chances.engage
    outcome[uniform < edge] = ENGAGED
    complained = (uniform >= edge) & (uniform < edge + chances.complain)
    outcome[complained] = COMPLAINED
    upper = edge + chances.complain + chances.opt_out
    outcome[(uniform >= edge + chances.complain) & (uniform < upper)] = OPTED_OUT
    return outcome


def purchase_rate(
    *,
    base_rate: Array,
    commitment: Array,
    relevant_engagement: Array,
    annoyance: Array,
    lapsed: Array,
    settings: ResponseSettings,
) -> Array:
    """Expected purchases in a week: the customer's base rate, scaled by commitment, lifted by
    the relevance of what they engaged with this week, cut by this week's annoyance; nothing
    once lapsed."""
    rate = (
        base_rate
        * (0.2 + commitment)
        * (1.0 + settings.purchase_lift * relevant_engagement)
        * np.exp(-settings.annoyance_penalty * annoyance)
    )
    return np.where(lapsed, 0.0, rate)


def lapse_chance(
    *, commitment: Array, relevant_engagement: Array, annoyance: Array, settings: ResponseSettings
) -> Array:
    """The chance that a customer stops buying for good this week: higher with annoyance and low
    commitment, lower after relevant engagement."""
    return np.minimum(
        settings.lapse_base
        * (1.5 - commitment)
        * (1.0 + settings.lapse_annoyance * annoyance)
        / (1.0 + relevant_engagement),
        1.0,
    )


def drift_commitment(
    commitment: Array, *, relevant_engagement: Array, annoyance: Array, settings: ResponseSettings
) -> Array:
    """Latent commitment after a week: up with relevant engagement, down with annoyance."""
    moved = (
        commitment
        + settings.commitment_up * relevant_engagement
        - settings.commitment_down * annoyance
    )
    return np.clip(moved, 0.0, 1.0)


def weekly_purchases(rng: np.random.Generator, *, rate: Array, spend: Array) -> tuple[Array, Array]:
    """(purchases, revenue) per customer for a week: Poisson purchases, each with a Gamma spend
    around the customer's mean (shape 4)."""
    count = rng.poisson(rate)
    revenue = np.zeros(rate.shape, dtype=np.float64)
    bought = count > 0
    revenue[bought] = rng.gamma(4.0 * count[bought], spend[bought] / 4.0)
    return count, revenue
