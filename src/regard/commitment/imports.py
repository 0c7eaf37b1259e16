"""Bringing commitment survey responses in from a file (CSV or JSON Lines).

Each row is one response: ``email`` or ``customer_id``; ``is_user``; one column per survey item;
``responded_at`` with its time zone; and optional ``text_<question>`` columns of the
respondent's own words. A bad row goes to the rejects file with its line and reason; the good
rows are kept. Each batch commits on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from regard.commitment import service
from regard.config import BrandConfig
from regard.customers import repository as customers_repository
from regard.customers.identities import claim
from regard.customers.importers.pipeline import BatchOutcome, RecordFileSummary, import_record_file
from regard.customers.importers.readers import file_format
from regard.errors import InvalidInput, RegardError
from regard.store.crypto import Vault
from regard.store.database import Store

DEFAULT_BATCH_SIZE = 2_000
TEXT_PREFIX = "text_"
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return True if text in _TRUE else False if text in _FALSE else None


def _number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return value
    return value


def _parse(
    row: Mapping[str, Any], *, session: Session, brand: BrandConfig, vault: Vault
) -> tuple[int, bool, dict[str, Any], dict[str, Any] | None, datetime] | list[str]:
    problems: list[str] = []
    record = {k: v for k, v in row.items() if v is not None and v != ""}
    customer_id: int | None = None
    email, given_id = record.pop("email", None), record.pop("customer_id", None)
    try:
        if given_id is not None:
            if not str(given_id).strip().isdigit():
                raise InvalidInput("customer_id: must be a whole number")
            customer_id = int(str(given_id).strip())
        elif email is not None:
            identity = claim("email", str(email), region=brand.region, source="")
            lookup = identity.lookup(vault)
            customer_id = customers_repository.customer_ids_by_lookup(session, [lookup]).get(lookup)
            if customer_id is None:
                # The kind only: rejects are read by people, the address is personal data.
                problems.append("no customer with that email")
        else:
            problems.append("give email or customer_id")
    except InvalidInput as exc:
        problems.append(exc.message.split(":")[0] if given_id is None else exc.message)
    is_user = _flag(record.pop("is_user", ""))
    if is_user is None:
        problems.append("is_user: must be true or false")
    moment: datetime | None = None
    when = record.pop("responded_at", None)
    if when is None:
        problems.append("responded_at: missing")
    else:
        try:
            moment = datetime.fromisoformat(str(when).strip())
        except ValueError:
            problems.append("responded_at: not a moment such as 2026-03-03T12:00:00Z")
        else:
            if moment.tzinfo is None:
                problems.append("responded_at: give the moment with its time zone")
    free_text = {
        key.removeprefix(TEXT_PREFIX): value
        for key, value in record.items()
        if key.startswith(TEXT_PREFIX)
    }
    answers = {k: _number(v) for k, v in record.items() if not k.startswith(TEXT_PREFIX)}
    if problems or customer_id is None or is_user is None or moment is None:
        return problems
    return customer_id, is_user, answers, free_text or None, moment


def import_responses(
    session: Session, rows: list[dict[str, Any]], *, brand: BrandConfig, vault: Vault, source: str
) -> BatchOutcome:
    """Record each good row; return how many were recorded, how many had been recorded before
    (the same customer, moment and answers: a file imported twice) and each bad row's index and
    reason."""
    recorded, unchanged, rejections = 0, 0, []
    for index, row in enumerate(rows):
        parsed = _parse(row, session=session, brand=brand, vault=vault)
        if isinstance(parsed, list):
            rejections.append((index, "; ".join(parsed)))
            continue
        customer_id, is_user, answers, free_text, moment = parsed
        numbers = {k: v for k, v in answers.items() if isinstance(v, int | float)}
        if len(numbers) == len(answers) and service.already_recorded(
            session, customer_id, is_user=is_user, answers=numbers, responded_at=moment
        ):
            unchanged += 1
            continue
        try:
            service.record_response(
                session,
                customer_id,
                brand=brand,
                is_user=is_user,
                answers=answers,
                free_text=free_text,
                source=source,
                responded_at=moment,
            )
        except RegardError as exc:
            problems = exc.details.get("problems")
            rejections.append((index, "; ".join(problems) if problems else exc.message))
            continue
        recorded += 1
    return recorded, unchanged, rejections


def import_response_file(
    store: Store,
    path: Path,
    *,
    source: str = "import",
    rejects_path: Path | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> RecordFileSummary:
    """Import a CSV or JSON Lines file of survey responses; each batch commits on its own."""
    if source not in service.SOURCES:
        raise InvalidInput(f"source must be one of {', '.join(service.SOURCES)}")
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    if file_format(path) == "parquet":
        raise InvalidInput(f"{path.name}: use .csv or .jsonl for survey responses")

    def import_batch(session: Session, rows: list[dict[str, Any]]) -> BatchOutcome:
        return import_responses(session, rows, brand=store.brand, vault=store.vault, source=source)

    return import_record_file(
        store, path, import_batch=import_batch, rejects_path=rejects_path, batch_size=batch_size
    )
