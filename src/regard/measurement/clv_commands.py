"""``regard clv``: fit customer lifetime value on the brand's purchases, show one customer's."""

from __future__ import annotations

import math
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from regard import runtime, terminal
from regard.measurement import clv_service
from regard.preferences import views
from regard.store.database import unit_of_work

app = typer.Typer(no_args_is_help=True)
console = terminal.console()


def _with_error(value: float, error: float | None) -> str:
    """A parameter and its approximate 95% interval from the standard error of its log."""
    if error is None:
        return f"{value:.4g}"
    low, high = value * math.exp(-1.96 * error), value * math.exp(1.96 * error)
    return f"{value:.4g} ({low:.4g} to {high:.4g})"


@app.command()
def fit(
    as_of: str | None = typer.Option(
        None, "--as-of", help="Fit on purchases up to this ISO date and time (UTC if no zone); now."
    ),
    write_toml: Path | None = typer.Option(
        None,
        "--write-toml",
        help="Also write the section to this new file (never the brand's regard.toml).",
    ),
) -> None:
    """Fit BG/NBD (future purchases) and Gamma-Gamma (spend per purchase) by maximum
    likelihood; print the parameters and the [measurement.clv] section to put in regard.toml."""
    moment = terminal.moment(as_of)
    terminal.new_toml_file(write_toml, command="clv fit")
    store = runtime.store()
    with unit_of_work(store) as session:
        found = clv_service.fit(session, brand=store.brand, as_of=moment)

    unit = f"{found.period_days:g} days"
    table = Table("model", "parameter", "estimate (95% interval)", title="Customer value models")
    m = found.purchasing
    errors = m.standard_errors or (None, None, None, None)
    for name, value, error in zip(
        ("r", "alpha", "a", "b"), (m.r, m.alpha, m.a, m.b), errors, strict=True
    ):
        table.add_row("BG/NBD purchases", name, _with_error(value, error))
    if found.spending is not None:
        s = found.spending
        spend_errors = s.standard_errors or (None, None, None)
        for name, value, error in zip(
            ("p", "q", "gamma"), (s.p, s.q, s.gamma), spend_errors, strict=True
        ):
            table.add_row("Gamma-Gamma spend", name, _with_error(value, error))
    console.print(table)
    console.print(
        f"{found.customers:,} customers with a purchase up to {moment:%Y-%m-%d %H:%M} UTC, "
        f"{found.repeat_customers:,} of them bought again; one period is {unit}. Mean purchase "
        f"rate while active {m.r / m.alpha:.3g} a period; mean chance of dropping out after a "
        f"purchase {m.a / (m.a + m.b):.1%}.",
        highlight=False,
    )
    if found.spending is not None and found.spending.q > 1:
        console.print(
            f"Mean value of a purchase across customers {found.spending.population_mean:,.2f}.",
            highlight=False,
        )
    for note in found.notes:
        console.print(f"[bold yellow]Note:[/] {escape(note)}", highlight=False)
    snippet = found.toml(store.brand.measurement.clv)
    console.print(
        "\nTo value customers with these models, put this section in regard.toml, replacing "
        "\\[measurement.clv] if it is there:\n",
        highlight=False,
    )
    console.print(escape(snippet), highlight=False, soft_wrap=True)
    terminal.write_toml(write_toml, snippet)


@app.command()
def show(
    customer: str = typer.Argument(..., help="The customer's id or email address."),
    as_of: str | None = typer.Option(
        None, "--as-of", help="Value as on this ISO date and time (UTC if no zone); now."
    ),
) -> None:
    """One customer's purchasing summary, chance of being active, expected purchases, expected
    value per purchase and lifetime value, with the configured models."""
    moment = terminal.moment(as_of)
    store = runtime.store()
    options = store.brand.measurement.clv
    with unit_of_work(store) as session:
        cid = views.find_customer(session, customer, brand=store.brand, vault=store.vault)
        valued = clv_service.customer_values(
            session, brand=store.brand, as_of=moment, customer_id=cid
        )
    if valued.height == 0:
        console.print(
            f"Customer {cid} has no purchase up to {moment:%Y-%m-%d %H:%M} UTC: the models "
            "value customers from their first purchase on.",
            highlight=False,
        )
        return
    row = valued.row(0, named=True)
    unit = f"{options.period_days:g}-day periods"
    monetary = row["monetary"]
    table = Table("measure", "value", title=f"Customer value of customer {cid}")
    table.columns[1].justify = "right"
    for name, shown in (
        ("repeat purchases (days with a purchase after the first)", f"{row['frequency']:,}"),
        (f"first to last purchase ({unit})", f"{row['recency']:.1f}"),
        (f"first purchase to now ({unit})", f"{row['age']:.1f}"),
        ("mean repeat purchase", "-" if monetary is None else f"{monetary:,.2f}"),
        ("chance still active", f"{row['probability_alive']:.1%}"),
        (
            f"expected purchases in the next {options.horizon_days} days",
            f"{row['expected_purchases']:.2f}",
        ),
        ("expected value of a purchase", f"{row['expected_value']:,.2f}"),
        (
            f"lifetime value ({options.horizon_days} days, "
            f"{options.annual_discount_rate:.0%} a year discount, margin {options.margin:g})",
            f"{row['clv']:,.2f}",
        ),
    ):
        table.add_row(name, shown)
    console.print(table)
