"""``regard worker``: deliver what the outbox holds, in as many processes as you like."""

from __future__ import annotations

import logging
import re
import signal
from collections.abc import Sequence
from types import FrameType

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy.orm import Session

from regard import runtime, terminal
from regard.config import Settings, get_settings
from regard.decisions.models import OutboxMessage
from regard.delivery import outbox
from regard.delivery.channels import registry
from regard.delivery.worker import Renderer, Worker, WorkerSummary
from regard.errors import InvalidInput
from regard.messages.render import render_batch
from regard.messages.templates import load_templates
from regard.store.database import Store, unit_of_work

console = terminal.console()
_POLL = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|)")
_POLL_UNITS = {"ms": 0.001, "s": 1.0, "": 1.0, "m": 60.0}


def worker(
    once: bool = typer.Option(False, "--once", help="Send what is due now, then exit."),
    batch: int | None = typer.Option(
        None,
        "--batch",
        min=1,
        max=10_000,
        help="Messages claimed at once (default: the delivery batch_size).",
    ),
    poll: str = typer.Option("1s", "--poll", help="How long to wait when nothing is due."),
    report: bool = typer.Option(
        False, "--report", help="List messages left ambiguous (sent, perhaps twice, or not)."
    ),
) -> None:
    """Deliver due messages: claim a batch, check consent again, render, send, record; until
    stopped (SIGTERM or Ctrl-C finishes the batch in hand), or with --once until nothing is due.
    Run as many as you like: on PostgreSQL they share the work, never a message."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    store = runtime.store()
    if report:
        print_ambiguous(store)
        return
    wait = poll_seconds(poll)
    settings = get_settings()
    options = store.brand.delivery
    if batch is not None:
        options = options.model_copy(update={"batch_size": batch})
    running = Worker(
        store,
        channels=registry.channels_for(settings=settings, brand=store.brand),
        render=renderer_for(store, settings),
        options=options,
    )

    def finish(signum: int, _frame: FrameType | None) -> None:
        running.stop()

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)
    try:
        summary = running.run(poll=wait, once=once)
    finally:
        running.close()
    print_summary(summary, worker=running.name)


def poll_seconds(text: str) -> float:
    """``500ms``, ``1s``, ``2m`` or a number of seconds."""
    found = _POLL.fullmatch(text.strip())
    if found is None:
        raise InvalidInput(f"--poll {text!r} is not a duration (e.g. 500ms, 1s, 1m)")
    return float(found.group(1)) * _POLL_UNITS[found.group(2)]


def renderer_for(store: Store, settings: Settings) -> Renderer:
    """The brand's templates, compiled once, and the messages domain's batch renderer."""
    templates = load_templates(store.brand, settings.brand_config)

    def render(session: Session, messages: Sequence[OutboxMessage]) -> Sequence[object]:
        return render_batch(
            session,
            messages,
            brand=store.brand,
            templates=templates,
            vault=store.vault,
            settings=settings,
        )

    return render


def print_summary(summary: WorkerSummary, *, worker: str) -> None:
    console.print(
        f"{escape(worker)}: {summary.sent:,} sent, {summary.retried:,} retried, "
        f"{summary.failed:,} failed, {summary.cancelled:,} cancelled, "
        f"{summary.ambiguous:,} ambiguous ({summary.batches:,} batches).",
        highlight=False,
    )


def print_ambiguous(store: Store) -> None:
    """Messages that are, or were, ambiguous, and the outbox by status."""
    with unit_of_work(store) as session:
        found = outbox.ambiguous(session, limit=1000)
        counts = outbox.status_counts(session)
    table = Table("id", "customer", "touchpoint", "channel", "status", "Message-ID", "why")
    table.title = "Ambiguous sends"
    for message in found:
        table.add_row(
            str(message.id),
            str(message.customer_id),
            escape(message.touchpoint),
            message.channel,
            message.status,
            escape(message.message_id or ""),
            escape(message.last_error or ""),
        )
    console.print(table)
    console.print(
        "Outbox: " + ", ".join(f"{n:,} {status}" for status, n in sorted(counts.items())),
        highlight=False,
    )
    # The ids alone, one line each, for scripts.
    console.print(
        f"ambiguous ids: {' '.join(str(m.id) for m in found) or '-'}",
        highlight=False,
        soft_wrap=True,
    )
