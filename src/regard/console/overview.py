"""The overview's figures: the state of the relationship with the whole base, in numbers.

``read_overview`` computes every figure from the store in a handful of aggregate queries (see
``regard.console.repository``) and returns plain frozen dataclasses, no HTML; ``overview_charts``
turns them into the charts the overview page shows. docs/console.md says what each figure
means and how it is computed.

Weeks are calendar weeks from Monday 00:00 UTC; the last one is the week of ``now``, so far.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import polars as pl
from sqlalchemy.orm import Session

from regard.commitment.scoring import NON_USER_GROUPS, USER_GROUPS
from regard.config import BrandConfig
from regard.console import repository
from regard.console.charts import (
    Chart,
    ReferenceLine,
    Series,
    as_percent,
    bar_chart,
    grid_chart,
    line_chart,
)
from regard.decisions.reasons import Reason
from regard.preferences.catalogue import CHANNEL_LABELS, default_allows
from regard.segments.compile import FeatureSpec
from regard.segments.features import read_customers, read_features
from regard.segments.schema import LIFECYCLE_STAGES, ValueType
from regard.segments.views import describe

__all__ = [
    "COMPLAINT_RATE_LIMIT",
    "LIFECYCLE_LABELS",
    "REASON_LABELS",
    "CommitmentMix",
    "GroupCount",
    "Growth",
    "Messages",
    "OptInCell",
    "OptInRate",
    "OptInRates",
    "OutcomeCount",
    "Overview",
    "WeekCount",
    "WeeklyFeedback",
    "overview_charts",
    "read_overview",
    "week_label",
    "week_starts",
]

# Mailbox providers' ceiling for complaints over messages sent (Gmail and Yahoo ask senders to
# stay below 0.3%): the line marked on the complaints chart.
COMPLAINT_RATE_LIMIT = 0.003


LIFECYCLE_LABELS: dict[str, str] = {
    "prospect": "Prospect",
    "new": "New",
    "active": "Active",
    "at_risk": "At risk",
    "lapsed": "Lapsed",
    "won_back": "Won back",
}

# A few words per reason, for a bar's label; the full sentence is regard.decisions.reasons.
REASON_LABELS: dict[str, str] = {
    Reason.UNKNOWN_CUSTOMER: "unknown customer",
    Reason.NO_CHANNEL: "no channel",
    Reason.PAST_DEADLINE: "past its deadline",
    Reason.ERASED: "erased",
    Reason.DO_NOT_CONTACT: "do not contact",
    Reason.NO_LAWFUL_BASIS: "no lawful basis",
    Reason.OPTED_OUT: "opted out",
    Reason.NO_CONSENT: "no consent",
    Reason.IMPLIED_CONSENT_EXPIRED: "implied consent lapsed",
    Reason.HARD_BOUNCE: "address bounced",
    Reason.COMPLAINT: "complained",
    Reason.UNREACHABLE: "no usable address",
    Reason.NO_VOICE_OPT_IN: "no opt-in to calls",
    Reason.PROMOTIONAL_VOICE: "promotional call",
    Reason.VOICE_NOT_FITTING: "call does not fit",
    Reason.CALL_FOR_INFORMATION: "call for information only",
    Reason.BELOW_RELEVANCE: "below relevance floor",
    Reason.NO_WINDOW: "no allowed moment",
    Reason.PAUSED: "customer paused",
    Reason.FATIGUE: "fatigue",
    Reason.MIN_GAP: "too soon after the last",
    Reason.FREQUENCY: "customer's frequency",
    Reason.CAP: "brand-wide cap",
    Reason.DIGEST: "in a digest",
    Reason.ONE_VOICE: "one voice",
    Reason.OUTVALUED: "outvalued",
    Reason.TOUCHPOINT_REMOVED: "touchpoint removed",
    Reason.CONTROL_GROUP: "control group",
}
_OUTCOMES = ("sent", "held", "dropped")


@dataclass(frozen=True)
class WeekCount:
    """A count for the calendar week starting on ``week`` (a Monday)."""

    week: date
    count: int


@dataclass(frozen=True)
class Growth:
    """Profiles now, and profiles created in each of the last weeks (oldest first)."""

    customers: int
    new_per_week: tuple[WeekCount, ...]


@dataclass(frozen=True)
class GroupCount:
    """Current members of one engine segment (``key`` such as ``commitment:Shallow``)."""

    key: str
    label: str
    customers: int
    description: str


@dataclass(frozen=True)
class CommitmentMix:
    """The eight Conversion Model groups, users then non-users, strongest first."""

    users: tuple[GroupCount, ...]
    non_users: tuple[GroupCount, ...]

    @property
    def groups(self) -> tuple[GroupCount, ...]:
        return (*self.users, *self.non_users)

    @property
    def scored(self) -> int:
        return sum(group.customers for group in self.groups)


@dataclass(frozen=True)
class OptInCell:
    """Customers who may be sent ``topic`` on ``channel`` now, and their share of all."""

    topic: str
    channel: str
    customers: int
    share: float
    # Whether the topic reaches customers on the channel before they say anything.
    by_default: bool


@dataclass(frozen=True)
class OptInRate:
    """One channel's or one topic's rate: see ``OptInRates``."""

    key: str
    label: str
    customers: int
    share: float


@dataclass(frozen=True)
class OptInRates:
    """Who may be sent what now, by the rule the segments' ``subscribed`` uses.

    ``cells``: every topic x channel of the brand. ``by_channel``: customers who opted in to at
    least one topic on the channel that needs their opt-in (what is on by default is left out,
    so this is the channel's opt-in rate). ``by_topic``: customers the topic may reach on at
    least one channel.
    """

    customers: int
    cells: tuple[OptInCell, ...]
    by_channel: tuple[OptInRate, ...]
    by_topic: tuple[OptInRate, ...]

    def cell(self, topic: str, channel: str) -> OptInCell:
        """The cell of ``topic`` on ``channel``; KeyError when the brand has no such pair."""
        for cell in self.cells:
            if cell.topic == topic and cell.channel == channel:
                return cell
        raise KeyError((topic, channel))


@dataclass(frozen=True)
class OutcomeCount:
    """Candidates whose latest decision had this outcome and reason."""

    outcome: str
    reason: str | None
    label: str
    candidates: int


@dataclass(frozen=True)
class Messages:
    """What became of the candidates decided on in the last ``days`` days, each counted once
    by its latest decision: sent, held (may go later) or dropped (will not), with reasons."""

    days: int
    since: datetime
    sent: int
    held: int
    dropped: int
    by_reason: tuple[OutcomeCount, ...]


@dataclass(frozen=True)
class WeeklyFeedback:
    """One week's opt-outs (customers), messages sent and messages complained about."""

    week: date
    opt_outs: int
    sent: int
    complaints: int

    @property
    def complaint_rate(self) -> float:
        """Complaints over messages sent that week; 0 in a week with nothing sent."""
        return self.complaints / self.sent if self.sent else 0.0


@dataclass(frozen=True)
class Overview:
    """Every figure of the overview page, as of ``as_of``."""

    as_of: datetime
    growth: Growth
    commitment: CommitmentMix
    lifecycle: tuple[GroupCount, ...]
    opt_in: OptInRates
    messages: Messages
    feedback: tuple[WeeklyFeedback, ...]


def week_starts(now: datetime, *, weeks: int) -> list[datetime]:
    """The Mondays 00:00 UTC starting the last ``weeks`` calendar weeks, the week of ``now``
    last."""
    if weeks < 1:
        raise ValueError("at least one week")
    moment = now.astimezone(UTC)
    monday = datetime(moment.year, moment.month, moment.day, tzinfo=UTC) - timedelta(
        days=moment.weekday()
    )
    return [monday - timedelta(weeks=weeks - 1 - index) for index in range(weeks)]


def read_overview(
    session: Session, *, brand: BrandConfig, now: datetime, weeks: int = 12, days: int = 30
) -> Overview:
    """The overview's figures: growth and feedback over the last ``weeks`` calendar weeks,
    decisions over the last ``days`` days, the rest as they stand. Reads only."""
    starts = week_starts(now, weeks=weeks)
    until = now.astimezone(UTC)
    return Overview(
        as_of=until,
        growth=_growth(session, starts=starts, until=until),
        commitment=_commitment(session, brand=brand),
        lifecycle=_lifecycle(session, brand=brand),
        opt_in=_opt_in(session, brand=brand, now=until),
        messages=_messages(session, since=until - timedelta(days=days), until=until, days=days),
        feedback=_feedback(session, starts=starts, until=until),
    )


def _growth(session: Session, *, starts: Sequence[datetime], until: datetime) -> Growth:
    created = repository.customers_created_by_period(session, starts=starts, until=until)
    return Growth(
        customers=repository.count_customers(session),
        new_per_week=tuple(
            WeekCount(start.date(), created.get(index, 0)) for index, start in enumerate(starts)
        ),
    )


def _group(key: str, label: str, counts: dict[str, int], brand: BrandConfig) -> GroupCount:
    description = describe(key, brand=brand)
    return GroupCount(key=key, label=label, customers=counts.get(key, 0), description=description)


def _commitment(session: Session, *, brand: BrandConfig) -> CommitmentMix:
    keys = [f"commitment:{group}" for group in (*USER_GROUPS, *NON_USER_GROUPS)]
    counts = repository.open_memberships(session, segments=keys)
    return CommitmentMix(
        users=tuple(_group(f"commitment:{g}", g, counts, brand) for g in USER_GROUPS),
        non_users=tuple(_group(f"commitment:{g}", g, counts, brand) for g in NON_USER_GROUPS),
    )


def _lifecycle(session: Session, *, brand: BrandConfig) -> tuple[GroupCount, ...]:
    keys = [f"lifecycle:{stage}" for stage in LIFECYCLE_STAGES]
    counts = repository.open_memberships(session, segments=keys)
    return tuple(
        _group(f"lifecycle:{stage}", LIFECYCLE_LABELS.get(stage, stage), counts, brand)
        for stage in LIFECYCLE_STAGES
    )


def _opt_in(session: Session, *, brand: BrandConfig, now: datetime) -> OptInRates:
    """The segments' own ``subscribed`` columns for every topic x channel, counted."""
    pairs = [(topic, channel) for topic in brand.topics for channel in brand.channels]
    specs = [
        FeatureSpec(
            column=f"subscribed__{topic.key}__{channel}",
            source="subscribed",
            type=ValueType.BOOLEAN,
            arguments=(topic.key, channel),
            when_missing=False,
        )
        for topic, channel in pairs
    ]
    base = read_customers(session)
    frame = read_features(session, specs, base=base, brand=brand, as_of=now)
    customers = frame.height

    def share(count: int) -> float:
        return count / customers if customers else 0.0

    sums = frame.select(pl.col(spec.column).sum() for spec in specs).row(0) if specs else ()
    cells = tuple(
        OptInCell(
            topic=topic.key,
            channel=channel,
            customers=int(total or 0),
            share=share(int(total or 0)),
            by_default=default_allows(topic, channel),
        )
        for (topic, channel), total in zip(pairs, sums, strict=True)
    )

    def any_of(columns: list[str]) -> int:
        if not columns or not customers:
            return 0
        return int(frame.select(pl.any_horizontal(columns).sum()).item())

    by_channel = []
    for channel in brand.channels:
        needs_opt_in = [
            spec.column
            for spec, (topic, on) in zip(specs, pairs, strict=True)
            if on == channel and not default_allows(topic, on)
        ]
        count = any_of(needs_opt_in)
        label = CHANNEL_LABELS.get(channel, channel)
        by_channel.append(OptInRate(channel, label, count, share(count)))
    by_topic = []
    for topic in brand.topics:
        columns = [
            spec.column for spec, (t, _) in zip(specs, pairs, strict=True) if t.key == topic.key
        ]
        count = any_of(columns)
        by_topic.append(OptInRate(topic.key, topic.label, count, share(count)))
    return OptInRates(customers, cells, tuple(by_channel), tuple(by_topic))


def _messages(session: Session, *, since: datetime, until: datetime, days: int) -> Messages:
    rows = repository.latest_outcomes(session, since=since, until=until)
    totals = dict.fromkeys(_OUTCOMES, 0)
    counts: list[OutcomeCount] = []
    for outcome, reason, candidates in rows:
        totals[outcome] = totals.get(outcome, 0) + candidates
        if outcome == "sent":
            continue
        counts.append(OutcomeCount(outcome, reason, REASON_LABELS.get(reason, reason), candidates))
    counts.sort(key=lambda c: (_OUTCOMES.index(c.outcome), -c.candidates, c.label))
    sent = OutcomeCount("sent", None, "sent", totals["sent"])
    return Messages(
        days=days,
        since=since,
        sent=totals["sent"],
        held=totals["held"],
        dropped=totals["dropped"],
        by_reason=(sent, *counts),
    )


def _feedback(
    session: Session, *, starts: Sequence[datetime], until: datetime
) -> tuple[WeeklyFeedback, ...]:
    opt_outs = repository.opt_outs_by_period(session, starts=starts, until=until)
    sent = repository.sent_by_period(session, starts=starts, until=until)
    complaints = repository.complaints_by_period(session, starts=starts, until=until)
    return tuple(
        WeeklyFeedback(
            week=start.date(),
            opt_outs=opt_outs.get(index, 0),
            sent=sent.get(index, 0),
            complaints=complaints.get(index, 0),
        )
        for index, start in enumerate(starts)
    )


def week_label(week: date) -> str:
    """ "16 Nov": the Monday a week starts on."""
    return f"{week.day} {week:%b}"


def overview_charts(overview: Overview) -> dict[str, Chart]:
    """The overview page's charts, by name: ``growth``, ``commitment``, ``lifecycle``,
    ``opt_in_channels``, ``opt_in_topics``, ``opt_in_grid``, ``messages``, ``opt_outs``,
    ``complaints``."""
    weeks = [week_label(w.week) for w in overview.growth.new_per_week]
    mix = overview.commitment
    opt_in = overview.opt_in
    topics = list(dict.fromkeys(cell.topic for cell in opt_in.cells))
    channels = list(dict.fromkeys(cell.channel for cell in opt_in.cells))
    messages = overview.messages
    feedback_weeks = [week_label(w.week) for w in overview.feedback]
    return {
        "growth": line_chart(
            [Series("New profiles", tuple(w.count for w in overview.growth.new_per_week))],
            x_labels=weeks,
            title=f"New profiles per week ({overview.growth.customers:,} in all)",
            y_label="Profiles created",
        ),
        "commitment": bar_chart(
            [(group.label, group.customers) for group in mix.groups],
            groups=["Users"] * len(mix.users) + ["Non-users"] * len(mix.non_users),
            title="Commitment mix (Conversion Model)",
            x_label="Customers",
        ),
        "lifecycle": bar_chart(
            [(group.label, group.customers) for group in overview.lifecycle],
            title="Lifecycle stages",
            x_label="Customers",
        ),
        "opt_in_channels": bar_chart(
            [(rate.label, rate.share) for rate in opt_in.by_channel],
            title="Opted in to at least one topic, per channel",
            x_label="Share of customers",
            value_format=as_percent,
        ),
        "opt_in_topics": bar_chart(
            [(rate.label, rate.share) for rate in opt_in.by_topic],
            title="May be sent on at least one channel, per topic",
            x_label="Share of customers",
            value_format=as_percent,
        ),
        "opt_in_grid": grid_chart(
            topics,
            [CHANNEL_LABELS.get(channel, channel) for channel in channels],
            [[opt_in.cell(topic, channel).share for channel in channels] for topic in topics],
            title="Who may be sent each topic on each channel",
            value_label="share of customers",
            value_format=as_percent,
            maximum=1.0,
        ),
        "messages": bar_chart(
            [(count.label, count.candidates) for count in messages.by_reason],
            groups=[count.outcome.capitalize() for count in messages.by_reason],
            title=f"Messages sent, held and dropped, last {messages.days} days",
            x_label="Candidates",
        ),
        "opt_outs": line_chart(
            [Series("Customers opting out", tuple(w.opt_outs for w in overview.feedback))],
            x_labels=feedback_weeks,
            title="Opt-outs per week",
            y_label="Customers",
        ),
        "complaints": line_chart(
            [Series("Complaint rate", tuple(w.complaint_rate for w in overview.feedback))],
            x_labels=feedback_weeks,
            title="Complaints over messages sent, per week",
            y_label="Complaint rate",
            reference_line=ReferenceLine(COMPLAINT_RATE_LIMIT, "Complaint-rate limit"),
            value_format=as_percent,
        ),
    }
