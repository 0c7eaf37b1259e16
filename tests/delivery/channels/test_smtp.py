"""Email through a real SMTP server on loopback, read back with the standard email package."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from regard.delivery.channels.smtp import SmtpChannel, tls_context
from regard.messages.content import EmailContent
from tests.delivery.channels.smtp_server import free_port, self_signed, smtp_server


def _email(number: int = 1, *, to: str = "ana@example.com") -> EmailContent:
    return EmailContent(
        sender="Northwind Outfitters <news@outfitters.example>",
        to=to,
        subject=f"Your order {number} is ready",
        text=f"Hello Ana,\n.\nCollect order {number}: https://outfitters.example/o/{number}\n",
        html=(
            f'<p>Hello Ana,</p><p><a href="https://outfitters.example/o/{number}">'
            f"Collect order {number}</a></p>"
        ),
        message_id=f"<m{number}.k3y@outfitters.example>",
        headers=(
            ("List-Unsubscribe", "<https://outfitters.example/u/tok>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ),
    )


def _parse(content: bytes) -> EmailMessage:
    return message_from_bytes(content, policy=policy.default)


def test_a_batch_arrives_whole_on_one_connection() -> None:
    with smtp_server() as server:
        channel = SmtpChannel("127.0.0.1", server.port)
        results = channel.send_batch([_email(n) for n in range(1, 4)])
        channel.close()

    assert [r.outcome for r in results] == ["sent"] * 3
    assert len(server.inbox.received) == 3
    assert len(server.inbox.peers) == 1
    assert channel.connections_opened == 1
    first = server.inbox.received[0]
    assert first.mail_from == "news@outfitters.example"
    assert first.rcpt_tos == ["ana@example.com"]
    message = _parse(first.content)
    assert message["Subject"] == "Your order 1 is ready"
    assert message["Message-ID"] == "<m1.k3y@outfitters.example>"
    assert message["List-Unsubscribe"] == "<https://outfitters.example/u/tok>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Date"] is not None
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    # A line holding only "." survives the SMTP dot-stuffing.
    assert "Hello Ana,\n.\n" in text.get_content().replace("\r\n", "\n")
    assert re.findall(r'href="([^"]+)"', html.get_content()) == ["https://outfitters.example/o/1"]


def test_the_connection_is_kept_across_batches_until_close() -> None:
    with smtp_server() as server:
        channel = SmtpChannel("127.0.0.1", server.port)
        channel.send_batch([_email(1)])
        channel.send_batch([_email(2)])
        channel.close()
        channel.send_batch([_email(3)])
        channel.close()

    assert len(server.inbox.received) == 3
    assert channel.connections_opened == 2


def test_a_connection_the_server_closed_is_reopened_once() -> None:
    with smtp_server() as server:
        channel = SmtpChannel("127.0.0.1", server.port)
        assert channel.send_batch([_email(1)])[0].outcome == "sent"
        server.cut_connections()
        results = channel.send_batch([_email(2), _email(3)])
        channel.close()

    assert [r.outcome for r in results] == ["sent", "sent"]
    assert channel.connections_opened == 2
    assert [_parse(r.content)["Subject"] for r in server.inbox.received] == [
        "Your order 1 is ready",
        "Your order 2 is ready",
        "Your order 3 is ready",
    ]


def test_refusals_are_classified_without_the_address() -> None:
    with smtp_server() as server:
        server.inbox.refuse = {
            "gone@example.com": "550 5.1.1 <gone@example.com>: no such user",
            "full@example.com": "452 4.2.2 <full@example.com>: mailbox full",
        }
        channel = SmtpChannel("127.0.0.1", server.port)
        results = channel.send_batch(
            [
                _email(1, to="gone@example.com"),
                _email(2, to="full@example.com"),
                _email(3),
            ]
        )
        channel.close()

    assert [r.outcome for r in results] == ["failed", "retry", "sent"]
    assert results[0].detail == "smtp 550 5.1.1 at RCPT"
    assert results[1].detail == "smtp 452 4.2.2 at RCPT"
    assert all("@" not in r.detail for r in results)
    # The refusals did not cost the connection, and only the good message arrived.
    assert channel.connections_opened == 1
    assert [r.rcpt_tos for r in server.inbox.received] == [["ana@example.com"]]


def test_a_connection_lost_after_the_data_is_ambiguous() -> None:
    with smtp_server() as server:
        server.inbox.drop_after_data = {"cut@example.com"}
        channel = SmtpChannel("127.0.0.1", server.port, timeout=5)
        results = channel.send_batch([_email(1, to="cut@example.com"), _email(2)])
        channel.close()

    assert [r.outcome for r in results] == ["ambiguous", "sent"]
    # The server did take the ambiguous one: that is why it must not count as failed.
    assert len(server.inbox.received) == 2
    assert channel.connections_opened == 2


def test_an_unreachable_server_leaves_the_whole_batch_to_retry() -> None:
    channel = SmtpChannel("127.0.0.1", free_port(), timeout=5)

    results = channel.send_batch([_email(1), _email(2)])

    assert [r.outcome for r in results] == ["retry", "retry"]
    assert results[0].detail.startswith("cannot connect")


def test_starttls_and_login(tmp_path: Path) -> None:
    server_tls, certificate = self_signed(tmp_path)
    with smtp_server(tls_context=server_tls, login=("regard", "s3cret-pass")) as server:
        channel = SmtpChannel(
            "127.0.0.1",
            server.port,
            username="regard",
            password="s3cret-pass",
            starttls=True,
            tls_context=tls_context(certificate),
        )
        results = channel.send_batch([_email(1), _email(2)])
        channel.close()
        wrong = SmtpChannel(
            "127.0.0.1",
            server.port,
            username="regard",
            password="wrong",
            starttls=True,
            tls_context=tls_context(certificate),
        )
        refused = wrong.send_batch([_email(3)])

    assert [r.outcome for r in results] == ["sent", "sent"]
    assert channel.connections_opened == 1
    assert refused[0].outcome == "retry"
    assert "authentication" in refused[0].detail
    assert len(server.inbox.received) == 2


def test_starttls_refuses_an_untrusted_certificate(tmp_path: Path) -> None:
    server_tls, _ = self_signed(tmp_path)
    with smtp_server(tls_context=server_tls) as server:
        channel = SmtpChannel("127.0.0.1", server.port, starttls=True)
        results = channel.send_batch([_email(1)])

    assert results[0].outcome == "retry"
    assert server.inbox.received == []


def test_two_hundred_messages_share_one_connection() -> None:
    with smtp_server() as server:
        channel = SmtpChannel("127.0.0.1", server.port)
        results = channel.send_batch([_email(n) for n in range(200)])
        channel.close()

    assert {r.outcome for r in results} == {"sent"}
    assert len(server.inbox.received) == 200
    assert channel.connections_opened == 1
