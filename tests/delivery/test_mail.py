"""The mail Regard sends itself: through a real SMTP server, into files, never into the log."""

from __future__ import annotations

import logging
import socket
import stat
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from regard.config import Settings
from regard.delivery.mail import (
    FileMailer,
    SmtpMailer,
    compose,
    mailer_from_settings,
    send_quietly,
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class _Inbox:
    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[_Inbox, int]]:
    inbox = _Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def _message() -> Any:
    return compose(
        sender="choices@outfitters.example",
        to="ana@example.com",
        subject="Your link",
        body="Open https://outfitters.example/p/secret-token\n",
    )


def test_smtp_delivers_to_a_real_server(smtp_server: tuple[_Inbox, int]) -> None:
    inbox, port = smtp_server

    SmtpMailer("127.0.0.1", port).send(_message())

    assert len(inbox.received) == 1
    sender, recipients, content = inbox.received[0]
    assert sender == "choices@outfitters.example"
    assert recipients == ["ana@example.com"]
    received = message_from_bytes(content, policy=policy.default)
    assert received["Subject"] == "Your link"
    assert "secret-token" in received.get_content()


def test_files_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"

    FileMailer(outbox).send(_message())

    (written,) = outbox.glob("*.eml")
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    parsed = message_from_bytes(written.read_bytes(), policy=policy.default)
    assert parsed["To"] == "ana@example.com"


def test_settings_choose_smtp_when_a_host_is_set(tmp_path: Path) -> None:
    files = mailer_from_settings(Settings(environment="test", mail_dir=tmp_path))
    assert isinstance(files, FileMailer)
    assert files.directory == tmp_path
    smtp = mailer_from_settings(
        Settings(environment="test", smtp_host="mail.example", smtp_port=587, smtp_starttls=True)
    )
    assert isinstance(smtp, SmtpMailer)
    assert (smtp.host, smtp.port, smtp.starttls) == ("mail.example", 587, True)


def test_a_failed_send_is_logged_without_the_body(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="regard.mail")

    sent = send_quietly(SmtpMailer("127.0.0.1", _free_port(), timeout=2), _message())

    assert not sent
    assert "mail not sent" in caplog.text
    assert "secret-token" not in caplog.text
    assert "ana@example.com" not in caplog.text
