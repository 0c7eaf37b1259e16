"""The signature on what Regard posts to a provider, and on what the provider posts back.

Both directions use one scheme, so the sending channel and the status-callback endpoint share it:
``X-Regard-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``. The time is
inside the signed string, so a captured request cannot be replayed once it is older than the
tolerance; the signature is compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

SIGNATURE_HEADER = "X-Regard-Signature"
TIMESTAMP_HEADER = "X-Regard-Timestamp"
DEFAULT_TOLERANCE = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Regard-Signature`` value of ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str,
    header: str,
    body: bytes,
    now: datetime | float,
    tolerance: float = DEFAULT_TOLERANCE,
) -> bool:
    """Whether ``header`` signs the raw ``body`` with ``secret`` within ``tolerance`` seconds.

    ``now`` is an aware datetime or unix seconds. An empty secret never verifies: a request
    cannot be trusted with a key nobody set.
    """
    if not secret:
        return False
    fields = dict(part.strip().split("=", 1) for part in header.split(",") if "=" in part)
    stamp, given = fields.get("t", ""), fields.get("v1", "")
    if not stamp.isdigit() or not given:
        return False
    seconds = now.timestamp() if isinstance(now, datetime) else float(now)
    if abs(seconds - int(stamp)) > tolerance:
        return False
    expected = sign(secret, int(stamp), body).split(",v1=", 1)[1]
    return hmac.compare_digest(expected.encode(), given.encode())
