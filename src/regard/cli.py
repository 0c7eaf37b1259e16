"""The ``regard`` command. Each domain contributes its own group of commands."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

from regard.errors import RegardError
from regard.store import commands as store_commands

app = typer.Typer(
    name="regard",
    help="Regard: send what each customer asked for, and nothing a person would resent.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(store_commands.app, name="db")


def _register() -> None:
    # Imported here so that a broken optional group never stops 'regard --help'.
    from regard.commitment import commands as commitment_commands
    from regard.customers import commands as customer_commands
    from regard.decisions import commands as decision_commands
    from regard.delivery import breaker_commands
    from regard.delivery import commands as delivery_commands
    from regard.demo import commands as demo_commands
    from regard.measurement import clv_commands, invest_commands
    from regard.messages import commands as message_commands
    from regard.preferences.commands import consent, links, webhooks
    from regard.privacy import commands as privacy_commands
    from regard.segments import commands as segment_commands
    from regard.touchpoints import commands as touchpoint_commands
    from regard.voc import commands as voc_commands
    from regard.web import commands as web_commands

    app.add_typer(customer_commands.import_app, name="import")
    app.add_typer(customer_commands.customers_app, name="customers")
    app.add_typer(privacy_commands.app, name="keys")
    app.add_typer(privacy_commands.staff_app, name="staff")
    app.add_typer(demo_commands.app, name="demo")
    app.add_typer(consent.app, name="consent", help="Prove and check the consent ledger.")
    app.add_typer(links.app, name="links", help="Preference-center links: issue, revoke.")
    app.add_typer(webhooks.app, name="webhooks", help="Downstream systems told of changes.")
    app.add_typer(commitment_commands.app, name="commitment", help="Surveys and commitment.")
    app.add_typer(segment_commands.app, name="segment", help="Segments: list, evaluate.")
    app.add_typer(voc_commands.app, name="voc", help="Voice of the Customer: themes.")
    app.add_typer(touchpoint_commands.app, name="touchpoints", help="The touchpoint catalogue.")
    app.add_typer(touchpoint_commands.journey_app, name="journey", help="The journey map.")
    app.add_typer(decision_commands.decisions_app, name="decisions", help="Decisions and why.")
    app.command(name="decide")(decision_commands.decide)
    app.command(name="plan")(decision_commands.plan)
    app.command(name="run")(decision_commands.run)
    app.command(name="serve")(web_commands.serve)
    app.command(name="worker")(delivery_commands.worker)
    app.add_typer(breaker_commands.app, name="delivery", help="The complaint-rate breaker.")
    from regard.measurement import commands as measure_commands

    app.add_typer(measure_commands.app, name="measure", help="Lift over the control groups.")
    app.command(name="preview")(message_commands.preview)
    from regard.simulation.commands import simulate

    app.command(name="simulate")(simulate)
    from regard.measurement.report_commands import report

    app.command(name="report")(report)
    app.command(name="invest")(invest_commands.invest)
    app.add_typer(clv_commands.app, name="clv", help="Customer lifetime value: fit, show.")
    from regard.measurement import values_commands

    measure_commands.app.command(name="values")(values_commands.values)


_register()


def _fail(message: str, code: int) -> NoReturn:
    # soft_wrap: one line, however narrow the terminal or however long the message.
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(code)


def main() -> None:
    """Entry point: a Regard error is one clear line on stderr and a non-zero exit.

    Usage mistakes are Typer's to report (a short message, exit 2).
    """
    try:
        app()
    except RegardError as exc:
        _fail(exc.message, 2 if exc.status_code < 500 else 1)
    except ValidationError as exc:
        problems = "; ".join(
            f"REGARD_{'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        _fail(f"invalid settings: {problems}", 2)
