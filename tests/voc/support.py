"""Survey answers in customers' own words, about three clear topics, stored as a survey would."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from regard.commitment import service
from regard.segments.models import SegmentMembership
from regard.store.database import Store, unit_of_work
from tests.preferences.support import new_customer
from tests.voc.test_themes import TOPICS

AVAILABLE = {"rating_brand": 8, "rating_current": 5}
UNAVAILABLE = {"rating_brand": 2, "rating_current": 9}
SEGMENT = "rfm:champions"
SECRET_WORDS = "call me on +31 6 1234 5678"


@dataclass(frozen=True)
class Seeded:
    """Who answered about what."""

    by_topic: dict[str, list[int]]


def seed(store: Store) -> Seeded:
    """Eighteen non-users answer `what_matters` about delivery, repairs or sizes from January to
    March 2026; those about repairs are Strongly unavailable, the others Available. The repairs
    people are champions now; one delivery person was one and left. Three people also answer
    `more_useful`; one of them leaves a phone number."""
    by_topic: dict[str, list[int]] = {}
    n = 0
    for topic, texts in TOPICS.items():
        for text in texts:
            n += 1
            customer = new_customer(store, email=f"voc{n}@example.com", name=f"Person {n}")
            by_topic.setdefault(topic, []).append(customer)
            free_text = {"what_matters": text}
            if n <= 3:
                free_text["more_useful"] = (
                    f"Fewer emails please, {SECRET_WORDS}"
                    if n == 1
                    else ("Tell me when my repair is ready")
                )
            with unit_of_work(store) as session:
                service.record_response(
                    session,
                    customer,
                    brand=store.brand,
                    is_user=False,
                    answers=UNAVAILABLE if topic == "repairs" else AVAILABLE,
                    free_text=free_text,
                    source="api",
                    responded_at=datetime(2026, 1 + n % 3, 10, 12, tzinfo=UTC),
                )
    at = datetime(2026, 3, 1, tzinfo=UTC)
    with unit_of_work(store) as session:
        session.add_all(
            SegmentMembership(segment=SEGMENT, customer_id=customer, entered_at=at)
            for customer in by_topic["repairs"]
        )
        session.add(
            SegmentMembership(
                segment=SEGMENT, customer_id=by_topic["delivery"][0], entered_at=at, exited_at=at
            )
        )
    return Seeded(by_topic=by_topic)
