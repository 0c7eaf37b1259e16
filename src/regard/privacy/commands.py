"""``regard keys ...``: API keys for the tracking API and the customer API."""

from __future__ import annotations

import typer
from rich.table import Table

from regard import runtime, terminal
from regard.config import get_settings
from regard.errors import ConfigurationError
from regard.privacy import service
from regard.store.crypto import add_key_to_file
from regard.store.database import key_file_for, unit_of_work

app = typer.Typer(
    help="Keys: API keys (create, list, revoke) and encryption key rotation.", no_args_is_help=True
)
console = terminal.console()


@app.command()
def create(
    name: str = typer.Argument(..., help="Who or what the key is for."),
    scope: str = typer.Option("read", help="'write' feeds the tracking API; 'read' the API."),
    source: str | None = typer.Option(None, help="For write keys: the source it speaks for."),
) -> None:
    """Create a key. Its secret is shown once and never stored."""
    if scope not in ("write", "read"):
        raise typer.BadParameter("scope must be 'write' or 'read'")
    with unit_of_work(runtime.store()) as session:
        issued = service.create_key(session, name=name, scope=scope, source=source)  # type: ignore[arg-type]
    console.print(f"Key {issued.key.id} ({scope}) created. Secret, shown only now:")
    console.print(issued.secret, highlight=False, soft_wrap=True)


@app.command(name="list")
def list_() -> None:
    """List keys (never their secrets)."""
    with unit_of_work(runtime.store()) as session:
        keys = service.list_keys(session)
        table = Table("id", "name", "scope", "source", "prefix", "created", "revoked")
        for key in keys:
            table.add_row(
                str(key.id),
                key.name,
                key.scope,
                key.source or "",
                key.prefix + "…",
                key.created_at.strftime("%Y-%m-%d %H:%M"),
                key.revoked_at.strftime("%Y-%m-%d %H:%M") if key.revoked_at else "",
            )
    console.print(table)


@app.command()
def revoke(
    key_id: int = typer.Argument(..., help="The key's id (see 'regard keys list')."),
) -> None:
    """Revoke a key at once."""
    with unit_of_work(runtime.store()) as session:
        service.revoke_key(session, key_id)
    console.print(f"Key {key_id} revoked.")


@app.command()
def rotate() -> None:
    """Add a new encryption key and make it the one new values are sealed with.

    Values sealed earlier keep opening with the key they name. Only for the embedded key file;
    with keys in settings, put the new key first in REGARD_ENCRYPTION_KEYS instead.
    """
    settings = get_settings()
    if settings.encryption_keys.get_secret_value():
        raise ConfigurationError(
            "keys come from settings: put a new key first in REGARD_ENCRYPTION_KEYS"
        )
    path = key_file_for(settings)
    if not path.exists():
        raise ConfigurationError(f"no key file at {path}; run 'regard db upgrade' first")
    key_id = add_key_to_file(path)
    console.print(f"New values are now sealed with key {key_id}; older keys still open theirs.")
