"""Control groups: which customers a touchpoint keeps back, so that its effect can be measured.

A customer is in a touchpoint's control group when a stable hash of (customer id, touchpoint,
salt) falls below the touchpoint's holdout share. The hash is computed the same way on every
machine and in every run, so a customer stays in (or out of) a touchpoint's control group for
good, and a customer held out of one touchpoint is an ordinary customer for the others:

- the touchpoint's 64-bit key is the first 8 bytes of SHA-256 of ``salt``, a unit separator and
  the touchpoint's name;
- the customer's draw is SplitMix64's finaliser applied to (customer id XOR that key), its top
  53 bits read as a number in [0, 1);
- in the control group when the draw is below the share.

Critical and transactional messages (an order ready to collect, a password reset) are never held
out: keeping them back would fail the customer, and their effect is not in question.

Pure: numpy and Polars only, used by the decision core (``regard.decisions.engine``) and by
measurement alike.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from regard.config import BrandConfig

__all__ = ["NEVER_HELD_OUT", "ControlGroups", "control_groups", "draw", "in_control_group"]

NEVER_HELD_OUT = frozenset({"critical", "transactional"})
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


@dataclass(frozen=True)
class ControlGroups:
    """Each touchpoint's holdout share (touchpoints not listed keep none) and the salt."""

    shares: Mapping[str, float] = field(default_factory=dict)
    salt: str = "regard"

    def share(self, touchpoint: str) -> float:
        return float(self.shares.get(touchpoint, 0.0))


def control_groups(brand: BrandConfig) -> ControlGroups:
    """The brand's control groups: each touchpoint's own ``holdout``, else the default share;
    none for touchpoints whose topic is critical or transactional."""
    options = brand.measurement.holdout
    importance = {topic.key: topic.importance for topic in brand.topics}
    shares: dict[str, float] = {}
    for touchpoint in brand.touchpoints:
        share = touchpoint.holdout if touchpoint.holdout is not None else options.share
        if share > 0 and importance.get(touchpoint.topic) not in NEVER_HELD_OUT:
            shares[touchpoint.name] = share
    return ControlGroups(shares=shares, salt=options.salt)


def touchpoint_key(touchpoint: str, *, salt: str) -> int:
    digest = hashlib.sha256(f"{salt}\x1f{touchpoint}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _splitmix(values: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = values + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return (z ^ (z >> np.uint64(31))) & _MASK64


def draw(customer_ids: pl.Series, touchpoints: pl.Series, *, salt: str) -> np.ndarray:
    """Each (customer, touchpoint)'s draw in [0, 1), the same in every run."""
    names = touchpoints.unique().to_list()
    keys = {name: touchpoint_key(name, salt=salt) for name in names}
    key = touchpoints.replace_strict(keys, return_dtype=pl.UInt64).to_numpy()
    ids = customer_ids.cast(pl.Int64).to_numpy().astype(np.uint64)
    mixed = _splitmix(ids ^ key)
    return (mixed >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def in_control_group(
    customer_ids: pl.Series, touchpoints: pl.Series, *, groups: ControlGroups
) -> pl.Series:
    """Whether each (customer, touchpoint) is in the touchpoint's control group."""
    if not groups.shares or customer_ids.len() == 0:
        return pl.Series("control", [False] * customer_ids.len(), dtype=pl.Boolean)
    shares = touchpoints.replace_strict(
        dict(groups.shares), default=0.0, return_dtype=pl.Float64
    ).to_numpy()
    draws = draw(customer_ids, touchpoints, salt=groups.salt)
    return pl.Series("control", draws < shares, dtype=pl.Boolean)
