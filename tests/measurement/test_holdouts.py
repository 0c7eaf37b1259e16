"""Who is in a control group: stable, keyed by touchpoint and salt, at the share configured."""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl

from regard.measurement.holdouts import ControlGroups, draw, in_control_group, touchpoint_key

IDS = pl.Series("customer_id", range(1, 200_001), dtype=pl.Int64)


def _drawn(touchpoint: str, groups: ControlGroups) -> pl.Series:
    return in_control_group(IDS, pl.Series([touchpoint] * IDS.len()), groups=groups)


def test_the_assignment_is_stable_and_written_down() -> None:
    """The same customers every run and on every machine: the documented hash, fixed here."""
    groups = ControlGroups(shares={"spring_camping": 0.1}, salt="regard")
    assert _drawn("spring_camping", groups).equals(_drawn("spring_camping", groups))
    assert touchpoint_key("spring_camping", salt="regard") == int.from_bytes(
        hashlib.sha256(b"regard\x1fspring_camping").digest()[:8], "big"
    )
    first = draw(pl.Series([1, 2, 3]), pl.Series(["spring_camping"] * 3), salt="regard")
    assert (
        first.tolist()
        == draw(pl.Series([1, 2, 3]), pl.Series(["spring_camping"] * 3), salt="regard").tolist()
    )
    assert ((first >= 0) & (first < 1)).all()


def test_the_share_is_kept_and_groups_differ_by_touchpoint_and_salt() -> None:
    groups = ControlGroups(shares={"spring_camping": 0.1, "newsletter": 0.1}, salt="regard")
    camping = _drawn("spring_camping", groups)
    assert abs(camping.mean() - 0.1) < 0.003  # type: ignore[operator]
    news = _drawn("newsletter", groups)
    # Independent draws: about 1% of customers are held out of both.
    both = (camping & news).mean()
    assert abs(both - 0.01) < 0.002  # type: ignore[operator]
    resalted = _drawn("spring_camping", ControlGroups(shares=groups.shares, salt="other"))
    assert not resalted.equals(camping)


def test_a_larger_share_keeps_everyone_a_smaller_one_held() -> None:
    small = _drawn("spring_camping", ControlGroups(shares={"spring_camping": 0.05}))
    large = _drawn("spring_camping", ControlGroups(shares={"spring_camping": 0.2}))
    assert not (small & ~large).any()


def test_touchpoints_without_a_share_hold_nobody() -> None:
    groups = ControlGroups(shares={"spring_camping": 0.5})
    assert not _drawn("newsletter", groups).any()
    assert not in_control_group(
        pl.Series([], dtype=pl.Int64), pl.Series([], dtype=pl.String), groups=groups
    ).any()
    assert np.asarray(_drawn("spring_camping", ControlGroups()).to_numpy()).sum() == 0
