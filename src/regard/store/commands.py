"""``regard db ...``: the database's schema."""

from __future__ import annotations

import typer

from regard import runtime, terminal
from regard.store import migrate

app = typer.Typer(help="The database: create or upgrade its schema.", no_args_is_help=True)
console = terminal.console()


@app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Create the database or bring its schema up to date."""
    store = runtime.store()
    migrate.upgrade(store.engine, revision)
    console.print(
        f"Database schema at revision [bold]{migrate.current_revision(store.engine)}[/] "
        f"({store.dialect})."
    )


@app.command()
def current() -> None:
    """Show the schema revision of the database and the newest one available."""
    store = runtime.store()
    here = migrate.current_revision(store.engine) or "none"
    head = migrate.head_revision(store.engine)
    console.print(f"current: {here}  newest: {head}")
