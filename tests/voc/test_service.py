"""Voice-of-the-Customer themes read from stored survey answers, on both databases."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pytest
from sqlalchemy import event

from regard.errors import InvalidInput
from regard.store.database import Store, unit_of_work
from regard.voc import service
from regard.voc.themes import ALL_ANSWERS, QuestionThemes
from tests.voc.support import SECRET_WORDS, SEGMENT, seed


def find(store: Store, **filters: Any) -> tuple[QuestionThemes, ...]:
    with unit_of_work(store) as session:
        return service.themes(session, brand=store.brand, **filters)


def first_terms(found: QuestionThemes) -> set[str]:
    return {theme.terms[0] for theme in found.themes}


@contextmanager
def counted_statements(store: Store) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(store.engine, "before_cursor_execute", count)


def test_themes_of_every_open_question(store: Store) -> None:
    seed(store)

    matters, useful = find(store, themes=3)

    assert matters.question == "what_matters"
    assert matters.answers == matters.respondents == 18
    assert first_terms(matters) == {"delivery", "repair", "size"}
    assert sum(theme.answers for theme in matters.themes) + matters.unthemed == 18
    repairs = next(theme for theme in matters.themes if theme.terms[0] == "repair")
    assert repairs.by_group == {"Strongly unavailable": 6}
    assert repairs.by_segment == {SEGMENT: 6}
    delivery = next(theme for theme in matters.themes if theme.terms[0] == "delivery")
    assert delivery.by_segment == {}  # the one who left the segment is not counted
    assert matters.months == ("2026-01", "2026-02", "2026-03")
    assert useful.question == "more_useful"
    assert useful.answers == 3
    assert useful.themes[0].label == ALL_ANSWERS


def test_the_quotes_are_masked(store: Store) -> None:
    seed(store)

    (useful,) = find(store, question="more_useful")

    quotes = [quote.text for quote in useful.themes[0].quotes]
    assert "Fewer emails please, call me on [phone]" in quotes
    assert not any(SECRET_WORDS in quote for quote in quotes)


def test_filters(store: Store) -> None:
    seeded = seed(store)

    (in_segment,) = find(store, question="what_matters", segment=SEGMENT)
    (available,) = find(store, question="what_matters", group="available", themes=2)
    (recent,) = find(store, question="what_matters", since=date(2026, 3, 1))

    assert in_segment.answers == len(seeded.by_topic["repairs"]) == 6
    assert first_terms(in_segment) == {"repair"}
    assert available.answers == 12
    assert first_terms(available) == {"delivery", "size"}
    assert recent.answers == 6
    assert recent.months == ("2026-03",)


def test_answers_are_read_in_a_few_queries_whatever_the_number_of_customers(
    store: Store,
) -> None:
    seed(store)

    with counted_statements(store) as statements:
        find(store)

    assert len(statements) <= 4


@pytest.mark.parametrize(
    ("filters", "parameter", "message"),
    [
        ({"question": "favourite_colour"}, "question", "its open questions: what_matters"),
        ({"segment": "nobody"}, "segment", "there is no segment 'nobody'"),
        ({"group": "Loyal"}, "group", "there is no commitment group 'Loyal'"),
        ({"themes": 0}, "themes", "between 1 and"),
    ],
)
def test_a_bad_filter_names_its_parameter(
    store: Store, filters: dict[str, Any], parameter: str, message: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        find(store, **filters)

    assert raised.value.message.startswith(f"{parameter}: ")
    assert message in raised.value.message
    assert raised.value.details == {"parameter": parameter}


def test_no_answers_no_themes(store: Store) -> None:
    matters, useful = find(store)

    assert matters.answers == useful.answers == 0
    assert matters.themes == useful.themes == ()


def test_the_texts_are_never_logged(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    seed(store)
    caplog.set_level(logging.DEBUG)

    find(store)

    assert "1234 5678" not in caplog.text
    assert "delivery" not in caplog.text.lower()
