"""The ``regard`` command. Each domain contributes its own group of commands."""

from __future__ import annotations

import sys

import typer
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
    from regard.customers import commands as customer_commands
    from regard.demo import commands as demo_commands
    from regard.privacy import commands as privacy_commands
    from regard.web import commands as web_commands

    app.add_typer(customer_commands.import_app, name="import")
    app.add_typer(customer_commands.customers_app, name="customers")
    app.add_typer(privacy_commands.app, name="keys")
    app.add_typer(demo_commands.app, name="demo")
    app.command(name="serve")(web_commands.serve)


_register()


def main() -> None:
    """Entry point: a Regard error is one clear line on stderr and a non-zero exit."""
    try:
        app(standalone_mode=False)
    except RegardError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc.message}", highlight=False)
        sys.exit(2 if exc.status_code < 500 else 1)
    except typer.Abort:
        Console(stderr=True).print("aborted")
        sys.exit(130)
    except (typer.Exit, SystemExit) as exc:
        code = exc.exit_code if isinstance(exc, typer.Exit) else exc.code
        sys.exit(code)
    except Exception as exc:
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
