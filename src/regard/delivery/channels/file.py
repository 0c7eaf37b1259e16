"""Messages written to a folder instead of sent: for development and the demo.

Each message becomes one file named by its message id (``.eml`` for email, ``.json`` for the
others), written whole under a temporary name and then renamed, so a repeat of the same message
replaces its file rather than adding a second one, and a reader never sees half a file. The
files hold personal data: only their owner may read them.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

from regard.delivery.channels.base import Channel, SendResult
from regard.delivery.channels.webhook import request_body
from regard.messages.content import Content, EmailContent

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+=-]")


def file_name(content: Content) -> str:
    """The file a message is written to: its message id made safe as a name."""
    stem = _UNSAFE.sub("_", content.message_id.strip("<>")).lstrip(".") or "message"
    return stem[:200] + (".eml" if isinstance(content, EmailContent) else ".json")


class FileChannel(Channel):
    """Writes each message of one channel into ``directory``."""

    def __init__(self, name: str, directory: Path) -> None:
        self.name = name
        self.directory = directory

    def send_batch(self, messages: Sequence[Content]) -> list[SendResult]:
        results: list[SendResult] = []
        for content in messages:
            try:
                path = self.write(content)
            except OSError as exc:
                results.append(SendResult("retry", detail=f"cannot write: {type(exc).__name__}"))
            else:
                results.append(SendResult("sent", provider_id=path.name))
        return results

    def write(self, content: Content) -> Path:
        """Writes one message and returns its file."""
        if isinstance(content, EmailContent):
            data = content.as_message().as_bytes()
        else:
            data = json.dumps(request_body(content), indent=2, ensure_ascii=False).encode() + b"\n"
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.directory / file_name(content)
        descriptor, temporary = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".part")
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(data)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return path
