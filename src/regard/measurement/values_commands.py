"""``regard measure values``: refresh the customer values and learned touchpoint values the
engine uses, and show them."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from regard import runtime, terminal
from regard.measurement import values_service
from regard.measurement.values_service import ValuesRefresh
from regard.store.database import unit_of_work

console = terminal.console()

_AS_OF = typer.Option(None, "--as-of", help="As at this ISO date and time (UTC if no zone); now.")


def values(as_of: str | None = _AS_OF) -> None:
    """Value every customer (with [measurement.clv] configured) and learn each touchpoint's
    value from the measured lift; store both for the engine and print them."""
    store = runtime.store()
    with unit_of_work(store) as session:
        refresh = values_service.refresh_values(
            session, brand=store.brand, as_of=terminal.moment(as_of)
        )
    print_refresh(refresh)


def print_refresh(refresh: ValuesRefresh) -> None:
    """The touchpoint values table, then a line on customer value and one on what moved."""
    table = Table(
        "touchpoint",
        "segment",
        "channel",
        "configured",
        "measured",
        "customers",
        "weight",
        "learned",
        title="Touchpoint values",
    )
    for column in table.columns[3:]:
        column.justify = "right"
    for row in refresh.table.iter_rows(named=True):
        measured = row["measured"]
        table.add_row(
            escape(row["touchpoint"]),
            escape(row["segment"]),
            row["channel"],
            f"{row['configured']:,.2f}",
            f"{measured:+,.2f}" if measured is not None else "-",
            f"{row['customers']:,.0f}",
            f"{row['weight']:.0%}",
            f"{row['learned']:,.2f}",
        )
    console.print(table)
    if not refresh.clv_configured:
        clv_line = (
            "Customer value: not configured (run 'regard clv fit' and put its "
            "[measurement.clv] section in regard.toml); the engine leaves values unscaled."
        )
    elif refresh.mean_expected_value is None:
        clv_line = "Customer value: no customer has bought yet; the engine leaves values unscaled."
    else:
        clv_line = (
            f"Customer value: {refresh.customers_scored:,} customers valued, mean expected "
            f"value {refresh.mean_expected_value:,.2f}; the engine scales each customer's "
            "values by their value over the mean, between 0.5 and 2 times."
        )
    console.print(clv_line, highlight=False, soft_wrap=True)
    console.print(
        f"{refresh.learned:,} touchpoint values learned; {refresh.replaced:,} moved more than "
        "10% off the configured value.",
        highlight=False,
        soft_wrap=True,
    )
