"""Every reason code has a sentence a person can read, and no name is stored to make it."""

from __future__ import annotations

import pytest

from regard.decisions.reasons import HELD_REASONS, Reason, outcome_of, sentence


@pytest.mark.parametrize("reason", list(Reason))
def test_every_reason_has_a_sentence(reason: Reason) -> None:
    outcome = outcome_of(reason)
    text = sentence(outcome, reason, {"topic": "offers:camping", "channel": "sms"}, name="Ana")
    assert text.startswith(f"{outcome.capitalize()}: ")
    assert text.endswith(".")
    assert "None" not in text
    # Without a name the sentence still reads.
    assert sentence(outcome, reason, {}, name=None)


def test_held_reasons_are_those_that_may_pass_later() -> None:
    assert {r.value for r in HELD_REASONS} == {
        "paused",
        "fatigue",
        "min-gap",
        "frequency",
        "cap",
        "digest",
        "one-voice",
        "outvalued",
        "control-group",
    }


def test_the_control_group_sentence() -> None:
    params = '{"touchpoint": "spring_camping"}'
    assert sentence("held", "control-group", params, name="Ana") == (
        "Held: Ana is in the control group for spring_camping, so that its effect can be measured."
    )


def test_the_weekly_offers_sentence() -> None:
    params = '{"topic":"offers","last_sent":"2026-11-17","frequency":"weekly","scope":"topic"}'
    assert sentence("held", "frequency", params, name="Ana") == (
        "Held: Ana chose weekly offers and had one on Tuesday 17 November."
    )


def test_topics_with_a_category_read_as_words() -> None:
    text = sentence(
        "dropped", Reason.OPTED_OUT, {"topic": "offers:camping-gear", "channel": "sms"}, name="Ana"
    )
    assert text == "Dropped: Ana opted out of offers on camping gear by text message."


def test_cap_and_digest_sentences() -> None:
    cap = {"topic": "offers", "cap": "promotional", "max": 1, "window": "1d", "sent": 1}
    assert sentence("held", "cap", cap, name=None) == (
        "Held: The customer already had 1 promotional message in the last day (at most 1)."
    )
    digest = {"topic": "offers", "frequency": "weekly", "retry_at": "2026-11-30T08:00:00+00:00"}
    assert sentence("held", "digest", digest, name="Ana") == (
        "Held: Ana chose weekly offers, so it goes in the digest of Monday 30 November at "
        "08:00 UTC."
    )


def test_a_sent_decision_reads_too() -> None:
    assert sentence("sent", None, {"channel": "email"}, name="Ana") == "Sent: by email."


def test_held_and_dropped_need_a_reason() -> None:
    with pytest.raises(ValueError, match="reason"):
        sentence("held", None, {}, name="Ana")
