"""Relationship health of the brand's own customers, read from the store, with its charts.

``relationship_health`` reads the columns it needs in bulk (``health_repository``, the engine's
own inputs for the caps, the segments module's purchases) and hands them to the pure functions
of ``regard.measurement.health``; ``health_charts`` draws the result, each chart with its
sentence and table. Reads only, never writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from regard.commitment.scoring import CutPoints, score
from regard.commitment.service import ITEMS, SURVEY, current_cuts
from regard.config import BrandConfig
from regard.console.charts import (
    Chart,
    ReferenceLine,
    Series,
    as_percent,
    bar_chart,
    grid_chart,
    line_chart,
)
from regard.customers.models import Customer
from regard.decisions.inputs import read_customer_inputs
from regard.decisions.policy_options import CHANNEL_ORDER
from regard.errors import InvalidInput
from regard.measurement import health_repository as repository
from regard.measurement.health import (
    GROUPS,
    LIFECYCLE_STAGES,
    commitment_transitions,
    fatigue,
    lifecycle_transitions,
    message_outcomes,
    rates_by,
    week_starts,
    weekly_rates,
)
from regard.segments.features import read_customers, read_purchases
from regard.segments.rfm import utc_instant

__all__ = ["RelationshipHealth", "health_charts", "relationship_health"]

MAX_WEEKS = 260


@dataclass(frozen=True)
class RelationshipHealth:
    """Relationship health on ``as_of``; each frame as ``regard.measurement.health`` makes it.

    ``rates``: week (Date, Monday), sent, delivered, opted_out, complained, opt_out_rate,
    complaint_rate (null with too little data), over_line, note. ``rates_by_channel`` and
    ``rates_by_touchpoint``: the same per channel (every channel of the brand) and per
    touchpoint, over the whole period. ``fatigue``: channel (``"all"``: every channel at once),
    reachable, at_cap, share. ``commitment_transitions``: from_group, to_group, customers,
    share (of the row). ``lifecycle_transitions``: from_stage, to_stage, customers, share.
    ``complaint_line``: the complaint rate above which a week is flagged (the breaker's
    ``halt_at``); ``min_sent``: the fewest messages a rate is given for.
    """

    as_of: datetime
    rates: pl.DataFrame
    rates_by_channel: pl.DataFrame
    fatigue: pl.DataFrame
    commitment_transitions: pl.DataFrame
    lifecycle_transitions: pl.DataFrame
    complaint_line: float
    rates_by_touchpoint: pl.DataFrame
    min_sent: int
    lifecycle_period: timedelta

    def as_dict(self) -> dict[str, object]:
        """The same as plain JSON-ready values."""
        return {
            "as_of": self.as_of.isoformat(),
            "complaint_line": self.complaint_line,
            "min_sent": self.min_sent,
            "lifecycle_period_days": self.lifecycle_period / timedelta(days=1),
            "rates": _rows(self.rates),
            "rates_by_channel": _rows(self.rates_by_channel),
            "rates_by_touchpoint": _rows(self.rates_by_touchpoint),
            "fatigue": _rows(self.fatigue),
            "commitment_transitions": _rows(self.commitment_transitions),
            "lifecycle_transitions": _rows(self.lifecycle_transitions),
        }


def _rows(frame: pl.DataFrame) -> list[dict[str, object]]:
    dates = [name for name, kind in frame.schema.items() if kind == pl.Date()]
    return frame.with_columns(pl.col(dates).dt.to_string("%Y-%m-%d")).to_dicts()


def relationship_health(
    session: Session,
    *,
    brand: BrandConfig,
    as_of: datetime,
    weeks: int = 12,
    lifecycle_period: timedelta = timedelta(days=90),
) -> RelationshipHealth:
    """Rates over the last ``weeks`` weeks (the week of ``as_of`` the last), fatigue on
    ``as_of``, commitment movement between each customer's last two survey responses by
    ``as_of``, and lifecycle movement over ``lifecycle_period`` up to ``as_of``."""
    as_of = utc_instant(as_of)
    if not 1 <= weeks <= MAX_WEEKS:
        raise InvalidInput(f"weeks must be between 1 and {MAX_WEEKS}, not {weeks}")
    if lifecycle_period <= timedelta(0):
        raise InvalidInput("the lifecycle period must be longer than nothing")
    mondays = week_starts(as_of, weeks)
    since = datetime.combine(mondays[0], time(), UTC)
    breaker = brand.delivery.breaker
    line, minimum = breaker.halt_at, breaker.min_deliveries
    outcomes = message_outcomes(
        repository.sent_messages(session, since=since, until=as_of),
        feedback=repository.delivery_feedback(session, since=since, until=as_of),
        opt_outs=repository.opt_outs(session, since=since, until=as_of),
        window=brand.measurement.outcome.window,
    )
    channels = [name for name in CHANNEL_ORDER if name in brand.channels]
    inputs = read_customer_inputs(session, brand=brand, now=as_of, who=select(Customer.id))
    purchases = read_purchases(session, options=brand.segments.rfm, as_of=as_of)
    return RelationshipHealth(
        as_of=as_of,
        rates=weekly_rates(outcomes, weeks=mondays, minimum=minimum, line=line),
        rates_by_channel=rates_by(
            outcomes, "channel", include=channels, minimum=minimum, line=line
        ),
        rates_by_touchpoint=rates_by(
            outcomes,
            "touchpoint",
            include=[tp.name for tp in brand.touchpoints],
            minimum=minimum,
            line=line,
        ),
        fatigue=fatigue(inputs, policy=brand.policy, now=as_of, channels=channels),
        commitment_transitions=commitment_transitions(
            _scored_responses(session, brand=brand, as_of=as_of)
        ),
        lifecycle_transitions=lifecycle_transitions(
            purchases,
            read_customers(session),
            as_of=as_of,
            period=lifecycle_period,
            options=brand.segments.lifecycle,
        ),
        complaint_line=line,
        min_sent=minimum,
        lifecycle_period=lifecycle_period,
    )


def _scored_responses(session: Session, *, brand: BrandConfig, as_of: datetime) -> pl.DataFrame:
    """Every commitment response answered by ``as_of``, placed in its group with the cut points
    the commitment module places customers with now (``current_cuts``)."""
    found = repository.survey_responses(session, survey=SURVEY, until=as_of)
    answers = found["answers"].str.json_decode(pl.Struct(dict.fromkeys(ITEMS, pl.Float64)))
    frame = pl.concat(
        [
            found.select("customer_id", "is_user", "responded_at", "response_id"),
            answers.struct.unnest(),
        ],
        how="horizontal",
    )
    cuts = current_cuts(session, brand=brand)
    scored = score(frame, brand.commitment, cuts=cuts or CutPoints(0.0, 0.0, 0.0))
    if cuts is None:
        # No cut points yet (none configured, and no user of the base could be scored): users
        # have no group, only non-users do.
        scored = scored.with_columns(
            pl.when(~pl.col("is_user")).then(pl.col("group")).alias("group")
        )
    return scored.select("customer_id", "responded_at", "response_id", "group")


def health_charts(health: RelationshipHealth) -> list[Chart]:
    """Four charts: complaint and opt-out rates per week with the complaint line, the share of
    customers at their caps, and the commitment and lifecycle transition matrices."""
    return [
        _rates_chart(health),
        _fatigue_chart(health),
        _matrix_chart(
            health.commitment_transitions,
            labels=GROUPS,
            names=("from_group", "to_group"),
            title="Commitment movement between surveys",
            value_label="customers, previous response (rows) to latest (columns)",
        ),
        _matrix_chart(
            health.lifecycle_transitions,
            labels=LIFECYCLE_STAGES,
            names=("from_stage", "to_stage"),
            title="Lifecycle movement",
            value_label=(
                f"customers, {health.lifecycle_period.days} days ago (rows) to now (columns)"
            ),
        ),
    ]


def _rates_chart(health: RelationshipHealth) -> Chart:
    judged = health.rates.filter(pl.col("complaint_rate").is_not_null())
    left_out = health.rates.height - judged.height
    title = "Complaint and opt-out rates per week"
    if left_out:
        title += (
            f" ({left_out} of {health.rates.height} weeks left out: "
            f"fewer than {health.min_sent:,} messages sent)"
        )
    return line_chart(
        [
            Series("Complaint rate", tuple(judged["complaint_rate"].to_list())),
            Series("Opt-out rate", tuple(judged["opt_out_rate"].to_list())),
        ],
        x_labels=[week.isoformat() for week in judged["week"].to_list()],
        title=title,
        y_label="Share of messages sent",
        reference_line=ReferenceLine(health.complaint_line, "Complaint line"),
        value_format=as_percent,
    )


def _fatigue_chart(health: RelationshipHealth) -> Chart:
    shown = health.fatigue.filter(pl.col("share").is_not_null())
    bars = [
        ("every channel" if row["channel"] == "all" else row["channel"], row["share"])
        for row in shown.iter_rows(named=True)
    ]
    return bar_chart(
        bars,
        title="Reachable customers at their caps now",
        x_label="Share of reachable customers",
        value_format=as_percent,
    )


def _matrix_chart(
    matrix: pl.DataFrame,
    *,
    labels: tuple[str, ...],
    names: tuple[str, str],
    title: str,
    value_label: str,
) -> Chart:
    start, end = names
    cells = {(row[start], row[end]): row["customers"] for row in matrix.iter_rows(named=True)}
    values = [[float(cells.get((a, b), 0)) for b in labels] for a in labels]
    return grid_chart(labels, labels, values, title=title, value_label=value_label)
