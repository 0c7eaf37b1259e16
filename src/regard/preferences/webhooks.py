"""Telling downstream systems (a service desk, a shop) of every consent change.

A change queues one delivery per live subscription in the same transaction as the change (see
``service._publish``), so a change that rolls back is never announced. The worker
(:func:`deliver_due`, run by ``regard webhooks deliver``) then POSTs each delivery as JSON,
signed with the subscription's secret::

    Regard-Event-Id: evt_...
    Regard-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">

A 2xx answer delivers it. Anything else, or no answer within 10 seconds, is retried after 30
seconds, 2 minutes, 10 minutes, 1 hour, 6 hours and 24 hours; after the last retry the delivery
is failed. Receivers tell repeats apart by the event id (docs/webhooks.md).

Workers on PostgreSQL claim deliveries with ``FOR UPDATE SKIP LOCKED`` and lease them for a few
minutes before sending, so any number of workers share the queue and never send one delivery
twice at once. Neither payloads nor secrets are ever logged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from urllib.parse import urlsplit

import orjson
from sqlalchemy.orm import Session

from regard.errors import InvalidInput, NotFound
from regard.preferences import repository
from regard.preferences.models import WebhookDelivery, WebhookSubscription
from regard.store.database import Store, unit_of_work

log = logging.getLogger("regard.webhooks")

# Waits after the first failed attempt, the second, ...; after the last, the delivery is failed.
BACKOFF: tuple[timedelta, ...] = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(hours=1),
    timedelta(hours=6),
    timedelta(hours=24),
)
MAX_ATTEMPTS = len(BACKOFF) + 1
TIMEOUT_SECONDS = 10.0
# A claimed delivery is not due again for this long: more than a batch of sends can take.
LEASE = timedelta(minutes=5)
BATCH = 10
# An error kept with a delivery is cut to this length.
_ERROR_LENGTH = 500


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class IssuedSubscription:
    """A new subscription and its secret, shown once."""

    subscription: WebhookSubscription
    secret: str


def _check_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"{url!r} is not an http(s) URL")
    if parts.username or parts.password:
        raise InvalidInput("put no credentials in the URL: the receiver checks the signature")
    return url


def add_subscription(
    session: Session, *, name: str, url: str, now: datetime | None = None
) -> IssuedSubscription:
    """Subscribe ``url`` to every consent change from now on, with a new secret."""
    name = name.strip()
    if not name or len(name) > 120:
        raise InvalidInput("a subscription needs a name of 1 to 120 characters")
    if repository.subscription_by_name(session, name) is not None:
        raise InvalidInput(f"there is already a subscription named {name!r}")
    secret = "whsec_" + secrets.token_urlsafe(32)
    subscription = WebhookSubscription(
        name=name, url=_check_url(url), secret=secret, created_at=now or _now()
    )
    session.add(subscription)
    session.flush()
    return IssuedSubscription(subscription=subscription, secret=secret)


def list_subscriptions(session: Session) -> Sequence[WebhookSubscription]:
    return repository.subscriptions(session)


def disable_subscription(
    session: Session, name: str, *, now: datetime | None = None
) -> WebhookSubscription:
    """Stop telling ``name`` of changes; what was queued for it is not sent either."""
    subscription = repository.subscription_by_name(session, name)
    if subscription is None:
        raise NotFound(f"no subscription named {name!r}")
    if subscription.disabled_at is None:
        subscription.disabled_at = now or _now()
        session.flush()
    return subscription


def recent_deliveries(
    session: Session, *, status: str | None = None, limit: int = 50
) -> Sequence[tuple[WebhookDelivery, str]]:
    """The latest deliveries, newest first, each with its subscription's name."""
    if status is not None and status not in ("pending", "delivered", "failed"):
        raise InvalidInput("status must be pending, delivered or failed")
    return repository.recent_deliveries(session, status=status, limit=limit)


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``Regard-Signature`` header of ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(
    secret: str, header: str, body: bytes, *, tolerance: int = 300, now: float | None = None
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret``, sent within ``tolerance`` seconds."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split(",v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


@dataclass(frozen=True)
class Outgoing:
    """A claimed delivery, ready to send outside any transaction."""

    delivery_id: int
    event_id: str
    subscription: str
    url: str
    secret: str
    body: bytes


class SendFailed(Exception):
    """The receiver could not be reached or did not answer in time."""


class Sender(Protocol):
    """Posts a body to a URL and returns the HTTP status; ``SendFailed`` when there is none."""

    def post(self, url: str, body: bytes, headers: Mapping[str, str], *, timeout: float) -> int: ...


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect is an answer other than 2xx: following it would resend the body elsewhere.
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class HttpSender:
    """The real sender: a plain HTTP POST (the standard library's client, no redirects)."""

    def __init__(self) -> None:
        self._opener = urllib.request.build_opener(_NoRedirects)

    def post(self, url: str, body: bytes, headers: Mapping[str, str], *, timeout: float) -> int:
        if urlsplit(url).scheme not in ("http", "https"):
            raise SendFailed("only http and https URLs are posted to")
        # The scheme is checked just above: no file: or custom scheme gets opened.
        request = urllib.request.Request(  # noqa: S310
            url, data=body, headers=dict(headers), method="POST"
        )
        try:
            with self._opener.open(request, timeout=timeout) as response:
                status: int = response.status
                return status
        except urllib.error.HTTPError as exc:
            exc.close()
            return exc.code
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise SendFailed(f"{type(exc).__name__}: {reason}") from exc


def claim(session: Session, *, now: datetime, limit: int = BATCH) -> list[Outgoing]:
    """Take up to ``limit`` due deliveries for this worker and lease them.

    Commit before sending: the lease is what keeps other workers away while this one sends.
    """
    claimed: list[Outgoing] = []
    for delivery, subscription in repository.due_deliveries(session, now, limit=limit):
        if not repository.lease_delivery(session, delivery.id, now=now, until=now + LEASE):
            continue  # another worker took it between our read and our write
        document = {
            **delivery.payload,
            "event_id": delivery.event_id,
            "created_at": delivery.created_at.isoformat(),
        }
        claimed.append(
            Outgoing(
                delivery_id=delivery.id,
                event_id=delivery.event_id,
                subscription=subscription.name,
                url=subscription.url,
                secret=subscription.secret,
                body=orjson.dumps(document),
            )
        )
    return claimed


def settle(
    session: Session,
    delivery_id: int,
    *,
    status_code: int | None,
    error: str | None,
    now: datetime,
) -> str:
    """Record one attempt's outcome; returns the delivery's status after it."""
    delivery = repository.get_delivery(session, delivery_id)
    if delivery is None:
        return "gone"  # its subscription was deleted meanwhile
    delivery.attempts += 1
    delivery.last_status_code = status_code
    if status_code is not None and 200 <= status_code < 300:
        delivery.status = "delivered"
        delivery.delivered_at = now
        delivery.last_error = None
    else:
        delivery.last_error = (error or f"HTTP {status_code}")[:_ERROR_LENGTH]
        if delivery.attempts >= MAX_ATTEMPTS:
            delivery.status = "failed"
        else:
            delivery.next_attempt_at = now + BACKOFF[delivery.attempts - 1]
    session.flush()
    return delivery.status


def send(sender: Sender, outgoing: Outgoing) -> tuple[int | None, str | None]:
    """POST one delivery; returns the HTTP status, or ``None`` and why there was none."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Regard-Webhooks/1",
        "Regard-Event-Id": outgoing.event_id,
        "Regard-Signature": sign(outgoing.secret, outgoing.body, int(time.time())),
    }
    try:
        return sender.post(outgoing.url, outgoing.body, headers, timeout=TIMEOUT_SECONDS), None
    except SendFailed as exc:
        return None, str(exc)


@dataclass
class DeliveryRun:
    """What one pass of the worker did."""

    delivered: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def attempted(self) -> int:
        return self.delivered + self.retrying + self.failed


def deliver_due(
    store: Store,
    *,
    sender: Sender | None = None,
    now: datetime | None = None,
    batch: int = BATCH,
) -> DeliveryRun:
    """Send every delivery that is due, a batch at a time; the job owns its transactions.

    Each batch is claimed in one short transaction and each outcome recorded in another, so
    no transaction stays open while a receiver is slow to answer. ``now`` is for tests.
    """
    sender = sender or HttpSender()
    run = DeliveryRun()
    while True:
        moment = now or _now()
        with unit_of_work(store) as session:
            claimed = claim(session, now=moment, limit=batch)
        if not claimed:
            return run
        for outgoing in claimed:
            status_code, error = send(sender, outgoing)
            with unit_of_work(store) as session:
                outcome = settle(
                    session,
                    outgoing.delivery_id,
                    status_code=status_code,
                    error=error,
                    now=now or _now(),
                )
            log.info(
                "webhook delivery %s (%s) to %s: %s, now %s",
                outgoing.delivery_id,
                outgoing.event_id,
                outgoing.subscription,
                status_code if status_code is not None else "no answer",
                outcome,
            )
            if outcome == "delivered":
                run.delivered += 1
            elif outcome == "failed":
                run.failed += 1
            else:
                run.retrying += 1
