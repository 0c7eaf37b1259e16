"""The email Regard sends itself: preference-center links and opt-in confirmations.

One small interface, :class:`Mailer`, with three implementations: :class:`SmtpMailer` for a
real server, :class:`FileMailer` (``.eml`` files, for development and the demo) and
:class:`MemoryMailer` (kept in a list, for tests). Bodies carry links that open a customer's
preferences: they are never logged, only the fact that a message went out.
"""

from __future__ import annotations

import logging
import os
import secrets
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from regard.config import Settings

log = logging.getLogger("regard.mail")


class Mailer:
    """Sends one finished message. Implementations raise ``OSError`` when it cannot go out."""

    def send(self, message: EmailMessage) -> None:
        raise NotImplementedError


def compose(*, sender: str, to: str, subject: str, body: str) -> EmailMessage:
    """A plain-text message with the headers every mail server expects."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    domain = sender.rpartition("@")[2] or "regard.invalid"
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(body)
    return message


class SmtpMailer(Mailer):
    """Through an SMTP server; STARTTLS and login when the settings ask for them."""

    def __init__(
        self,
        host: str,
        port: int = 25,
        *,
        username: str = "",
        password: str = "",
        starttls: bool = False,
        tls_context: ssl.SSLContext | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.host, self.port = host, port
        self.username, self.password = username, password
        self.starttls, self.timeout = starttls, timeout
        self.tls_context = tls_context

    def send(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls(context=self.tls_context or ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password)
            smtp.send_message(message)
        log.info("mail sent through %s:%s", self.host, self.port)


class FileMailer(Mailer):
    """Writes each message as an ``.eml`` file only its owner can read."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, message: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        path = self.directory / f"{stamp}-{secrets.token_hex(4)}.eml"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(message.as_bytes())
        log.info("mail written to %s", path.name)


class MemoryMailer(Mailer):
    """Keeps every message in :attr:`sent`: the fake for tests."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    def send(self, message: EmailMessage) -> None:
        self.sent.append(message)


def mailer_from_settings(settings: Settings) -> Mailer:
    """SMTP when a host is set (trusting ``smtp_ca_file`` as the email channel does), else
    ``.eml`` files in ``mail_dir``."""
    if settings.smtp_host:
        from regard.delivery.channels.smtp import tls_context

        return SmtpMailer(
            settings.smtp_host,
            settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value(),
            starttls=settings.smtp_starttls,
            tls_context=tls_context(settings.smtp_ca_file),
        )
    return FileMailer(settings.mail_dir)


def send_quietly(mailer: Mailer, message: EmailMessage) -> bool:
    """Send after the change is stored; a failure is logged by its kind only, never its body."""
    try:
        mailer.send(message)
    except (OSError, smtplib.SMTPException) as exc:
        log.error("mail not sent: %s", type(exc).__name__)
        return False
    return True
