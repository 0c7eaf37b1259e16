"""The demo brand's customers answering the commitment survey, then its segments evaluated.

Answers come from a latent attachment to the brand per customer, so that the items agree with
each other as real answers do (a customer who likes the brand rates its alternatives lower and
thinks less of switching), with noise. Answers are recorded only when the demo has none yet, so
that running the demo again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import select

from regard.commitment import repository as commitment_repository
from regard.commitment import service as commitment
from regard.customers.models import Customer
from regard.segments import repository as segments_repository
from regard.segments import service as segments
from regard.segments.service import SegmentSummary
from regard.store.database import Store, unit_of_work

# What customers write when asked what would make the brand's messages more useful.
_WISHES = (
    "Tell me when lightweight tents are back in stock",
    "Fewer emails, more about repairs",
    "Trail running shoes in wide sizes",
    "Only offers for things I actually bought before",
    "Workshops near Utrecht",
    "Winter gear in October, not in January",
)
SHARE = 0.3


@dataclass(frozen=True)
class SurveyLoaded:
    responses: int
    recorded_now: bool


def answer_surveys(store: Store, *, seed: int) -> SurveyLoaded:
    """A share of customers answer the commitment survey (once per demo database)."""
    with unit_of_work(store) as session:
        already = commitment_repository.count_responses(session)
        if already:
            return SurveyLoaded(responses=already, recorded_now=False)
        ids = list(session.scalars(select(Customer.id).order_by(Customer.id)))
    rng = np.random.default_rng(seed + 505)
    chosen = [i for i, pick in zip(ids, rng.random(len(ids)) < SHARE, strict=True) if pick]
    recorded = 0
    for start in range(0, len(chosen), 500):
        with unit_of_work(store) as session:
            for customer_id in chosen[start : start + 500]:
                attachment = float(rng.normal())
                is_user = bool(rng.random() < 0.85)

                def scale(centre: float, spread: float, low: int, high: int) -> int:
                    return int(np.clip(round(centre + spread + rng.normal(0, 1.2)), low, high))

                if is_user:
                    answers = {
                        "satisfaction": scale(7, 1.5 * attachment, 0, 10),
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
                wish = _WISHES[int(rng.integers(len(_WISHES)))] if rng.random() < 0.1 else None
                commitment.record_response(
                    session,
                    customer_id,
                    brand=store.brand,
                    is_user=is_user,
                    answers=answers,
                    free_text={"more_useful": wish} if wish else None,
                    source="import",
                )
                recorded += 1
    return SurveyLoaded(responses=recorded, recorded_now=True)


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
