"""``regard measure values`` refreshes the values and prints them."""

from __future__ import annotations

from pathlib import Path

from regard.store.database import Store
from tests.cli import Run
from tests.preferences.test_commands import BRAND_TOML
from tests.segments.support import AS_OF, add_customer, add_purchases, days_before

SPRING_CAMPING = """
[[touchpoints]]
name = "spring_camping"
label = "Spring camping offers"
topic = "offers:camping"
campaign = true
channels = [{ channel = "email", content = "spring-camping" }]
value = { default = 0.5, "lifecycle:active" = 1.5 }
"""
CLV = """
[measurement.clv]
bg_nbd = { r = 0.5, alpha = 4.0, a = 1.2, b = 3.0 }
gamma_gamma = { p = 6.0, q = 4.0, gamma = 15.0 }
"""


def test_values_prints_the_learned_table_and_customer_value(
    cli: Run, cli_store: Store, tmp_path: Path
) -> None:
    (tmp_path / "regard.toml").write_text(BRAND_TOML + SPRING_CAMPING, encoding="utf-8")
    unconfigured = cli("measure", "values", "--as-of", AS_OF.isoformat())
    assert unconfigured.returncode == 0, unconfigured.stderr
    assert "Touchpoint values" in unconfigured.stdout
    assert "lifecycle:active" in unconfigured.stdout
    assert "Customer value: not configured" in unconfigured.stdout
    assert "3 touchpoint values learned; 0 moved" in unconfigured.stdout

    for offset in range(3):
        customer = add_customer(cli_store)
        add_purchases(
            cli_store,
            customer,
            (days_before(90 + offset), 30.0),
            (days_before(40 + offset), 40.0),
            (days_before(10 + offset), 50.0),
        )
    (tmp_path / "regard.toml").write_text(BRAND_TOML + SPRING_CAMPING + CLV, encoding="utf-8")
    configured = cli("measure", "values", "--as-of", AS_OF.isoformat())
    assert configured.returncode == 0, configured.stderr
    assert "Customer value: 3 customers valued, mean expected value" in configured.stdout

    wrong = cli("measure", "values", "--as-of", "yesterday")
    assert wrong.returncode == 2
    assert "--as-of 'yesterday' is not an ISO date and time" in wrong.stderr
