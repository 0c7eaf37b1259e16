"""Recording commitment survey responses and reading them back for scoring, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from sqlalchemy import func, select, text

from regard.commitment import service
from regard.commitment.models import SurveyResponse
from regard.errors import InvalidInput, NotFound
from regard.store.database import Store, unit_of_work
from tests.preferences.support import new_customer

T1 = datetime(2026, 3, 1, 9, tzinfo=UTC)
T2 = datetime(2026, 3, 5, 9, tzinfo=UTC)
T3 = datetime(2026, 3, 9, 9, tzinfo=UTC)

LOYAL = {
    "satisfaction": 9,
    "emotional_fit": 9,
    "involvement": 4,
    "best_alternative": 3,
    "considering_switching": 1,
}
WAVERING = {
    "satisfaction": 5,
    "emotional_fit": 4,
    "involvement": 2,
    "best_alternative": 6,
    "considering_switching": 4,
}
OUTSIDER = {"rating_brand": 8, "rating_current": 5}


def record(
    store: Store,
    customer_id: int,
    answers: dict[str, Any],
    *,
    is_user: bool = True,
    at: datetime | None = None,
    free_text: dict[str, Any] | None = None,
) -> int:
    with unit_of_work(store) as session:
        response = service.record_response(
            session,
            customer_id,
            brand=store.brand,
            is_user=is_user,
            answers=answers,
            free_text=free_text,
            source="api",
            responded_at=at,
        )
        return response.id


def count_responses(store: Store) -> int:
    with unit_of_work(store) as session:
        return session.scalar(select(func.count()).select_from(SurveyResponse)) or 0


def test_every_problem_is_listed_and_nothing_is_written(store: Store) -> None:
    ana = new_customer(store)
    answers = {
        "satisfaction": 11,
        "emotional_fit": "high",
        "involvement": 3,
        "rating_brand": 5,
        "loyalty": 4,
    }

    with pytest.raises(InvalidInput) as raised:
        record(store, ana, answers, free_text={"what_matters": 3, "Bad Name": "x"})

    problems = raised.value.details["problems"]
    assert "satisfaction: 11 is outside its scale 0-10" in problems
    assert "emotional_fit: must be a number" in problems
    assert "rating_brand: is not asked of users" in problems
    assert "loyalty: there is no survey item 'loyalty'" in problems
    assert "best_alternative: no answer to best alternative" in problems
    assert "considering_switching: no answer to considering switching" in problems
    assert "free_text.what_matters: must be text" in problems
    assert any(
        p.startswith("free_text: the survey has no open question 'Bad Name'") for p in problems
    )
    assert count_responses(store) == 0


def test_non_users_answer_their_own_items(store: Store) -> None:
    ana = new_customer(store)

    with pytest.raises(InvalidInput) as raised:
        record(store, ana, {"rating_brand": 8, "satisfaction": 5}, is_user=False)

    assert raised.value.details["problems"] == [
        "satisfaction: is not asked of non-users",
        "rating_current: no answer to rating of their current brand",
    ]
    record(store, ana, OUTSIDER, is_user=False)
    assert count_responses(store) == 1


def test_an_unknown_customer_or_a_future_moment_is_refused(store: Store) -> None:
    with pytest.raises(NotFound):
        record(store, 999, LOYAL)
    ana = new_customer(store)
    with pytest.raises(InvalidInput, match="in the future"):
        record(store, ana, LOYAL, at=datetime.now(UTC) + timedelta(days=1))
    assert count_responses(store) == 0


def test_the_latest_response_is_the_one_scored(store: Store) -> None:
    ana = new_customer(store)
    ben = new_customer(store, email="ben@example.com")
    cho = new_customer(store, email="cho@example.com")
    # Recorded out of order: the one answered last wins, not the one recorded last.
    record(store, ana, LOYAL, at=T3)
    record(store, ana, WAVERING, at=T1)
    record(store, ben, WAVERING, at=T1)
    record(store, ben, LOYAL, at=T2)
    record(store, cho, OUTSIDER, is_user=False, at=T1)

    with unit_of_work(store) as session:
        frame = service.latest_frame(session, brand=store.brand)
        base = service.score_base(session, brand=store.brand)

    assert frame.schema["customer_id"] == pl.Int64
    assert frame.schema["is_user"] == pl.Boolean
    assert frame.schema["satisfaction"] == pl.Float64
    rows = {row["customer_id"]: row for row in frame.iter_rows(named=True)}
    assert rows[ana]["satisfaction"] == 9.0
    assert rows[ben]["satisfaction"] == 9.0
    assert rows[cho]["is_user"] is False
    assert rows[cho]["rating_brand"] == 8.0
    assert rows[cho]["satisfaction"] is None
    groups = dict(zip(base["customer_id"], base["group"], strict=True))
    assert groups[cho] == "Available"
    assert groups[ana] is not None
    assert groups[ben] == groups[ana]


def test_an_empty_base_gives_an_empty_frame(store: Store) -> None:
    with unit_of_work(store) as session:
        base = service.score_base(session, brand=store.brand)
    assert base.is_empty()
    assert "group" in base.columns


def test_history_keeps_every_response_with_its_time(store: Store) -> None:
    ana = new_customer(store)
    ben = new_customer(store, email="ben@example.com")
    record(store, ana, LOYAL, at=T1)
    record(store, ana, WAVERING, at=T2)
    record(store, ana, OUTSIDER, is_user=False, at=T3)
    record(store, ben, LOYAL, at=T1)

    with unit_of_work(store) as session:
        found = service.history(session, ana, brand=store.brand)

    history = found.history
    assert history["responded_at"].to_list() == [T1, T2, T3]
    assert history["is_user"].to_list() == [True, True, False]
    assert history["group"].null_count() == 0
    assert history["score"][0] > history["score"][1]
    current = found.current
    assert current is not None
    assert current["responded_at"] == T3
    assert current["group"] == "Available"
    assert current["reason"].startswith("Available: rates us 8/10")


def test_free_text_is_cleaned_and_stored_encrypted(store: Store) -> None:
    ana = new_customer(store)
    words = "<b>Great</b> repairs \x07 but slow delivery"
    response_id = record(store, ana, LOYAL, free_text={"what_matters": words, "more_useful": "   "})

    with unit_of_work(store) as session:
        stored = session.get(SurveyResponse, response_id)
        assert stored is not None
        assert stored.free_text == {"what_matters": "Great repairs  but slow delivery"}
        raw = session.execute(
            text("SELECT free_text FROM survey_responses WHERE id = :id"), {"id": response_id}
        ).scalar_one()
    assert b"repairs" not in bytes(raw)


def test_free_text_longer_than_a_note_is_refused(store: Store) -> None:
    ana = new_customer(store)
    limit = store.brand.preferences.note_max_length

    with pytest.raises(InvalidInput) as raised:
        record(store, ana, LOYAL, free_text={"what_matters": "x" * (limit + 1)})

    assert raised.value.details["problems"] == [
        f"free_text.what_matters: is {limit + 1} characters long; at most {limit} fit"
    ]
    assert count_responses(store) == 0


def test_a_merge_gives_the_merged_profiles_answers_to_the_survivor(store: Store) -> None:
    from regard.customers.identities import claim
    from regard.customers.service import ProfileUpdate, Resolver

    ana = new_customer(store, email="ana@example.com")
    phone_only = new_customer(store, email=None, phone="+31612345678")
    record(store, ana, LOYAL, at=T1)
    record(store, phone_only, WAVERING, at=T2)

    with unit_of_work(store) as session:
        resolver = Resolver(session, vault=store.vault, brand=store.brand)
        resolver.resolve(
            ProfileUpdate(
                source="shop",
                observed_at=T3,
                identities=(
                    claim("email", "ana@example.com", region="NL", source="shop"),
                    claim("phone", "+31612345678", region="NL", source="shop"),
                ),
            )
        )
        resolver.flush()

    assert count_responses(store) == 2
    with unit_of_work(store) as session:
        found = service.history(session, ana, brand=store.brand)
    assert found.history["responded_at"].to_list() == [T1, T2]


def test_a_customer_is_placed_with_the_cut_points_of_the_last_scoring(store: Store) -> None:
    ana, ben = new_customer(store), new_customer(store, email="ben@example.com")
    record(store, ana, LOYAL, at=T1)
    record(store, ben, WAVERING, at=T1)
    with unit_of_work(store) as session:
        base = service.score_and_remember(session, brand=store.brand, at=T2)
        remembered = service.base_cuts(base, brand=store.brand)
    # Many loyal newcomers would move the quartiles up; the last scoring's cuts still hold.
    for n in range(6):
        record(store, new_customer(store, email=f"fan{n}@example.com"), LOYAL, at=T2)

    with unit_of_work(store) as session:
        found = service.history(session, ana, brand=store.brand)
        fresh = service.base_cuts(service.score_base(session, brand=store.brand), brand=store.brand)

    assert found.cuts == remembered
    assert fresh != remembered
    assert found.current is not None
    assert found.current["group"] == "Entrenched"


def test_configured_cut_points_need_no_scoring_of_the_base(store: Store) -> None:
    brand = store.brand.model_copy(
        update={
            "commitment": store.brand.commitment.model_copy(update={"cut_points": (0.2, 0.5, 0.8)})
        }
    )
    with unit_of_work(store) as session:
        assert service.current_cuts(session, brand=brand) == (0.2, 0.5, 0.8)


def test_an_unchanged_response_is_known_as_already_recorded(store: Store) -> None:
    ana = new_customer(store)
    record(store, ana, LOYAL, at=T1)

    with unit_of_work(store) as session:
        same = service.already_recorded(
            session, ana, is_user=True, answers=dict(LOYAL), responded_at=T1
        )
        later = service.already_recorded(
            session, ana, is_user=True, answers=dict(LOYAL), responded_at=T2
        )
        other = service.already_recorded(
            session, ana, is_user=True, answers={**LOYAL, "satisfaction": 8}, responded_at=T1
        )

    assert (same, later, other) == (True, False, False)
