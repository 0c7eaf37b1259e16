"""Feedback over HTTP: providers' status callbacks, email feedback, tracked clicks and opens.

- ``POST /v1/providers/{channel}/status``: a text, push or call provider reports what became of
  a message. Signed like what Regard posts to it (:mod:`regard.delivery.channels.signing`):
  ``X-Regard-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`` with the
  channel's key (``REGARD_PROVIDER_SECRETS``); a request more than five minutes from our clock
  is refused, so a captured one cannot be replayed later. Body::

      {"provider_id": "SM123", "status": "delivered", "occurred_at": "2026-...Z",
       "bounce": "hard", "to": "+31..."}

  ``status`` is delivered, failed, bounced, complained, opened, clicked or replied (and the
  usual provider synonyms); ``bounce`` and ``to`` only for a bounce; ``occurred_at`` defaults
  to when it arrived.
- ``POST /v1/email/feedback``: bounces and complaints from an email provider or a mailbox
  provider's feedback loop, with a write key (``Authorization: Bearer <key>``)::

      {"message_id": "<...@news.example>", "kind": "bounce", "bounce": "hard"}

- ``GET /r/{token}``: a tracked link in a message. Records the click and answers ``303`` to the
  address signed into the token, never to anything else.
- ``GET /o/{token}``: the 1x1 image that records an open.

Each answers ``{"recorded": true|false, ...}`` (false: already had it), ``404`` for a message
Regard never sent, and ``400`` naming the field for bad input.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from regard.config import Settings, get_settings
from regard.delivery import feedback
from regard.delivery.channels.signing import SIGNATURE_HEADER, verify
from regard.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from regard.web.bodies import read_body
from regard.web.deps import SessionDep, StoreDep, WriteKeyDep

router = APIRouter(tags=["delivery"])

SettingsDep = Annotated[Settings, Depends(get_settings)]
PROVIDER_CHANNELS = ("sms", "push", "voice")
# A status callback is a few fields; anything much larger is not one.
_LIMIT = 16 * 1024
# The smallest transparent GIF.
PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
_NO_STORE = {"Cache-Control": "no-store, private", "Referrer-Policy": "no-referrer"}


def _now() -> datetime:
    return datetime.now(UTC)


def _when(raw: object, *, field: str, now: datetime) -> datetime:
    if raw is None or raw == "":
        return now
    if not isinstance(raw, str):
        raise InvalidInput(f"{field}: must be an ISO 8601 time", details={"field": field})
    try:
        stated = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(
            f"{field}: must be an ISO 8601 time such as 2026-05-01T09:30:00Z",
            details={"field": field},
        ) from exc
    if stated.tzinfo is None:
        stated = stated.replace(tzinfo=UTC)
    # A time ahead of our clock is the provider's clock drifting; it cannot be later than now.
    return min(stated.astimezone(UTC), now)


def _read_status(body: bytes, *, now: datetime) -> feedback.ProviderStatus:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise InvalidInput("the body must be a JSON object with 'provider_id' and 'status'")

    def text(name: str, *, required: bool) -> str | None:
        value = document.get(name)
        if value is None or value == "":
            if required:
                raise InvalidInput(f"{name}: required", details={"field": name})
            return None
        if not isinstance(value, str) or len(value) > 200:
            raise InvalidInput(
                f"{name}: must be text of at most 200 characters", details={"field": name}
            )
        return value

    provider_id = text("provider_id", required=True)
    status = (text("status", required=True) or "").strip().lower()
    kind = feedback.PROVIDER_STATUSES.get(status)
    if kind is None:
        known = ", ".join(sorted(set(feedback.PROVIDER_STATUSES.values())))
        raise InvalidInput(f"status: must be one of {known}", details={"field": "status"})
    stated_bounce = text("bounce", required=False)
    bounce: feedback.Bounce | None = (
        "hard" if stated_bounce == "hard" else "soft" if stated_bounce == "soft" else None
    )
    if stated_bounce is not None and bounce is None:
        raise InvalidInput("bounce: must be 'hard' or 'soft'", details={"field": "bounce"})
    assert provider_id is not None
    return feedback.ProviderStatus(
        provider_id=provider_id,
        kind=kind,
        occurred_at=_when(document.get("occurred_at"), field="occurred_at", now=now),
        bounce=bounce if kind == "bounced" else None,
        address=text("to", required=False) if kind == "bounced" else None,
    )


@router.post("/v1/providers/{channel}/status")
async def provider_status(
    channel: str,
    request: Request,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """A provider's signed report of what became of a message."""
    if channel not in PROVIDER_CHANNELS:
        raise NotFound(
            f"channel: providers report on {', '.join(PROVIDER_CHANNELS)}, not {channel!r}",
            details={"field": "channel"},
        )
    body = await read_body(request, limit=_LIMIT, what="a status callback")
    secret = settings.provider_secret(channel)
    if not secret:
        raise Unauthorized(f"no key is set for the {channel} provider (REGARD_PROVIDER_SECRETS)")
    header = request.headers.get(SIGNATURE_HEADER)
    if not header:
        raise Unauthorized(f"send the body's signature as '{SIGNATURE_HEADER}: t=<unix>,v1=<hex>'")
    now = _now()
    if not verify(secret, header, body, now):
        raise Forbidden("the signature does not match the body, or its time is too old")
    status = _read_status(body, now=now)
    outcome = feedback.provider_status(
        session, status, channel=channel, received_at=now, vault=store.vault
    )
    return outcome.as_dict()


class EmailFeedback(BaseModel):
    """A bounce, complaint, delivery or reply reported for one email, by its Message-ID."""

    model_config = ConfigDict(extra="ignore")

    message_id: str = Field(min_length=3, max_length=200)
    kind: feedback.EmailFeedbackKind
    bounce: Literal["hard", "soft"] | None = None
    occurred_at: datetime | None = None
    # The address that bounced, when the report names it (kept only as its blind index).
    recipient: str | None = Field(default=None, max_length=320)


@router.post("/v1/email/feedback")
def email_feedback(
    report: EmailFeedback, _key: WriteKeyDep, session: SessionDep, store: StoreDep
) -> dict[str, Any]:
    """Bounces and complaints from an email provider or a feedback loop."""
    now = _now()
    occurred_at = now
    if report.occurred_at is not None:
        stated = report.occurred_at
        occurred_at = min((stated if stated.tzinfo else stated.replace(tzinfo=UTC)), now)
    outcome = feedback.email_feedback(
        session,
        message_id=report.message_id,
        kind=report.kind,
        bounce=report.bounce,
        occurred_at=occurred_at.astimezone(UTC),
        received_at=now,
        vault=store.vault,
        recipient=report.recipient,
    )
    return outcome.as_dict()


@router.get(feedback.CLICK_PATH + "{token}", include_in_schema=False)
def click(token: str, session: SessionDep, store: StoreDep) -> RedirectResponse:
    """A tracked link: record the click, then forward to the address signed into it."""
    destination = feedback.follow_click(session, token, now=_now(), vault=store.vault)
    return RedirectResponse(destination, status_code=303, headers=_NO_STORE)


@router.get(feedback.OPEN_PATH + "{token}", include_in_schema=False)
def pixel(token: str, session: SessionDep, store: StoreDep) -> Response:
    """The open pixel: a transparent 1x1 image, recording the open."""
    feedback.record_open(session, token, now=_now(), vault=store.vault)
    return Response(PIXEL, media_type="image/gif", headers=_NO_STORE)
