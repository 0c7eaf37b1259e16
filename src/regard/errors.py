"""One error hierarchy for the whole product.

Every error a user can cause carries a stable ``code`` and an HTTP status. The web layer renders
it once, as JSON for the API or as a page for people; the CLI prints one line and exits non-zero.
"""

from __future__ import annotations

from typing import Any, ClassVar


class RegardError(Exception):
    """Base of every error Regard reports to a person or a client."""

    code: ClassVar[str] = "error"
    status_code: ClassVar[int] = 500

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class InvalidInput(RegardError):
    code = "invalid_input"
    status_code = 400


class NotFound(RegardError):
    code = "not_found"
    status_code = 404


class Unauthorized(RegardError):
    code = "unauthorized"
    status_code = 401


class Forbidden(RegardError):
    code = "forbidden"
    status_code = 403


class Conflict(RegardError):
    """The request collides with work in progress (another run of the engine, say)."""

    code = "conflict"
    status_code = 409


class PayloadTooLarge(RegardError):
    code = "payload_too_large"
    status_code = 413


class ConfigurationError(RegardError):
    code = "configuration_error"
    status_code = 500
