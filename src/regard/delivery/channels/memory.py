"""The fake channel for unit tests: records what it was given and answers as scripted."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence

from regard.delivery.channels.base import Channel, Outcome, SendResult
from regard.messages.content import Content


class MemoryChannel(Channel):
    """Keeps every message in :attr:`sent`, in order, and every batch in :attr:`batches`.

    A message's answer is, first found: ``by_message_id[message_id]``, the next of
    ``outcomes`` (each used once), else ``sent``. An answer may be an outcome or a whole
    :class:`SendResult`; a plain ``sent`` gets a provider id ``memory-<n>``.
    """

    def __init__(
        self,
        name: str = "email",
        *,
        outcomes: Iterable[Outcome | SendResult] = (),
        by_message_id: Mapping[str, Outcome | SendResult] | None = None,
    ) -> None:
        self.name = name
        self.outcomes: deque[Outcome | SendResult] = deque(outcomes)
        self.by_message_id = dict(by_message_id or {})
        self.sent: list[Content] = []
        self.batches: list[list[Content]] = []
        self.closed = 0

    def send_batch(self, messages: Sequence[Content]) -> list[SendResult]:
        self.batches.append(list(messages))
        results: list[SendResult] = []
        for content in messages:
            self.sent.append(content)
            answer = self.by_message_id.get(content.message_id)
            if answer is None:
                answer = self.outcomes.popleft() if self.outcomes else "sent"
            if isinstance(answer, SendResult):
                results.append(answer)
            elif answer == "sent":
                results.append(SendResult("sent", provider_id=f"memory-{len(self.sent)}"))
            else:
                results.append(SendResult(answer, detail=f"scripted {answer}"))
        return results

    def close(self) -> None:
        self.closed += 1
