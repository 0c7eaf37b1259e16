"""``regard webhooks``: downstream systems told of every consent change, and the worker."""

from __future__ import annotations

import time
from datetime import datetime

import typer
from rich.table import Table

from regard import runtime, terminal
from regard.preferences import webhooks
from regard.store.database import unit_of_work

app = typer.Typer(no_args_is_help=True)
console = terminal.console()


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment is not None else ""


@app.command()
def add(
    name: str = typer.Argument(..., help="Who is told, such as 'service-desk'."),
    url: str = typer.Argument(..., help="Where changes are POSTed (http or https)."),
) -> None:
    """Subscribe a URL to every consent change. Its signing secret is shown once."""
    with unit_of_work(runtime.store()) as session:
        issued = webhooks.add_subscription(session, name=name, url=url)
    console.print(f"Subscription {name!r} added. Signing secret, shown only now:")
    console.print(issued.secret, highlight=False, soft_wrap=True)


@app.command(name="list")
def list_() -> None:
    """List subscriptions (never their secrets)."""
    with unit_of_work(runtime.store()) as session:
        table = Table("name", "url", "created", "disabled")
        for subscription in webhooks.list_subscriptions(session):
            table.add_row(
                subscription.name,
                subscription.url,
                _when(subscription.created_at),
                _when(subscription.disabled_at),
            )
    console.print(table)


@app.command()
def disable(name: str = typer.Argument(..., help="The subscription's name.")) -> None:
    """Stop telling a subscriber of changes; deliveries still queued for it are not sent."""
    with unit_of_work(runtime.store()) as session:
        webhooks.disable_subscription(session, name)
    console.print(f"Subscription {name!r} disabled.")


@app.command()
def log(
    status: str | None = typer.Option(
        None, help="Only deliveries that are pending, delivered or failed."
    ),
    limit: int = typer.Option(50, min=1, max=1000, help="How many, newest first."),
) -> None:
    """Recent deliveries and what came of them (never their content)."""
    with unit_of_work(runtime.store()) as session:
        table = Table("id", "subscription", "event", "status", "attempts", "code", "error", "next")
        for delivery, subscription in webhooks.recent_deliveries(
            session, status=status, limit=limit
        ):
            table.add_row(
                str(delivery.id),
                subscription,
                delivery.event_id,
                delivery.status,
                str(delivery.attempts),
                str(delivery.last_status_code or ""),
                delivery.last_error or "",
                _when(delivery.next_attempt_at) if delivery.status == "pending" else "",
            )
    console.print(table)


@app.command()
def deliver(
    once: bool = typer.Option(False, "--once", help="Send what is due, then stop."),
    interval: float = typer.Option(2.0, min=0.1, help="Seconds between looks for new work."),
) -> None:
    """The worker: send due deliveries, retrying failures; runs until Ctrl-C unless --once."""
    store = runtime.store()
    sender = webhooks.HttpSender()
    try:
        while True:
            run = webhooks.deliver_due(store, sender=sender)
            if run.attempted or once:
                console.print(
                    f"Delivered {run.delivered}, retrying {run.retrying}, failed {run.failed}."
                )
            if once:
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        console.print("Stopped.")
