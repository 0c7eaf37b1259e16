"""The console's Report page: the report's sections from live data, each chart with its sentence
and numbers, the last stored simulation, and only for roles that see aggregates."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from regard.console.charts import bar_chart
from regard.measurement.report_simulation import SimulationSummary, save_simulation
from regard.store.database import Store
from tests.measurement.report_support import PERSONAL, populate
from tests.web.admin.support import signed_in_as


def _stored_simulation(folder: Path) -> SimulationSummary:
    chart = bar_chart(
        [("Regard", 1200.0), ("Frequency caps only", 900.0), ("Spray and pray", 700.0)],
        title="Revenue over the run, by policy",
        x_label="Revenue",
    )
    summary = SimulationSummary(
        customers=500,
        weeks=4,
        seed=7,
        cap=3,
        simulated_at=datetime(2026, 11, 1, 8, 30, tzinfo=UTC),
        seconds=2.5,
        headline="Spray and pray sent 4.0 times as many messages as Regard.",
        rows=(("Policy", "Revenue"), ("Regard", "1,200"), ("Spray and pray", "700")),
        charts=(chart,),
        transitions=(("Regard", (("From \\ to", "Entrenched"), ("Entrenched", "12"))),),
    )
    save_simulation(summary, folder)
    return summary


def test_an_analyst_sees_every_section_with_its_charts(
    client: TestClient, store: Store, tmp_path: Path
) -> None:
    populate(store)
    client.app.state.report_dir = tmp_path / "report"  # type: ignore[attr-defined]
    stored = _stored_simulation(tmp_path / "report")
    signed_in_as(client, store, "analyst")
    page = client.get("/admin/report", params={"budget": "0.05"})
    assert page.status_code == 200, page.text
    text = html.unescape(page.text)
    for key in ("lift", "health", "value", "budget", "simulation"):
        assert f'id="report-{key}"' in text
    assert "camping_offer" in text
    assert "too little data: 3 treated and 1 in control, at least 5 each" in text
    assert "Conversion lift per touchpoint" in text
    assert "Commitment movement between surveys" in text
    assert "Budget 0.05 for 7 days, by commitment" in text
    # Customer value is read as stored, never computed on a page load.
    assert "Customer lifetime value: no values stored yet" in text
    assert stored.headline in text
    assert stored.charts[0].alt in text
    assert "simulated on 2026-11-01 08:30 UTC" in text
    # Every chart is named for a screen reader, and its sentence and numbers are on the page.
    assert text.count("<svg") == text.count('role="img"') >= 9
    assert text.count("The numbers of this chart") == text.count("<svg")
    assert "<script" not in text
    for personal in PERSONAL:
        assert personal not in text


def test_without_a_stored_simulation_the_page_says_how_to_get_one(
    client: TestClient, store: Store, tmp_path: Path
) -> None:
    client.app.state.report_dir = tmp_path / "nothing-here"  # type: ignore[attr-defined]
    signed_in_as(client, store, "marketer")
    front = client.get("/admin/")
    assert "/admin/report" in front.text
    page = client.get("/admin/report")
    assert page.status_code == 200
    assert "Not simulated for this report" in page.text
    assert "No decisions to measure yet" in page.text


def test_only_roles_that_see_aggregates_may_open_it(client: TestClient, store: Store) -> None:
    signed_in_as(client, store, "agent")
    assert "/admin/report" not in client.get("/admin/").text
    assert client.get("/admin/report").status_code == 403


def test_a_bad_budget_or_axis_is_a_clear_error(client: TestClient, store: Store) -> None:
    signed_in_as(client, store, "admin")
    assert client.get("/admin/report", params={"budget": "-3"}).status_code in (400, 422)
    answer = client.get("/admin/report", params={"by": "colour"})
    assert answer.status_code in (400, 422)
    assert "by" in answer.text
