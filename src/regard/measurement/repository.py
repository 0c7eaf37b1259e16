"""The columns measurement reads, in bulk: decisions, messages, feedback, conversions, opt-outs
and segment membership, each one query fetched as a Polars frame."""

from __future__ import annotations

from datetime import datetime

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from regard.decisions.models import Decision, OutboxMessage
from regard.delivery.models import MessageFeedback
from regard.measurement.options import OutcomeOptions
from regard.preferences.models import ConsentEntry
from regard.segments.features import read_purchases
from regard.segments.models import SegmentMembership
from regard.segments.options import RfmOptions
from regard.store.frames import fetch_frame

_TIME = pl.Datetime("us", "UTC")
# Feedback that measurement counts (bounces and failures say nothing about the customer).
_KINDS = ("delivered", "opened", "clicked", "replied", "complained")


def decisions(
    session: Session, *, touchpoint: str | None = None, since: datetime | None = None
) -> pl.DataFrame:
    """candidate_id, customer_id, touchpoint, decided_at, reason, outcome, channel."""
    statement = select(
        Decision.candidate_id,
        Decision.customer_id,
        Decision.touchpoint,
        Decision.decided_at,
        Decision.reason,
        Decision.outcome,
        Decision.channel,
    )
    if touchpoint is not None:
        statement = statement.where(Decision.touchpoint == touchpoint)
    if since is not None:
        statement = statement.where(Decision.decided_at >= since)
    return fetch_frame(
        session,
        statement,
        {
            "candidate_id": pl.Int64(),
            "customer_id": pl.Int64(),
            "touchpoint": pl.String(),
            "decided_at": _TIME,
            "reason": pl.String(),
            "outcome": pl.String(),
            "channel": pl.String(),
        },
    )


def messages(session: Session, *, touchpoint: str | None = None) -> pl.DataFrame:
    """outbox_id, candidate_id of every message queued (a digest counts for each candidate)."""
    statement = select(OutboxMessage.id, Decision.candidate_id).join(
        Decision, Decision.id == OutboxMessage.decision_id
    )
    if touchpoint is not None:
        statement = statement.where(Decision.touchpoint == touchpoint)
    return fetch_frame(session, statement, {"outbox_id": pl.Int64(), "candidate_id": pl.Int64()})


def feedback(session: Session) -> pl.DataFrame:
    """outbox_id, kind of the feedback measurement counts."""
    return fetch_frame(
        session,
        select(MessageFeedback.outbox_id, MessageFeedback.kind).where(
            MessageFeedback.kind.in_(_KINDS)
        ),
        {"outbox_id": pl.Int64(), "kind": pl.String()},
    )


def conversions(session: Session, *, options: OutcomeOptions, until: datetime) -> pl.DataFrame:
    """customer_id, occurred_at, amount of every conversion event up to ``until``."""
    rfm = RfmOptions(purchase_event_types=(options.event,), amount_property=options.amount_property)
    return read_purchases(session, options=rfm, as_of=until).select(
        "customer_id", "occurred_at", "amount"
    )


def opt_outs(session: Session) -> pl.DataFrame:
    """customer_id, occurred_at of every opt-out in the consent ledger."""
    return fetch_frame(
        session,
        select(ConsentEntry.customer_id, ConsentEntry.occurred_at).where(
            ConsentEntry.state == "opted-out"
        ),
        {"customer_id": pl.Int64(), "occurred_at": _TIME},
    )


def segments(session: Session) -> pl.DataFrame:
    """customer_id, segment of every current membership."""
    return fetch_frame(
        session,
        select(SegmentMembership.customer_id, SegmentMembership.segment).where(
            SegmentMembership.exited_at.is_(None)
        ),
        {"customer_id": pl.Int64(), "segment": pl.String()},
    )
