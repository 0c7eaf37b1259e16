"""One interface for every way a message leaves Regard.

A channel takes a batch of finished messages and says, for each, what became of it. It never
raises for one message's failure: that is an outcome. It raises only when it cannot work at all
(its configuration is wrong), before sending anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from regard.messages.content import Content

# sent: the provider accepted it. retry: a temporary failure, try again later.
# failed: a permanent failure (the address does not exist, the provider refused it for good).
# ambiguous: the provider may have accepted it, but we could not hear the answer.
Outcome = Literal["sent", "retry", "failed", "ambiguous"]


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: Outcome
    # Why it failed, in words safe to store and log (never the message or the address).
    detail: str = ""
    # The provider's own id for the message, for matching its status callbacks.
    provider_id: str | None = None


class Channel:
    """Sends batches of one kind of message. Implementations keep connections across a batch."""

    name: str

    def send_batch(self, messages: Sequence[Content]) -> list[SendResult]:
        """One result per message, in order."""
        raise NotImplementedError

    def close(self) -> None:
        """Releases connections kept between batches."""
