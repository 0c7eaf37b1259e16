"""Finding themes in free text: pure, over frames."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from regard.voc.quotes import mask_personal_data
from regard.voc.themes import ALL_ANSWERS, automatic_theme_count, find_themes

DELIVERY = (
    "Fast delivery matters most to me",
    "Delivery was late again, I want faster delivery",
    "Quick delivery to my door",
    "Next day delivery please",
    "Delivery speed is what I care about",
    "Free and fast delivery",
)
REPAIRS = (
    "Repairs of my tent were excellent",
    "Quick repairs of broken zips",
    "The repair service fixed my boots",
    "Repairs should be cheaper",
    "I value the repair workshop",
    "Repairs done within a week",
)
SIZES = (
    "Sizes run small, I need a size guide",
    "More sizes for tall people",
    "Boot sizes are inconsistent",
    "Your size chart is wrong",
    "Half sizes for walking boots",
    "Wider sizes please",
)
TOPICS = {"delivery": DELIVERY, "repairs": REPAIRS, "sizes": SIZES}


def corpus(repeat: int = 2) -> pl.DataFrame:
    """Answers about three topics, spread over January to March 2026, with groups and segments."""
    rows = []
    n = 0
    for topic, texts in TOPICS.items():
        for round_ in range(repeat):
            for text in texts:
                n += 1
                rows.append(
                    {
                        "response_id": n,
                        "customer_id": 100 + n,
                        "question": "what_matters",
                        "text": text,
                        "responded_at": datetime(2026, 1 + n % 3, 1 + n % 27, 9, tzinfo=UTC),
                        "commitment": "Convertible" if topic == "repairs" else "Entrenched",
                        "segments": ["rfm:champions", f"likes:{topic}"] if round_ else [],
                        "topic": topic,
                    }
                )
    return pl.DataFrame(rows)


def topic_of_theme(frame: pl.DataFrame, assignments: pl.DataFrame) -> dict[int, set[str]]:
    joined = assignments.join(frame.select("response_id", "topic"), on="response_id")
    return {
        theme: set(group.get_column("topic"))
        for (theme,), group in joined.drop_nulls("theme").group_by("theme")
    }


def test_three_topics_come_out_as_three_themes() -> None:
    frame = corpus()

    (found,) = find_themes(frame, themes=3)

    assert found.question == "what_matters"
    assert found.note is None
    assert len(found.themes) == 3
    # Each theme holds the answers of one topic, and each topic lands in one theme.
    topics = topic_of_theme(frame, found.assignments)
    assert sorted(len(t) for t in topics.values()) == [1, 1, 1]
    assert set().union(*topics.values()) == set(TOPICS)
    labels = {theme.label.split(" · ")[0] for theme in found.themes}
    assert labels == {"delivery", "repair", "size"}
    for theme in found.themes:
        assert " · " in theme.label
        assert theme.label.split(" · ")[0] == theme.terms[0]


def test_the_automatic_number_of_themes_fits_the_answers() -> None:
    assert automatic_theme_count(4) == 1
    assert automatic_theme_count(18) == 3
    assert automatic_theme_count(1000) == 6

    (found,) = find_themes(corpus(repeat=1))

    assert len(found.themes) == 3
    assert all(len(topics) == 1 for topics in topic_of_theme(corpus(1), found.assignments).values())


def test_counts_add_up() -> None:
    frame = corpus()

    (found,) = find_themes(frame, themes=3)

    assert found.answers == frame.height == 36
    assert found.respondents == 36
    assert sum(theme.answers for theme in found.themes) + found.unthemed == found.answers
    assert sum(theme.share for theme in found.themes) == pytest.approx(1 - found.unthemed / 36)
    assert found.assignments.height == 36
    for theme in found.themes:
        assert sum(theme.by_group.values()) == theme.answers  # type: ignore[union-attr]
        assert sum(m.answers for m in theme.trend) == theme.answers
    repairs = next(t for t in found.themes if t.terms[0] == "repair")
    assert repairs.by_group == {"Convertible": 12}
    # Half of the answers come from people in two segments each.
    assert repairs.by_segment == {"likes:repairs": 6, "rfm:champions": 6}


def test_the_trend_counts_every_calendar_month_of_the_range() -> None:
    frame = corpus().with_columns(
        pl.when(pl.col("response_id") <= 2)
        .then(datetime(2025, 11, 30, 23, tzinfo=UTC))
        .otherwise(pl.col("responded_at"))
        .alias("responded_at")
    )

    (found,) = find_themes(frame, themes=3)

    assert found.months == ("2025-11", "2025-12", "2026-01", "2026-02", "2026-03")
    for theme in found.themes:
        assert [m.month for m in theme.trend] == list(found.months)
        assert theme.trend[1].answers == 0  # nobody answered in December
    delivery = next(t for t in found.themes if t.terms[0] == "delivery")
    assert delivery.trend[0].answers == 2


def test_an_answer_far_from_every_theme_is_unthemed() -> None:
    frame = corpus()
    stray = frame.head(1).with_columns(
        pl.lit(999, dtype=pl.Int64).alias("response_id"),
        pl.lit("Nothing in particular").alias("text"),
    )

    (found,) = find_themes(pl.concat([frame, stray]), themes=3)

    assert found.unthemed == 1
    row = found.assignments.filter(pl.col("response_id") == 999).row(0, named=True)
    assert row["theme"] is None


def test_quotes_are_the_most_representative_answers_and_masked() -> None:
    frame = corpus().with_columns(
        pl.when(pl.col("response_id") == 1)
        .then(pl.lit("Fast delivery please, mail ana@example.com or call +31 6 1234 5678"))
        .otherwise(pl.col("text"))
        .alias("text")
    )

    (found,) = find_themes(frame, themes=3, quotes=6)

    for theme in found.themes:
        assert 1 <= len(theme.quotes) <= 6
        weights = [quote.weight for quote in theme.quotes]
        assert weights == sorted(weights, reverse=True)
        assert len({quote.text for quote in theme.quotes}) == len(theme.quotes)
    texts = [quote.text for theme in found.themes for quote in theme.quotes]
    assert "Fast delivery please, mail [email] or call [phone]" in texts
    assert not any("@" in text or "5678" in text for text in texts)
    assert not any("example" in theme.terms or "ana" in theme.terms for theme in found.themes)


def test_a_word_only_one_answer_uses_is_never_a_term() -> None:
    frame = corpus().with_columns(
        pl.when(pl.col("response_id") == 1)
        .then(pl.lit("Fast delivery, ask for Pieter"))
        .otherwise(pl.col("text"))
        .alias("text")
    )

    (found,) = find_themes(frame, themes=3)

    assert not any("pieter" in " ".join(theme.terms) for theme in found.themes)


def test_the_same_answers_give_the_same_themes_in_any_order() -> None:
    frame = corpus()

    first = find_themes(frame, themes=3)
    again = find_themes(frame.sample(fraction=1.0, shuffle=True, seed=3), themes=3)

    assert [t.label for t in first[0].themes] == [t.label for t in again[0].themes]
    assert first[0].themes == again[0].themes
    assert first[0].assignments.sort("response_id").equals(again[0].assignments.sort("response_id"))


def test_a_few_answers_make_one_theme_of_all_answers() -> None:
    frame = corpus().head(3)

    (found,) = find_themes(frame)

    assert found.note == "only 3 answers: too few to find themes"
    (theme,) = found.themes
    assert theme.label == ALL_ANSWERS
    assert theme.answers == 3
    assert theme.share == 1.0
    assert theme.terms == ("delivery",)  # the only word two of them use
    assert len(theme.quotes) == 3


def test_a_question_without_answers_has_no_themes() -> None:
    (found, other) = find_themes(corpus(), questions=["more_useful", "what_matters"], themes=2)

    assert found.question == "more_useful"
    assert found.answers == 0
    assert found.themes == ()
    assert found.note == "no answers"
    assert other.answers == 36


def test_answers_of_stop_words_only_are_one_theme_without_terms() -> None:
    frame = corpus().head(6).with_columns(pl.lit("it is what it is").alias("text"))

    (found,) = find_themes(frame)

    assert found.note == "no words shared by two answers to find themes in"
    assert found.themes[0].terms == ()
    assert len(found.themes[0].quotes) == 1  # the same words are quoted once


def test_blank_answers_are_left_out_and_grouping_columns_are_optional() -> None:
    frame = corpus().drop("commitment", "segments")
    frame = frame.with_columns(
        pl.when(pl.col("response_id") <= 3).then(pl.lit("  ")).otherwise("text").alias("text")
    )

    (found,) = find_themes(frame, themes=3)

    assert found.answers == 33
    assert all(t.by_group is None and t.by_segment is None for t in found.themes)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("Write to ana.b+x@example.co.uk please", "Write to [email] please"),
        ("Call +31 6 1234 5678 after six", "Call [phone] after six"),
        ("or (020) 555-0134.", "or [phone]."),
        ("Order 1234567 never came", "Order [number] never came"),
        ("Size 42, 3 pairs, since 2019", "Size 42, 3 pairs, since 2019"),
        ("No contact details here", "No contact details here"),
    ],
)
def test_masking_contact_details_and_long_numbers(text: str, masked: str) -> None:
    assert mask_personal_data(text) == masked


def test_masking_can_remove_instead() -> None:
    assert mask_personal_data("mail ana@example.com now", placeholders=False) == "mail   now"
