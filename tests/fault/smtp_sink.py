"""A real SMTP server on loopback that counts the Message-IDs it accepts (a little slowly, so
that a worker can be killed in the middle of a batch), or discards everything (benchmarks)."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiosmtpd.controller import Controller

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Sink:
    """Accepts every message; ``received`` counts each Message-ID seen."""

    def __init__(self, *, delay: float = 0.0, record: bool = True) -> None:
        self.delay = delay
        self.record = record
        self.received: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.connections = 0

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.record:
            found = _MESSAGE_ID.search(envelope.original_content or envelope.content)
            with self.lock:
                self.received[found.group(1).decode() if found else "(none)"] += 1
        return "250 OK"

    def total(self) -> int:
        with self.lock:
            return sum(self.received.values())


@contextmanager
def smtp_sink(sink: Sink) -> Iterator[int]:
    """Serves ``sink`` on 127.0.0.1; yields the port."""
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()
