"""The tracking API, compatible with Segment's: ``POST /v1/{identify,track,page,screen,group,
alias,batch}``.

Transport, as Segment's own libraries speak it:

- The write key is the HTTP Basic user name (the password empty). A ``writeKey`` in the body is
  accepted too when there is no ``Authorization`` header, as browser libraries send it that way
  (``Content-Type: text/plain``, so any content type is read as JSON). A missing or wrong key
  is ``401``.
- At most 32 KB per call and 500 KB per batch request, counted after decompression; past them
  ``413``. ``Content-Encoding: gzip`` is understood; another encoding is ``415``.
- Malformed JSON or a call missing what it needs is ``400`` naming the field and the problem. A
  batch with any bad call is refused whole (``400``, each bad call named by its index, nothing
  stored), so a client never has to work out which half of its batch was applied.
- Success is ``200 {"success": true}``, after the request's transaction has committed.

What each call means for the data hub is in :mod:`regard.customers.tracking_service`.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from regard.customers import tracking_service
from regard.customers.schemas import (
    AliasCall,
    CallType,
    GroupCall,
    IdentifyCall,
    PageCall,
    ScreenCall,
    TrackCall,
    TrackingAck,
)
from regard.errors import Forbidden, InvalidInput, PayloadTooLarge, RegardError, Unauthorized
from regard.privacy import service as keys
from regard.store.database import Store
from regard.web.bodies import read_body, too_large
from regard.web.deps import SessionDep, StoreDep

router = APIRouter(prefix="/v1", tags=["tracking"])

CALL_LIMIT = 32 * 1024
BATCH_LIMIT = 500 * 1024


class UnsupportedEncoding(RegardError):
    code = "unsupported_encoding"
    status_code = 415


@dataclass(frozen=True)
class SegmentRequest:
    """A tracking request's JSON object and the write key it came with, if any."""

    payload: dict[str, Any]
    write_key: str | None


def _decode(body: bytes, *, encoding: str, limit: int) -> bytes:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip"):
        raise UnsupportedEncoding(f"Content-Encoding {encoding!r} is not supported; use gzip")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        # Never inflate more than the limit: a small gzip body can hide a huge one.
        inflated = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise InvalidInput("the body is not valid gzip") from exc
    if len(inflated) > limit:
        raise too_large(limit)
    if not inflater.eof:
        raise InvalidInput("the gzip body is cut short")
    return inflated


def _parse(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise InvalidInput("the body is empty: send a JSON object")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise InvalidInput("the body must be a JSON object")
    return payload


def _basic_user(authorization: str | None) -> str | None:
    """The user name of an HTTP Basic ``Authorization`` header: Segment's write key."""
    if not authorization:
        return None
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "basic":
        raise Unauthorized("send the write key as HTTP Basic user name (password empty)")
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except ValueError as exc:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise Unauthorized("the Authorization header is not valid HTTP Basic") from exc
    return decoded.partition(":")[0] or None


def _check_call_sizes(payload: dict[str, Any]) -> None:
    items = payload.get("batch")
    if not isinstance(items, list):
        return  # the service names what is wrong with the batch itself
    problems = [
        {"at": f"batch[{index}]", "problem": f"{size} bytes; a call may be at most {CALL_LIMIT}"}
        for index, item in enumerate(items)
        if (size := len(orjson.dumps(item))) > CALL_LIMIT
    ]
    if problems:
        raise PayloadTooLarge(
            f"{len(problems)} call(s) larger than {CALL_LIMIT // 1024} KB, the most accepted "
            f"per call: {', '.join(p['at'] for p in problems[:10])}",
            details={"problems": problems},
        )


def _segment_request(*, limit: int, batch: bool) -> Callable[[Request], Awaitable[SegmentRequest]]:
    async def read(request: Request) -> SegmentRequest:
        raw = await read_body(request, limit=limit)
        payload = _parse(
            _decode(raw, encoding=request.headers.get("content-encoding", ""), limit=limit)
        )
        if batch:
            _check_call_sizes(payload)
        in_body = payload.get("writeKey")
        return SegmentRequest(
            payload=payload,
            write_key=_basic_user(request.headers.get("authorization"))
            or (in_body if isinstance(in_body, str) and in_body else None),
        )

    return read


CallRequest = Annotated[SegmentRequest, Depends(_segment_request(limit=CALL_LIMIT, batch=False))]
BatchRequest = Annotated[SegmentRequest, Depends(_segment_request(limit=BATCH_LIMIT, batch=True))]


def _source_of(session: Session, request: SegmentRequest) -> str:
    if request.write_key is None:
        raise Unauthorized("send the write key as HTTP Basic user name (password empty)")
    key = keys.authenticate(session, request.write_key, scope="write")
    if not key.source:
        raise Forbidden("this write key names no source")
    return key.source


def _accept(
    session: Session, store: Store, request: SegmentRequest, *, kind: CallType | None
) -> TrackingAck:
    source = _source_of(session, request)
    now = datetime.now(UTC)
    region = store.brand.region
    calls = (
        tracking_service.read_batch(request.payload, source=source, region=region, now=now)
        if kind is None
        else [
            tracking_service.read_call(
                request.payload, kind=kind, source=source, region=region, now=now
            )
        ]
    )
    tracking_service.record(
        session, calls, vault=store.vault, brand=store.brand, source=source, received_at=now
    )
    return TrackingAck()


def _documented(model: type[BaseModel] | dict[str, Any]) -> dict[str, Any]:
    """The request body for the OpenAPI document (the body is read by hand: gzip, limits)."""
    schema = model if isinstance(model, dict) else model.model_json_schema(by_alias=True)
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


_BATCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["batch"],
    "properties": {
        "batch": {
            "type": "array",
            "items": {"type": "object", "description": "A call, with its 'type'"},
        },
        "context": {"type": "object", "description": "Shared by every call in the batch"},
    },
}


@router.post("/identify", openapi_extra=_documented(IdentifyCall))
def identify(request: CallRequest, session: SessionDep, store: StoreDep) -> TrackingAck:
    """Who someone is: links their ids, email and phone, and updates their traits."""
    return _accept(session, store, request, kind="identify")


@router.post("/track", openapi_extra=_documented(TrackCall))
def track(request: CallRequest, session: SessionDep, store: StoreDep) -> TrackingAck:
    """Something someone did: stored once per ``messageId`` as an event named ``event``."""
    return _accept(session, store, request, kind="track")


@router.post("/page", openapi_extra=_documented(PageCall))
def page(request: CallRequest, session: SessionDep, store: StoreDep) -> TrackingAck:
    """A page someone saw: a ``page`` event."""
    return _accept(session, store, request, kind="page")


@router.post("/screen", openapi_extra=_documented(ScreenCall))
def screen(request: CallRequest, session: SessionDep, store: StoreDep) -> TrackingAck:
    """A screen someone saw in an app: a ``screen`` event."""
    return _accept(session, store, request, kind="screen")


@router.post("/group", openapi_extra=_documented(GroupCall))
def group(request: CallRequest, session: SessionDep, store: StoreDep) -> TrackingAck:
    """Someone belongs to a group: a ``group`` event."""
    return _accept(session, store, request, kind="group")


@router.post("/alias", openapi_extra=_documented(AliasCall))
def alias(request: CallRequest, session: SessionDep, store: StoreDep) -> TrackingAck:
    """``previousId`` and ``userId`` are the same person: their profiles become one."""
    return _accept(session, store, request, kind="alias")


@router.post("/batch", openapi_extra=_documented(_BATCH_SCHEMA))
def batch(request: BatchRequest, session: SessionDep, store: StoreDep) -> TrackingAck:
    """Many calls at once, each with its ``type``; all are valid or none is recorded."""
    return _accept(session, store, request, kind=None)
