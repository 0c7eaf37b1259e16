"""The demo's delivery: a real SMTP server on loopback that keeps what it receives in a Maildir,
and files for texts, push notifications and calls, so a newcomer can read every message sent.

The worker is the product's own (``regard worker``): it claims from the outbox, checks consent
again, renders the brand's templates and sends through its SMTP channel; nothing here is a
shortcut around it.
"""

from __future__ import annotations

import mailbox
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes
from email.message import Message
from email.policy import default
from pathlib import Path
from typing import Any

from regard.config import Settings
from regard.delivery import outbox
from regard.delivery.channels import registry
from regard.delivery.commands import renderer_for
from regard.delivery.worker import Worker, WorkerSummary
from regard.store.database import Store, unit_of_work

MAILBOX_DIR = "mailbox"
MESSAGES_DIR = "messages"


class MaildirHandler:
    """An aiosmtpd handler that files every message it accepts in a Maildir."""

    def __init__(self, folder: Path) -> None:
        self.maildir = mailbox.Maildir(folder, create=True)
        self.lock = threading.Lock()
        self.received = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.maildir.add(envelope.original_content or envelope.content)
            self.received += 1
        return "250 OK: kept in the demo's mailbox"


@dataclass
class DemoMailServer:
    host: str
    port: int
    folder: Path
    handler: MaildirHandler


@contextmanager
def mail_server(directory: Path) -> Iterator[DemoMailServer]:
    """A real SMTP server on 127.0.0.1 (a free port) for as long as the block runs."""
    from aiosmtpd.controller import Controller

    folder = directory / MAILBOX_DIR
    handler = MaildirHandler(folder)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield DemoMailServer("127.0.0.1", port, folder, handler)
    finally:
        controller.stop()


def demo_worker(
    store: Store,
    directory: Path,
    server: DemoMailServer,
    *,
    public_url: str,
    clock: Any = None,
) -> Worker:
    """The product's worker, email to the demo's SMTP server, other channels to files."""
    settings = Settings(
        database_url=str(store.engine.url),
        brand_config=directory / "regard.toml",
        smtp_host=server.host,
        smtp_port=server.port,
        public_url=public_url,
    )
    files = (directory / MESSAGES_DIR).resolve()
    brand = store.brand.model_copy(
        update={"delivery": store.brand.delivery.model_copy(update={"file_dir": str(files)})}
    )
    return Worker(
        store,
        channels=registry.channels_for(settings=settings, brand=brand),
        render=renderer_for(store, settings),
        name="demo-worker",
        clock=clock,
    )


@dataclass(frozen=True)
class DeliveryReport:
    summary: WorkerSummary
    # The outbox by status once the worker has drained what is due.
    statuses: dict[str, int]
    # Why messages were cancelled or failed, with how many.
    problems: dict[str, int]
    example: Message | None


def deliver_due(store: Store, worker: Worker, server: DemoMailServer) -> DeliveryReport:
    """Everything due now, sent; what the outbox holds afterwards; one email as received."""
    summary = worker.run(once=True)
    with unit_of_work(store) as session:
        statuses = outbox.status_counts(session)
        problems = outbox.problem_counts(session)
    return DeliveryReport(summary, statuses, problems, _first_email(server.folder))


def _first_email(folder: Path) -> Message | None:
    new = sorted((folder / "new").glob("*"))
    if not new:
        return None
    return message_from_bytes(new[0].read_bytes(), policy=default)


def read_moment(now: datetime) -> str:
    return f"{now:%Y-%m-%d %H:%M} UTC"
