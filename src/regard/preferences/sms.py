"""SMS keywords arriving from the provider's inbound webhook: STOP, START, HELP.

``POST /v1/sms/inbound`` takes what the provider sends: form-encoded (Twilio's ``From`` and
``Body``, answered in TwiML) or JSON (``{"from": ..., "body": ...}``, answered as
``{"reply": ...}``). With ``REGARD_SMS_WEBHOOK_SECRET`` set, a request must carry
``X-Regard-Signature: sha256=<hex HMAC-SHA256 of the raw body>``; without it, a write key as
``Authorization: Bearer <key>``. What each keyword does is in :mod:`regard.preferences.keywords`.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from regard.config import Settings, get_settings
from regard.delivery import feedback
from regard.errors import Forbidden, InvalidInput, Unauthorized
from regard.preferences import keywords
from regard.privacy import service as keys
from regard.web.bodies import read_body
from regard.web.deps import SessionDep, StoreDep

router = APIRouter(tags=["sms"])

# A text is at most a few hundred characters; the provider's fields around it, a few KB.
_LIMIT = 16 * 1024
SIGNATURE_HEADER = "X-Regard-Signature"

SettingsDep = Annotated[Settings, Depends(get_settings)]


@dataclass(frozen=True)
class InboundText:
    """A text as the provider reported it, and how the request proved where it came from."""

    sender: str
    body: str
    twiml: bool
    signed: bool
    bearer: str | None


def signature(secret: str, body: bytes) -> str:
    """The ``X-Regard-Signature`` value of ``body``: what the provider must send."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _check_signature(secret: str, header: str | None, body: bytes) -> None:
    if not header:
        raise Unauthorized(f"send the body's signature as '{SIGNATURE_HEADER}: sha256=<hex>'")
    if not hmac.compare_digest(header.strip().encode(), signature(secret, body).encode()):
        raise Forbidden("the signature does not match the body")


def _fields(body: bytes, content_type: str) -> tuple[dict[str, Any], bool]:
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        try:
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError as exc:
            raise InvalidInput("the form is not UTF-8") from exc
        return {name: values[0] for name, values in form.items()}, True
    if kind == "application/json":
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"the body is not valid JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise InvalidInput("the body must be a JSON object with 'from' and 'body'")
        return document, False
    raise InvalidInput("send the text form-encoded (From, Body) or as JSON (from, body)")


async def _inbound(request: Request, settings: SettingsDep) -> InboundText:
    raw = await read_body(request, limit=_LIMIT, what="an inbound text")
    secret = settings.sms_webhook_secret.get_secret_value()
    if secret:
        _check_signature(secret, request.headers.get(SIGNATURE_HEADER), raw)
    fields, twiml = _fields(raw, request.headers.get("content-type", ""))
    sender = fields.get("From", fields.get("from"))
    body = fields.get("Body", fields.get("body", ""))
    if not isinstance(sender, str) or not sender.strip():
        raise InvalidInput("the text names no sender: 'From' (form) or 'from' (JSON) is missing")
    if not isinstance(body, str):
        raise InvalidInput("'body' must be text")
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    bearer = credentials.strip() if scheme.lower() == "bearer" else ""
    return InboundText(
        sender=sender,
        body=body,
        twiml=twiml,
        signed=bool(secret),
        bearer=bearer or None,
    )


Inbound = Annotated[InboundText, Depends(_inbound)]


def _twiml(reply: str | None) -> Response:
    document = (
        f"<Response><Message>{escape(reply)}</Message></Response>" if reply else "<Response/>"
    )
    return Response(
        f'<?xml version="1.0" encoding="UTF-8"?>{document}', media_type="application/xml"
    )


@router.post("/v1/sms/inbound")
def inbound(text: Inbound, session: SessionDep, store: StoreDep) -> Response:
    """A text to the brand's number: STOP, START or HELP are acted on and answered."""
    if not text.signed:
        if text.bearer is None:
            raise Unauthorized("send a write key as 'Authorization: Bearer <key>'")
        keys.authenticate(session, text.bearer, scope="write")
    answered = keywords.answer(
        session, sender=text.sender, body=text.body, brand=store.brand, vault=store.vault
    )
    if answered.customer_id is not None:
        feedback.text_reply(session, answered.customer_id, at=datetime.now(UTC), vault=store.vault)
    if text.twiml:
        return _twiml(answered.reply)
    return JSONResponse({"reply": answered.reply})
