"""The demo's response model: who opens, who complains, who buys after a message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from regard.demo import responses

SENT = datetime(2026, 10, 1, 8, 5, tzinfo=UTC)
LATEST = datetime(2026, 11, 1, tzinfo=UTC)
WINDOW = timedelta(days=7)
ENGAGEMENT = {"email": 0.2, "sms": 0.3, "push": 0.1}


def _messages(
    n: int,
    *,
    group: str | None = "Average",
    topic: str = "offers:camping",
    interests: list[str] | None = None,
    marketing: bool = True,
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "outbox_id": range(1, n + 1),
            "customer_id": range(1001, 1001 + n),
            "topic": [topic] * n,
            "channel": ["email"] * n,
            "marketing": [marketing] * n,
            "sent_at": [SENT] * n,
            "decided_at": [SENT - timedelta(minutes=5)] * n,
            "group": [group] * n,
            "interests": [interests] * n,
            "spend": [80.0] * n,
        },
        schema=responses.MESSAGES_SCHEMA,
    )


def _share(mask: pl.Series) -> float:
    return float(mask.cast(pl.Float64).sum()) / max(mask.len(), 1)


def _answer(messages: pl.DataFrame, seed: int = 7) -> pl.DataFrame:
    return responses.answer(
        messages,
        rng=np.random.default_rng([seed, 808]),
        seed=seed,
        engagement=ENGAGEMENT,
        window=WINDOW,
        latest=LATEST,
    )


def test_only_customers_who_engage_buy_more_than_their_history() -> None:
    relevance = np.array([0.9, 0.9, 0.1, 0.9])
    commitment = np.array([0.9, 0.9, 0.9, 0.1])
    engaged = np.array([True, False, True, True])
    chance = responses.purchase_chance(engaged=engaged, relevance=relevance, commitment=commitment)
    # Ignored (or never sent, as in a control group): the history's base rate, nothing more.
    assert chance[1] == 0.0
    # Relevance and commitment both raise the chance.
    assert chance[0] > chance[2] > 0.0
    assert chance[0] > chance[3] > 0.0
    assert chance.max() <= responses.MOST_LIKELY_PURCHASE


def test_the_same_seed_gives_the_same_answers() -> None:
    messages = _messages(3000)
    first, again, other = _answer(messages), _answer(messages), _answer(messages, seed=8)
    assert first.equals(again)
    assert not first.equals(other)


def test_committed_customers_with_a_relevant_offer_engage_and_buy_more() -> None:
    keen = _answer(_messages(20_000, group="Entrenched", interests=["camping"]))
    cold = _answer(_messages(20_000, group="Strongly unavailable", interests=["fishing"]))
    engaged = {
        name: _share(frame["outcome"] == "engaged")
        for name, frame in (("keen", keen), ("cold", cold))
    }
    bought = {name: _share(frame["bought"]) for name, frame in (("keen", keen), ("cold", cold))}
    assert engaged["keen"] > 2 * engaged["cold"]
    assert bought["keen"] > 3 * bought["cold"] > 0
    # Only those who engaged bought.
    assert keen.filter(pl.col("bought"))["outcome"].unique().to_list() == ["engaged"]


def test_complaints_and_unsubscribes_are_rare() -> None:
    answered = _answer(_messages(50_000, group=None))
    complained = _share(answered["outcome"] == "complained")
    opted_out = _share(answered["outcome"] == "opted_out")
    assert 0 < complained < 0.003
    assert 0 < opted_out < 0.01


def test_a_transactional_message_is_never_unsubscribed_from() -> None:
    answered = _answer(_messages(50_000, topic="orders", marketing=False))
    assert (answered["outcome"] == "opted_out").sum() == 0
    assert (answered["outcome"] == "engaged").sum() > 0


def test_purchases_follow_the_open_within_the_outcome_window() -> None:
    answered = _answer(_messages(20_000, group="Entrenched", interests=["camping"]))
    bought = answered.filter(pl.col("bought"))
    assert bought.height > 0
    decided = SENT - timedelta(minutes=5)
    assert (bought["bought_at"] > bought["answered_at"]).all()
    assert (bought["bought_at"] <= decided + WINDOW).all()
    assert (bought["bought_at"] <= LATEST).all()
    assert (bought["amount"] > 0).all()


def test_unsurveyed_customers_sit_in_the_middle_of_the_commitment_scale() -> None:
    found = responses.latent_commitment(pl.Series(["Entrenched", None, "Strongly unavailable"]))
    assert found[0] > found[1] == responses.UNSURVEYED_COMMITMENT > found[2]
