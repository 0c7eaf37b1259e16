"""The audit log: who read personal data, exported, recorded consent or changed a setting.

Other code calls :func:`record` in the same transaction as the work it describes, so an entry
exists exactly when the work was done. Entries name customers, staff and keys by id, never by
email or name: the log itself holds no personal data beyond where a request came from.
"""

from __future__ import annotations

import csv
import getpass
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy.orm import Session

from regard.privacy import repository
from regard.privacy.models import ApiKey, AuditEntry, StaffMember
from regard.privacy.repository import AuditFilter

ActorKind = Literal["staff", "key", "cli", "anonymous"]

# Every action written, with what it means (the audit page offers them as a filter).
ACTIONS: dict[str, str] = {
    "customer.read": "Opened one customer's profile (personal data)",
    "customer.lookup": "Looked a customer up by email, phone or external id",
    "consent.proof": "Read one customer's consent history (personal data)",
    "consent.recorded": "Recorded a consent a customer gave to staff",
    "data.exported": "Exported customers' data",
    "audit.exported": "Exported the audit log",
    "setting.changed": "Changed a setting",
    "delivery.retried": "Sent a dead-letter message back to be retried",
    "breaker.resumed": "Resumed a sending stream the complaint-rate breaker had slowed or halted",
    "campaign.launched": "Launched a campaign from the console",
    "staff.login": "Signed in",
    "staff.logout": "Signed out",
    "staff.login_failed": "Sign-in refused: wrong email or password",
    "staff.login_limited": "Sign-in refused: too many failed attempts",
    "staff.added": "Added a staff account",
    "staff.disabled": "Disabled a staff account",
    "staff.password_rehashed": "Stored a password hash with current parameters",
    "key.created": "Created an API key",
    "key.revoked": "Revoked an API key",
}


@dataclass(frozen=True)
class Actor:
    """Who acts: a signed-in staff member, an API key, a command-line user or nobody yet."""

    kind: ActorKind
    id: int | None
    label: str
    role: str | None = None
    client: str | None = None

    @classmethod
    def of_staff(cls, member: StaffMember, *, client: str | None = None) -> Actor:
        return cls(
            kind="staff",
            id=member.id,
            label=f"staff {member.id} ({member.role})",
            role=member.role,
            client=client,
        )

    @classmethod
    def of_key(cls, key: ApiKey, *, client: str | None = None) -> Actor:
        return cls(
            kind="key",
            id=key.id,
            label=f"key {key.id} {key.name}"[:120],
            role=key.role,
            client=client,
        )

    @classmethod
    def command_line(cls) -> Actor:
        """Whoever runs ``regard`` on this machine: the operating-system account."""
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no name for this uid (containers)
            user = "unknown"
        return cls(kind="cli", id=None, label=f"command line ({user})"[:120], role="admin")

    @classmethod
    def anonymous(cls, *, client: str | None) -> Actor:
        return cls(kind="anonymous", id=None, label="not signed in", client=client)

    @property
    def reference(self) -> str:
        """``staff:3``, ``key:7``, ``cli``: how the audit page filters by actor."""
        return f"{self.kind}:{self.id}" if self.id is not None else self.kind


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    target: str | None = None,
    details: dict[str, Any] | None = None,
    subject_lookup: bytes | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Write one entry. ``target`` names what was acted on by id: ``customer:12``, ``staff:3``.

    ``details`` must hold no personal data (ids, counts, settings' names are fine).
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}; add it to audit.ACTIONS")
    entry = AuditEntry(
        at=at or datetime.now(UTC),
        actor_kind=actor.kind,
        actor_id=actor.id,
        actor_label=actor.label[:120],
        action=action,
        target=target[:200] if target else None,
        client=actor.client[:64] if actor.client else None,
        subject_lookup=subject_lookup,
        details=details or None,
    )
    session.add(entry)
    session.flush()
    return entry


def parse_actor(reference: str) -> tuple[str | None, int | None]:
    """``staff:3`` → ("staff", 3); ``cli`` → ("cli", None); anything else matches nothing."""
    kind, _, number = reference.strip().partition(":")
    if kind not in ("staff", "key", "cli", "anonymous"):
        return "-", None
    return kind, int(number) if number.isdigit() else None


@dataclass(frozen=True)
class AuditPage:
    entries: Sequence[AuditEntry]
    total: int
    page: int
    pages: int


def page(session: Session, wanted: AuditFilter, *, number: int, size: int = 50) -> AuditPage:
    """One page of the log, newest first."""
    total = repository.audit_count(session, wanted)
    pages = max(1, -(-total // size))
    number = min(max(1, number), pages)
    entries = repository.audit_page(session, wanted, offset=(number - 1) * size, limit=size)
    return AuditPage(entries=entries, total=total, page=number, pages=pages)


CSV_COLUMNS = ("id", "at", "actor", "actor_label", "action", "target", "client", "details")


def export_csv(session: Session, wanted: AuditFilter, *, actor: Actor) -> Iterator[str]:
    """The matching entries as CSV lines, oldest first; the export itself is recorded first."""
    entries = repository.audit_entries(session, wanted)
    record(
        session,
        actor=actor,
        action="audit.exported",
        target="audit",
        details={"entries": len(entries), **_filter_details(wanted)},
    )
    return _csv_lines(entries)


def _filter_details(wanted: AuditFilter) -> dict[str, Any]:
    return {
        name: value.isoformat() if isinstance(value, datetime) else value
        for name, value in vars(wanted).items()
        if value is not None
    }


def _csv_lines(entries: Sequence[AuditEntry]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        reference = (
            f"{entry.actor_kind}:{entry.actor_id}"
            if entry.actor_id is not None
            else entry.actor_kind
        )
        writer.writerow(
            (
                entry.id,
                entry.at.isoformat(),
                reference,
                _no_formula(entry.actor_label),
                entry.action,
                _no_formula(entry.target or ""),
                entry.client or "",
                _no_formula(_json(entry.details)),
            )
        )
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.getvalue():
        yield buffer.getvalue()


def _json(details: dict[str, Any] | None) -> str:
    return json.dumps(details, sort_keys=True) if details else ""


def _no_formula(text: str) -> str:
    # A spreadsheet runs a cell that starts with = + - @ as a formula: key names come from people.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
