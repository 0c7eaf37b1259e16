"""Security headers on every response, whatever route answered it."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# No script runs unless it is a file of this site; nothing frames a page; forms post only here.
# Styles may be inline: the pages carry their stylesheet in the page itself.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_COMMON = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
    ("x-content-type-options", "nosniff"),
    ("cross-origin-opener-policy", "same-origin"),
)
_HSTS = ("strict-transport-security", "max-age=31536000")
_PRIVATE = ("cache-control", "no-store")


class SecurityHeaders:
    """Adds the headers a response does not set itself (a page may set a stricter policy).

    Paths in ``exempt`` (the interactive API docs, whose page loads scripts from a CDN) get
    every header but the content security policy.
    """

    def __init__(self, app: ASGIApp, *, hsts: bool, exempt: tuple[str, ...] = ()) -> None:
        self.app = app
        self.hsts = hsts
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        exempt = self._exempt(path)
        wanted = [h for h in _COMMON if not (exempt and h[0] == "content-security-policy")]
        if self.hsts:
            wanted.append(_HSTS)
        if path.startswith("/admin"):
            # Console pages show personal data: never kept by a browser or a proxy.
            wanted.append(_PRIVATE)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in wanted:
                    if name not in headers:
                        headers.append(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _exempt(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self.exempt)
