"""The preference page's form: what it shows, and what a submission changes.

The page shows the customer's choices as a :class:`CenterForm`; a submission is read into
another. Only the fields that differ become changes, so saving an untouched page writes nothing
to the ledger, and a cell the customer never touched keeps its default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData

from regard.config import BrandConfig, Topic
from regard.preferences import catalogue
from regard.preferences.catalogue import DAYS, SettingProblem
from regard.preferences.ledger import ConsentValue
from regard.preferences.service import ConsentChange, Preferences, SettingChange


@dataclass
class CenterForm:
    """Every control of the preference page, as the page shows it."""

    consents: set[tuple[str, str]] = field(default_factory=set)
    frequency: str = "as-it-happens"
    topic_frequency: dict[str, str] = field(default_factory=dict)  # "" follows the overall
    paused_until: str = ""
    time_zone: str = "UTC"
    quiet_start: str = ""
    quiet_end: str = ""
    days: list[str] = field(default_factory=lambda: list(DAYS))
    hours_start: str = ""
    hours_end: str = ""
    life_stage: str = ""
    language: str = ""
    interests: list[str] = field(default_factory=list)
    note: str = ""
    devices: dict[str, bool] = field(default_factory=dict)


@dataclass
class FormChanges:
    """What a submission changes, or the problems that stop it, by field name."""

    consents: list[ConsentChange] = field(default_factory=list)
    settings: list[SettingChange] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)


def choosable(brand: BrandConfig) -> list[Topic]:
    """Topics the customer can turn on and off: all but the critical ones."""
    return [topic for topic in brand.topics if topic.importance != "critical"]


def from_preferences(
    preferences: Preferences, brand: BrandConfig, *, device_handles: Sequence[str]
) -> CenterForm:
    """The form as the customer's current choices fill it."""
    topics = choosable(brand)
    keys = {topic.key for topic in topics}
    quiet = preferences.setting("quiet_hours") or {}
    hours = preferences.setting("preferred_hours") or {}
    languages = brand.preferences.languages
    return CenterForm(
        consents={
            cell_key
            for cell_key, cell in preferences.consents.items()
            if cell_key[0] in keys and (cell.allowed or cell.state == "pending")
        },
        frequency=preferences.setting("frequency") or "as-it-happens",
        topic_frequency={
            topic.key: preferences.setting("frequency", topic.key) or "" for topic in topics
        },
        paused_until=preferences.setting("paused_until") or "",
        time_zone=preferences.setting("time_zone") or brand.time_zone,
        quiet_start=quiet.get("start", ""),
        quiet_end=quiet.get("end", ""),
        days=list(preferences.setting("preferred_days") or DAYS),
        hours_start=hours.get("start", ""),
        hours_end=hours.get("end", ""),
        life_stage=preferences.setting("life_stage") or "",
        language=preferences.setting("language")
        or (brand.locale if brand.locale in languages else languages[0] if languages else ""),
        interests=list(preferences.setting("interests") or []),
        note=preferences.note or "",
        devices={
            handle: bool(preferences.setting("push_device", handle, True))
            for handle in device_handles
        },
    )


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _clock(value: str) -> str:
    # Some browsers send seconds with a time input ("08:00:00"); the catalogue keeps minutes.
    if len(value) == 8 and value.endswith(":00"):
        return value[:5]
    return value


def from_submission(
    form: FormData, brand: BrandConfig, *, device_handles: Sequence[str]
) -> CenterForm:
    """The form as the customer submitted it. Unknown names are ignored."""
    topics = choosable(brand)
    keys = {topic.key for topic in topics}
    consents: set[tuple[str, str]] = set()
    for name in form:
        kind, _, rest = name.partition(":")
        topic, _, channel = rest.rpartition(":")
        if kind == "consent" and topic in keys and channel in brand.channels:
            consents.add((topic, channel))
    note = form.get("note")
    return CenterForm(
        consents=consents,
        frequency=_text(form, "frequency"),
        topic_frequency={topic.key: _text(form, f"frequency:{topic.key}") for topic in topics},
        paused_until=_text(form, "paused_until"),
        time_zone=_text(form, "time_zone"),
        quiet_start=_clock(_text(form, "quiet_start")),
        quiet_end=_clock(_text(form, "quiet_end")),
        days=[str(day) for day in form.getlist("days")],
        hours_start=_clock(_text(form, "hours_start")),
        hours_end=_clock(_text(form, "hours_end")),
        life_stage=_text(form, "life_stage"),
        language=_text(form, "language"),
        interests=[str(interest) for interest in form.getlist("interests")],
        note=note.replace("\r\n", "\n").strip() if isinstance(note, str) else "",
        devices={handle: f"device:{handle}" in form for handle in device_handles},
    )


def _window(start: str, end: str) -> dict[str, str] | SettingProblem | None:
    if not start and not end:
        return None
    if not start or not end:
        return SettingProblem("give both a start and an end, or leave both empty")
    return {"start": start, "end": end}


def changes(submitted: CenterForm, shown: CenterForm, brand: BrandConfig) -> FormChanges:
    """The changes from ``shown`` to ``submitted``, each checked; nothing if any has a problem."""
    result = FormChanges()
    for topic in choosable(brand):
        for channel in brand.channels:
            wanted = (topic.key, channel) in submitted.consents
            if wanted != ((topic.key, channel) in shown.consents):
                state: ConsentValue = "opted-in" if wanted else "opted-out"
                result.consents.append(ConsentChange(topic.key, channel, state))

    proposed: list[tuple[str, SettingChange | SettingProblem]] = []

    def propose(at: str, setting: str, value: Any, scope: str = "") -> None:
        if isinstance(value, SettingProblem):
            proposed.append((at, value))
        else:
            proposed.append((at, SettingChange(setting, value, scope)))

    if submitted.frequency != shown.frequency:
        propose("frequency", "frequency", submitted.frequency or None)
    for key, value in submitted.topic_frequency.items():
        if value != shown.topic_frequency.get(key, ""):
            propose(f"frequency:{key}", "frequency", value or None, key)
    if submitted.paused_until != shown.paused_until:
        propose("paused_until", "paused_until", submitted.paused_until or None)
    if submitted.time_zone != shown.time_zone:
        propose("time_zone", "time_zone", submitted.time_zone or None)
    if (submitted.quiet_start, submitted.quiet_end) != (shown.quiet_start, shown.quiet_end):
        propose("quiet_hours", "quiet_hours", _window(submitted.quiet_start, submitted.quiet_end))
    if submitted.days != shown.days:
        propose(
            "preferred_days",
            "preferred_days",
            submitted.days or SettingProblem("choose at least one day (all seven for any day)"),
        )
    if (submitted.hours_start, submitted.hours_end) != (shown.hours_start, shown.hours_end):
        propose(
            "preferred_hours",
            "preferred_hours",
            _window(submitted.hours_start, submitted.hours_end),
        )
    if submitted.life_stage and submitted.life_stage != shown.life_stage:
        propose("life_stage", "life_stage", submitted.life_stage)
    if submitted.language and submitted.language != shown.language:
        propose("language", "language", submitted.language)
    if sorted(submitted.interests) != sorted(shown.interests):
        propose("interests", "interests", submitted.interests)
    if submitted.note != shown.note:
        propose("note", "note", submitted.note or None)
    for handle, on in submitted.devices.items():
        if on != shown.devices.get(handle, True):
            propose(f"device:{handle}", "push_device", on, handle)

    for at, change in proposed:
        if isinstance(change, SettingProblem):
            result.problems[at] = str(change)
            continue
        try:
            catalogue.check_setting(brand, change.setting, change.scope, change.value)
        except SettingProblem as exc:
            result.problems[at] = str(exc)
            continue
        result.settings.append(change)
    if result.problems:
        result.consents, result.settings = [], []
    return result
