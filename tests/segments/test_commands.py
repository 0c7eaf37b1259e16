"""``regard segment ...`` as a person runs it: check a rule, evaluate, list."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from regard.config import BrandConfig, load_brand_config
from regard.segments.models import SegmentMembership, SegmentRun
from regard.store.database import open_store, unit_of_work
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


def write_csv(path: Path, header: str, *rows: str) -> Path:
    path.write_text("\n".join((header, *rows)) + "\n", encoding="utf-8")
    return path


def runs_and_members(tmp_path: Path, segment: str) -> tuple[int, set[int]]:
    store = open_store(
        make_settings(f"sqlite:///{tmp_path / 'cli.db'}", tmp_path), brand=brand(tmp_path)
    )
    try:
        with unit_of_work(store) as session:
            runs = session.scalar(select(func.count()).select_from(SegmentRun)) or 0
            members = set(
                session.scalars(
                    select(SegmentMembership.customer_id).where(
                        SegmentMembership.segment == segment,
                        SegmentMembership.exited_at.is_(None),
                    )
                )
            )
    finally:
        store.engine.dispose()
    return runs, members


def test_an_import_evaluates_every_segment_unless_told_not_to(cli: Run, tmp_path: Path) -> None:
    people = write_csv(tmp_path / "people.csv", "email", "ann@example.org", "bob@example.org")
    recent = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    purchases = write_csv(
        tmp_path / "orders.csv",
        "email,type,occurred_at,message_id",
        f"ann@example.org,order_completed,{recent},o1",
    )

    skipped = cli("import", "customers", str(people), "--source", "crm", "--no-segments")
    assert skipped.returncode == 0, skipped.stderr
    assert "segments:" not in skipped.stdout
    assert runs_and_members(tmp_path, "buyers") == (0, set())

    imported = cli("import", "events", str(purchases), "--source", "shop")
    assert imported.returncode == 0, imported.stderr
    # 10 RFM groups, 6 lifecycle stages, 8 commitment groups and the brand's "buyers".
    line = re.search(
        r"^segments: 25 evaluated in \d+\.\d s; (\d+) entered, 0 exited$",
        imported.stdout,
        re.MULTILINE,
    )
    assert line is not None, imported.stdout
    # ann: buyers, lifecycle:new and rfm:champions (a lone buyer scores 555); bob: prospect.
    assert int(line.group(1)) == 4
    runs, buyers = runs_and_members(tmp_path, "buyers")
    assert runs == 25
    assert len(buyers) == 1

    again = cli("import", "events", str(purchases), "--source", "shop")
    assert again.returncode == 0, again.stderr
    assert "segments:" not in again.stdout  # nothing new came in: nothing to evaluate
    assert runs_and_members(tmp_path, "buyers")[0] == 25


def test_eval_prints_the_one_line_summary(cli: Run) -> None:
    evaluated = cli("segment", "eval", "lifecycle")
    assert evaluated.returncode == 0, evaluated.stderr
    assert re.search(
        r"^segments: 6 evaluated in \d+\.\d s; 0 entered, 0 exited$", evaluated.stdout, re.MULTILINE
    )
