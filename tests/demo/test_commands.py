"""``regard demo generate`` and ``regard demo run``, end to end on a small brand."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from regard import runtime
from regard.app import create_app
from regard.cli import app
from regard.demo.generator import DemoManifest
from regard.privacy.staff import SignedIn, sign_in
from regard.store.database import unit_of_work

runner = CliRunner()


def _line_with(output: str, text: str) -> str:
    return next(line for line in output.splitlines() if text in line)


@pytest.fixture
def demo_store_released() -> Iterator[None]:
    """``demo run`` installs its store as the process's; put things back afterwards."""
    yield
    try:
        runtime.store().engine.dispose()
    finally:
        runtime.use_store(None)


def test_generate_writes_the_files_and_says_so(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["demo", "generate", "--customers", "120", "--seed", "3", "--dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    manifest = DemoManifest.read(tmp_path)
    assert manifest is not None
    assert manifest.customers == 120
    assert all(f.path.is_file() for f in manifest.files)
    assert "shop_events.csv" in result.output


def test_generate_refuses_a_history_that_ends_in_the_future(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["demo", "generate", "--dir", str(tmp_path), "--until", "2999-01-01"]
    )
    assert result.exit_code != 0
    assert not (tmp_path / "manifest.json").exists()


@pytest.mark.slow
@pytest.mark.usefixtures("demo_store_released")
def test_run_loads_the_demo_once_and_a_second_run_changes_nothing(tmp_path: Path) -> None:
    arguments = ["demo", "run", "--dir", str(tmp_path), "--customers", "150", "--no-serve"]
    first = runner.invoke(app, arguments)
    assert first.exit_code == 0, first.output
    manifest = DemoManifest.read(tmp_path)
    assert manifest is not None
    keys_file = tmp_path / "keys.json"
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    keys = json.loads(keys_file.read_text())
    assert set(keys["write"]) == {"shop", "pos", "support"}
    assert keys["read"] in first.output
    assert "/api/customers?email=" in first.output
    for demo_file in manifest.files:
        rejects = demo_file.path.with_name(f"{demo_file.path.name}.rejects.csv")
        # One header line, then one line per row broken on purpose.
        assert len(rejects.read_text().splitlines()) == demo_file.bad_rows + 1
    consent_rejects = tmp_path / "crm_consents.csv.rejects.csv"
    assert len(consent_rejects.read_text().splitlines()) == 5 + 1
    assert "chains verified" in first.output
    # Commitment scored against lifecycle, the brand's segments, and a typo pointed at.
    assert "Commitment against lifecycle" in first.output
    assert "keen_campers" in first.output
    assert "What would make our messages more useful to you?" in first.output
    assert "candidates:" in first.output
    assert "spring_camping (dry run, nothing kept)" in first.output
    assert "did you mean 'lifecycle'?" in first.output
    # What was sent reached a real SMTP server: one file per email, each with its one-click
    # unsubscribe, as many as the worker reported sent by email.
    delivered = sorted((tmp_path / "mailbox" / "new").iterdir())
    assert delivered
    assert f"{len(delivered):,} emails reached the SMTP server" in first.output
    raw = delivered[0].read_bytes()
    received = message_from_bytes(raw, policy=default)
    # As sent on the wire: a URL in angle brackets, never an encoded word a client cannot use.
    assert b"\nList-Unsubscribe: <http://127.0.0.1:8000/u/" in raw
    assert str(received["List-Unsubscribe"]).startswith("<http://127.0.0.1:8000/u/")
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert received.get_body(("plain",)) is not None
    assert received.get_body(("html",)) is not None
    # A console login for each role, printed and kept for the owner only; each one signs in.
    staff_file = tmp_path / "staff.json"
    assert stat.S_IMODE(staff_file.stat().st_mode) == 0o600
    logins = json.loads(staff_file.read_text())
    assert set(logins) == {"admin", "marketer", "analyst", "agent"}
    assert "/admin/" in first.output
    demo = runtime.store()
    for email, password in logins.values():
        assert password in first.output
        with unit_of_work(demo) as session:
            signed = sign_in(session, email=email, password=password, client=None, vault=demo.vault)
        assert isinstance(signed, SignedIn)
    # Weeks of history before the last day, customer value fitted into the demo's brand file,
    # and the run ends with the measurement report, written beside the database.
    assert "weeks before the last day" in first.output
    assert "Customer value fitted on" in first.output or "Customer value:" in first.output
    assert "Lift over the control groups" in first.output
    report = tmp_path / "report" / "index.html"
    assert report.is_file()
    assert str(report) in first.output
    assert "http://127.0.0.1:8000/admin/report" in first.output
    ledger_line = _line_with(first.output, "ledger entries")
    # The printed preference link opens this customer's page.
    link = _line_with(first.output, "/p/").strip()
    client = TestClient(create_app(runtime.store()))
    page = client.get(link.removeprefix("http://127.0.0.1:8000"))
    assert page.status_code == 200
    assert "Save my choices" in page.text
    runtime.store().engine.dispose()
    runtime.use_store(None)

    stamp = manifest.files[0].path.stat().st_mtime_ns
    second = runner.invoke(app, arguments)
    assert second.exit_code == 0, second.output
    assert "Using the demo files" in second.output
    assert manifest.files[0].path.stat().st_mtime_ns == stamp
    assert json.loads(keys_file.read_text()) == keys
    # The customers' word is recorded once: a second run adds nothing to the ledger.
    assert _line_with(second.output, "ledger entries") == ledger_line
    assert "(recorded on an earlier run)" in second.output
    assert "made on an earlier run" in second.output
    # Nothing new: every good row is a duplicate the second time.
    assert "Import" in second.output
    for line in second.output.splitlines():
        cells = [c.strip() for c in line.split("│") if c.strip()]
        if cells and cells[0].endswith((".csv", ".parquet", ".jsonl")) and len(cells) >= 8:
            imported, created, merged = cells[2], cells[3], cells[4]
            assert (imported, created, merged) == ("0", "0", "0"), line
