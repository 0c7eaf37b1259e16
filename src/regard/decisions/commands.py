"""``regard decide``, ``regard plan``, ``regard run`` and ``regard decisions``."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import typer
from pydantic import TypeAdapter, ValidationError
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from regard import runtime, terminal
from regard.customers.models import Customer
from regard.decisions import preview, repository, service
from regard.decisions.reasons import sentence
from regard.measurement import values_jobs
from regard.preferences import views
from regard.store.database import Store, unit_of_work
from regard.touchpoints import triggers
from regard.touchpoints.commands import print_triggered
from regard.touchpoints.options import Duration

decisions_app = typer.Typer(no_args_is_help=True)
console = terminal.console()
_DURATION: TypeAdapter[timedelta] = TypeAdapter(Duration)
_AS_OF = typer.Option(None, "--as-of", help="As at this ISO date and time (UTC if no zone); now.")


def decide(as_of: str | None = _AS_OF) -> None:
    """Decide every candidate due: send (channel, moment), hold or drop, each with its reason;
    sends go to the outbox."""
    report = service.run_engine(runtime.store(), now=terminal.moment(as_of))
    print_report(report)


def print_report(report: service.RunReport) -> None:
    """The run's outcomes by touchpoint and reason, and its certificate."""
    table = Table("touchpoint", "outcome", "reason", "candidates", title=f"Run {report.run_id}")
    table.columns[-1].justify = "right"
    order = {"sent": 0, "held": 1, "dropped": 2}
    for (touchpoint, outcome, reason), count in sorted(
        report.reasons.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 3), -kv[1])
    ):
        table.add_row(escape(touchpoint), outcome, escape(reason), f"{count:,}")
    console.print(table)
    console.print(
        f"{report.candidates:,} candidates: {report.sent:,} sent ({report.queued:,} messages "
        f"queued), {report.held:,} held, {report.dropped:,} dropped. Expected value "
        f"{report.value:,.2f} of at most {report.bound:,.2f} (gap {report.gap:.3%}); "
        f"decided in {report.seconds:.2f} s (policy {report.policy_seconds:.2f} s, optimiser "
        f"{report.optimiser_seconds:.2f} s).",
        highlight=False,
    )


def plan(
    campaign: str = typer.Argument(..., help="The campaign touchpoint."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Preview only: decide, report, keep nothing."
    ),
    by: str = typer.Option("staff", help="Who launches it (kept with the launch)."),
    as_of: str | None = _AS_OF,
) -> None:
    """Launch a campaign and decide it now, or with --dry-run preview it: reach by segment and
    channel, suppressions by reason, cost, expected value, and spray-and-pray warnings."""
    store = runtime.store()
    now = terminal.moment(as_of)
    if dry_run:
        print_preview(preview.preview_campaign(store, campaign, by=by, now=now))
        return
    with unit_of_work(store) as session:
        launched = triggers.launch_campaign(session, campaign, brand=store.brand, by=by, now=now)
    console.print(f"{campaign}: {launched.created:,} candidates.", highlight=False)
    print_report(service.run_engine(store, now=now))


def print_preview(found: preview.Preview, *, tables: bool = True) -> None:
    """The preview's headline, its tables (reach, not sent, channels refused) and warnings."""
    console.print(
        f"[bold]{escape(found.campaign)}[/] (dry run, nothing kept): audience "
        f"{found.audience:,}, of whom {found.reachable:,} may be reached; {found.sent:,} would "
        f"be sent, {found.held:,} held, {found.dropped:,} dropped. Expected value "
        f"{found.value:,.2f}, cost {found.cost:,.2f}.",
        highlight=False,
    )
    if tables:
        _preview_tables(found)
    for warning in found.warnings:
        console.print(f"[bold yellow]Warning:[/] {escape(warning)}", highlight=False)


def _preview_tables(found: preview.Preview) -> None:
    reach = Table("segment", "channel", "sends", title="Reach")
    reach.columns[-1].justify = "right"
    for (segment, channel), count in sorted(found.reach.items()):
        reach.add_row(escape(segment), channel, f"{count:,}")
    console.print(reach)
    suppressed = Table("outcome", "reason", "candidates", title="Not sent")
    suppressed.columns[-1].justify = "right"
    for (outcome, reason), count in sorted(found.suppressed.items(), key=lambda kv: -kv[1]):
        suppressed.add_row(outcome, escape(reason), f"{count:,}")
    console.print(suppressed)
    refused = Table("channel", "refused because", "candidates", title="Channels refused")
    refused.columns[-1].justify = "right"
    for (channel, reason), count in sorted(found.refused.items(), key=lambda kv: -kv[1]):
        refused.add_row(channel, escape(reason), f"{count:,}")
    console.print(refused)


def run(
    every: str = typer.Option(
        "", help="Run again after this long (e.g. 5m); by default [engine] every."
    ),
    once: bool = typer.Option(False, "--once", help="Run triggers and the engine once, and stop."),
) -> None:
    """Run the triggers and the engine now and then every few minutes (and refresh the values
    it learns from measurement once a day); a run never overlaps another (on this machine or
    any other sharing the database)."""
    store = runtime.store()
    try:
        pause = _DURATION.validate_python(every) if every else store.brand.engine.every
    except ValidationError:
        raise typer.BadParameter(
            f"{every!r} is not a duration such as 5m or 1h", param_hint="--every"
        ) from None
    while True:
        run_once(store, now=datetime.now(UTC))
        if once:
            return
        time.sleep(pause.total_seconds())


def run_once(store: Store, *, now: datetime, quiet: bool = False) -> service.RunReport | None:
    """Triggers, the values refresh when a day has passed since the last, then the engine; None
    when another run holds the engine. ``quiet`` prints one line instead of the tables (beside
    a server's log)."""
    with unit_of_work(store) as session:
        done = triggers.run_triggers(session, brand=store.brand, now=now)
    if not quiet:
        print_triggered(done)
    _refresh_values(store, now=now)
    try:
        report = service.run_engine(store, now=now)
    except service.EngineBusy as busy:
        console.print(f"Skipped: {escape(str(busy))}.", highlight=False)
        return None
    if quiet:
        console.print(
            f"{now:%H:%M:%S} run {report.run_id}: {sum(t.created for t in done):,} new "
            f"candidates; {report.sent:,} sent, {report.held:,} held, {report.dropped:,} "
            "dropped.",
            highlight=False,
        )
    else:
        print_report(report)
    return report


def _refresh_values(store: Store, *, now: datetime) -> None:
    """The customer and touchpoint values the engine uses, refreshed once a day at most; a
    failed refresh is reported and never stops the run."""
    try:
        refreshed = values_jobs.refresh_when_due(store, now=now)
    except Exception as exc:  # the engine runs on yesterday's values; the next run tries again
        console.print(f"[red]Values refresh failed:[/] {escape(str(exc))}", highlight=False)
        return
    if refreshed is not None:
        console.print(
            f"Values refreshed: {refreshed.customers_scored:,} customers valued, "
            f"{refreshed.learned:,} touchpoint values learned ({refreshed.replaced:,} moved "
            "off the configured value).",
            highlight=False,
        )


def start_scheduler(store: Store, *, every: timedelta) -> threading.Event:
    """Run triggers and the engine now and every ``every`` in a background thread, until the
    returned event is set (or the process ends)."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                run_once(store, now=datetime.now(UTC), quiet=True)
            except Exception as exc:  # a failed run is reported; the next one tries again
                console.print(f"[red]Run failed:[/] {escape(str(exc))}", highlight=False)
            stop.wait(every.total_seconds())

    threading.Thread(target=loop, name="regard-scheduler", daemon=True).start()
    return stop


@decisions_app.command(name="list")
def list_(
    customer: str | None = typer.Option(None, help="A customer's id or email address."),
    touchpoint: str | None = typer.Option(None, help="Only this touchpoint."),
    limit: int = typer.Option(30, min=1, max=1000, help="How many, newest first."),
) -> None:
    """Decisions, newest first, each with its sentence."""
    store = runtime.store()
    with unit_of_work(store) as session:
        customer_id = (
            views.find_customer(session, customer, brand=store.brand, vault=store.vault)
            if customer
            else None
        )
        found = repository.decisions_of(
            session, customer_id=customer_id, touchpoint=touchpoint, limit=limit
        )
        # Names only when one customer's decisions are asked for: they are personal data.
        names = _first_names(session, {d.customer_id for d in found}) if customer else {}
        table = Table("when", "customer", "touchpoint", "outcome", "why", title="Decisions")
        for decision in found:
            table.add_row(
                f"{decision.decided_at:%Y-%m-%d %H:%M}",
                str(decision.customer_id),
                escape(decision.touchpoint),
                decision.outcome,
                escape(
                    sentence(
                        decision.outcome,
                        decision.reason,
                        decision.params,
                        name=names.get(decision.customer_id),
                    )
                ),
            )
    console.print(table)
    counts = Counter(d.outcome for d in found)
    console.print(", ".join(f"{n} {o}" for o, n in counts.items()) or "No decisions.")


def _first_names(session: Session, ids: set[int]) -> dict[int, str]:
    names: dict[int, str] = {}
    for customer in session.scalars(select(Customer).where(Customer.id.in_(ids))):
        personal = customer.personal or {}
        name = personal.get("first_name") or str(personal.get("name") or "").split(" ")[0]
        if name:
            names[customer.id] = str(name)
    return names
