"""Email through any SMTP server, on one connection kept across batches.

Each message is its own SMTP transaction (MAIL, RCPT, DATA) on a connection opened once and
kept until :meth:`SmtpChannel.close` or an error: no handshake, TLS negotiation, login or DNS
look-up per message. What a reply means for the message:

- 2xx after the data: sent.
- 4xx at any step, or a connection that cannot be opened or breaks before the data went out:
  retry. A connection found dropped before DATA (servers close idle ones) is reopened once.
- 5xx at any step: failed, with the SMTP code (and enhanced status code) in ``detail``; the
  server's own words are left out, since they often repeat the address.
- The connection breaks or times out after the whole message was handed over, before the
  server's answer: ambiguous, since the server may have accepted it.
"""

from __future__ import annotations

import logging
import re
import smtplib
import socket
import ssl
from collections.abc import Callable, Sequence
from pathlib import Path

from regard.delivery.channels.base import Channel, SendResult
from regard.messages.content import Content, EmailContent, mailbox

log = logging.getLogger("regard.delivery.smtp")

_CRLF = b"\r\n"
_ENHANCED = re.compile(rb"^([245]\.\d{1,3}\.\d{1,3})\b")


class _Dropped(Exception):
    """The connection broke before the message data went out: safe to send again."""

    def __init__(self, step: str) -> None:
        super().__init__(step)
        self.step = step


class SmtpChannel(Channel):
    """Sends :class:`EmailContent` through one SMTP server. Not shared between threads."""

    name = "email"

    def __init__(
        self,
        host: str,
        port: int = 25,
        *,
        username: str = "",
        password: str = "",
        starttls: bool = False,
        tls_context: ssl.SSLContext | None = None,
        helo_name: str = "",
        timeout: float = 30.0,
    ) -> None:
        self.host, self.port = host, port
        self.username, self.password = username, password
        self.starttls = starttls
        self.tls_context = tls_context
        # socket.getfqdn() (smtplib's default) may wait on DNS: the host name needs none.
        self.helo_name = helo_name or socket.gethostname() or "localhost"
        self.timeout = timeout
        self._smtp: smtplib.SMTP | None = None
        # Connections opened over the channel's life: for operators and tests, not for logic.
        self.connections_opened = 0

    def send_batch(self, messages: Sequence[Content]) -> list[SendResult]:
        results: list[SendResult] = []
        for position, content in enumerate(messages):
            if not isinstance(content, EmailContent):
                results.append(SendResult("failed", detail="not an email"))
                continue
            result, unreachable = self._send_one(content)
            results.append(result)
            if unreachable:
                # The server cannot be reached: the rest of the batch waits for a later try
                # rather than each paying the connection timeout again.
                rest = len(messages) - position - 1
                results.extend([SendResult("retry", detail=result.detail)] * rest)
                break
        return results

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()

    # One message: (its result, whether the server is unreachable for the rest of the batch).
    def _send_one(self, content: EmailContent) -> tuple[SendResult, bool]:
        sender = mailbox(content.sender)[1] or content.sender
        recipient = mailbox(content.to)[1] or content.to
        data = _wire_bytes(content)
        for attempt in (1, 2):
            reused = self._smtp is not None
            try:
                smtp = self._connection()
            except _Unreachable as problem:
                return SendResult("retry", detail=problem.detail), True
            try:
                return self._transaction(smtp, sender, recipient, data), False
            except _Dropped as dropped:
                self._discard()
                # A kept connection the server closed while idle is expected: open another.
                # A fresh one that drops, or a second drop, waits for a later try.
                if attempt == 1 and reused:
                    continue
                return SendResult("retry", detail=f"connection lost at {dropped.step}"), False
        raise AssertionError("unreachable")  # pragma: no cover

    def _transaction(
        self, smtp: smtplib.SMTP, sender: str, recipient: str, data: bytes
    ) -> SendResult:
        options: list[str] = []
        if not (sender + recipient).isascii():
            if not smtp.has_extn("smtputf8"):
                return SendResult("failed", detail="the server does not take non-ASCII addresses")
            options.append("SMTPUTF8")
        code, reply = self._command(smtp, "MAIL", lambda: _mail(smtp, sender, options))
        if code != 250:
            return self._refused(smtp, "MAIL", code, reply)
        code, reply = self._command(smtp, "RCPT", lambda: _rcpt(smtp, recipient))
        if code not in (250, 251):
            return self._refused(smtp, "RCPT", code, reply)
        code, reply = self._command(smtp, "DATA", lambda: _start_data(smtp))
        if code != 354:
            return self._refused(smtp, "DATA", code, reply)
        try:
            smtp.send(data)
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            # The final "." is the last thing written: a write that failed did not complete the
            # message, and a server never accepts one without it.
            raise _Dropped("message data") from exc
        try:
            code, reply = smtp.getreply()
        except (OSError, smtplib.SMTPServerDisconnected):
            self._discard()
            return SendResult("ambiguous", detail="no answer after the message data")
        if code == 250:
            return SendResult("sent")
        # The transaction ended with this answer: nothing to reset.
        return self._refused(smtp, "end of data", code, reply, reset=False)

    def _command(
        self, smtp: smtplib.SMTP, step: str, command: Callable[[], tuple[int, bytes]]
    ) -> tuple[int, bytes]:
        try:
            code, reply = command()
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            raise _Dropped(step) from exc
        if code == 421 or code == -1:
            # 421: the server is closing the connection (overloaded, idle too long).
            raise _Dropped(step)
        return code, reply

    def _refused(
        self, smtp: smtplib.SMTP, step: str, code: int, reply: bytes, *, reset: bool = True
    ) -> SendResult:
        enhanced = _ENHANCED.match(reply.strip())
        detail = f"smtp {code}" + (f" {enhanced.group(1).decode()}" if enhanced else "")
        detail += f" at {step}"
        if reset:
            try:
                smtp.rset()
            except (OSError, smtplib.SMTPException):
                self._discard()
        if 400 <= code < 500:
            return SendResult("retry", detail=detail)
        return SendResult("failed", detail=detail)

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is not None:
            return self._smtp
        try:
            # Given the host here (not to connect()), smtplib checks the TLS certificate for it.
            smtp = smtplib.SMTP(
                self.host, self.port, local_hostname=self.helo_name, timeout=self.timeout
            )
        except smtplib.SMTPResponseException as exc:
            raise _Unreachable(f"smtp {exc.smtp_code} on connecting") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise _Unreachable(f"cannot connect: {type(exc).__name__}") from exc
        try:
            smtp.ehlo()
            if self.starttls:
                smtp.starttls(context=self.tls_context or ssl.create_default_context())
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self.password)
        except smtplib.SMTPAuthenticationError as exc:
            smtp.close()
            raise _Unreachable(f"smtp {exc.smtp_code} at login: authentication refused") from exc
        except smtplib.SMTPNotSupportedError as exc:
            smtp.close()
            raise _Unreachable("the server does not offer STARTTLS or AUTH") from exc
        except smtplib.SMTPResponseException as exc:
            smtp.close()
            raise _Unreachable(f"smtp {exc.smtp_code} on connecting") from exc
        except (OSError, smtplib.SMTPException) as exc:
            smtp.close()
            raise _Unreachable(f"cannot connect: {type(exc).__name__}") from exc
        self.connections_opened += 1
        log.info("smtp connection opened to %s:%s", self.host, self.port)
        self._smtp = smtp
        return smtp

    def _discard(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()


class _Unreachable(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def _mail(smtp: smtplib.SMTP, sender: str, options: list[str]) -> tuple[int, bytes]:
    if options:
        return smtp.mail(sender, options)
    # smtplib's mail() parses the address again (slowly); it is a plain address already.
    smtp.putcmd("mail", f"FROM:<{sender}>")
    return smtp.getreply()


def _rcpt(smtp: smtplib.SMTP, recipient: str) -> tuple[int, bytes]:
    smtp.putcmd("rcpt", f"TO:<{recipient}>")
    return smtp.getreply()


def _start_data(smtp: smtplib.SMTP) -> tuple[int, bytes]:
    smtp.putcmd("data")
    return smtp.getreply()


def _wire_bytes(content: EmailContent) -> bytes:
    """The message with CRLF line ends, dot-stuffed, ending in the lone "." of RFC 5321."""
    raw = content.as_bytes()
    stuffed = raw.replace(b"\n.", b"\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    if not stuffed.endswith(_CRLF):
        stuffed += _CRLF
    return stuffed + b"." + _CRLF


def tls_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """A verifying TLS context, trusting ``ca_file`` too when given (a private CA)."""
    context = ssl.create_default_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    return context
