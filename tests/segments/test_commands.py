"""``regard segment ...`` as a person runs it: check a rule, evaluate, list."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from regard.config import BrandConfig, load_brand_config
from regard.store.database import open_store
from tests.cli import Run, migrated_cli
from tests.conftest import make_settings
from tests.segments.support import add_customer, add_purchases, days_before

BRAND_TOML = """\
name = "Test Outfitters"
channels = ["email", "sms"]
topics = [
  { key = "orders", label = "Your orders", importance = "transactional" },
  { key = "offers:camping", label = "Offers on camping gear", importance = "promotional" },
]

[segments]
traits = { plan = "string" }

[[segments.custom]]
name = "buyers"
rule = "count(purchase, 90d) >= 1"
description = "Bought in the last 90 days"
"""


@pytest.fixture
def cli(tmp_path: Path) -> Run:
    return migrated_cli(tmp_path, BRAND_TOML)


def brand(tmp_path: Path) -> BrandConfig:
    return load_brand_config(tmp_path / "regard.toml")


def test_check_points_at_the_mistake_and_exits_1(cli: Run) -> None:
    checked = cli("segment", "check", 'count(purchase, 90d) >= 2 and subscribed("ofers", "email")')
    assert checked.returncode == 1
    assert "line 1, column 42: unknown topic 'ofers'" in checked.stdout
    lines = checked.stdout.splitlines()
    pointer = lines.index('count(purchase, 90d) >= 2 and subscribed("ofers", "email")')
    assert lines[pointer + 1] == " " * 41 + "^^^^^^^"


def test_check_accepts_a_valid_rule(cli: Run) -> None:
    checked = cli("segment", "check", 'trait.plan = "pro" and count(purchase, 90d) >= 2')
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "The rule is valid; it reads trait__plan, count__purchase__90d." in checked.stdout


def test_eval_then_list(cli: Run, tmp_path: Path) -> None:
    store = open_store(
        make_settings(f"sqlite:///{tmp_path / 'cli.db'}", tmp_path), brand=brand(tmp_path)
    )
    buyer = add_customer(store)
    add_purchases(store, buyer, (days_before(3, datetime.now(UTC)), 40))
    store.engine.dispose()

    evaluated = cli("segment", "eval", "buyers", "lifecycle")
    assert evaluated.returncode == 0, evaluated.stderr
    assert "buyers" in evaluated.stdout
    assert "lifecycle:new" in evaluated.stdout
    assert "rfm:champions" not in evaluated.stdout

    listed = cli("segment", "list")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if " buyers " in line)
    assert row.split("│")[2].strip() == "1"  # members
    assert "rfm:champions" in listed.stdout

    unknown = cli("segment", "eval", "byers")
    assert unknown.returncode == 2
    assert "there is no segment 'byers'; did you mean 'buyers'?" in unknown.stderr
