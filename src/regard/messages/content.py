"""A message ready to go: what the messages domain renders and the delivery channels send.

These are the only types the two domains share. A channel never renders and a template never
sends; the outbox worker hands one to the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate


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

    def as_message(self) -> EmailMessage:
        """The message as it goes on the wire; ``Date`` is the moment of sending."""
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = self.to
        message["Subject"] = self.subject
        message["Message-ID"] = self.message_id
        message["Date"] = formatdate(usegmt=True)
        for name, value in self.headers:
            message[name] = value
        message.set_content(self.text)
        message.add_alternative(self.html, subtype="html")
        return message


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
