"""``regard preview`` run as a command on the demo brand."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from regard.demo.generator import BRAND_CONFIG
from regard.store.database import Store, open_store
from tests.cli import Run, migrated_cli
from tests.conftest import make_settings
from tests.messages.support import demo_brand
from tests.preferences.support import new_customer


@pytest.fixture
def demo_cli(tmp_path: Path) -> Run:
    return migrated_cli(
        tmp_path, BRAND_CONFIG.read_text(encoding="utf-8"), extra={"COLUMNS": "200"}
    )


@pytest.fixture
def demo_store(demo_cli: Run, tmp_path: Path) -> Iterator[Store]:
    opened = open_store(
        make_settings(f"sqlite:///{tmp_path / 'cli.db'}", tmp_path), brand=demo_brand()
    )
    yield opened
    opened.engine.dispose()


def test_preview_every_channel_of_a_touchpoint(demo_cli: Run, demo_store: Store) -> None:
    ana = new_customer(demo_store, email="ana@example.com", phone="+31612345678", name="Ana")
    shown = demo_cli("preview", "order_ready", "--customer", str(ana), "--channel", "sms")
    assert shown.returncode == 0, shown.stderr
    assert "order-ready-sms" in shown.stdout
    assert "1 segment (GSM-7" in shown.stdout
    email = demo_cli("preview", "welcome", "--customer", str(ana), "--channel", "email")
    assert email.returncode == 0, email.stderr
    for line in (
        "Subject: Welcome to Northwind Outfitters, Ana",
        "List-Unsubscribe: <",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        "Message-ID: <",
        "HTML part:",
        "Hi Ana, welcome to the trail.",
    ):
        assert line in email.stdout
    everything = demo_cli("preview", "order_ready", "--customer", str(ana))
    # No push device is registered: that one message is reported, the others shown.
    assert everything.returncode == 1
    assert "no push device" in everything.stdout
    assert "asks for no response" in everything.stdout


def test_preview_of_a_marketing_text_and_of_an_unknown_touchpoint(
    demo_cli: Run, demo_store: Store
) -> None:
    ana = new_customer(demo_store, email="ana@example.com", phone="+31612345678", name="Ana")
    offer = demo_cli("preview", "spring_camping", "--customer", str(ana), "--channel", "sms")
    assert offer.returncode == 0, offer.stderr
    assert "Reply STOP to opt out" in offer.stdout
    missing = demo_cli("preview", "nothing", "--customer", str(ana))
    assert missing.returncode == 2
    assert "no touchpoint 'nothing'" in missing.stderr
