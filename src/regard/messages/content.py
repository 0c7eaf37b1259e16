"""A message ready to go: what the messages domain renders and the delivery channels send.

These are the only types the two domains share. A channel never renders and a template never
sends; the outbox worker hands one to the other.

An email is written out directly as its wire form (RFC 5322 and MIME, CRLF line ends), without
the ``email`` package's object model, which costs milliseconds a message: headers with non-ASCII
text become RFC 2047 encoded words, lines are folded, and a part that is not plain 7-bit ASCII
in short lines is sent quoted-printable, so the message never needs the server's 8BITMIME.
"""

from __future__ import annotations

import binascii
import email
import functools
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

_CRLF = "\r\n"
# Header lines are folded to this length where the text allows (RFC 5322's "SHOULD").
_FOLD_AT = 78
# No line of a 7-bit part may be longer than this (RFC 5322's "MUST" is 998 with the CRLF).
_SEVEN_BIT_LINE = 998
# Bytes of UTF-8 in one base64 encoded word: "=?utf-8?b?" + 60 characters + "?=" is 72 < 75.
_WORD_BYTES = 45
# Characters that make a display name need quoting (RFC 5322 "specials").
_SPECIALS = re.compile(r'[][\\()<>@,:;".]')
# What a bare address (local@domain) never holds.
_NOT_BARE = re.compile(r'[<>()",;:\\\s]')


@dataclass(frozen=True, slots=True)
class EmailContent:
    """One email, complete: both parts, and every header a receiving client expects.

    ``message_id`` is stable for one outbox message (derived from its idempotency key), so a
    retried send carries the same Message-ID and receivers can drop the copy.
    """

    sender: str
    to: str
    subject: str
    text: str
    html: str
    message_id: str
    # List-Unsubscribe, List-Unsubscribe-Post and any other header, in order.
    headers: tuple[tuple[str, str], ...] = ()

    def as_bytes(self) -> bytes:
        """The message as it goes on the wire (CRLF line ends, 7-bit clean unless an address
        itself is not ASCII); ``Date`` is the moment of this call. Raises ``ValueError`` for
        a header value holding a line break."""
        boundary = "=_" + hashlib.blake2s(self.message_id.encode(), digest_size=12).hexdigest()
        if boundary in self.text or boundary in self.html:
            # Never in practice; a part holding it would end the part early.
            boundary = "=_" + secrets.token_hex(16)
        lines = [
            _header("From", _address(self.sender)),
            _header("To", _address(self.to) if _NOT_BARE.search(self.to) else _bare(self.to)),
            _header("Subject", _unstructured(self.subject)),
            _header("Message-ID", _plain(self.message_id)),
            _header("Date", [formatdate(usegmt=True)]),
        ]
        lines.extend(_header(name, _unstructured(value)) for name, value in self.headers)
        lines.append("MIME-Version: 1.0")
        lines.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
        head = _CRLF.join(lines) + _CRLF + _CRLF
        return b"".join(
            (
                head.encode(),
                f"--{boundary}{_CRLF}".encode(),
                _part(self.text, "plain"),
                # The line end before a boundary belongs to the boundary, not to the part.
                f"{_CRLF}--{boundary}{_CRLF}".encode(),
                _part(self.html, "html"),
                f"{_CRLF}--{boundary}--{_CRLF}".encode(),
            )
        )

    def as_message(self) -> EmailMessage:
        """The message as an :class:`~email.message.EmailMessage` (previews, files): the same
        bytes as :meth:`as_bytes`, parsed."""
        # Parsed with plain newlines, as a message read from a file would be.
        raw = self.as_bytes().replace(b"\r\n", b"\n")
        parsed = email.message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


def _part(text: str, subtype: str) -> bytes:
    """One MIME part: 7bit when it is ASCII in lines short enough, else quoted-printable."""
    body = text.replace("\r\n", "\n").replace("\r", "\n")
    if not body.endswith("\n"):
        body += "\n"
    if body.isascii() and max(map(len, body.split("\n"))) <= _SEVEN_BIT_LINE - 2:
        encoding, payload = "7bit", body.encode("ascii")
    else:
        # Soft line breaks keep every line within 76 characters.
        encoding = "quoted-printable"
        payload = binascii.b2a_qp(body.encode(), istext=True)
    head = (
        f'Content-Type: text/{subtype}; charset="utf-8"{_CRLF}'
        f"Content-Transfer-Encoding: {encoding}{_CRLF}{_CRLF}"
    )
    return head.encode() + payload.replace(b"\n", b"\r\n")


def _plain(value: str) -> list[str]:
    """A header value kept as it is (one token, no folding point): a Message-ID."""
    _refuse_breaks(value)
    return [value]


def _refuse_breaks(value: str) -> None:
    if "\r" in value or "\n" in value:
        raise ValueError("a header value may not hold a line break")


def _bare(value: str) -> list[str]:
    _refuse_breaks(value)
    address = value.strip()
    if not address:
        raise ValueError("not an email address")
    return [address]


def _unstructured(value: str) -> list[str]:
    """Free text as the words to fold between (see :func:`_words`)."""
    _refuse_breaks(value)
    return _words(value, phrase=False)


def mailbox(value: str) -> tuple[str, str]:
    """The display name (may be empty) and the address of ``Name <address>`` or of a bare
    address; the address is empty when there is none."""
    if not _NOT_BARE.search(value):
        return "", value.strip()  # the common case, a bare address: no parsing needed
    return _parsed_mailbox(value)


@functools.lru_cache(maxsize=256)
def _parsed_mailbox(value: str) -> tuple[str, str]:
    # Senders repeat on every message: parsed once each.
    return parseaddr(value)


@functools.lru_cache(maxsize=256)
def _address(value: str) -> list[str]:
    """``Name <address>`` or a bare address, the name quoted or encoded as it needs. The
    caller must not change the list (it is cached: a sender is the same on every message)."""
    _refuse_breaks(value)
    name, address = mailbox(value)
    if not address:
        raise ValueError("not an email address")
    if not name:
        return [address]
    if name.isascii() and _SPECIALS.search(name):
        return ['"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"', f"<{address}>"]
    return [*_words(name, phrase=True), f"<{address}>"]


def _words(text: str, *, phrase: bool) -> list[str]:
    """``text`` as words to fold between: ASCII words as they are (a URL stays whole), runs of
    words that are not as RFC 2047 encoded words, each at most 75 characters.

    A run is encoded with the spaces inside it, and the space before the next plain word stays
    plain, so the text reads back exactly whether a decoder drops the space between two encoded
    words (RFC 2047) or keeps it; a run split in two keeps its space inside the first part."""
    words: list[str] = []
    run: list[str] = []

    def close_run() -> None:
        if run:
            words.extend(_encoded_words(" ".join(run)))
            run.clear()

    for word in text.split(" "):
        if _needs_encoding(word, phrase=phrase):
            run.append(word)
        else:
            close_run()
            words.append(word)
    close_run()
    return words


def _needs_encoding(word: str, *, phrase: bool) -> bool:
    if not word.isascii() or word.startswith("=?") or len(word) > _SEVEN_BIT_LINE - 100:
        return True
    # In a display name mixed with encoded words, a word with specials would need quotes.
    return phrase and _SPECIALS.search(word) is not None


def _encoded_words(text: str) -> list[str]:
    """``text`` as base64 encoded words of at most 75 characters; a split falls after a space
    where one is near, and never inside a character."""
    words: list[str] = []
    data = text.encode()
    while len(data) > _WORD_BYTES:
        cut = data.rfind(b" ", 0, _WORD_BYTES) + 1
        if cut <= 0:
            cut = _WORD_BYTES
            while cut > 0 and data[cut] & 0xC0 == 0x80:  # a UTF-8 continuation byte
                cut -= 1
        words.append(_word(data[:cut]))
        data = data[cut:]
    words.append(_word(data))
    return words


def _word(data: bytes) -> str:
    return "=?utf-8?b?" + binascii.b2a_base64(data, newline=False).decode() + "?="


def _header(name: str, words: list[str]) -> str:
    """``Name: words``, folded before a word that would take a line past 78 characters (never
    before an empty word: a folded line is never blank)."""
    lines: list[str] = []
    line = f"{name}:"
    started = False
    for word in words:
        if word and started and len(line) + 1 + len(word) > _FOLD_AT:
            lines.append(line)
            line = ""
        line = f"{line} {word}"
        started = started or bool(word)
    lines.append(line)
    return _CRLF.join(lines)


@dataclass(frozen=True, slots=True)
class ProviderContent:
    """A text, push notification or call script, sent to a provider's webhook as JSON.

    ``to`` is a phone number in E.164 (sms, voice) or a device token (push).
    """

    channel: str
    to: str
    body: str
    message_id: str
    title: str | None = None
    link: str | None = None
    # Whether a call asks for a response (only touchpoints that ask for one do).
    asks_response: bool = False
    extra: dict[str, str] = field(default_factory=dict)


Content = EmailContent | ProviderContent
