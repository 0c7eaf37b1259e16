"""``regard keys ...`` (API keys for the tracking API and the customer API) and
``regard staff ...`` (accounts of the staff console)."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape
from rich.table import Table

from regard import runtime, terminal
from regard.config import get_settings
from regard.errors import ConfigurationError, InvalidInput
from regard.privacy import audit, roles, service, staff
from regard.privacy.audit import Actor
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
    role: str | None = typer.Option(
        None, help="Narrow a read key to a role's permissions: " + ", ".join(roles.ROLES) + "."
    ),
) -> None:
    """Create a key. Its secret is shown once and never stored."""
    if scope not in ("write", "read"):
        raise typer.BadParameter("scope must be 'write' or 'read'")
    with unit_of_work(runtime.store()) as session:
        issued = service.create_key(session, name=name, scope=scope, source=source, role=role)  # type: ignore[arg-type]
        audit.record(
            session,
            actor=Actor.command_line(),
            action="key.created",
            target=f"key:{issued.key.id}",
            details={"scope": scope, "role": role},
        )
    console.print(f"Key {issued.key.id} ({scope}) created. Secret, shown only now:")
    console.print(issued.secret, highlight=False, soft_wrap=True)


@app.command(name="list")
def list_() -> None:
    """List keys (never their secrets)."""
    with unit_of_work(runtime.store()) as session:
        keys = service.list_keys(session)
        table = Table("id", "name", "scope", "role", "source", "prefix", "created", "revoked")
        for key in keys:
            table.add_row(
                str(key.id),
                key.name,
                key.scope,
                key.role or "",
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
        audit.record(
            session, actor=Actor.command_line(), action="key.revoked", target=f"key:{key_id}"
        )
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


staff_app = typer.Typer(
    help="Staff accounts of the console: add, list, disable.", no_args_is_help=True
)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = typer.prompt("Password", hide_input=True)
    second = typer.prompt("Password again", hide_input=True)
    if first != second:
        raise InvalidInput("the two passwords differ")
    return str(first)


@staff_app.command()
def add(
    email: str = typer.Argument(..., help="The staff member's email: how they sign in."),
    role: str = typer.Option(..., help="One of " + ", ".join(roles.ROLES) + "."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from the first line of stdin."
    ),
) -> None:
    """Add a staff account. The password is asked twice (at least 12 characters)."""
    if not roles.is_role(role):
        raise typer.BadParameter(f"role must be one of {', '.join(roles.ROLES)}")
    password = _read_password(password_stdin)
    store = runtime.store()
    with unit_of_work(store) as session:
        member = staff.add_staff(
            session,
            email=email,
            role=role,
            password=password,
            vault=store.vault,
            actor=Actor.command_line(),
        )
        member_id = member.id
    console.print(f"Staff account {member_id} ({role}) added.", highlight=False)


@staff_app.command(name="list")
def list_staff() -> None:
    """List staff accounts (never their passwords)."""
    with unit_of_work(runtime.store()) as session:
        table = Table("id", "email", "role", "created", "last sign-in", "disabled")
        for member in staff.list_staff(session):
            table.add_row(
                str(member.id),
                escape(member.email),
                member.role,
                member.created_at.strftime("%Y-%m-%d %H:%M"),
                member.last_login_at.strftime("%Y-%m-%d %H:%M") if member.last_login_at else "",
                member.disabled_at.strftime("%Y-%m-%d %H:%M") if member.disabled_at else "",
            )
    console.print(table)


@staff_app.command()
def disable(
    member: str = typer.Argument(..., help="The account's id or email."),
) -> None:
    """Disable an account at once; its sessions end."""
    store = runtime.store()
    with unit_of_work(store) as session:
        found = staff.find_staff(session, member, vault=store.vault)
        staff.disable_staff(session, found, actor=Actor.command_line())
        member_id = found.id
    console.print(f"Staff account {member_id} disabled.", highlight=False)
