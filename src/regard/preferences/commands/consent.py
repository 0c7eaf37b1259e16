"""``regard consent``: check the ledger, prove one customer's consent, replay, rebuild, import."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from regard import runtime, terminal
from regard.config import BrandConfig
from regard.errors import InvalidInput
from regard.preferences import imports, service, views
from regard.preferences.service import ConsentChange, Preferences
from regard.privacy import audit
from regard.privacy.audit import Actor
from regard.store.database import unit_of_work

app = typer.Typer(no_args_is_help=True)
console = terminal.console()

_CUSTOMER = typer.Argument(..., help="The customer's id or email address.")
_STATE_STYLE = {
    "opted-in": "[green]opted in[/]",
    "opted-out": "[red]opted out[/]",
    "pending": "[yellow]pending[/]",
}


@app.command()
def verify(
    customer: int | None = typer.Option(None, "--customer", help="Check one customer's chain."),
) -> None:
    """Recompute every entry's hash and link; exit 1 when anything does not hold."""
    with unit_of_work(runtime.store()) as session:
        report = service.verify(session, customer_id=customer)
    console.print(
        f"Checked {report.entries:,} entries in {report.customers:,} customer chains.",
        highlight=False,
    )
    for problem in report.problems:
        console.print(f"[bold red]problem:[/] {escape(problem)}", highlight=False)
    console.print(f"anchor {report.anchor}", highlight=False)
    if not report.ok:
        console.print(f"[bold red]{len(report.problems)} problems found.[/]", highlight=False)
        raise typer.Exit(1)
    console.print("[green]The ledger holds.[/]")


def _what(described: dict[str, Any]) -> str:
    if described["kind"] == "consent":
        return f"{described['topic']} / {described['channel']} → {described['state']}"
    scope = f" ({described['scope']})" if described.get("scope") else ""
    value = described.get("value")
    shown = "cleared" if value is None else str(value)
    return f"{described['setting']}{scope} → {shown}"


def _grid(preferences: Preferences, brand: BrandConfig, title: str) -> Table:
    table = Table("topic", *brand.channels, title=title)
    for topic in brand.topics:
        cells = []
        for channel in brand.channels:
            cell = preferences.consents[(topic.key, channel)]
            if cell.state == "default":
                cells.append("allowed (default)" if cell.allowed else "[dim]off (default)[/]")
            else:
                cells.append(_STATE_STYLE.get(cell.state, escape(cell.state)))
        table.add_row(escape(f"{topic.label} ({topic.key})"), *cells)
    return table


def _settings(preferences: Preferences) -> Table:
    table = Table("setting", "scope", "value", title="Settings")
    for name, scopes in sorted(preferences.settings.items()):
        for scope, value in sorted(scopes.items()):
            table.add_row(escape(name), escape(scope or "-"), escape(str(value)))
    if preferences.note is not None:
        table.add_row("note", "-", "(personal, encrypted)")
    return table


def _changes(values: list[str], state: str) -> list[ConsentChange]:
    found: list[ConsentChange] = []
    for value in values:
        topic, slash, channel = value.rpartition("/")
        if not slash or not topic or not channel:
            raise InvalidInput(f"{value!r}: write a topic and a channel as TOPIC/CHANNEL")
        found.append(ConsentChange(topic, channel, state))  # type: ignore[arg-type]
    return found


@app.command()
def change(
    customer: str = _CUSTOMER,
    staff: str = typer.Option(..., "--staff", help="Who took the request (shown in the proof)."),
    opt_in: list[str] = typer.Option([], "--opt-in", help="TOPIC/CHANNEL to allow."),
    opt_out: list[str] = typer.Option([], "--opt-out", help="TOPIC/CHANNEL to stop."),
    stop_marketing: bool = typer.Option(False, "--stop-marketing", help="Stop all marketing."),
    note: str = typer.Option("", help="How the customer asked (kept in the ledger)."),
) -> None:
    """Record what a customer asked staff for (on the phone, at the desk): source ``staff``."""
    if not (opt_in or opt_out or stop_marketing):
        raise InvalidInput("say what changes: --opt-in, --opt-out or --stop-marketing")
    store = runtime.store()
    origin = service.Origin(
        source="staff",
        actor=f"staff:{staff.strip()[:100]}",
        wording_version=store.brand.preferences.wording_version,
        note=note.strip()[:500] or None,
    )
    consents = _changes(opt_in, "opted-in") + _changes(opt_out, "opted-out")
    with unit_of_work(store) as session:
        cid = views.find_customer(session, customer, brand=store.brand, vault=store.vault)
        recorded = service.record(session, cid, brand=store.brand, origin=origin, consents=consents)
        if stop_marketing:
            recorded.entries += service.stop_marketing(
                session, cid, brand=store.brand, origin=origin
            ).entries
        audit.record(
            session,
            actor=Actor.command_line(),
            action="consent.recorded",
            target=f"customer:{cid}",
            details={"via": "cli", "entries": len(recorded.entries)},
        )
    console.print(
        f"Recorded {len(recorded.entries)} change(s) for customer {cid} from {escape(staff)}.",
        highlight=False,
    )
    for topic, channel in recorded.pending:
        console.print(
            f"{escape(topic)} by {channel} waits for the customer to confirm it from their inbox.",
            highlight=False,
        )


@app.command()
def proof(customer: str = _CUSTOMER) -> None:
    """The full history of what a customer allowed, merged profiles' included, and where it
    stands now."""
    store = runtime.store()
    with unit_of_work(store) as session:
        cid = views.find_customer(session, customer, brand=store.brand, vault=store.vault)
        found = views.consent_proof(session, cid)
        now = service.current(session, found.customer_id, brand=store.brand)
        audit.record(
            session,
            actor=Actor.command_line(),
            action="consent.proof",
            target=f"customer:{found.customer_id}",
            details={"via": "cli"},
        )
    merged = found.merged_profiles
    title = f"Consent history of customer {found.customer_id}"
    if merged:
        title += f" (with merged profiles {', '.join(map(str, merged))})"
    columns = ("when (UTC)", "what", "basis", "source", "actor", "wording", "hash")
    history = Table(*columns, title=title)
    if merged:
        history.add_column("profile", justify="right")
    for described in found.described:
        row = [
            str(described["occurred_at"])[:19].replace("T", " "),
            escape(_what(described)),
            escape(str(described.get("legal_basis") or "-")),
            escape(str(described["source"])),
            escape(str(described["actor"])),
            escape(str(described.get("wording_version") or "-")),
            str(described["hash"])[:12],
        ]
        if merged:
            row.append(str(described["customer_id"]))
        history.add_row(*row)
    console.print(history)
    console.print(_grid(now, store.brand, "What they allow now"))
    console.print(_settings(now))
    report = found.verification
    if report.ok:
        console.print(
            f"[green]Verified:[/] {report.entries:,} entries in {report.customers} chains hold; "
            f"anchor {report.anchor}",
            highlight=False,
        )
    else:
        for problem in report.problems:
            console.print(f"[bold red]problem:[/] {escape(problem)}", highlight=False)


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise InvalidInput(f"{text!r} is not a moment such as 2026-03-03T12:00:00Z") from exc
    if moment.tzinfo is None:
        raise InvalidInput("give the moment with its time zone, e.g. 2026-03-03T12:00:00Z")
    return moment


@app.command(name="as-of")
def as_of(
    customer: str = _CUSTOMER,
    when: str = typer.Argument(..., help="The moment, with its zone: 2026-03-03T12:00:00Z."),
) -> None:
    """What a customer allowed at a past moment, replayed from the ledger."""
    moment = _moment(when)
    store = runtime.store()
    with unit_of_work(store) as session:
        cid = views.find_customer(session, customer, brand=store.brand, vault=store.vault)
        found = views.preferences_of(session, cid, brand=store.brand, at=moment)
    preferences = found.preferences
    title = f"Customer {preferences.customer_id} at {moment.isoformat()}"
    console.print(_grid(preferences, store.brand, title))
    console.print(_settings(preferences))
    console.print(f"as of ledger entry {preferences.head_seq}", highlight=False)


@app.command()
def rebuild() -> None:
    """Rebuild the cached consent state and settings from the ledger."""
    with unit_of_work(runtime.store()) as session:
        done = service.rebuild(session)
    console.print(f"Rebuilt the cached state of {done:,} customers from the ledger.")


@app.command(name="import")
def import_file(
    path: Path = typer.Argument(..., help="A .csv or .jsonl file of consents."),
    system: str = typer.Option(..., help="The system the consents come from, e.g. crm."),
    rejects: Path | None = typer.Option(None, help="Where to list rejected rows."),
    batch_size: int = typer.Option(imports.DEFAULT_BATCH_SIZE, help="Rows per committed batch."),
) -> None:
    """Import consents recorded by another system, keeping their original times.

    Columns: email, phone, or external_id with namespace; topic, channel, state (opted-in or
    opted-out), occurred_at (with its time zone); optional source_detail, wording_version.
    """
    summary = imports.import_consent_file(
        runtime.store(), path, system=system, rejects_path=rejects, batch_size=batch_size
    )
    table = Table(title="Consent import summary")
    for column in ("file", "rows", "recorded", "unchanged", "rejected", "rows/s"):
        table.add_column(column, justify="left" if column == "file" else "right")
    table.add_row(
        escape(path.name),
        f"{summary.rows:,}",
        f"{summary.recorded:,}",
        f"{summary.unchanged:,}",
        f"{summary.rejected:,}",
        f"{summary.rows_per_second:,.0f}",
    )
    console.print(table)
    if summary.rejects_path is not None:
        console.print(
            f"{escape(path.name)}: {summary.rejected:,} rejected rows listed in "
            f"{escape(str(summary.rejects_path))}",
            highlight=False,
        )
