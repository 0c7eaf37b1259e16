"""A synthetic population, drawn with a seeded NumPy generator, one array per trait.

Hidden traits (the brand never sees them): interest in each topic, latent commitment, tolerance
per channel, the local hours they sleep, the hour they usually read, purchase rate and spend.
What the brand knows: where it can reach them, their time zone, and, for a share, the
interests and quiet hours they told the preference center.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from regard.simulation.scenario import CHANNELS, GROUPS, Scenario

Array = npt.NDArray[Any]


@dataclass(frozen=True)
class Population:
    """``n`` customers; per-customer arrays of length n, per-topic (n, topics), per-channel
    (n, channels) in ``CHANNELS`` order."""

    interest: Array  # (n, topics) float32 in [0, 1]
    commitment: Array  # (n,) float64 in [0, 1]: latent, 1 = Entrenched, 0 = Strongly unavailable
    tolerance: Array  # (n, channels) float32: contacts a week before annoyance
    reach: Array  # (n, channels) bool: the brand can reach them there
    zone: Array  # (n,) int8: index into ``zones``
    zones: tuple[str, ...]
    reading_hour: Array  # (n,) int8: local hour they usually read messages
    stated_interest: Array  # (n,) bool: told the brand their interests
    stated_quiet: Array  # (n,) bool: told the brand their quiet hours
    purchase_rate: Array  # (n,) float64: purchases a week when fully committed
    spend: Array  # (n,) float64: mean spend per purchase

    @property
    def size(self) -> int:
        return int(self.commitment.size)


def group_of(commitment: Array) -> Array:
    """The Conversion Model group (index into ``GROUPS``) of each latent commitment: eight equal
    bands, Entrenched at the top."""
    band = np.floor((1.0 - np.asarray(commitment)) * len(GROUPS)).astype(np.int8)
    return np.clip(band, 0, len(GROUPS) - 1)


def generate_population(scenario: Scenario, *, customers: int | None = None) -> Population:
    """Draw the scenario's population (``customers`` overrides its size); the same seed gives
    the same population."""
    n = scenario.customers if customers is None else customers
    settings = scenario.population
    rng = np.random.default_rng([scenario.seed, 0])
    topics = len(scenario.topics)

    favourite = rng.random((n, topics)) < settings.favourite_share
    interest = np.where(
        favourite, rng.beta(6.0, 2.0, (n, topics)), rng.beta(1.2, 5.0, (n, topics))
    ).astype(np.float32)

    shares = np.array([settings.commitment.get(g, 0.0) for g in GROUPS], dtype=np.float64)
    group = rng.choice(len(GROUPS), n, p=shares / shares.sum())
    # Uniform within the group's band of the latent scale.
    commitment = 1.0 - (group + rng.random(n)) / len(GROUPS)

    mean_tolerance = np.array([settings.tolerance.get(c, 1.0) for c in CHANNELS])
    tolerance = (rng.gamma(4.0, 0.25, (n, len(CHANNELS))) * mean_tolerance).astype(np.float32)
    reach = rng.random((n, len(CHANNELS))) < np.array(
        [settings.reach.get(c, 0.0) for c in CHANNELS]
    )

    zones = tuple(settings.time_zones)
    zone_shares = np.array(list(settings.time_zones.values()), dtype=np.float64)
    zone = rng.choice(len(zones), n, p=zone_shares / zone_shares.sum()).astype(np.int8)
    reading_hour = rng.choice(np.arange(7, 23), n).astype(np.int8)

    return Population(
        interest=interest,
        commitment=commitment,
        tolerance=np.maximum(tolerance, 0.25),
        reach=reach,
        zone=zone,
        zones=zones,
        reading_hour=reading_hour,
        stated_interest=rng.random(n) < settings.stated_interest_share,
        stated_quiet=rng.random(n) < settings.stated_quiet_hours_share,
        purchase_rate=settings.purchase_rate * rng.gamma(2.0, 0.5, n),
        spend=settings.spend * rng.lognormal(-0.125, 0.5, n),
    )
