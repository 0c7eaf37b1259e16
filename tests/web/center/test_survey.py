"""The survey page as a customer uses it, from the preference center's own link."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from regard.commitment import service as commitment
from regard.commitment.models import SurveyResponse
from regard.delivery.mail import MemoryMailer
from regard.preferences import links
from regard.store.database import Store, unit_of_work
from tests.preferences.support import new_customer
from tests.web.center.support import Page, center_client, customer_link

LOYAL = {
    "satisfaction": "9",
    "emotional_fit": "8",
    "involvement": "4",
    "best_alternative": "4",
    "considering_switching": "1",
}


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with center_client(store, MemoryMailer()) as test_client:
        yield test_client


def _history(store: Store, customer_id: int) -> commitment.CustomerCommitment:
    with unit_of_work(store) as session:
        return commitment.history(session, customer_id, brand=store.brand)


def _answers(values: dict[str, str]) -> dict[str, str]:
    return {f"answer:{key}": value for key, value in values.items()}


def test_the_preference_page_links_to_the_survey(store: Store, client: TestClient) -> None:
    ana = new_customer(store)
    center = customer_link(store, ana)

    page = Page(client.get(center).text)

    assert f'href="{center}/survey"' in page.html


def test_the_survey_asks_first_whether_they_use_the_brand(store: Store, client: TestClient) -> None:
    center = customer_link(store, new_customer(store))

    first = Page(client.get(f"{center}/survey").text)
    as_user = Page(client.get(f"{center}/survey?as=user").text)
    as_other = Page(client.get(f"{center}/survey?as=other").text)

    assert "do you use Test Outfitters now?" in first.text
    assert not [c for c in first.controls if c.get("type") == "radio"]
    user_items = {c.get("name") for c in as_user.controls if c.get("type") == "radio"}
    assert user_items == {f"answer:{key}" for key in LOYAL}
    assert {c.get("value") for c in as_user.controls if c.get("name") == "answer:satisfaction"} == {
        str(n) for n in range(11)
    }
    assert {c.get("value") for c in as_user.controls if c.get("name") == "answer:involvement"} == {
        str(n) for n in range(1, 6)
    }
    assert {c.get("name") for c in as_other.controls if c.get("type") == "radio"} == {
        "answer:rating_brand",
        "answer:rating_current",
    }
    assert "How well do we meet your needs?" in as_user.text
    assert "What would make our messages more useful to you?" in as_user.text


def test_answers_are_stored_with_the_free_text_and_placed_in_a_group(
    store: Store, client: TestClient
) -> None:
    ana = new_customer(store)
    center = customer_link(store, ana)

    response = client.post(
        f"{center}/survey",
        data={
            "respondent": "user",
            **_answers(LOYAL),
            "text:more_useful": "Tell me when <b>tents</b> are back",
            "text:what_matters": "   ",
        },
    )

    assert response.status_code == 303
    assert response.headers["location"] == f"{center}/survey?sent=1"
    assert response.headers["cache-control"] == "no-store"
    thanks = Page(client.get(response.headers["location"]).text)
    assert "Thank you" in thanks.text
    found = _history(store, ana)
    assert found.current is not None
    assert found.current["source"] == "page"
    assert found.current["satisfaction"] == 9
    assert found.current["group"] is not None
    with unit_of_work(store) as session:
        stored = session.get(SurveyResponse, found.current["response_id"])
        assert stored is not None
        assert stored.free_text == {"more_useful": "Tell me when tents are back"}


def test_a_non_user_answers_two_questions(store: Store, client: TestClient) -> None:
    ben = new_customer(store)
    center = customer_link(store, ben)

    response = client.post(
        f"{center}/survey",
        data={"respondent": "other", **_answers({"rating_brand": "8", "rating_current": "4"})},
    )

    assert response.status_code == 303
    current = _history(store, ben).current
    assert current is not None
    assert current["is_user"] is False
    assert current["group"] == "Available"


def test_missing_and_invalid_answers_are_all_named_and_nothing_is_stored(
    store: Store, client: TestClient
) -> None:
    ana = new_customer(store)
    center = customer_link(store, ana)
    given = {**LOYAL, "satisfaction": "11", "involvement": "lots"}
    del given["best_alternative"]

    response = client.post(
        f"{center}/survey",
        data={"respondent": "user", **_answers(given), "text:more_useful": "Fewer emails"},
    )

    assert response.status_code == 400
    page = Page(response.text)
    assert "Nothing was sent" in page.text
    for key in ("satisfaction", "involvement", "best_alternative"):
        assert f'id="{key}-problem"' in page.html
    assert 'id="emotional_fit-problem"' not in page.html
    assert page.checked("answer:emotional_fit", "8")
    assert page.value("text:more_useful") == "Fewer emails"
    assert _history(store, ana).current is None


def test_text_longer_than_allowed_is_refused_at_its_field(store: Store, client: TestClient) -> None:
    ana = new_customer(store)
    center = customer_link(store, ana)
    limit = store.brand.preferences.note_max_length

    response = client.post(
        f"{center}/survey",
        data={"respondent": "user", **_answers(LOYAL), "text:what_matters": "x" * (limit + 1)},
    )

    assert response.status_code == 400
    assert 'id="text-what_matters-problem"' in response.text
    assert _history(store, ana).current is None


def test_a_revoked_link_opens_no_survey_and_stores_nothing(
    store: Store, client: TestClient
) -> None:
    ana = new_customer(store)
    center = customer_link(store, ana)
    with unit_of_work(store) as session:
        links.revoke(session, ana)

    shown = client.get(f"{center}/survey?as=user")
    sent = client.post(f"{center}/survey", data={"respondent": "user", **_answers(LOYAL)})

    assert shown.status_code == 410
    assert sent.status_code == 410
    assert "How well do we meet your needs?" not in shown.text
    assert _history(store, ana).current is None


def test_a_tampered_link_is_refused(store: Store, client: TestClient) -> None:
    center = customer_link(store, new_customer(store))

    response = client.get(f"{center}x/survey?as=user")

    assert response.status_code == 403
