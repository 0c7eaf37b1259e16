"""How the demo's customers answer the messages Regard sends them, and what they buy after.

The demo's purchase history is generated without any messages, so it is every customer's base
rate: a customer in a control group (never sent the touchpoint) buys exactly as the history
says. A customer who was sent a message may answer it, by the relationship simulator's own
response model (regard.simulation.responses, the default scenario's ``[responses]``; formulas in
docs/simulator.md) with no fatigue, quiet hours or reading hour:

- **Relevance** *r*: the customer's hidden interest in the message's topic. A favourite topic
  (one they named among their interests in the preference center, or by chance: a share
  ``FAVOURITE_SHARE`` of the other offers and ``FAVOURITE_SHARE_OTHER`` of other topics) draws
  r uniformly in [0.55, 0.95], any other in [0.05, 0.45]. The draw is a stable hash of the
  customer, the topic and the seed (as control groups are drawn), the same in every message.
- **Commitment** *k*: the middle of the band of the customer's Conversion Model group (eight
  equal bands, Entrenched at the top, as in the simulator); 0.5 for customers never surveyed.
- **Outcome** per message: engaged (opened; ``CLICK_SHARE`` of those also click), complained,
  opted out of the message's topic on its channel, or ignored, with the chances of
  ``message_chances`` and the channel's engagement chance from the brand's ``[policy.channels]``.
  Only marketing topics can be opted out of; a transactional message's opt-out is ignored.
  Complaints are at ``COMPLAINT_FACTOR`` of the simulator's base: the demo sends only what
  customers consented to.
- **Purchase**: a customer who engaged buys once more than their history says with chance
  ``min(0.5, PURCHASE_LIFT · r · (0.2 + k))``: more for relevant messages and committed
  customers, nothing for messages ignored. The amount is the customer's mean order amount
  (the brand's median when they never bought) times Gamma(4, 1/4), timed after the open and
  within the brand's outcome window of the decision.

Everything is recorded through the product's own paths: opens and clicks through the signed
open pixel and tracked link (regard.delivery.feedback), complaints as a mailbox provider's
feedback loop reports them, opt-outs in the consent ledger through the preferences service
(a one-click unsubscribe), purchases as shop events in the customer's timeline. The draws come
from the demo's seed, so the same demo gives the same answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import polars as pl

from regard.measurement.holdouts import draw
from regard.simulation.responses import (
    COMPLAINED,
    ENGAGED,
    OPTED_OUT,
    message_chances,
    message_outcomes,
)
from regard.simulation.scenario import GROUPS, ResponseSettings, load_scenario

Array = npt.NDArray[Any]

# The shop's category for each offers topic, as customers name their interests.
INTEREST_OF_TOPIC = {
    "offers:camping": "camping",
    "offers:climbing": "climbing",
    "offers:winter": "winter-sports",
    "offers:footwear": "hiking",
}
FAVOURITE_SHARE = 0.25
FAVOURITE_SHARE_OTHER = 0.4
CLICK_SHARE = 0.5
PURCHASE_LIFT = 0.6
# The demo sends only what customers consented to; the simulator's population gets every
# policy's messages, spray and pray's included. Its customers complain half as often.
COMPLAINT_FACTOR = 0.5
MOST_LIKELY_PURCHASE = 0.5
UNSURVEYED_COMMITMENT = 0.5
DEFAULT_SPEND = 80.0
_HOUR = timedelta(hours=1)


def response_settings() -> ResponseSettings:
    """The simulator's default response parameters (the demo and the simulator tell one story),
    with complaints at ``COMPLAINT_FACTOR`` of the simulator's base."""
    settings = load_scenario().responses
    return settings.model_copy(
        update={"complaint_base": settings.complaint_base * COMPLAINT_FACTOR}
    )


def latent_commitment(groups: pl.Series) -> Array:
    """The middle of each Conversion Model group's band of the latent scale; 0.5 when unknown."""
    middle = {group: 1.0 - (index + 0.5) / len(GROUPS) for index, group in enumerate(GROUPS)}
    return (
        groups.cast(pl.String)
        .replace_strict(middle, default=UNSURVEYED_COMMITMENT, return_dtype=pl.Float64)
        .fill_null(UNSURVEYED_COMMITMENT)
        .to_numpy()
    )


def hidden_interest(
    customer_ids: pl.Series, topics: pl.Series, *, stated: Array, seed: int
) -> Array:
    """Each (customer, topic)'s hidden interest in [0, 1): high for a favourite topic."""
    if customer_ids.len() == 0:
        return np.zeros(0, dtype=np.float64)
    chance = draw(customer_ids, topics, salt=f"demo-favourite-{seed}")
    level = draw(customer_ids, topics, salt=f"demo-interest-{seed}")
    offer = topics.str.starts_with("offers:").to_numpy()
    share = np.where(offer, FAVOURITE_SHARE, FAVOURITE_SHARE_OTHER)
    favourite = np.asarray(stated, dtype=bool) | (chance < share)
    return np.where(favourite, 0.55 + 0.4 * level, 0.05 + 0.4 * level)


def purchase_chance(*, engaged: Array, relevance: Array, commitment: Array) -> Array:
    """The chance of one purchase more than the history says, after a message."""
    lifted = np.minimum(MOST_LIKELY_PURCHASE, PURCHASE_LIFT * relevance * (0.2 + commitment))
    return np.where(np.asarray(engaged, dtype=bool), lifted, 0.0)


MESSAGES_SCHEMA = pl.Schema(
    {
        "outbox_id": pl.Int64(),
        "customer_id": pl.Int64(),
        "topic": pl.String(),
        "channel": pl.String(),
        "marketing": pl.Boolean(),
        "sent_at": pl.Datetime("us", "UTC"),
        "decided_at": pl.Datetime("us", "UTC"),
        "group": pl.String(),
        "interests": pl.List(pl.String()),
        "spend": pl.Float64(),
    }
)


def answer(
    messages: pl.DataFrame,
    *,
    rng: np.random.Generator,
    seed: int,
    engagement: Mapping[str, float],
    window: timedelta,
    latest: datetime,
    settings: ResponseSettings | None = None,
) -> pl.DataFrame:
    """Each message of ``messages`` (``MESSAGES_SCHEMA``) answered: outcome (ignored, engaged,
    complained, opted_out), answered_at, clicked, bought, bought_at and amount.

    ``engagement`` is each channel's engagement chance; a purchase falls within ``window`` of
    the decision when it can, and never after ``latest``.
    """
    settings = settings or response_settings()
    n = messages.height
    category = messages["topic"].replace_strict(
        INTEREST_OF_TOPIC, default=None, return_dtype=pl.String
    )
    stated = (
        pl.DataFrame({"interests": messages["interests"], "category": category})
        .select(pl.col("interests").list.contains(pl.col("category")).fill_null(False))
        .to_series()
        .to_numpy()
    )
    relevance = hidden_interest(
        messages["customer_id"], messages["topic"], stated=stated, seed=seed
    )
    commitment = latent_commitment(messages["group"])
    base = messages["channel"].replace_strict(
        dict(engagement), default=0.1, return_dtype=pl.Float64
    )
    chances = message_chances(
        relevance=relevance,
        commitment=commitment,
        fatigue=np.zeros(n),
        quiet=np.zeros(n),
        reading_hour=np.zeros(n),
        base_engagement=base.to_numpy(),
        settings=settings,
    )
    outcome = message_outcomes(chances, rng.random(n))
    marketing = messages["marketing"].to_numpy()
    outcome[(outcome == OPTED_OUT) & ~marketing] = 0
    engaged = outcome == ENGAGED
    clicked = engaged & (rng.random(n) < CLICK_SHARE)
    chance = purchase_chance(engaged=engaged, relevance=relevance, commitment=commitment)
    bought = rng.random(n) < chance
    spend = messages["spend"].fill_null(DEFAULT_SPEND).to_numpy()
    amount = np.round(spend * rng.gamma(4.0, 0.25, n), 2)
    # Opened within a day or so of arriving; bought between ten minutes and three days later,
    # inside the outcome window of the decision when there is room, never after ``latest``.
    answered_hours = np.minimum(rng.exponential(6.0, n), 72.0)
    bought_hours = rng.uniform(1 / 6, 72.0, n)
    sent = messages["sent_at"]
    answered_at = sent + pl.Series(answered_hours * 3600e6).cast(pl.Duration("us"))
    closes = messages["decided_at"] + (window - _HOUR)
    bought_at = answered_at + pl.Series(bought_hours * 3600e6).cast(pl.Duration("us"))
    frame = pl.DataFrame(
        {
            "outbox_id": messages["outbox_id"],
            "customer_id": messages["customer_id"],
            "topic": messages["topic"],
            "channel": messages["channel"],
            "relevance": relevance,
            "commitment": commitment,
            "outcome": pl.Series(outcome.astype(np.int8)),
            "answered_at": answered_at,
            "clicked": clicked,
            "bought": bought,
            "bought_at": bought_at,
            "closes": closes,
            "amount": amount,
        }
    )
    latest_at = pl.lit(latest).cast(pl.Datetime("us", "UTC"))
    return frame.with_columns(
        pl.min_horizontal(
            pl.max_horizontal(
                pl.min_horizontal("bought_at", "closes"),
                pl.col("answered_at") + timedelta(minutes=10),
            ),
            latest_at,
        ).alias("bought_at"),
        pl.min_horizontal("answered_at", latest_at).alias("answered_at"),
        pl.col("outcome")
        .replace_strict(
            {0: "ignored", ENGAGED: "engaged", COMPLAINED: "complained", OPTED_OUT: "opted_out"},
            return_dtype=pl.String,
        )
        .alias("outcome"),
    ).drop("closes")


@dataclass
class Answered:
    """What the customers did with a batch of messages."""

    messages: int = 0
    opened: int = 0
    clicked: int = 0
    complained: int = 0
    opted_out: int = 0
    purchases: int = 0
    revenue: float = 0.0
    by_touchpoint: dict[str, int] = field(default_factory=dict)

    def add(self, other: Answered) -> None:
        self.messages += other.messages
        self.opened += other.opened
        self.clicked += other.clicked
        self.complained += other.complained
        self.opted_out += other.opted_out
        self.purchases += other.purchases
        self.revenue += other.revenue


def order_properties(outbox_id: int, amount: float, topic: str) -> str:
    """A response purchase's properties, as the web shop's orders carry them."""
    properties: dict[str, Any] = {
        "order_id": f"R{outbox_id:09d}",
        "amount": amount,
        "currency": "EUR",
        "items": 1,
        "fulfilment": "delivery",
    }
    category = INTEREST_OF_TOPIC.get(topic)
    if category is not None:
        properties["category"] = category
    return orjson.dumps(properties).decode()
