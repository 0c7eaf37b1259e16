"""What a customer can set, and what each setting may hold.

Every change is checked here before anything is written, so that a change with one bad part
changes nothing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import date
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import nh3

from regard.config import BrandConfig, ChannelName, Topic

Frequency = Literal["as-it-happens", "daily", "weekly", "monthly"]
FREQUENCIES: tuple[Frequency, ...] = get_args(Frequency)
FREQUENCY_LABELS: dict[str, str] = {
    "as-it-happens": "as it happens",
    "daily": "at most daily",
    "weekly": "at most weekly",
    "monthly": "at most monthly",
}
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_LABELS = dict(
    zip(
        DAYS,
        ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        strict=True,
    )
)
CHANNELS: tuple[ChannelName, ...] = get_args(ChannelName)
CHANNEL_LABELS: dict[str, str] = {
    "email": "email",
    "sms": "text message",
    "push": "app notification",
    "voice": "phone call",
    "postal": "post",
}
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class SettingProblem(ValueError):
    """A value a setting cannot hold; the message says why in plain words."""


def _frequency(brand: BrandConfig, scope: str, value: Any) -> Any:
    if scope and brand.topic(scope) is None:
        raise SettingProblem(f"there is no topic {scope!r}")
    if value not in FREQUENCIES:
        raise SettingProblem(f"must be one of {', '.join(FREQUENCIES)}")
    return value


def _date(brand: BrandConfig, scope: str, value: Any) -> Any:
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError as exc:
        raise SettingProblem("must be a date such as 2026-12-31") from exc


def _time_zone(brand: BrandConfig, scope: str, value: Any) -> Any:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SettingProblem(f"{value!r} is not a time zone (such as Europe/Amsterdam)") from exc
    return str(value)


def _window(brand: BrandConfig, scope: str, value: Any) -> Any:
    if not isinstance(value, dict) or set(value) != {"start", "end"}:
        raise SettingProblem("must give a start and an end, such as 21:00 and 08:00")
    for part in ("start", "end"):
        if not isinstance(value[part], str) or not _CLOCK.match(value[part]):
            raise SettingProblem(f"{part} must be a time such as 08:00")
    if value["start"] == value["end"]:
        raise SettingProblem("start and end must differ")
    return {"start": value["start"], "end": value["end"]}


def _days(brand: BrandConfig, scope: str, value: Any) -> Any:
    if not isinstance(value, list | tuple) or not value:
        raise SettingProblem("must name at least one day")
    unknown = [d for d in value if d not in DAYS]
    if unknown:
        raise SettingProblem(f"unknown days: {', '.join(map(str, unknown))}")
    return [d for d in DAYS if d in value]


def _language(brand: BrandConfig, scope: str, value: Any) -> Any:
    if value not in brand.preferences.languages:
        raise SettingProblem(f"must be one of {', '.join(brand.preferences.languages)}")
    return value


def _life_stage(brand: BrandConfig, scope: str, value: Any) -> Any:
    keys = [c.key for c in brand.preferences.life_stages]
    if value not in keys:
        raise SettingProblem(f"must be one of {', '.join(keys) or '(none offered)'}")
    return value


def _interests(brand: BrandConfig, scope: str, value: Any) -> Any:
    keys = [c.key for c in brand.preferences.interests]
    if not isinstance(value, list | tuple):
        raise SettingProblem("must be a list of interests")
    unknown = [v for v in value if v not in keys]
    if unknown:
        raise SettingProblem(f"unknown interests: {', '.join(map(str, unknown))}")
    return [k for k in keys if k in value]


def _push_device(brand: BrandConfig, scope: str, value: Any) -> Any:
    if not scope:
        raise SettingProblem("must name a device")
    if not isinstance(value, bool):
        raise SettingProblem("must be true or false")
    return value


def clean_note(brand: BrandConfig, scope: str, value: Any) -> Any:
    """The customer's own words: no markup, no control characters, within the length limit."""
    if not isinstance(value, str):
        raise SettingProblem("must be text")
    text = nh3.clean(unicodedata.normalize("NFC", value), tags=set())
    # nh3 escapes what it keeps; the page escapes again when it shows the text.
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    text = text.strip()
    limit = brand.preferences.note_max_length
    if len(text) > limit:
        raise SettingProblem(f"is {len(text)} characters long; at most {limit} fit")
    return text


Validator = Callable[[BrandConfig, str, Any], Any]

# setting -> (validator, whether its value is personal data, whether it takes a scope)
SETTINGS: dict[str, tuple[Validator, bool]] = {
    "frequency": (_frequency, False),
    "paused_until": (_date, False),
    "time_zone": (_time_zone, False),
    "quiet_hours": (_window, False),
    "preferred_days": (_days, False),
    "preferred_hours": (_window, False),
    "language": (_language, False),
    "life_stage": (_life_stage, False),
    "interests": (_interests, False),
    "push_device": (_push_device, False),
    "note": (clean_note, True),
}


def check_setting(brand: BrandConfig, setting: str, scope: str, value: Any) -> Any:
    """The value to store, or :class:`SettingProblem`. ``None`` clears a setting."""
    if setting not in SETTINGS:
        raise SettingProblem(f"there is no setting {setting!r}")
    if value is None:
        return None
    validator, _personal = SETTINGS[setting]
    return validator(brand, scope, value)


def is_personal(setting: str) -> bool:
    return SETTINGS[setting][1]


def check_topic_channel(brand: BrandConfig, topic: str, channel: str) -> Topic:
    found = brand.topic(topic)
    if found is None:
        raise SettingProblem(f"there is no topic {topic!r}")
    if channel not in brand.channels:
        raise SettingProblem(
            f"{brand.name} does not use the channel {channel!r} "
            f"(it uses {', '.join(brand.channels)})"
        )
    return found


def default_allows(topic: Topic, channel: str) -> bool:
    """Whether a topic may use a channel before the customer has said anything.

    What is owed under the contract or the law is on by default; what needs consent is off until
    the customer opts in. A phone call always needs the customer's own opt-in.
    """
    if channel == "voice":
        return False
    return topic.basis != "consent"
