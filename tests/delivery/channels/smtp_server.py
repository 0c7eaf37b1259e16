"""A real SMTP server on loopback (aiosmtpd) that records, refuses, drops or asks for login."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    peer: Any


@dataclass
class Inbox:
    """The handler: records what arrives; refuses or drops for chosen recipients."""

    received: list[Received] = field(default_factory=list)
    # recipient -> an SMTP reply to RCPT TO, e.g. "550 5.1.1 <x> unknown"
    refuse: dict[str, str] = field(default_factory=dict)
    # recipients whose message is taken, then the connection is cut before the answer
    drop_after_data: set[str] = field(default_factory=set)
    peers: set[Any] = field(default_factory=set)
    transports: list[Any] = field(default_factory=list)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        self.peers.add(session.peer)
        self.transports.append(server.transport)
        return responses

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content, session.peer)
        )
        if set(envelope.rcpt_tos) & self.drop_after_data:
            server.transport.abort()
        return "250 OK"


@dataclass
class Server:
    inbox: Inbox
    port: int
    controller: Controller

    def cut_connections(self) -> None:
        """Closes every open connection from the server's side, as an idle timeout would."""
        for transport in self.inbox.transports:
            self.controller.loop.call_soon_threadsafe(transport.close)
        self.inbox.transports.clear()


@contextmanager
def smtp_server(
    *,
    tls_context: ssl.SSLContext | None = None,
    login: tuple[str, str] | None = None,
) -> Iterator[Server]:
    inbox = Inbox()
    port = free_port()
    options: dict[str, Any] = {}
    if tls_context is not None:
        options.update(tls_context=tls_context, require_starttls=True)
    if login is not None:

        def authenticate(
            server: Any, session: Any, envelope: Any, mechanism: str, data: Any
        ) -> AuthResult:
            if not isinstance(data, LoginPassword):
                return AuthResult(success=False, handled=False)
            ok = (data.login.decode(), data.password.decode()) == login
            return AuthResult(success=ok, handled=False)

        options.update(
            authenticator=authenticate,
            auth_required=True,
            auth_require_tls=tls_context is not None,
        )
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield Server(inbox, port, controller)
    finally:
        controller.stop()


def self_signed(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A server TLS context for 127.0.0.1 and the certificate file a client must trust."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    return server, cert_file
