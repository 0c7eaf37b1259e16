"""Weeks of contact history for the demo brand, made by the product itself at past moments.

Before the demo's last day, Regard runs as it would have in the weeks before: at every moment a
scheduled touchpoint falls due, and when staff launch an autumn campaign, the triggers run, the
engine decides (``run_engine(store, now=...)``, control groups included) and the product's
delivery worker sends what fell due, on a clock set to that moment, to the demo's SMTP server.
After each round the customers answer what they were sent (regard.demo.responses): opens and
clicks through the tracked links, a few complaints and unsubscribes, and purchases on top of
what the generated history says, inside the outcome window. So ``regard measure lift`` has
treated and control customers, weeks of them, to compare.

The welcome message and the commitment survey are left to the last day (their audiences are the
customers new or active on that day). History is made once per demo database: a database that
already holds decisions is left as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session

from regard.config import BrandConfig
from regard.customers.service import EVENT_FRAME_SCHEMA, store_events
from regard.decisions import service as decision_service
from regard.decisions.models import Decision, OutboxMessage
from regard.decisions.reasons import Reason
from regard.delivery import feedback, feedback_repository
from regard.delivery.worker import Worker
from regard.demo import catalogue, responses
from regard.preferences import service as preferences_service
from regard.preferences.models import PreferenceProfile
from regard.preferences.service import ConsentChange, Origin
from regard.segments.features import read_purchases
from regard.segments.models import SegmentMembership
from regard.store.database import Store, unit_of_work
from regard.store.frames import fetch_frame
from regard.touchpoints import triggers

WEEKS = 8
# The last week before the demo's last day is left for the outcome windows to close.
QUIET_DAYS = 7
# Left to the last day: their audiences are the customers new or active then.
LAST_DAY_ONLY = frozenset({"welcome", "commitment_survey"})
# Autumn campaigns staff launched, by week of the history (from 0) and weekday, at 10:00.
# (Climbing offers to everyone is the demo's spray-and-pray example: previewed, never launched.)
CAMPAIGNS = (("trail_footwear", 0, 1), ("winter_gear", 4, 1))
_TIME = pl.Datetime("us", "UTC")
_AFTER_SLOT = timedelta(minutes=5)
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Moment:
    """A past moment at which Regard ran, and the campaign staff launched then, if any."""

    at: datetime
    launch: str | None = None


@dataclass(frozen=True)
class Round:
    moment: Moment
    candidates: int
    sent: int
    control: int
    delivered: int
    answered: responses.Answered


@dataclass
class History:
    """What the weeks before the last day left in the store."""

    rounds: list[Round] = field(default_factory=list)
    recorded_now: bool = True
    first: datetime | None = None
    last: datetime | None = None

    @property
    def total(self) -> responses.Answered:
        total = responses.Answered()
        for done in self.rounds:
            total.add(done.answered)
        return total


def moments(brand: BrandConfig, *, until: date, weeks: int = WEEKS) -> list[Moment]:
    """The moments of the history: each slot of a scheduled touchpoint (a few minutes after
    it) and each campaign launch, from ``weeks`` weeks before ``until`` to a week before."""
    zone = ZoneInfo(brand.time_zone)
    first = until - timedelta(days=7 * weeks)
    days = [first + timedelta(days=n) for n in range(7 * weeks - QUIET_DAYS)]
    found: dict[datetime, str | None] = {}
    for touchpoint in brand.touchpoints:
        if touchpoint.schedule is None or touchpoint.name in LAST_DAY_ONLY:
            continue
        for day in days:
            end = datetime.combine(day, time(23, 59), tzinfo=zone)
            slot = triggers.latest_slot(touchpoint.schedule, now=end, zone=zone)
            if slot.astimezone(zone).date() == day:
                found.setdefault(slot + _AFTER_SLOT, None)
    for name, week, weekday in CAMPAIGNS:
        if brand.touchpoint(name) is None:
            continue
        monday = first + timedelta(days=(7 - first.weekday()) % 7)
        day = monday + timedelta(days=7 * week + weekday)
        if day in days:
            at = datetime.combine(day, time(10), tzinfo=zone).astimezone(UTC)
            found[at] = name
    return [Moment(at=at, launch=found[at]) for at in sorted(found)]


def _history_brand(brand: BrandConfig) -> BrandConfig:
    kept = tuple(tp for tp in brand.touchpoints if tp.name not in LAST_DAY_ONLY)
    return brand.model_copy(update={"touchpoints": kept})


def has_decisions(session: Session) -> bool:
    return bool(session.scalar(select(func.count()).select_from(Decision)))


def _customers(session: Session, *, brand: BrandConfig, as_of: datetime) -> pl.DataFrame:
    """customer_id, group (Conversion Model), interests (stated), spend (mean order)."""
    groups = fetch_frame(
        session,
        select(SegmentMembership.customer_id, SegmentMembership.segment).where(
            SegmentMembership.segment.like("commitment:%"), SegmentMembership.exited_at.is_(None)
        ),
        {"customer_id": pl.Int64(), "segment": pl.String()},
    ).select("customer_id", pl.col("segment").str.strip_prefix("commitment:").alias("group"))
    settings = fetch_frame(
        session,
        select(PreferenceProfile.customer_id, cast(PreferenceProfile.settings, String)),
        {"customer_id": pl.Int64(), "settings": pl.String()},
    )
    interests = settings.select(
        "customer_id",
        pl.col("settings")
        .str.json_path_match("$.interests['']")
        .str.json_decode(pl.List(pl.String()))
        .alias("interests"),
    )
    spend = (
        read_purchases(session, options=brand.segments.rfm, as_of=as_of)
        .group_by("customer_id")
        .agg(pl.col("amount").mean().alias("spend"))
    )
    return (
        groups.join(interests, on="customer_id", how="full", coalesce=True)
        .join(spend, on="customer_id", how="full", coalesce=True)
        .unique("customer_id", keep="first")
    )


def _sent_between(session: Session, since: datetime, until: datetime) -> pl.DataFrame:
    """The messages that left in (since, until], with the moment their candidate was decided."""
    return fetch_frame(
        session,
        select(
            OutboxMessage.id,
            OutboxMessage.customer_id,
            OutboxMessage.touchpoint,
            OutboxMessage.topic,
            OutboxMessage.channel,
            OutboxMessage.sent_at,
            Decision.decided_at,
        )
        .join(Decision, Decision.id == OutboxMessage.decision_id)
        .where(
            OutboxMessage.status == "sent",
            OutboxMessage.sent_at > since,
            OutboxMessage.sent_at <= until,
        )
        .order_by(OutboxMessage.id),
        {
            "outbox_id": pl.Int64(),
            "customer_id": pl.Int64(),
            "touchpoint": pl.String(),
            "topic": pl.String(),
            "channel": pl.String(),
            "sent_at": _TIME,
            "decided_at": _TIME,
        },
    )


def make_history(
    store: Store,
    worker: Callable[[Callable[[], datetime]], Worker],
    *,
    until: date,
    seed: int,
    weeks: int = WEEKS,
) -> History:
    """Run Regard at each past moment of the history and let the customers answer.

    ``worker(clock)`` makes the demo's delivery worker on that clock.
    """
    with unit_of_work(store) as session:
        if has_decisions(session):
            return History(recorded_now=False)
    found = moments(store.brand, until=until, weeks=weeks)
    history = History()
    if not found:
        return history
    brand = _history_brand(store.brand)
    end = datetime.combine(until, time(), tzinfo=UTC)
    with unit_of_work(store) as session:
        people = _customers(session, brand=store.brand, as_of=end)
    now = [found[0].at]
    sender = worker(lambda: now[0])
    rng = np.random.default_rng([seed, 808])
    sent_until = found[0].at
    try:
        for index, moment in enumerate(found):
            following = found[index + 1].at if index + 1 < len(found) else end
            with unit_of_work(store) as session:
                triggers.run_triggers(session, brand=brand, now=moment.at)
                if moment.launch is not None:
                    triggers.launch_campaign(
                        session, moment.launch, brand=store.brand, by="demo", now=moment.at
                    )
            report = decision_service.run_engine(store, now=moment.at)
            now[0] = min(moment.at + _DAY, following - timedelta(minutes=1))
            summary = sender.run(once=True)
            answered = _answer_round(
                store, people, since=sent_until, until=now[0], rng=rng, seed=seed, latest=end
            )
            sent_until = now[0]
            control = sum(
                count
                for (_, _, reason), count in report.reasons.items()
                if reason == Reason.CONTROL_GROUP
            )
            history.rounds.append(
                Round(moment, report.candidates, report.sent, control, summary.sent, answered)
            )
    finally:
        sender.close()
    history.first, history.last = found[0].at, found[-1].at
    return history


def _answer_round(
    store: Store,
    people: pl.DataFrame,
    *,
    since: datetime,
    until: datetime,
    rng: np.random.Generator,
    seed: int,
    latest: datetime,
) -> responses.Answered:
    brand = store.brand
    with unit_of_work(store) as session:
        sent = _sent_between(session, since, until)
    done = responses.Answered(messages=sent.height)
    if sent.height == 0:
        return done
    marketing = {topic.key for topic in brand.topics if topic.is_marketing}
    messages = sent.join(people, on="customer_id", how="left").with_columns(
        pl.col("topic").is_in(marketing).alias("marketing")
    )
    answered = responses.answer(
        messages.select(responses.MESSAGES_SCHEMA.names()).match_to_schema(
            responses.MESSAGES_SCHEMA
        ),
        rng=rng,
        seed=seed,
        engagement={name: ch.engagement for name, ch in brand.policy.channels.items()},
        window=brand.measurement.outcome.window,
        latest=latest,
    )
    acting = answered.filter((pl.col("outcome") != "ignored") | pl.col("bought"))
    rows = list(acting.iter_rows(named=True))
    for start in range(0, len(rows), 500):
        with unit_of_work(store) as session:
            for row in rows[start : start + 500]:
                _record(session, store, row, done)
    bought = answered.filter(pl.col("bought"))
    if bought.height:
        events = bought.select(
            "customer_id",
            pl.lit("order_completed").alias("type"),
            pl.col("bought_at").alias("occurred_at"),
            pl.format("demo-response-{}", "outbox_id").alias("message_id"),
            pl.struct("outbox_id", "amount", "topic")
            .map_elements(
                lambda r: responses.order_properties(r["outbox_id"], r["amount"], r["topic"]),
                return_dtype=pl.String,
            )
            .alias("properties"),
            pl.lit(None, dtype=pl.String).alias("personal"),
        ).match_to_schema(pl.Schema(EVENT_FRAME_SCHEMA))
        with unit_of_work(store) as session:
            store_events(session, events, vault=store.vault, source="shop", received_at=until)
        done.purchases = bought.height
        done.revenue = float(bought["amount"].sum())
    return done


def _record(
    session: Session, store: Store, row: dict[str, object], done: responses.Answered
) -> None:
    """One customer's answer to one message, through the product's feedback and consent paths."""
    vault = store.vault
    outbox_id = int(str(row["outbox_id"]))
    at = row["answered_at"]
    assert isinstance(at, datetime)
    message = feedback_repository.outbox_message(session, outbox_id)
    if message is None:
        return
    outcome = row["outcome"]
    if outcome == "engaged":
        if message.channel == "email":
            pixel = feedback.open_url("", outbox_id=outbox_id, vault=vault)
            feedback.record_open(session, pixel.rsplit("/", 1)[1], now=at, vault=vault)
        else:
            feedback.record(
                session, message, kind="opened", occurred_at=at, received_at=at, vault=vault
            )
        done.opened += 1
        if row["clicked"]:
            link = feedback.click_url(
                "", outbox_id=outbox_id, url=f"{catalogue.SHOP_URL}/", vault=vault
            )
            feedback.follow_click(
                session, link.rsplit("/", 1)[1], now=at + timedelta(minutes=2), vault=vault
            )
            done.clicked += 1
    elif outcome == "complained":
        if message.channel == "email" and message.message_id:
            feedback.email_feedback(
                session,
                message_id=message.message_id,
                kind="complaint",
                bounce=None,
                occurred_at=at,
                received_at=at,
                vault=vault,
            )
        else:
            feedback.record(
                session, message, kind="complained", occurred_at=at, received_at=at, vault=vault
            )
        done.complained += 1
    elif outcome == "opted_out":
        preferences_service.record(
            session,
            message.customer_id,
            brand=store.brand,
            origin=Origin(source="one-click", actor="customer", occurred_at=at),
            consents=[ConsentChange(message.topic, message.channel, "opted-out")],
        )
        done.opted_out += 1
    touchpoint = message.touchpoint
    done.by_touchpoint[touchpoint] = done.by_touchpoint.get(touchpoint, 0) + 1
