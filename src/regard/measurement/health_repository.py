"""The columns relationship health reads, in bulk: messages that left, their delivery and
complaint feedback, opt-outs from the consent ledger and every commitment survey response, each
one query fetched as a Polars frame."""

from __future__ import annotations

from datetime import datetime

import polars as pl
from sqlalchemy import String, cast, select
from sqlalchemy.orm import Session

from regard.commitment.models import SurveyResponse
from regard.decisions.models import OutboxMessage
from regard.delivery.models import MessageFeedback
from regard.preferences.models import ConsentEntry
from regard.store.frames import fetch_frame

_TIME = pl.Datetime("us", "UTC")


def sent_messages(session: Session, *, since: datetime, until: datetime) -> pl.DataFrame:
    """outbox_id, customer_id, touchpoint, channel, sent_at of every message that left in
    [since, until]."""
    return fetch_frame(
        session,
        select(
            OutboxMessage.id,
            OutboxMessage.customer_id,
            OutboxMessage.touchpoint,
            OutboxMessage.channel,
            OutboxMessage.sent_at,
        ).where(OutboxMessage.sent_at >= since, OutboxMessage.sent_at <= until),
        {
            "outbox_id": pl.Int64(),
            "customer_id": pl.Int64(),
            "touchpoint": pl.String(),
            "channel": pl.String(),
            "sent_at": _TIME,
        },
    )


def delivery_feedback(session: Session, *, since: datetime, until: datetime) -> pl.DataFrame:
    """outbox_id, kind of the deliveries and complaints received by ``until`` for the messages
    that left in [since, until]."""
    return fetch_frame(
        session,
        select(MessageFeedback.outbox_id, MessageFeedback.kind)
        .join(OutboxMessage, OutboxMessage.id == MessageFeedback.outbox_id)
        .where(
            MessageFeedback.kind.in_(("delivered", "complained")),
            MessageFeedback.occurred_at <= until,
            OutboxMessage.sent_at >= since,
            OutboxMessage.sent_at <= until,
        ),
        {"outbox_id": pl.Int64(), "kind": pl.String()},
    )


def opt_outs(session: Session, *, since: datetime, until: datetime) -> pl.DataFrame:
    """customer_id, channel (null: none named), occurred_at of every opt-out in the consent
    ledger in [since, until]."""
    return fetch_frame(
        session,
        select(ConsentEntry.customer_id, ConsentEntry.channel, ConsentEntry.occurred_at).where(
            ConsentEntry.state == "opted-out",
            ConsentEntry.occurred_at >= since,
            ConsentEntry.occurred_at <= until,
        ),
        {"customer_id": pl.Int64(), "channel": pl.String(), "occurred_at": _TIME},
    )


def survey_responses(session: Session, *, survey: str, until: datetime) -> pl.DataFrame:
    """customer_id, is_user, answers (JSON text), responded_at, response_id of every response
    to ``survey`` answered by ``until``."""
    return fetch_frame(
        session,
        select(
            SurveyResponse.customer_id,
            SurveyResponse.is_user,
            cast(SurveyResponse.answers, String),
            SurveyResponse.responded_at,
            SurveyResponse.id,
        ).where(SurveyResponse.survey == survey, SurveyResponse.responded_at <= until),
        {
            "customer_id": pl.Int64(),
            "is_user": pl.Boolean(),
            "answers": pl.String(),
            "responded_at": _TIME,
            "response_id": pl.Int64(),
        },
    )
