"""Bringing consents in from another system: a request's records, or a whole file.

Every record is checked on its own; a bad one is reported by its place (index or line) and
skipped, and the good ones are kept. Records are entries of source ``import`` with the other
system's own time, so the ledger's rule holds: an imported opt-in never undoes an opt-out.

A record is written only when it changes what the ledger says at its moment: importing the
same list twice, or an old list after the customer spoke in Regard, adds nothing.

An identity no customer holds is a rejection, not a new profile: a consent list says what
people allowed, not who they are, and profiles are made by ``regard import customers`` (which
resolves identities by the brand's rules). Import the customers first, then their consents.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from regard.config import BrandConfig
from regard.customers import repository as customers_repository
from regard.customers.identities import IdentityClaim, claim
from regard.customers.importers.pipeline import BatchOutcome, RecordFileSummary, import_record_file
from regard.customers.importers.readers import file_format
from regard.errors import InvalidInput, RegardError
from regard.preferences import catalogue, repository, service
from regard.preferences.catalogue import SettingProblem
from regard.preferences.ledger import LedgerLine, applies, fold
from regard.preferences.schemas import SYSTEM_NAME, ImportedConsent
from regard.store.crypto import Vault
from regard.store.database import Store

_FUTURE_SLACK = timedelta(minutes=5)
_IDENTITY_COLUMNS = ("email", "phone", "external_id", "namespace")
DEFAULT_BATCH_SIZE = 5_000


@dataclass
class ImportOutcome:
    """What became of each record: ``recorded`` changed the ledger; ``unchanged`` it knew."""

    received: int = 0
    recorded: int = 0
    unchanged: int = 0
    rejections: list[tuple[int, list[str]]] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return self.recorded + self.unchanged

    @property
    def rejected(self) -> int:
        return len(self.rejections)


@dataclass(frozen=True)
class _Checked:
    index: int
    identity: IdentityClaim
    record: ImportedConsent


def _validation_problems(exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        message = "not a consent field" if err.get("type") == "extra_forbidden" else err["msg"]
        problems.append(f"{where}: {message}" if where else message)
    return problems


def _check(index: int, raw: object, *, brand: BrandConfig, now: datetime) -> _Checked | list[str]:
    try:
        record = ImportedConsent.model_validate(raw)
    except ValidationError as exc:
        return _validation_problems(exc)
    problems: list[str] = []
    who = record.customer
    identity: IdentityClaim | None = None
    try:
        if who.email:
            identity = claim("email", who.email, region=brand.region, source="")
        elif who.phone:
            identity = claim("phone", who.phone, region=brand.region, source="")
        else:
            identity = claim(
                "external", f"{who.namespace}:{who.external_id}", region=brand.region, source=""
            )
    except InvalidInput as exc:
        # The reason names the kind, never the value: rejects are read by people.
        problems.append(f"customer: {exc.message.split(':')[0]}")
    try:
        catalogue.check_topic_channel(brand, record.topic, record.channel)
    except SettingProblem as exc:
        problems.append(str(exc))
    if record.occurred_at > now + _FUTURE_SLACK:
        problems.append("occurred_at: is in the future")
    if problems or identity is None:
        return problems
    return _Checked(index, identity, record)


def _line(record: ImportedConsent, seq: int) -> LedgerLine:
    return LedgerLine(
        entry_id=None,
        seq=seq,
        kind="consent",
        topic=record.topic,
        channel=record.channel,
        state=record.state,
        legal_basis=None,
        setting=None,
        scope=None,
        value=None,
        has_personal_value=False,
        source="import",
        actor="",
        occurred_at=record.occurred_at.astimezone(UTC),
    )


def _changes_something(lines: list[LedgerLine], record: ImportedConsent) -> bool:
    """Whether the ledger says something else at the record's moment than the record does."""
    moment = record.occurred_at.astimezone(UTC)
    word = fold(lines, until=moment).consents.get((record.topic, record.channel))
    if word is None:
        return True
    return word.state != record.state and applies(word, _line(record, 0))


def import_consents(
    session: Session,
    *,
    brand: BrandConfig,
    vault: Vault,
    system: str,
    records: Sequence[object],
) -> ImportOutcome:
    """Record each good record for its customer; report each bad one by its index."""
    now = datetime.now(UTC)
    outcome = ImportOutcome(received=len(records))
    checked: list[_Checked] = []
    for index, raw in enumerate(records):
        result = _check(index, raw, brand=brand, now=now)
        if isinstance(result, list):
            outcome.rejections.append((index, result))
        else:
            checked.append(result)
    lookups = {item.index: item.identity.lookup(vault) for item in checked}
    owners = customers_repository.customer_ids_by_lookup(session, lookups.values())
    per_customer: dict[int, list[_Checked]] = defaultdict(list)
    for item in checked:
        owner = owners.get(lookups[item.index])
        if owner is None:
            outcome.rejections.append(
                (item.index, [f"no customer with that {item.identity.label}"])
            )
        else:
            per_customer[owner].append(item)
    for customer_id, items in per_customer.items():
        try:
            _import_for(session, customer_id, items, brand=brand, system=system, into=outcome)
        except RegardError as exc:
            outcome.rejections.extend((item.index, [exc.message]) for item in items)
    outcome.rejections.sort()
    return outcome


def _import_for(
    session: Session,
    customer_id: int,
    items: list[_Checked],
    *,
    brand: BrandConfig,
    system: str,
    into: ImportOutcome,
) -> None:
    """One customer's records: those that change something, one ``record`` call per moment."""
    lines = repository.ledger_lines(session, customer_id)
    seq = max((line.seq for line in lines), default=0)
    # (occurred_at, wording, detail) -> changes: the service records one moment per call.
    moments: dict[tuple[datetime, str | None, str | None], list[service.ConsentChange]] = {}
    for item in sorted(items, key=lambda i: (i.record.occurred_at, i.index)):
        record = item.record
        if not _changes_something(lines, record):
            into.unchanged += 1
            continue
        seq += 1
        lines.append(_line(record, seq))
        moment = (record.occurred_at.astimezone(UTC), record.wording_version, record.source_detail)
        moments.setdefault(moment, []).append(
            service.ConsentChange(record.topic, record.channel, record.state)  # type: ignore[arg-type]
        )
    for (occurred_at, wording_version, detail), consents in moments.items():
        # The service may still find a change says nothing new (say, an opt-in where the
        # default allows): what it appended is what was recorded.
        recorded = service.record(
            session,
            customer_id,
            brand=brand,
            origin=service.Origin(
                source="import",
                actor=f"import:{system}",
                occurred_at=occurred_at,
                wording_version=wording_version,
                note=detail,
            ),
            consents=consents,
        )
        into.recorded += len(recorded.entries)
        into.unchanged += len(consents) - len(recorded.entries)


# --- files ---------------------------------------------------------------------------------


def _nested(row: Mapping[str, Any]) -> dict[str, Any]:
    """A flat row (CSV columns) in the shape of an API record; empty cells left out."""
    record = {k: v for k, v in row.items() if v is not None and v != ""}
    if "customer" not in record:
        customer = {k: record.pop(k) for k in _IDENTITY_COLUMNS if k in record}
        record["customer"] = customer
    return record


def check_file_request(path: Path, *, system: str) -> None:
    """What can be said to be wrong before reading a row."""
    if not SYSTEM_NAME.match(system):
        raise InvalidInput(
            f"invalid system {system!r}: lower-case letters, digits, '-' and '_', e.g. 'crm'"
        )
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    file_format(path)


def import_consent_file(
    store: Store,
    path: Path,
    *,
    system: str,
    rejects_path: Path | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
) -> RecordFileSummary:
    """Import a CSV or JSON Lines file of consents; each batch commits on its own.

    A re-run after a crash completes the file: what was recorded is recognised as unchanged.
    """
    check_file_request(path, system=system)

    def import_batch(session: Session, rows: list[dict[str, Any]]) -> BatchOutcome:
        outcome = import_consents(
            session, brand=store.brand, vault=store.vault, system=system, records=rows
        )
        return (
            outcome.recorded,
            outcome.unchanged,
            [(index, "; ".join(problems)) for index, problems in outcome.rejections],
        )

    return import_record_file(
        store,
        path,
        import_batch=import_batch,
        shape=_nested,
        rejects_path=rejects_path,
        batch_size=batch_size,
        progress=progress,
    )
