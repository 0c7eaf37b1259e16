"""The demo brand's consent history from its previous email system, as a file to import.

Northwind's old newsletter tool kept who subscribed to what and when; some subscribers later
unsubscribed there. Regard imports that history with its original timestamps, so the consent
ledger starts with the proof the brand already had. A few rows are broken on purpose, as real
exports are, and the importer must reject exactly those.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from regard.customers.identities import normalize_email
from regard.errors import InvalidInput

CONSENTS_FILE = "crm_consents.csv"
# What the old system offered, and how many shop customers took it.
_OFFERS = (
    ("product-news", "email", 0.40),
    ("offers:camping", "email", 0.22),
    ("offers:footwear", "email", 0.12),
    ("events", "email", 0.08),
    ("offers:camping", "sms", 0.04),
)
# Of those who subscribed, how many later unsubscribed in the old system.
_LATER_OUT = 0.15


@dataclass(frozen=True)
class ConsentFile:
    path: Path
    rows: int
    bad_rows: int


def write_consents(
    directory: Path, *, shop_customers: Path, seed: int, until: datetime
) -> ConsentFile:
    """Write the old system's export for the shop's customers; deterministic for a seed."""
    shop = pl.read_csv(shop_customers, infer_schema=False).select("email", "signed_up_on")
    emails: list[str] = []
    signed: list[datetime] = []
    # The old tool only ever held addresses it could send to: the shop's broken rows stay out.
    for email, day in shop.iter_rows():
        if not email or not day:
            continue
        try:
            emails.append(normalize_email(email))
            signed.append(datetime.fromisoformat(day).replace(tzinfo=UTC))
        except (InvalidInput, ValueError):
            continue
    rng = np.random.default_rng(seed + 303)
    rows: list[dict[str, str]] = []
    for topic, channel, share in _OFFERS:
        chosen = np.flatnonzero(rng.random(len(emails)) < share)
        for index in chosen:
            joined = signed[index] + timedelta(hours=int(rng.integers(9, 20)))
            rows.append(_row(emails[index], topic, channel, "opted-in", joined))
            if rng.random() < _LATER_OUT:
                left = joined + timedelta(days=int(rng.integers(20, 400)))
                if left < until:
                    rows.append(_row(emails[index], topic, channel, "opted-out", left))
    rows.sort(key=lambda r: r["occurred_at"])
    good = len(rows)
    first = emails[0] if emails else "someone@example.com"
    broken = [
        _row(first, "offers:kayaks", "email", "opted-in", signed[0]),  # no such topic
        _row(first, "product-news", "email", "subscribed", signed[0]),  # not a state
        {**_row(first, "product-news", "email", "opted-in", signed[0]), "occurred_at": ""},
        _row(first, "product-news", "email", "opted-in", datetime(2031, 1, 1, tzinfo=UTC)),
        _row("not-an-address", "product-news", "email", "opted-in", signed[0]),
    ]
    for offset, row in enumerate(broken):
        rows.insert(min(len(rows), 100 + offset * 997), row)
    path = directory / CONSENTS_FILE
    pl.DataFrame(rows).write_csv(path)
    return ConsentFile(path=path, rows=good + len(broken), bad_rows=len(broken))


def _row(email: str, topic: str, channel: str, state: str, at: datetime) -> dict[str, str]:
    return {
        "email": email,
        "topic": topic,
        "channel": channel,
        "state": state,
        "occurred_at": at.isoformat(),
        "wording_version": "newsletter-2024",
    }
