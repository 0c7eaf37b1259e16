"""``regard commitment ...`` as a person runs it: score, show and import."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from regard.commitment import service
from regard.store.database import Store, unit_of_work
from tests.cli import Run
from tests.commitment.test_service import LOYAL, OUTSIDER, T1, T2, WAVERING
from tests.preferences.support import new_customer


def record(store: Store, customer_id: int, answers: dict[str, int], **kw: object) -> None:
    with unit_of_work(store) as session:
        service.record_response(
            session,
            customer_id,
            brand=store.brand,
            is_user=bool(kw.get("is_user", True)),
            answers=answers,
            free_text=kw.get("free_text"),  # type: ignore[arg-type]
            source="api",
            responded_at=kw.get("at"),  # type: ignore[arg-type]
        )


def test_score_prints_the_groups_and_the_cut_points(cli: Run, cli_store: Store) -> None:
    for n, answers in enumerate((LOYAL, WAVERING, LOYAL, WAVERING)):
        record(cli_store, new_customer(cli_store, email=f"u{n}@example.com"), answers)
    record(cli_store, new_customer(cli_store, email="o@example.com"), OUTSIDER, is_user=False)

    done = cli("commitment", "score")

    assert done.returncode == 0, done.stderr
    assert "Commitment of 5 customers" in done.stdout
    lines = {line.split()[1]: line for line in done.stdout.splitlines() if "│" in line}
    assert "20.0%" in lines["Available"]
    assert "Cut points (quartiles of the base): Shallow from" in done.stdout


def test_score_of_an_empty_base(cli: Run) -> None:
    done = cli("commitment", "score")

    assert done.returncode == 0, done.stderr
    assert "Commitment of 0 customers" in done.stdout
    assert "no cut points" in done.stdout


def test_show_lists_the_history_and_the_group_now(cli: Run, cli_store: Store) -> None:
    ana = new_customer(cli_store)
    record(cli_store, ana, WAVERING, at=T1)
    record(cli_store, ana, OUTSIDER, is_user=False, at=T2, free_text={"what_matters": "too dear"})

    done = cli("commitment", "show", "ana@example.com")

    assert done.returncode == 0, done.stderr
    assert "2026-03-01 09:00" in done.stdout
    assert "2026-03-05 09:00" in done.stdout
    assert "yes (encrypted)" in done.stdout
    assert "too dear" not in done.stdout
    assert "Now: Available — Available: rates us 8/10" in done.stdout
    assert cli("commitment", "show", "nobody@example.com").returncode != 0


def summary_row(printed: str) -> list[str]:
    """The cells of the import summary's row (file, rows, recorded, already recorded,
    rejected)."""
    row = next(line for line in printed.splitlines() if "survey." in line and "│" in line)
    return [cell.strip() for cell in row.strip().strip("│").split("│")]


def test_import_keeps_good_rows_and_rejects_bad_ones(
    cli: Run, cli_store: Store, tmp_path: Path
) -> None:
    ana = new_customer(cli_store)
    new_customer(cli_store, email="ben@example.com")
    path = tmp_path / "survey.csv"
    columns = [
        "email",
        "customer_id",
        "is_user",
        *LOYAL,
        *OUTSIDER,
        "responded_at",
        "text_what_matters",
    ]
    rows = [
        {
            "email": "ana@example.com",
            "is_user": "true",
            **LOYAL,
            "text_what_matters": "<b>fast</b>",
        },
        {"customer_id": str(ana), "is_user": "false", **OUTSIDER},
        {"email": "ben@example.com", "is_user": "yes", **LOYAL, "satisfaction": 14},
        {"email": "nobody@example.com", "is_user": "true", **LOYAL},
        {"email": "ben@example.com", "is_user": "maybe", **LOYAL, "responded_at": ""},
    ]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({"responded_at": "2026-03-01T09:00:00Z", **row})

    done = cli("commitment", "import", str(path))

    assert done.returncode == 0, done.stderr
    assert "rejected rows listed in" in done.stdout
    with (tmp_path / "survey.csv.rejects.csv").open(encoding="utf-8") as handle:
        rejects = {int(r["line"]): r["reason"] for r in csv.DictReader(handle)}
    assert rejects == {
        4: "satisfaction: 14 is outside its scale 0-10",
        5: "no customer with that email",
        6: "is_user: must be true or false; responded_at: missing",
    }
    with unit_of_work(cli_store) as session:
        found = service.history(session, ana, brand=cli_store.brand)
    assert found.history["source"].to_list() == ["import", "import"]
    assert found.history["has_free_text"].to_list() == [True, False]


def test_import_reads_json_lines(cli: Run, cli_store: Store, tmp_path: Path) -> None:
    ana = new_customer(cli_store)
    path = tmp_path / "survey.jsonl"
    lines = [
        {"customer_id": ana, "is_user": True, **LOYAL, "responded_at": "2026-03-01T09:00:00Z"},
        {"customer_id": ana, "is_user": True, **LOYAL, "mood": 3, "responded_at": "2026-03-02"},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")

    done = cli("commitment", "import", str(path), "--rejects", str(tmp_path / "bad.csv"))

    assert done.returncode == 0, done.stderr
    with (tmp_path / "bad.csv").open(encoding="utf-8") as handle:
        (reject,) = list(csv.DictReader(handle))
    assert reject["line"] == "2"
    assert reject["reason"] == "responded_at: give the moment with its time zone"
    assert summary_row(done.stdout) == ["survey.jsonl", "2", "1", "0", "1"]


def test_importing_a_file_twice_records_each_response_once(
    cli: Run, cli_store: Store, tmp_path: Path
) -> None:
    ana = new_customer(cli_store)
    path = tmp_path / "survey.jsonl"
    lines = [
        {"customer_id": ana, "is_user": True, **LOYAL, "responded_at": "2026-03-01T09:00:00Z"},
        {"customer_id": ana, "is_user": False, **OUTSIDER, "responded_at": "2026-03-02T09:00Z"},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")

    first = cli("commitment", "import", str(path))
    again = cli("commitment", "import", str(path))

    assert first.returncode == again.returncode == 0
    assert summary_row(first.stdout) == ["survey.jsonl", "2", "2", "0", "0"]
    assert summary_row(again.stdout) == ["survey.jsonl", "2", "0", "2", "0"]
    with unit_of_work(cli_store) as session:
        found = service.history(session, ana, brand=cli_store.brand)
    assert found.history.height == 2
