"""``regard import ...`` and ``regard customers ...``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from regard import runtime, terminal
from regard.customers import repository
from regard.customers.identities import claim
from regard.customers.importers import (
    ColumnMapping,
    ImportKind,
    ImportSummary,
    check_request,
    import_file,
)
from regard.errors import InvalidInput, NotFound
from regard.privacy import audit
from regard.privacy.audit import Actor
from regard.store.database import Store, unit_of_work

import_app = typer.Typer(help="Bring customer and event files in.", no_args_is_help=True)
customers_app = typer.Typer(help="Look customers up.", no_args_is_help=True)
console = terminal.console()

_MAP_HELP = (
    "FIELD=COLUMN, repeatable: which column feeds a field (e.g. email=E-Mail, "
    "external:pos='Loyalty No')."
)


def run_import(
    store: Store,
    path: Path,
    *,
    kind: ImportKind,
    source: str,
    mapping: ColumnMapping | None = None,
    rejects: Path | None = None,
    batch_size: int | None = None,
) -> ImportSummary:
    """Import one file with a progress bar showing rows per second."""
    check_request(path, source=source)
    total = _count_rows(path)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} rows/s"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task(f"{source} {kind} ({path.name})", total=total, rate="-")

        def advance(rows: int) -> None:
            bar.advance(task, rows)
            elapsed = bar.tasks[task].elapsed or 0.0
            done = bar.tasks[task].completed
            bar.update(task, rate=f"{done / elapsed:,.0f}" if elapsed else "-")

        return import_file(
            store,
            path,
            kind=kind,
            source=source,
            mapping=mapping,
            rejects_path=rejects,
            progress=advance,
            **({"batch_size": batch_size} if batch_size else {}),
        )


def _count_rows(path: Path) -> int | None:
    """Rows to expect, for the progress bar: Parquet says; text files are not read twice."""
    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        try:
            return int(pq.ParquetFile(path).metadata.num_rows)
        except Exception:
            return None
    return None


def print_summary(summaries: list[tuple[str, ImportSummary]]) -> None:
    table = Table(title="Import summary")
    for column in (
        "file",
        "rows",
        "imported",
        "new customers",
        "merged",
        "duplicates",
        "rejected",
        "rows/s",
    ):
        table.add_column(column, justify="left" if column == "file" else "right")
    for name, s in summaries:
        table.add_row(
            name,
            f"{s.rows:,}",
            f"{s.imported:,}",
            f"{s.created:,}",
            f"{s.merged:,}",
            f"{s.duplicates:,}",
            f"{s.rejected:,}",
            f"{s.rows_per_second:,.0f}",
        )
    console.print(table)
    for name, s in summaries:
        if s.rejects_path is not None:
            console.print(f"{name}: {s.rejected:,} rejected rows listed in {s.rejects_path}")


def _import(
    kind: ImportKind,
    path: Path,
    source: str,
    mapping_pairs: list[str],
    mapping_file: Path | None,
    ignore: list[str],
    constants: list[str],
    rejects: Path | None,
    batch_size: int | None,
) -> ImportSummary:
    mapping = ColumnMapping.parse(
        mapping_pairs, ignore=ignore, constants=constants, file=mapping_file
    )
    summary = run_import(
        runtime.store(),
        path,
        kind=kind,
        source=source,
        mapping=mapping,
        rejects=rejects,
        batch_size=batch_size,
    )
    print_summary([(path.name, summary)])
    return summary


def _evaluate_segments(summary: ImportSummary, *, wanted: bool) -> None:
    """Re-evaluate every segment after an import that brought at least one record in."""
    if not wanted or summary.imported == 0:
        return
    # Imported here: the import commands compose the segments domain, the customers domain
    # itself does not depend on it.
    from regard.segments.commands import evaluate_and_report

    evaluate_and_report(runtime.store())


_SOURCE = typer.Option(..., help="The system the file comes from, e.g. shop or pos.")
_MAP = typer.Option([], "--map", help=_MAP_HELP)
_MAPPING_FILE = typer.Option(None, "--mapping", help="A TOML mapping file.")
_IGNORE = typer.Option([], help="A column to leave out, repeatable.")
_SET = typer.Option([], "--set", help="FIELD=VALUE for every row, repeatable.")
_REJECTS = typer.Option(None, help="Where to list rejected rows.")
_BATCH_SIZE = typer.Option(None, help="Rows per committed batch.")
_SEGMENTS = typer.Option(
    True, "--segments/--no-segments", help="Re-evaluate every segment after the import."
)


@import_app.command(name="customers")
def import_customers(
    path: Path = typer.Argument(..., help="A .csv, .jsonl or .parquet file of customers."),
    source: str = _SOURCE,
    map_: list[str] = _MAP,
    mapping_file: Path | None = _MAPPING_FILE,
    ignore: list[str] = _IGNORE,
    set_: list[str] = _SET,
    rejects: Path | None = _REJECTS,
    batch_size: int | None = _BATCH_SIZE,
    segments: bool = _SEGMENTS,
) -> None:
    """Import customer profiles: identities, time zone, locale and traits."""
    summary = _import(
        "customers", path, source, map_, mapping_file, ignore, set_, rejects, batch_size
    )
    _evaluate_segments(summary, wanted=segments)


@import_app.command(name="events")
def import_events(
    path: Path = typer.Argument(..., help="A .csv, .jsonl or .parquet file of events."),
    source: str = _SOURCE,
    map_: list[str] = _MAP,
    mapping_file: Path | None = _MAPPING_FILE,
    ignore: list[str] = _IGNORE,
    set_: list[str] = _SET,
    rejects: Path | None = _REJECTS,
    batch_size: int | None = _BATCH_SIZE,
    segments: bool = _SEGMENTS,
) -> None:
    """Import events; each is stored once per (source, message id)."""
    summary = _import("events", path, source, map_, mapping_file, ignore, set_, rejects, batch_size)
    _evaluate_segments(summary, wanted=segments)


@customers_app.command()
def show(customer_id: int = typer.Argument(..., help="The customer's id.")) -> None:
    """Show one customer's profile, identities and recent events."""
    store = runtime.store()
    with unit_of_work(store) as session:
        customer = repository.get_customer(session, customer_id)
        if customer is None:
            survivor = repository.survivor_of(session, customer_id)
            if survivor is not None:
                raise NotFound(f"customer {customer_id} was merged into customer {survivor}")
            raise NotFound(f"no customer with id {customer_id}")
        audit.record(
            session,
            actor=Actor.command_line(),
            action="customer.read",
            target=f"customer:{customer.id}",
            details={"via": "cli"},
        )
        console.print(
            f"[bold]Customer {customer.id}[/]  time zone {customer.time_zone or '-'}, "
            f"locale {customer.locale or '-'}"
        )
        console.print(f"first seen {customer.first_seen_at}, last seen {customer.last_seen_at}")
        identities = Table("kind", "system", "value", "source", title="Identities")
        for identity in customer.identities:
            identities.add_row(identity.kind, identity.namespace, identity.value, identity.source)
        console.print(identities)
        traits = Table("trait", "value", title="Traits")
        for name, value in sorted({**customer.traits, **(customer.personal or {})}.items()):
            traits.add_row(name, str(value))
        console.print(traits)
        events = Table("when", "type", "source", title="Recent events")
        for event in repository.recent_events(session, customer.id, limit=10):
            events.add_row(event.occurred_at.isoformat(), event.type, event.source)
        console.print(events)


@customers_app.command()
def find(
    email: str | None = typer.Option(None, help="Find by email address."),
    phone: str | None = typer.Option(None, help="Find by phone number."),
    external: str | None = typer.Option(None, help="Find by external id, as system:id."),
) -> None:
    """Find a customer by email, phone or external id (through the blind index)."""
    store = runtime.store()
    given = [(k, v) for k, v in (("email", email), ("phone", phone), ("external", external)) if v]
    if len(given) != 1:
        raise InvalidInput("give exactly one of --email, --phone or --external")
    kind, value = given[0]
    identity = claim(kind, value, region=store.brand.region, source="")
    with unit_of_work(store) as session:
        found = repository.customer_ids_by_lookup(session, [identity.lookup(store.vault)])
        if found:
            audit.record(
                session,
                actor=Actor.command_line(),
                action="customer.lookup",
                target=f"customer:{next(iter(found.values()))}",
                details={"via": "cli", "by": identity.label},
            )
    if not found:
        raise NotFound(f"no customer with that {kind}")
    console.print(f"customer {next(iter(found.values()))}")


@customers_app.command()
def merges(limit: int = typer.Option(20, help="How many, newest first.")) -> None:
    """List merges of profiles found to be one person."""
    with unit_of_work(runtime.store()) as session:
        table = Table("when", "survivor", "merged", "matched on", "source", "identities", "events")
        for merge in repository.list_merges(session, limit=limit):
            table.add_row(
                merge.merged_at.strftime("%Y-%m-%d %H:%M"),
                str(merge.survivor_id),
                str(merge.merged_id),
                merge.matched_on,
                merge.source,
                str(merge.identities_moved),
                str(merge.events_moved),
            )
    console.print(table)
