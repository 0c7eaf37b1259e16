"""An email's wire form, parsed back with the standard ``email`` package: every header, both
parts, encoded words for non-ASCII text, folded short lines, and nothing 8-bit undeclared."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest

from regard.messages.content import EmailContent, mailbox

UNSUBSCRIBE = "https://regard.example/u/" + "eyJjIjoxMjM0NSwiZyI6MH0.Zk1a2b.sig" * 4


def make(**changes: str) -> EmailContent:
    fields = {
        "sender": "Northwind Outfitters <hello@northwind.example>",
        "to": "Zoë Müller <zoe@example.com>",
        "subject": "Votre commande est prête à être retirée, Zoë",
        "text": "Bonjour Zoë,\n\nvotre commande est prête.\n.\nÀ bientôt\n",
        "html": '<p style="color:#333">Bonjour Zoë, votre commande est prête.</p>',
        "message_id": "<0123456789abcdef@northwind.example>",
    }
    fields.update(changes)
    return EmailContent(
        **fields,
        headers=(
            ("List-Unsubscribe", f"<{UNSUBSCRIBE}>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ),
    )


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_headers_and_parts_read_back_exactly() -> None:
    content = make()
    raw = content.as_bytes()
    message = parse(raw)
    assert message.defects == []
    assert message["From"] == "Northwind Outfitters <hello@northwind.example>"
    to = message["To"].addresses[0]
    assert (to.display_name, to.addr_spec) == ("Zoë Müller", "zoe@example.com")
    assert message["Subject"] == content.subject
    assert message["Message-ID"] == content.message_id
    assert message["Date"].datetime is not None
    assert message["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["MIME-Version"] == "1.0"
    assert message.get_content_type() == "multipart/alternative"
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None
    assert html is not None
    assert plain.get_content().replace("\r\n", "\n") == content.text
    assert html.get_content().replace("\r\n", "\n") == content.html + "\n"
    assert [part.get_content_charset() for part in message.iter_parts()] == ["utf-8", "utf-8"]


def test_the_wire_form_is_seven_bit_in_short_lines() -> None:
    long_html = "<table>" + "<td>Trail shoes, wide fits — 20% off</td>" * 60 + "</table>"
    subject = "Des chaussures de trail en pointures larges, rien que pour vous, Zoë " * 3
    content = make(html=long_html, subject=subject.strip())
    raw = content.as_bytes()
    assert raw.isascii()  # non-ASCII text is declared and encoded, never raw 8-bit
    lines = raw.split(b"\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF line ends only
    assert max(len(line) for line in lines) <= 998
    head = raw.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n"):
        # Folded at 78 where there is a place to fold; the unsubscribe URL stays whole.
        assert len(line) <= 78 or UNSUBSCRIBE.encode() in line
    message = parse(raw)
    assert message["Subject"] == content.subject
    encodings = [part["Content-Transfer-Encoding"] for part in message.iter_parts()]
    assert encodings == ["quoted-printable", "quoted-printable"]
    html = message.get_body(("html",))
    assert html is not None
    assert html.get_content().replace("\r\n", "\n") == long_html + "\n"


def test_plain_ascii_parts_go_as_seven_bit() -> None:
    content = make(text="Your order is ready.\n", html="<p>Your order is ready.</p>")
    message = parse(content.as_bytes())
    encodings = [part["Content-Transfer-Encoding"] for part in message.iter_parts()]
    assert encodings == ["7bit", "7bit"]


def test_long_names_and_specials_read_back() -> None:
    name = "Zoë-Élise Müller-Lüdenscheidt von Großgrünberg am Überlinger See"
    for to, display in (
        (f"{name} <zoe@example.com>", name),
        ('"Müller, Zoë" <zoe@example.com>', "Müller, Zoë"),
        ('"Smith, J. (Shop)" <j@example.com>', "Smith, J. (Shop)"),
        ("zoe@example.com", ""),
    ):
        raw = make(to=to).as_bytes()
        assert raw.isascii()
        parsed = parse(raw)["To"].addresses[0]
        assert parsed.display_name == display
        assert parsed.addr_spec in ("zoe@example.com", "j@example.com")


def test_the_object_model_and_the_wire_form_agree() -> None:
    content = make()
    message = content.as_message()
    assert message["Subject"] == content.subject
    assert message["Message-ID"] == content.message_id
    assert message.get_body(("plain",)) is not None


def test_a_line_break_in_a_header_is_refused() -> None:
    with pytest.raises(ValueError, match="line break"):
        make(subject="Hello\r\nBcc: everyone@example.com").as_bytes()


def test_mailbox() -> None:
    assert mailbox("zoe@example.com") == ("", "zoe@example.com")
    assert mailbox("Zoë <zoe@example.com>") == ("Zoë", "zoe@example.com")
    assert mailbox('"Müller, Zoë" <zoe@example.com>') == ("Müller, Zoë", "zoe@example.com")
