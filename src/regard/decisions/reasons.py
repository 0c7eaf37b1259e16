"""Reason codes of the contact policy, and the sentence a person reads for each.

A decision stores its outcome, its reason code and its params (non-personal facts such as a
topic, a frequency or a date); the customer's name is supplied only when the sentence is shown,
so no name is ever stored with a decision.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

Outcome = Literal["sent", "held", "dropped"]


class Reason(StrEnum):
    """Why a (candidate, channel) was stopped; listed in the order the policy checks them."""

    # Dropped: will never pass.
    UNKNOWN_CUSTOMER = "unknown-customer"  # the candidate's customer is not in the frame
    NO_CHANNEL = "no-channel"  # the touchpoint has no channel to send on
    PAST_DEADLINE = "past-deadline"  # its deadline passed, or its next moment is after it
    ERASED = "erased"  # the customer was erased
    DO_NOT_CONTACT = "do-not-contact"  # the customer is marked do-not-contact
    NO_LAWFUL_BASIS = "no-lawful-basis"  # the topic is not in the brand's catalogue
    OPTED_OUT = "opted-out"  # the customer opted out of the topic on the channel
    NO_CONSENT = "no-consent"  # the topic needs consent, and there is none (or it is pending)
    IMPLIED_CONSENT_EXPIRED = "implied-consent-expired"  # implied consent lapsed after a purchase
    HARD_BOUNCE = "hard-bounce"  # the address bounced for good
    COMPLAINT = "complaint"  # the customer complained about messages on the channel
    UNREACHABLE = "unreachable"  # no verified address on the channel
    NO_VOICE_OPT_IN = "no-voice-opt-in"  # calls need the customer's own opt-in
    PROMOTIONAL_VOICE = "promotional-voice"  # promotional messages never go by phone call
    VOICE_NOT_FITTING = "voice-not-fitting"  # calls only for critical or transactional
    CALL_FOR_INFORMATION = "call-for-information"  # a call demands a response; this asks none
    BELOW_RELEVANCE = "below-relevance-floor"  # predicted relevance under the brand's floor
    NO_WINDOW = "no-allowed-window"  # the customer's windows leave no moment in the next week
    # Held: may pass later, at ``retry_at`` at the earliest.
    PAUSED = "paused"  # the customer paused messages until a date
    FATIGUE = "fatigue"  # a run of ignored messages on the topic
    MIN_GAP = "min-gap"  # a message on the topic went out less than the minimum gap ago
    FREQUENCY = "frequency"  # the customer's own frequency choice is used up
    CAP = "cap"  # a brand-wide cap is used up for this window
    DIGEST = "digest"  # bundled into the customer's next digest
    ONE_VOICE = "one-voice"  # a more valuable message on the same topic goes in this run
    # The engine's own, after the policy: listed last so the policy's codes keep their numbers.
    OUTVALUED = "outvalued"  # held: other sends were worth more within the caps and capacities
    TOUCHPOINT_REMOVED = "touchpoint-removed"  # dropped: its touchpoint left the catalogue
    CONTROL_GROUP = "control-group"  # held for good: kept back to measure the touchpoint


HELD_REASONS = frozenset(
    {
        Reason.PAUSED,
        Reason.FATIGUE,
        Reason.MIN_GAP,
        Reason.FREQUENCY,
        Reason.CAP,
        Reason.DIGEST,
        Reason.ONE_VOICE,
        Reason.OUTVALUED,
        Reason.CONTROL_GROUP,
    }
)
CHANNEL_WORDS = {
    "email": "email",
    "sms": "text message",
    "push": "app notification",
    "voice": "phone call",
    "postal": "post",
}


def outcome_of(reason: Reason | str) -> Literal["held", "dropped"]:
    return "held" if Reason(reason) in HELD_REASONS else "dropped"


def _topic(params: Mapping[str, Any]) -> str:
    topic = str(params.get("topic") or "this topic")
    head, _, tail = topic.partition(":")
    words = head.replace("-", " ")
    return f"{words} on {tail.replace('-', ' ')}" if tail else words


def _channel(params: Mapping[str, Any]) -> str:
    channel = params.get("channel")
    return CHANNEL_WORDS.get(str(channel), str(channel)) if channel else "this channel"


def _day(value: Any) -> str:
    """'Tuesday 17 November' from an ISO date or date-time."""
    if not value:
        return "recently"
    text = str(value)
    try:
        when = datetime.fromisoformat(text).date() if "T" in text else date.fromisoformat(text)
    except ValueError:
        return text
    return f"{when:%A} {when.day} {when:%B}"


def _moment(value: Any) -> str:
    if not value:
        return "later"
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return f"{when:%A} {when.day} {when:%B} at {when:%H:%M} UTC"


def _window(value: Any) -> str:
    text = str(value or "")
    units = {"d": "day", "h": "hour", "w": "week", "m": "minute"}
    if text[:-1].isdigit() and text[-1:] in units:
        count = int(text[:-1])
        unit = units[text[-1]]
        return unit if count == 1 else f"{count} {unit}s"
    return text or "the period"


def _cap(who: str, p: Mapping[str, Any]) -> str:
    label = str(p.get("cap") or "marketing")
    kind = f"marketing {CHANNEL_WORDS[label]}" if label in CHANNEL_WORDS else f"{label} message"
    sent = p.get("sent")
    if sent is None or p.get("max") is None:
        return f"{who} has had as many {kind}s as the brand allows for now"
    plural = "s" if sent != 1 else ""
    return (
        f"{who} already had {sent} {kind}{plural} in the last "
        f"{_window(p.get('window'))} (at most {p['max']})"
    )


_Template = Callable[[str, Mapping[str, Any]], str]

_SENTENCES: dict[Reason, _Template] = {
    Reason.UNKNOWN_CUSTOMER: lambda who, p: "the customer is not known to Regard",
    Reason.NO_CHANNEL: lambda who, p: "this message has no channel it may be sent on",
    Reason.PAST_DEADLINE: lambda who, p: (
        f"its deadline ({_moment(p.get('deadline'))}) comes before {who} could be reached"
        if p.get("held_for")
        else f"its deadline ({_moment(p.get('deadline'))}) has passed"
    ),
    Reason.ERASED: lambda who, p: f"{who} asked to be erased",
    Reason.DO_NOT_CONTACT: lambda who, p: f"{who} is marked do-not-contact",
    Reason.NO_LAWFUL_BASIS: lambda who, p: (
        f"{_topic(p)} is not a topic of the brand, so there is no lawful basis to send it"
    ),
    Reason.OPTED_OUT: lambda who, p: (
        f"{who} opted out of {_topic(p)} by {_channel(p)}"
        + (f" on {_day(p['since'])}" if p.get("since") else "")
    ),
    Reason.PROMOTIONAL_VOICE: lambda who, p: "promotional messages are never made as phone calls",
    Reason.VOICE_NOT_FITTING: lambda who, p: (
        f"a phone call is only for critical or transactional messages, and this is "
        f"{p.get('importance', 'neither')}"
    ),
    Reason.CALL_FOR_INFORMATION: lambda who, p: (
        "a phone call would demand an answer for a message that only informs"
    ),
    Reason.NO_VOICE_OPT_IN: lambda who, p: f"{who} has not agreed to phone calls about {_topic(p)}",
    Reason.NO_CONSENT: lambda who, p: (
        f"{who} has not confirmed {_topic(p)} by {_channel(p)} yet"
        if p.get("state") == "pending"
        else f"{who} has not opted in to {_topic(p)} by {_channel(p)}"
    ),
    Reason.IMPLIED_CONSENT_EXPIRED: lambda who, p: (
        f"{who}'s implied consent to {_topic(p)} lapsed "
        + (
            f"on {_day(p['expired_on'])}, the time allowed after their last purchase"
            if p.get("expired_on")
            else "because no purchase is on record"
        )
    ),
    Reason.UNREACHABLE: lambda who, p: f"{who} has no address we can use for {_channel(p)}",
    Reason.HARD_BOUNCE: lambda who, p: f"{who}'s {_channel(p)} address stopped working",
    Reason.COMPLAINT: lambda who, p: f"{who} complained about our {_channel(p)} messages",
    Reason.BELOW_RELEVANCE: lambda who, p: (
        f"it is unlikely to matter to {who}"
        + (
            f" (relevance {p['relevance']}, the floor is {p['floor']})"
            if p.get("relevance") is not None and p.get("floor") is not None
            else ""
        )
    ),
    Reason.NO_WINDOW: lambda who, p: (
        f"{who}'s quiet hours and preferred times leave no moment for {_channel(p)} this week"
    ),
    Reason.PAUSED: lambda who, p: f"{who} paused messages until {_day(p.get('until'))}",
    Reason.FATIGUE: lambda who, p: (
        f"{who} let the last {p.get('ignored', 'few')} messages about {_topic(p)} go unread, "
        f"so {_topic(p)} waits until {_day(p.get('retry_at'))}"
    ),
    Reason.MIN_GAP: lambda who, p: (
        f"{who} had a message about {_topic(p)} on {_day(p.get('last_sent'))}, less than "
        f"{_window(p.get('gap'))} ago".replace("than day ago", "than a day ago")
    ),
    Reason.FREQUENCY: lambda who, p: (
        f"{who} chose {p.get('frequency', 'fewer')} "
        + (f"{_topic(p)}" if p.get("topic") and p.get("scope") != "overall" else "messages")
        + f" and had one on {_day(p.get('last_sent'))}"
    ),
    Reason.CAP: lambda who, p: _cap(who, p),
    Reason.DIGEST: lambda who, p: (
        f"{who} chose {p.get('frequency', 'a')} {_topic(p)}, so it goes in the digest of "
        f"{_moment(p.get('retry_at'))}"
    ),
    Reason.ONE_VOICE: lambda who, p: (
        f"a more valuable message about {_topic(p)} goes to {who} in this run"
    ),
    Reason.OUTVALUED: lambda who, p: (
        f"other messages were worth more within {who}'s limits and the channel's capacity this run"
    ),
    Reason.TOUCHPOINT_REMOVED: lambda who, p: "the touchpoint is no longer in the catalogue",
    Reason.CONTROL_GROUP: lambda who, p: (
        f"{who} is in the control group for {p.get('touchpoint') or 'this touchpoint'}, "
        "so that its effect can be measured"
    ),
}


def sentence(
    outcome: Outcome | str,
    reason: Reason | str | None,
    params: Mapping[str, Any] | str | None,
    *,
    name: str | None,
) -> str:
    """A sentence for a person: ``"Held: Ana chose weekly offers and had one on Tuesday ..."``.

    ``params`` may be the JSON the policy stores. ``name`` is given at display time; without it
    the sentence says "the customer".
    """
    import orjson

    facts: Mapping[str, Any]
    if isinstance(params, str):
        loaded = orjson.loads(params) if params else {}
        facts = loaded if isinstance(loaded, dict) else {}
    else:
        facts = params or {}
    who = name or "the customer"
    if outcome == "sent":
        channel = _channel(facts)
        when = facts.get("send_at")
        return f"Sent: by {channel}" + (f" on {_moment(when)}" if when else "") + "."
    if reason is None:
        raise ValueError("held and dropped decisions need a reason")
    body = _SENTENCES[Reason(reason)](who, facts)
    body = body[0].upper() + body[1:]
    return f"{str(outcome).capitalize()}: {body}."
