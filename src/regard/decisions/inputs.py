"""What the engine decides on, read from the store as the frames ``policy.apply_policy`` takes.

Everything is read in bulk for the candidates due (pending, and not held past now): one query
per frame, joined on the candidates in the database, never one customer at a time.

- **Value** of a candidate: the highest value its touchpoint gives any segment the customer is in
  now, else the touchpoint's default (``TouchpointDefinition.value``). Where measurement stored
  a learned value for that (touchpoint, segment), the measured lift weighs in by its
  credibility (``regard.measurement.values_service``). With customer value configured
  (``[measurement.clv]``), the value is then scaled by the customer's expected value relative
  to the base's mean, clipped to ``CLV_FACTOR_RANGE``; a customer without one keeps it as is.
- **Relevance** of an offer (``offers:<category>`` topics): 0.9 when the customer named the
  category among their interests, ``NOT_THEIR_INTEREST`` (0.1) when they named interests but not
  this one, unknown (null) when they named none. Only promotional candidates are held to the
  floor; unknown relevance is not below it.
- **Customers**: time zone (their own setting, else their profile's), quiet hours, preferred
  days and hours, pause, where they can be reached (an email address, a phone number for texts
  and calls, a registered device for push; post is not collected yet), their last purchase (for
  implied consent) and the brand's region.
- **History**: what was decided as sent in the last ``HISTORY_DAYS`` days, with its topic and
  importance, counted by the caps, gaps and fatigue.
  ``engaged`` is true once the message was opened, clicked or replied to; false once it was
  sent ``ENGAGEMENT_WAIT`` ago without any of those (ignored, which fatigue counts); null
  before that or when it never left (unknown).
- **Suppressions**: the channels delivery feedback suppressed (a hard bounce, a complaint).
  Engagement and suppressions are read from delivery's tables, and learned values from
  measurement's: feedback flowing back from act and learn to decide, the places this module
  looks to its right in the data flow.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import orjson
import polars as pl
from sqlalchemy import Select, String, and_, cast, func, literal, or_, select
from sqlalchemy.orm import Session

from regard.config import BrandConfig
from regard.customers.models import Customer, Event, Identity
from regard.decisions.models import Decision, OutboxMessage
from regard.decisions.policy_options import CHANNEL_ORDER, IMPORTANCE_ORDER
from regard.delivery import feedback_repository
from regard.measurement import values_repository
from regard.preferences.models import ConsentState, PreferenceProfile, PushDevice
from regard.segments.models import SegmentMembership
from regard.store.frames import fetch_frame
from regard.touchpoints.models import CampaignLaunch, Candidate

HISTORY_DAYS = 60
# How long a sent message may go without an open, click or reply before it counts as ignored.
ENGAGEMENT_WAIT = timedelta(days=3)
INTEREST_MATCH = 0.9
NOT_THEIR_INTEREST = 0.1
# A customer's value factor: their expected value over the base's mean, kept within this range.
CLV_FACTOR_RANGE = (0.5, 2.0)
_TIMESTAMP = pl.Datetime("us", "UTC")
# The engine's frames carry a code per row, not a string: an Enum where the catalogue knows
# every value (a byte per row), else a Categorical (four), never a text per candidate.
IMPORTANCES = pl.Enum(IMPORTANCE_ORDER)
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class EngineInputs:
    """The frames of one decision run (columns as ``regard.decisions.policy`` documents)."""

    candidates: pl.DataFrame
    touchpoint_channels: pl.DataFrame
    topics: pl.DataFrame
    customers: pl.DataFrame
    frequencies: pl.DataFrame
    consents: pl.DataFrame
    suppressions: pl.DataFrame
    history: pl.DataFrame

    def frames(self) -> dict[str, pl.DataFrame]:
        return {
            "candidates": self.candidates,
            "touchpoint_channels": self.touchpoint_channels,
            "topics": self.topics,
            "customers": self.customers,
            "frequencies": self.frequencies,
            "consents": self.consents,
            "suppressions": self.suppressions,
            "history": self.history,
        }


def catalogue_enums(touchpoints: Iterable[str], topics: Iterable[str]) -> tuple[pl.Enum, pl.Enum]:
    """The Enums of a catalogue's touchpoint names and topic keys (each sorted, distinct):
    the dtypes of ``touchpoint`` and ``topic`` in the candidates of ``read_inputs``."""
    return pl.Enum(sorted(set(touchpoints))), pl.Enum(sorted(set(topics)))


def brand_enums(brand: BrandConfig) -> tuple[pl.Enum, pl.Enum]:
    """``catalogue_enums`` of the brand's touchpoints and of every topic it names."""
    return catalogue_enums(
        (tp.name for tp in brand.touchpoints),
        [*(t.key for t in brand.topics), *(tp.topic for tp in brand.touchpoints)],
    )


def catalogue_frames(brand: BrandConfig) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(touchpoints, touchpoint_channels, topics) of the brand's configuration."""
    touchpoints = pl.DataFrame(
        [
            {
                "touchpoint": tp.name,
                "topic": tp.topic,
                "asks_response": tp.asks_response,
            }
            for tp in brand.touchpoints
        ],
        schema={"touchpoint": pl.String(), "topic": pl.String(), "asks_response": pl.Boolean()},
    )
    channels = pl.DataFrame(
        [
            {"touchpoint": tp.name, "channel": c.channel, "content": c.content}
            for tp in brand.touchpoints
            for c in tp.channels
        ],
        schema={"touchpoint": pl.String(), "channel": pl.String(), "content": pl.String()},
    )
    topics = pl.DataFrame(
        [{"topic": t.key, "importance": t.importance, "basis": t.basis} for t in brand.topics],
        schema={"topic": pl.String(), "importance": pl.String(), "basis": pl.String()},
    )
    return touchpoints, channels, topics


def due_candidates(now: datetime) -> Select[Any]:
    """The ids of the candidates a run decides on: pending, and not held past ``now``."""
    return select(Candidate.id).where(
        Candidate.status == "pending",
        or_(Candidate.not_before.is_(None), Candidate.not_before <= now),
    )


def read_inputs(
    session: Session, *, brand: BrandConfig, now: datetime, candidate_ids: Select[Any]
) -> EngineInputs:
    """The frames for the candidates ``candidate_ids`` selects."""
    touchpoints, channels, topics = catalogue_frames(brand)
    raw = fetch_frame(
        session,
        select(
            Candidate.id,
            Candidate.customer_id,
            Candidate.touchpoint,
            Candidate.triggered_at,
            Candidate.deadline_at,
            CampaignLaunch.channels,
        )
        .outerjoin(
            CampaignLaunch,
            and_(
                Candidate.key.startswith("campaign:"),
                Candidate.key == literal("campaign:") + cast(CampaignLaunch.id, String),
                CampaignLaunch.touchpoint == Candidate.touchpoint,
            ),
        )
        .where(Candidate.id.in_(candidate_ids)),
        {
            "candidate_id": pl.Int64(),
            "customer_id": pl.Int64(),
            "touchpoint": pl.String(),
            "triggered_at": _TIMESTAMP,
            "deadline_at": _TIMESTAMP,
            "launch_channels": pl.String(),
        },
    ).pipe(_with_channel_mask)
    who = select(Candidate.customer_id).where(Candidate.id.in_(candidate_ids)).distinct()
    candidates = (
        raw.join(touchpoints, on="touchpoint", how="inner")
        .join(topics.select("topic", "importance"), on="topic", how="left")
        .pipe(_with_value, session=session, brand=brand, who=who)
    )
    settings = _settings(session, who)
    touchpoint_enum, topic_enum = brand_enums(brand)
    return EngineInputs(
        candidates=candidates.pipe(_with_relevance, settings=settings).cast(
            {"touchpoint": touchpoint_enum, "topic": topic_enum, "importance": IMPORTANCES}
        ),
        touchpoint_channels=channels.select("touchpoint", "channel"),
        topics=topics,
        **_customer_frames(session, brand=brand, now=now, who=who, settings=settings),
    )


def read_customer_inputs(
    session: Session, *, brand: BrandConfig, now: datetime, who: Select[Any]
) -> EngineInputs:
    """What the contact policy knows of the customers ``who`` selects (a select of customer
    ids), with no candidates: for reading the policy's own state of a base, such as the room
    left in each customer's caps (``apply_policy(...).caps``)."""
    _, channels, topics = catalogue_frames(brand)
    return EngineInputs(
        candidates=pl.DataFrame(schema=_CANDIDATES_SCHEMA),
        touchpoint_channels=channels.select("touchpoint", "channel"),
        topics=topics,
        **_customer_frames(
            session, brand=brand, now=now, who=who, settings=_settings(session, who)
        ),
    )


_CANDIDATES_SCHEMA = {
    "candidate_id": pl.Int64(),
    "customer_id": pl.Int64(),
    "touchpoint": pl.Categorical(),
    "triggered_at": _TIMESTAMP,
    "deadline_at": _TIMESTAMP,
    "channel_mask": pl.UInt8(),
    "topic": pl.Categorical(),
    "asks_response": pl.Boolean(),
    "importance": IMPORTANCES,
    "value": pl.Float64(),
    "relevance": pl.Float64(),
}


def _customer_frames(
    session: Session,
    *,
    brand: BrandConfig,
    now: datetime,
    who: Select[Any],
    settings: dict[int, dict[str, Any]],
) -> dict[str, pl.DataFrame]:
    """customers, frequencies, consents, suppressions and history of the customers ``who``."""
    frames = {
        "customers": _customers(session, brand=brand, who=who, settings=settings),
        "frequencies": _frequencies(settings),
        "consents": fetch_frame(
            session,
            select(
                ConsentState.customer_id,
                ConsentState.topic,
                ConsentState.channel,
                ConsentState.state,
                ConsentState.legal_basis,
                ConsentState.occurred_at,
            ).where(ConsentState.customer_id.in_(who)),
            {
                "customer_id": pl.Int64(),
                "topic": pl.String(),
                "channel": pl.String(),
                "state": pl.String(),
                "legal_basis": pl.String(),
                "occurred_at": _TIMESTAMP,
            },
        ),
        "suppressions": fetch_frame(
            session,
            feedback_repository.suppressions_of(who),
            {
                "customer_id": pl.Int64(),
                "channel": pl.String(),
                "reason": pl.String(),
                "at": _TIMESTAMP,
            },
        ),
        "history": _history(
            session, brand=brand, who=who, since=now - timedelta(HISTORY_DAYS), now=now
        ),
    }
    return {name: frame.cast(_CODED.get(name, {})) for name, frame in frames.items()}


# Texts of the customers' frames that the store holds as free strings: Categoricals.
_CODED: dict[str, dict[Any, pl.DataType]] = {
    "customers": {"time_zone": pl.Categorical(), "region": pl.Categorical()},
    "consents": {
        "topic": pl.Categorical(),
        "channel": pl.Categorical(),
        "state": pl.Categorical(),
        "legal_basis": pl.Categorical(),
    },
    "suppressions": {"channel": pl.Categorical(), "reason": pl.Categorical()},
    "history": {
        "touchpoint": pl.Categorical(),
        "topic": pl.Categorical(),
        "channel": pl.Categorical(),
        "importance": IMPORTANCES,
    },
}


def _with_channel_mask(candidates: pl.DataFrame) -> pl.DataFrame:
    """``launch_channels`` (a restricted launch's channels, comma-separated) as the policy's
    ``channel_mask``: a bit per channel of ``CHANNEL_ORDER``; null when unrestricted."""
    chosen = pl.col("launch_channels").str.split(",")
    mask = pl.sum_horizontal(
        chosen.list.contains(channel).cast(pl.Int32) * (1 << i)
        for i, channel in enumerate(CHANNEL_ORDER)
    )
    restricted = pl.col("launch_channels").fill_null("") != ""
    return candidates.with_columns(
        pl.when(restricted).then(mask).otherwise(None).cast(pl.UInt8).alias("channel_mask")
    ).drop("launch_channels")


def _with_value(
    candidates: pl.DataFrame, *, session: Session, brand: BrandConfig, who: Select[Any]
) -> pl.DataFrame:
    """``value`` of each candidate: its touchpoint's value for the best of the customer's
    segments (else its default), learned where measurement stored one, times the customer's
    value factor."""
    values = _touchpoint_values(session, brand)
    segments = values.filter(pl.col("segment") != "default")
    defaults = values.filter(pl.col("segment") == "default").select(
        "touchpoint", pl.col("value").alias("default_value")
    )
    members = fetch_frame(
        session,
        select(SegmentMembership.customer_id, SegmentMembership.segment).where(
            SegmentMembership.customer_id.in_(who),
            SegmentMembership.segment.in_(segments["segment"].unique().to_list()),
            SegmentMembership.exited_at.is_(None),
        ),
        {"customer_id": pl.Int64(), "segment": pl.String()},
    )
    best = (
        candidates.select("candidate_id", "customer_id", "touchpoint")
        .join(members, on="customer_id", how="inner")
        .join(segments, on=["touchpoint", "segment"], how="inner")
        .group_by("candidate_id")
        .agg(pl.col("value").max().alias("segment_value"))
    )
    factors = _customer_factors(session, brand=brand, who=who)
    return (
        candidates.join(defaults, on="touchpoint", how="left")
        .join(best, on="candidate_id", how="left")
        .join(factors, on="customer_id", how="left")
        .with_columns(
            (pl.coalesce("segment_value", "default_value") * pl.col("factor").fill_null(1.0)).alias(
                "value"
            ),
        )
        .drop("segment_value", "default_value", "factor")
    )


def _touchpoint_values(session: Session, brand: BrandConfig) -> pl.DataFrame:
    """touchpoint, segment (``default`` included) and value of every configured pair: the
    configured value blended with the stored measurement, ``weight x measured + (1 - weight) x
    configured`` (``regard.measurement.touchpoint_values``), else the configured value. The
    blend uses the configured value of now, so a changed configuration counts at once."""
    configured = pl.DataFrame(
        [
            {"touchpoint": tp.name, "segment": segment, "configured": float(value)}
            for tp in brand.touchpoints
            for segment, value in tp.value.items()
        ],
        schema={"touchpoint": pl.String(), "segment": pl.String(), "configured": pl.Float64()},
    )
    measured = fetch_frame(
        session,
        values_repository.engine_touchpoint_values(),
        {
            "touchpoint": pl.String(),
            "segment": pl.String(),
            "measured": pl.Float64(),
            "weight": pl.Float64(),
        },
    )
    weight = pl.col("weight").fill_null(0.0)
    return configured.join(
        measured, on=["touchpoint", "segment"], how="left", maintain_order="left"
    ).select(
        "touchpoint",
        "segment",
        (weight * pl.col("measured").fill_null(0.0) + (1.0 - weight) * pl.col("configured")).alias(
            "value"
        ),
    )


def _customer_factors(session: Session, *, brand: BrandConfig, who: Select[Any]) -> pl.DataFrame:
    """customer_id and factor, ``clip(expected value / mean expected value, CLV_FACTOR_RANGE)``,
    of the customers with a stored value, when customer value is configured; none otherwise
    (every factor then 1)."""
    schema = {"customer_id": pl.Int64(), "factor": pl.Float64()}
    clv = brand.measurement.clv
    if clv.bg_nbd is None or clv.gamma_gamma is None:
        return pl.DataFrame(schema=schema)
    found = fetch_frame(
        session,
        values_repository.customer_values_of(who),
        {"customer_id": pl.Int64(), "expected_value": pl.Float64(), "mean_value": pl.Float64()},
    )
    low, high = CLV_FACTOR_RANGE
    return found.filter(pl.col("mean_value") > 0).select(
        "customer_id",
        (pl.col("expected_value") / pl.col("mean_value")).clip(low, high).alias("factor"),
    )


def _settings(session: Session, who: Select[Any]) -> dict[int, dict[str, Any]]:
    rows = session.execute(
        select(PreferenceProfile.customer_id, cast(PreferenceProfile.settings, String)).where(
            PreferenceProfile.customer_id.in_(who)
        )
    ).all()
    return {customer_id: orjson.loads(text) if text else {} for customer_id, text in rows}


def _with_relevance(
    candidates: pl.DataFrame, *, settings: dict[int, dict[str, Any]]
) -> pl.DataFrame:
    interests = pl.DataFrame(
        [
            {"customer_id": customer_id, "interests": list(found.get("interests", {}).get("", []))}
            for customer_id, found in settings.items()
        ],
        schema={"customer_id": pl.Int64(), "interests": pl.List(pl.String())},
    )
    category = pl.col("topic").str.strip_prefix("offers:")
    return (
        candidates.join(interests, on="customer_id", how="left")
        .with_columns(
            pl.when(~pl.col("topic").str.starts_with("offers:"))
            .then(None)
            .when(pl.col("interests").list.len().fill_null(0) == 0)
            .then(None)
            .when(pl.col("interests").list.contains(category))
            .then(INTEREST_MATCH)
            .otherwise(NOT_THEIR_INTEREST)
            .cast(pl.Float64)
            .alias("relevance")
        )
        .drop("interests")
    )


def _minutes(clock: object) -> int | None:
    if not isinstance(clock, str) or ":" not in clock:
        return None
    hours, minutes = clock.split(":", 1)
    return int(hours) * 60 + int(minutes)


def _window(found: dict[str, Any], name: str) -> tuple[int | None, int | None]:
    value = found.get(name, {}).get("")
    if not isinstance(value, dict):
        return None, None
    return _minutes(value.get("start")), _minutes(value.get("end"))


def _customers(
    session: Session,
    *,
    brand: BrandConfig,
    who: Select[Any],
    settings: dict[int, dict[str, Any]],
) -> pl.DataFrame:
    profiles = session.execute(
        select(Customer.id, Customer.time_zone).where(Customer.id.in_(who))
    ).all()
    kinds = session.execute(
        select(Identity.customer_id, Identity.kind)
        .where(Identity.customer_id.in_(who), Identity.kind.in_(("email", "phone")))
        .distinct()
    ).all()
    reach: dict[int, set[str]] = {}
    for customer_id, kind in kinds:
        reach.setdefault(customer_id, set()).update(
            ("email",) if kind == "email" else ("sms", "voice")
        )
    for (customer_id,) in session.execute(
        select(PushDevice.customer_id).where(PushDevice.customer_id.in_(who)).distinct()
    ).all():
        reach.setdefault(customer_id, set()).add("push")
    purchases = dict(
        session.execute(
            select(Event.customer_id, func.max(Event.occurred_at))
            .where(
                Event.customer_id.in_(who),
                Event.type.in_(brand.segments.rfm.purchase_event_types),
            )
            .group_by(Event.customer_id)
        ).all()
    )
    rows: list[dict[str, Any]] = []
    for customer_id, profile_zone in profiles:
        found = settings.get(customer_id, {})
        quiet = _window(found, "quiet_hours")
        preferred = _window(found, "preferred_hours")
        days = found.get("preferred_days", {}).get("")
        paused = found.get("paused_until", {}).get("")
        reachable = reach.get(customer_id, set())
        rows.append(
            {
                "customer_id": customer_id,
                "time_zone": found.get("time_zone", {}).get("") or profile_zone,
                "region": brand.region,
                "quiet_start": quiet[0],
                "quiet_end": quiet[1],
                "preferred_days": (
                    sum(1 << _DAYS.index(d) for d in days if d in _DAYS) if days else None
                ),
                "preferred_start": preferred[0],
                "preferred_end": preferred[1],
                "paused_until": date.fromisoformat(paused) if isinstance(paused, str) else None,
                **{channel: channel in reachable for channel in CHANNEL_ORDER},
                "last_purchase_at": purchases.get(customer_id),
                "do_not_contact": False,
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "customer_id": pl.Int64(),
            "time_zone": pl.String(),
            "region": pl.String(),
            "quiet_start": pl.Int16(),
            "quiet_end": pl.Int16(),
            "preferred_days": pl.Int8(),
            "preferred_start": pl.Int16(),
            "preferred_end": pl.Int16(),
            "paused_until": pl.Date(),
            **dict.fromkeys(CHANNEL_ORDER, pl.Boolean()),
            "last_purchase_at": _TIMESTAMP,
            "do_not_contact": pl.Boolean(),
        },
    )


def _frequencies(settings: dict[int, dict[str, Any]]) -> pl.DataFrame:
    rows = [
        {"customer_id": customer_id, "topic": scope or None, "frequency": value}
        for customer_id, found in settings.items()
        for scope, value in found.get("frequency", {}).items()
        if isinstance(value, str)
    ]
    return pl.DataFrame(
        rows,
        schema={"customer_id": pl.Int64(), "topic": pl.String(), "frequency": pl.String()},
    )


def _history(
    session: Session, *, brand: BrandConfig, who: Select[Any], since: datetime, now: datetime
) -> pl.DataFrame:
    engagement = feedback_repository.first_engagement().subquery()
    rows = fetch_frame(
        session,
        select(
            Decision.id,
            Decision.customer_id,
            Decision.candidate_id,
            Decision.touchpoint,
            Decision.channel,
            Decision.send_at,
            OutboxMessage.sent_at,
            engagement.c.engaged_at,
        )
        .outerjoin(OutboxMessage, OutboxMessage.decision_id == Decision.id)
        .outerjoin(engagement, engagement.c.outbox_id == OutboxMessage.id)
        .where(
            and_(
                Decision.customer_id.in_(who),
                Decision.outcome == "sent",
                Decision.send_at >= since,
            )
        ),
        {
            "decision_id": pl.Int64(),
            "customer_id": pl.Int64(),
            "candidate_id": pl.Int64(),
            "touchpoint": pl.String(),
            "channel": pl.String(),
            "sent_at": _TIMESTAMP,
            "left_at": _TIMESTAMP,
            "engaged_at": _TIMESTAMP,
        },
    )
    # A decision has one message per channel; should it have more, any engagement counts.
    engaged = (
        pl.when(pl.col("engaged_at").is_not_null() & (pl.col("engaged_at") <= now))
        .then(True)
        .when(pl.col("left_at").is_not_null() & (pl.col("left_at") <= now - ENGAGEMENT_WAIT))
        .then(False)
        .otherwise(None)
    )
    sent = (
        rows.with_columns(engaged.alias("engaged"))
        .group_by("decision_id", maintain_order=True)
        .agg(
            pl.col("customer_id", "candidate_id", "touchpoint", "channel", "sent_at").first(),
            pl.col("engaged").max(),
        )
        .drop("decision_id")
    )
    touchpoints, _, topics = catalogue_frames(brand)
    return (
        sent.join(touchpoints.select("touchpoint", "topic"), on="touchpoint", how="left")
        .join(topics.select("topic", "importance"), on="topic", how="left")
        .select(
            "customer_id",
            "candidate_id",
            "touchpoint",
            "channel",
            "sent_at",
            "topic",
            "importance",
            "engaged",
        )
    )
