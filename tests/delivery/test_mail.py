"""The mail Regard sends itself: through a real SMTP server, into files, never into the log."""

from __future__ import annotations

import logging
import stat
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest

from regard.config import Settings
from regard.delivery.mail import (
    FileMailer,
    SmtpMailer,
    compose,
    mailer_from_settings,
    send_quietly,
)
from tests.delivery.channels.smtp_server import free_port, self_signed, smtp_server


def _message() -> Any:
    return compose(
        sender="choices@outfitters.example",
        to="ana@example.com",
        subject="Your link",
        body="Open https://outfitters.example/p/secret-token\n",
    )


def test_smtp_delivers_to_a_real_server() -> None:
    with smtp_server() as server:
        SmtpMailer("127.0.0.1", server.port).send(_message())

    (arrived,) = server.inbox.received
    assert arrived.mail_from == "choices@outfitters.example"
    assert arrived.rcpt_tos == ["ana@example.com"]
    received = message_from_bytes(arrived.content, policy=policy.default)
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


def test_smtp_trusts_the_certificate_authority_the_settings_name(tmp_path: Path) -> None:
    server_tls, certificate = self_signed(tmp_path)
    settings = Settings(environment="test", smtp_host="127.0.0.1", smtp_starttls=True)
    with smtp_server(tls_context=server_tls) as server:
        trusting = mailer_from_settings(
            settings.model_copy(update={"smtp_port": server.port, "smtp_ca_file": certificate})
        )
        trusting.send(_message())
        untrusting = mailer_from_settings(settings.model_copy(update={"smtp_port": server.port}))
        sent = send_quietly(untrusting, _message())

    assert len(server.inbox.received) == 1
    assert not sent


def test_a_failed_send_is_logged_without_the_body(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="regard.mail")

    sent = send_quietly(SmtpMailer("127.0.0.1", free_port(), timeout=2), _message())

    assert not sent
    assert "mail not sent" in caplog.text
    assert "secret-token" not in caplog.text
    assert "ana@example.com" not in caplog.text
