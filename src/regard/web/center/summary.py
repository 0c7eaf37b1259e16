"""What the customer will now receive, in plain words: the confirmation shown after a save."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from regard.config import BrandConfig, Topic
from regard.preferences.catalogue import CHANNEL_LABELS, DAY_LABELS, DAYS, FREQUENCY_LABELS
from regard.preferences.service import Preferences

# What each importance means to a customer, shown beside each topic.
IMPORTANCE_WORDS: dict[str, str] = {
    "critical": "About your account's security and what the law asks us to tell you.",
    "transactional": "About what you ordered or booked.",
    "service": "Reminders and help with what you already have.",
    "relationship": "Invitations, thank-yous and help getting started.",
    "promotional": "Offers and news.",
}
ALWAYS_ON = "We must send these, so they are always on; we only send them when they matter."


def joined(words: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"


def channel_words(channels: Sequence[str]) -> str:
    return joined([CHANNEL_LABELS.get(channel, channel) for channel in channels])


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _timing(preferences: Preferences, topic: Topic) -> str:
    parts: list[str] = []
    frequency = preferences.setting("frequency", topic.key) or preferences.setting("frequency")
    if frequency:
        parts.append(FREQUENCY_LABELS.get(frequency, frequency))
    days = preferences.setting("preferred_days")
    if days and len(days) < len(DAYS):
        parts.append(f"only on {joined([DAY_LABELS[day] for day in days])}")
    hours = preferences.setting("preferred_hours")
    if hours:
        parts.append(f"only between {hours['start']} and {hours['end']}")
    quiet = preferences.setting("quiet_hours")
    if quiet:
        parts.append(f"never between {quiet['start']} and {quiet['end']}")
    return "".join(f", {part}" for part in parts)


def sentences(preferences: Preferences, brand: BrandConfig, *, today: date) -> list[str]:
    """One sentence per allowed marketing topic, then the pause, then what stays on."""
    said: list[str] = []
    paused = preferences.setting("paused_until")
    if paused and date.fromisoformat(paused) >= today:
        said.append(f"Nothing but critical messages until {paused}.")
    marketing = [topic for topic in brand.topics if topic.is_marketing]
    heard = False
    for topic in marketing:
        allowed = [c for c in brand.channels if preferences.allowed(topic.key, c)]
        pending = [
            c
            for c in brand.channels
            if (cell := preferences.consents.get((topic.key, c))) and cell.state == "pending"
        ]
        if allowed:
            heard = True
            said.append(f"{topic.label}, by {channel_words(allowed)}{_timing(preferences, topic)}.")
        if pending:
            said.append(
                f"{topic.label} by {channel_words(pending)} will start once you confirm it "
                "with the link in the email we just sent you."
            )
    if marketing and not heard:
        said.append("No marketing messages at all.")
    for topic in brand.topics:
        if topic.is_marketing:
            continue
        label = _lower_first(topic.label)
        if topic.importance == "critical":
            said.append(f"Messages about {label} always stay on: we must send them.")
            continue
        allowed = [c for c in brand.channels if preferences.allowed(topic.key, c)]
        if allowed:
            said.append(f"Messages about {label} stay on, by {channel_words(allowed)}.")
        else:
            said.append(f"No messages about {label}: you turned them off.")
    return said
