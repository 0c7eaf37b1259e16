"""Texts, push notifications and calls through a provider's HTTP endpoint.

Each message is one signed JSON POST (the body and headers are in docs/delivery.md), on one
client whose connection pool is kept across batches. What the answer means:

- 2xx: sent; the provider's id for the message is read from ``id`` in a JSON answer.
- 408, 429, 5xx, or no connection at all: retry.
- Any other status (4xx, or a redirect, which is not followed): failed.
- No answer once the request went out (a read timeout, a dropped connection): ambiguous, since
  the provider may have acted on it. The ``Idempotency-Key`` header (the message id) lets a
  provider drop the repeat of a retried send.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx2

from regard.delivery.channels.base import Channel, SendResult
from regard.delivery.channels.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from regard.messages.content import Content, ProviderContent

log = logging.getLogger("regard.delivery.webhook")

IDEMPOTENCY_HEADER = "Idempotency-Key"
_RETRY_STATUSES = frozenset({408, 425, 429})


def request_body(content: ProviderContent) -> dict[str, Any]:
    """The JSON object posted for one message (documented in docs/delivery.md)."""
    return {
        "message_id": content.message_id,
        "channel": content.channel,
        "to": content.to,
        "title": content.title,
        "body": content.body,
        "link": content.link,
        "asks_response": content.asks_response,
        "extra": dict(content.extra),
    }


class WebhookChannel(Channel):
    """Posts each :class:`ProviderContent` of one channel (sms, push or voice) to a provider.

    Without a ``secret`` requests go unsigned: development only (the registry refuses a
    provider without a key in production).
    """

    def __init__(
        self,
        name: str,
        url: str,
        *,
        secret: str = "",
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
        transport: httpx2.BaseTransport | None = None,
    ) -> None:
        self.name = name
        self.url = url
        self.secret = secret
        self._clock = clock
        self._client = httpx2.Client(
            timeout=httpx2.Timeout(timeout),
            follow_redirects=False,
            headers={"User-Agent": "Regard"},
            transport=transport,
        )

    def send_batch(self, messages: Sequence[Content]) -> list[SendResult]:
        return [self._send_one(content) for content in messages]

    def close(self) -> None:
        self._client.close()

    def _send_one(self, content: Content) -> SendResult:
        if not isinstance(content, ProviderContent) or content.channel != self.name:
            return SendResult("failed", detail=f"not a {self.name} message")
        body = json.dumps(request_body(content), separators=(",", ":")).encode()
        timestamp = int(self._clock())
        headers = {
            "Content-Type": "application/json",
            IDEMPOTENCY_HEADER: content.message_id,
            TIMESTAMP_HEADER: str(timestamp),
        }
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(self.secret, timestamp, body)
        try:
            response = self._client.post(self.url, content=body, headers=headers)
        except (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout) as exc:
            # Nothing reached the provider.
            return SendResult("retry", detail=f"cannot connect: {type(exc).__name__}")
        except httpx2.WriteError as exc:
            # The request was cut while going out: the provider never had all of it.
            return SendResult("retry", detail=f"request not sent: {type(exc).__name__}")
        except httpx2.WriteTimeout:
            return SendResult("retry", detail="request not sent: WriteTimeout")
        except httpx2.TransportError as exc:
            # Read timeout, connection dropped before the answer: it may have been acted on.
            return SendResult("ambiguous", detail=f"no answer: {type(exc).__name__}")
        status = response.status_code
        if 200 <= status < 300:
            return SendResult("sent", provider_id=_provider_id(response))
        if status in _RETRY_STATUSES or status >= 500:
            return SendResult("retry", detail=f"http {status}")
        return SendResult("failed", detail=f"http {status}")


def _provider_id(response: httpx2.Response) -> str | None:
    try:
        answer = response.json()
    except ValueError:
        return None
    if isinstance(answer, dict) and isinstance(answer.get("id"), str | int):
        return str(answer["id"])[:200]
    return None
