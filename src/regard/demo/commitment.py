"""The demo brand's customers answering the commitment survey, then its segments evaluated.

A share of customers answered once, on a day in the two years before the demo's last day.
Their answers come from a latent attachment to the brand, so that the items agree with each
other as real answers do (a customer who likes the brand rates its alternatives lower and thinks
less of switching), with noise. The attachment leans on how much the customer went on to buy in
the year after answering: the signal a real commitment survey carries, and what
``regard commitment calibrate`` measures. About two in five wrote something in their own words,
drawn from a handful of themes.

A second wave went out about six months before the last day (``WAVE_DAYS``, give or take ten
days): half of those who answered (``WAVE_SHARE``), except those who had answered within a month
of it, answered again, so that commitment movement between the two answers can be measured.
Attachment drifts between the two answers: the other answer's attachment is
``ρ · a + √(1 − ρ²) · 0.85 · N(0, 1)`` with ``ρ = WAVE_PERSISTENCE`` (most stay near where they
were, some move a group or two), and each purchase between the two answers lifts the later one
(``WAVE_PURCHASE_PULL`` times the log of one plus the purchases). Users and non-users answer as
they did, except customers whose first purchase came between the two answers: their later answer
is mostly a user's and their earlier one mostly not, so first purchases move customers from the
non-user groups to the users. Both waves go through the survey's own validation and
scoring (``regard.commitment.service.record_response``).

Answers are recorded only when the demo has none yet, so running the demo again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import polars as pl
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from regard.commitment import repository as commitment_repository
from regard.commitment import service as commitment
from regard.commitment.models import SurveyResponse
from regard.segments import calibration, features
from regard.segments import repository as segments_repository
from regard.segments import service as segments
from regard.segments.calibration import Calibration
from regard.segments.service import SegmentSummary
from regard.store.database import Store, unit_of_work

# What customers write, by open question, in a few themes each.
_WORDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "what_matters": (
        (
            "Gear that lasts for years and can be repaired",
            "Durable tents I can repair myself",
            "Quality that lasts, and repairs when something breaks",
            "Repairs instead of replacing, durable kit",
        ),
        (
            "Fast delivery before a trip",
            "Quick delivery, I often order the week before a hike",
            "Delivery on time, tracking that works",
            "Fast shipping and easy returns",
        ),
        (
            "Honest advice from people who hike themselves",
            "Staff who give honest advice in the shop",
            "Advice on what I actually need, not upselling",
            "Good advice on sizes and fit",
        ),
        (
            "Fair prices without constant sales",
            "Fair prices, no fake discounts",
            "Price matters, but fair prices over big sales",
        ),
    ),
    "more_useful": (
        (
            "Fewer emails, only when something is relevant",
            "Fewer emails please, once a month is enough",
            "Too many emails; fewer and more relevant",
            "Send fewer emails about sales",
        ),
        (
            "Tell me when lightweight tents are back in stock",
            "Back in stock alerts for my size",
            "Let me know when items on my wishlist are back in stock",
            "Stock alerts for trail running shoes in wide sizes",
        ),
        (
            "Repair tips and care guides for my gear",
            "Care guides for the boots I bought",
            "Tips on repairs and caring for down jackets",
        ),
        (
            "Workshops and events near Utrecht",
            "Events and group hikes near me",
            "Invite me to workshops in my city",
        ),
    ),
}
SHARE = 0.3
WROTE = 0.4
WAVE_DAYS = 182
WAVE_SHARE = 0.5
WAVE_PERSISTENCE = 0.8
WAVE_PURCHASE_PULL = 0.3
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class SurveyLoaded:
    responses: int
    recorded_now: bool
    # Customers who answered both waves.
    twice: int = 0


def answer_surveys(store: Store, *, seed: int, until: datetime) -> SurveyLoaded:
    """A share of customers answer the commitment survey (once per demo database)."""
    rng = np.random.default_rng(seed + 505)
    with unit_of_work(store) as session:
        already = commitment_repository.count_responses(session)
        if already:
            return SurveyLoaded(
                responses=already, recorded_now=False, twice=_answered_twice(session)
            )
        ids = features.read_customers(session)["customer_id"]
        purchases = features.read_purchases(session, options=store.brand.segments.rfm, as_of=until)
    chosen = ids.filter(pl.Series(rng.random(ids.len()) < SHARE))
    answered = pl.DataFrame(
        {
            "customer_id": chosen,
            "responded_at": [
                until - _DAY * float(days) for days in rng.uniform(30, 730, chosen.len())
            ],
        },
        schema_overrides={"responded_at": pl.Datetime("us", "UTC")},
    )
    bought = (
        answered.join(purchases, on="customer_id", how="left")
        .group_by("customer_id", maintain_order=True)
        .agg(
            pl.first("responded_at"),
            (
                (pl.col("occurred_at") > pl.col("responded_at"))
                & (pl.col("occurred_at") <= pl.col("responded_at") + timedelta(days=365))
            )
            .sum()
            .alias("after"),
            (pl.col("occurred_at") <= pl.col("responded_at")).sum().alias("before"),
        )
    )
    # Purchases a year after answering; for recent answers, the pace so far over a year.
    observed = np.minimum(
        365.0, (until - bought["responded_at"]).dt.total_days().to_numpy().astype(float)
    )
    went_on = np.log1p(bought["after"].to_numpy().astype(float) * 365.0 / observed)
    spread = went_on.std() or 1.0
    leaning = (went_on - went_on.mean()) / spread
    recorded = 0
    attachments: list[float] = []
    users: list[bool] = []
    rows = list(bought.select("customer_id", "responded_at", "before").iter_rows())
    for start in range(0, len(rows), 500):
        with unit_of_work(store) as session:
            for (customer_id, responded_at, before), lean in zip(
                rows[start : start + 500], leaning[start : start + 500], strict=True
            ):
                # Who had bought from the brand mostly say they use it; others mostly not.
                is_user = bool(rng.random() < (0.9 if before else 0.3))
                attachment = 0.55 * float(lean) + 0.85 * float(rng.normal())
                attachments.append(attachment)
                users.append(is_user)
                _answer(store, session, rng, customer_id, responded_at, is_user, attachment)
                recorded += 1
    twice = _second_wave(
        store,
        bought.select("customer_id", "responded_at").with_columns(
            pl.Series("attachment", attachments, dtype=pl.Float64),
            pl.Series("is_user", users, dtype=pl.Boolean),
        ),
        purchases,
        seed=seed,
        until=until,
    )
    return SurveyLoaded(responses=recorded + twice, recorded_now=True, twice=twice)


def _second_wave(
    store: Store, answered: pl.DataFrame, purchases: pl.DataFrame, *, seed: int, until: datetime
) -> int:
    """Half of those who answered answer again about six months before ``until``."""
    rng = np.random.default_rng(seed + 606)
    wave = until - _DAY * WAVE_DAYS
    moments = [wave + _DAY * float(d) for d in rng.uniform(-10, 10, answered.height)]
    chosen = answered.with_columns(
        pl.Series("wave_at", moments, dtype=pl.Datetime("us", "UTC")),
        pl.Series("asked", rng.random(answered.height) < WAVE_SHARE),
    ).filter(
        pl.col("asked"),
        (pl.col("responded_at") - pl.col("wave_at")).abs() > timedelta(days=30),
    )
    counted = (
        chosen.join(purchases, on="customer_id", how="left")
        .group_by("customer_id", maintain_order=True)
        .agg(
            pl.first("responded_at", "wave_at", "attachment", "is_user"),
            (pl.col("occurred_at") <= pl.col("wave_at")).sum().alias("before"),
            (
                (pl.col("occurred_at") > pl.min_horizontal("responded_at", "wave_at"))
                & (pl.col("occurred_at") <= pl.max_horizontal("responded_at", "wave_at"))
            )
            .sum()
            .alias("between"),
        )
    )
    rows = list(
        counted.select(
            "customer_id", "responded_at", "wave_at", "attachment", "is_user", "before", "between"
        ).iter_rows()
    )
    spread = float(np.sqrt(1.0 - WAVE_PERSISTENCE**2)) * 0.85
    recorded = 0
    for start in range(0, len(rows), 500):
        with unit_of_work(store) as session:
            for customer_id, responded_at, wave_at, attachment, was_user, before, between in rows[
                start : start + 500
            ]:
                pull = WAVE_PURCHASE_PULL * float(np.log1p(between))
                # The wave after the first answer is lifted by the purchases between; the wave
                # before it is as far below.
                later = wave_at > responded_at
                drift = pull if later else -pull
                other = WAVE_PERSISTENCE * attachment + spread * float(rng.normal()) + drift
                # Users and non-users answer as before, unless their first purchase came between
                # the two answers: then the later answer is mostly a user's, the earlier mostly not.
                first_between = between > 0 and (before == between if later else before == 0)
                is_user = bool(was_user)
                if first_between:
                    is_user = bool(rng.random() < (0.9 if later else 0.3))
                _answer(store, session, rng, customer_id, wave_at, is_user, other)
                recorded += 1
    return recorded


def _answered_twice(session: Session) -> int:
    repeat = (
        select(SurveyResponse.customer_id)
        .group_by(SurveyResponse.customer_id)
        .having(func.count() >= 2)
        .subquery()
    )
    return int(session.scalar(select(func.count()).select_from(repeat)) or 0)


def _answer(
    store: Store,
    session: Session,
    rng: np.random.Generator,
    customer_id: int,
    responded_at: datetime,
    is_user: bool,
    attachment: float,
) -> None:
    def scale(centre: float, spread: float, low: int, high: int) -> int:
        return int(np.clip(round(centre + spread + rng.normal(0, 1.2)), low, high))

    if is_user:
        answers = {
            "satisfaction": scale(7, 1.2 * attachment, 0, 10),
            "emotional_fit": scale(6, 2.0 * attachment, 0, 10),
            "involvement": scale(3, 0.3 * attachment, 1, 5),
            "best_alternative": scale(6, -1.2 * attachment, 0, 10),
            "considering_switching": scale(2.5, -0.9 * attachment, 1, 5),
        }
    else:
        answers = {
            "rating_brand": scale(6, 2.0 * attachment, 0, 10),
            "rating_current": scale(6.5, -0.5 * attachment, 0, 10),
        }
    words: dict[str, str] = {}
    for question, themes in _WORDS.items():
        if rng.random() < WROTE:
            theme = themes[int(rng.integers(len(themes)))]
            words[question] = theme[int(rng.integers(len(theme)))]
    commitment.record_response(
        session,
        customer_id,
        brand=store.brand,
        is_user=is_user,
        answers=answers,
        free_text=words or None,
        source="import",
        responded_at=responded_at,
    )


def calibrate(store: Store, *, as_of: datetime) -> Calibration:
    """Commitment weighed against who went on to lapse, beside satisfaction and RFM."""
    with unit_of_work(store) as session:
        return calibration.calibrate_store(session, brand=store.brand, as_of=as_of)


@dataclass(frozen=True)
class SegmentsLoaded:
    summaries: list[SegmentSummary]
    # (commitment group, lifecycle stage) -> customers
    crosstab: dict[tuple[str, str], int]


def evaluate(store: Store, *, as_of: datetime) -> SegmentsLoaded:
    """Every segment of the brand on ``as_of``, and commitment against lifecycle."""
    with unit_of_work(store) as session:
        summaries = segments.evaluate_segments(session, brand=store.brand, as_of=as_of)
    with unit_of_work(store) as session:
        crosstab = segments_repository.crosstab(session, "commitment:", "lifecycle:")
    return SegmentsLoaded(summaries=summaries, crosstab=crosstab)
