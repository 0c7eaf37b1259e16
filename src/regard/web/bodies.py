"""Request bodies read with a limit: refused as soon as they are known to be too large."""

from __future__ import annotations

from fastapi import Request

from regard.errors import PayloadTooLarge


def too_large(limit: int, what: str = "the request") -> PayloadTooLarge:
    return PayloadTooLarge(f"{what} is larger than {limit // 1024} KB, the most accepted")


async def read_body(request: Request, *, limit: int, what: str = "the request") -> bytes:
    """The body, or 413 when its declared length or what arrives passes ``limit`` bytes;
    nothing past the limit is kept in memory."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(limit, what)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit, what)
        chunks.append(chunk)
    return b"".join(chunks)
