"""All SQL of the messages domain: what a batch of messages needs to be written, in a few
queries for the whole batch (never one per message)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Row, and_, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from regard.customers.models import Customer, Event, Identity
from regard.decisions.models import Decision
from regard.preferences.models import LinkGeneration, PreferenceProfile, PushDevice
from regard.segments.models import SegmentMembership
from regard.touchpoints.models import Candidate


def _among(
    session: Session, column: InstrumentedAttribute[int], ids: Collection[int]
) -> ColumnElement[bool]:
    """``column IN ids``; on PostgreSQL as ``= ANY(array)``, one parameter however many ids,
    so the driver need not parse a statement with hundreds of placeholders on every batch."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=ARRAY(BigInteger())))
    return column.in_(ids)


def profiles(
    session: Session, customer_ids: Collection[int]
) -> Sequence[Row[int, str | None, dict[str, Any], dict[str, Any] | None]]:
    """Each customer's locale, plain traits and (decrypted) personal traits."""
    return session.execute(
        select(Customer.id, Customer.locale, Customer.traits, Customer.personal).where(
            _among(session, Customer.id, customer_ids)
        )
    ).all()


def addresses(
    session: Session, customer_ids: Collection[int], *, kinds: Collection[str]
) -> Sequence[Row[int, str, int, str, datetime | None, datetime]]:
    """Email addresses and phone numbers (decrypted), verified ones first, then the newest."""
    return session.execute(
        select(
            Identity.customer_id,
            Identity.kind,
            Identity.id,
            Identity.value,
            Identity.verified_at,
            Identity.created_at,
        )
        .where(_among(session, Identity.customer_id, customer_ids), Identity.kind.in_(kinds))
        .order_by(Identity.customer_id, Identity.verified_at.is_(None), Identity.id.desc())
    ).all()


def devices(session: Session, customer_ids: Collection[int]) -> Sequence[Row[int, str, str]]:
    """Push devices (handle, decrypted token), the most recently seen first."""
    return session.execute(
        select(PushDevice.customer_id, PushDevice.handle, PushDevice.token)
        .where(_among(session, PushDevice.customer_id, customer_ids))
        .order_by(PushDevice.customer_id, PushDevice.id.desc())
    ).all()


def preference_settings(session: Session, customer_ids: Collection[int]) -> dict[int, Any]:
    rows = session.execute(
        select(PreferenceProfile.customer_id, PreferenceProfile.settings).where(
            _among(session, PreferenceProfile.customer_id, customer_ids)
        )
    ).all()
    return {customer_id: settings or {} for customer_id, settings in rows}


def current_segments(session: Session, customer_ids: Collection[int]) -> Sequence[Row[int, str]]:
    return session.execute(
        select(SegmentMembership.customer_id, SegmentMembership.segment).where(
            _among(session, SegmentMembership.customer_id, customer_ids),
            SegmentMembership.exited_at.is_(None),
        )
    ).all()


def link_generations(session: Session, customer_ids: Collection[int]) -> dict[int, int]:
    rows = session.execute(
        select(LinkGeneration.customer_id, LinkGeneration.generation).where(
            _among(session, LinkGeneration.customer_id, customer_ids)
        )
    ).all()
    return {int(customer_id): int(generation) for customer_id, generation in rows}


def triggers(
    session: Session, decision_ids: Collection[int]
) -> Sequence[Row[int, str, str, datetime]]:
    """Per decision: its touchpoint, and the key and moment of the candidate it decided."""
    return session.execute(
        select(Decision.id, Decision.touchpoint, Candidate.key, Candidate.triggered_at)
        .join(Candidate, Candidate.id == Decision.candidate_id)
        .where(_among(session, Decision.id, decision_ids))
    ).all()


def latest_triggers(
    session: Session, pairs: Collection[tuple[int, str]]
) -> dict[tuple[int, str], tuple[str, datetime]]:
    """The newest candidate of each (customer, touchpoint): what a preview personalises from."""
    found: dict[tuple[int, str], tuple[str, datetime]] = {}
    for customer_id, touchpoint in pairs:
        row = session.execute(
            select(Candidate.key, Candidate.triggered_at)
            .where(Candidate.customer_id == customer_id, Candidate.touchpoint == touchpoint)
            .order_by(Candidate.id.desc())
            .limit(1)
        ).first()
        if row is not None:
            found[(customer_id, touchpoint)] = (row[0], row[1])
    return found


def events(
    session: Session, event_ids: Collection[int]
) -> Sequence[Row[int, str, datetime, dict[str, Any]]]:
    """Events' type, moment and plain properties (their personal properties stay sealed)."""
    return session.execute(
        select(Event.id, Event.type, Event.occurred_at, Event.properties).where(
            _among(session, Event.id, event_ids)
        )
    ).all()


def digest_items(session: Session, decision_ids: Collection[int]) -> Sequence[Row[int, str]]:
    """Per digest decision, the touchpoints bundled with it: sent in the same run to the same
    customer on the same channel at the same moment."""
    first, other = aliased(Decision), aliased(Decision)
    return session.execute(
        select(first.id, other.touchpoint)
        .join(
            other,
            and_(
                other.run_id == first.run_id,
                other.customer_id == first.customer_id,
                other.channel == first.channel,
                other.send_at == first.send_at,
                other.outcome == "sent",
            ),
        )
        .where(first.id.in_(decision_ids))
        .order_by(first.id, other.id)
    ).all()
