"""What the preferences API accepts and answers, as Pydantic models.

Requests forbid fields they do not know, so a misspelt field is an error rather than a silent
no-op. Consent states, topics, channels and setting values are checked by the service, which
reports every problem of a change at once.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from regard.config import BrandConfig
from regard.preferences import catalogue
from regard.preferences.models import PushDevice
from regard.preferences.service import Preferences, VerifyReport

# Most records one import request may carry; larger lists go through ``regard consent import``.
MAX_IMPORT_RECORDS = 10_000

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Key = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
SYSTEM_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
System = Annotated[str, StringConstraints(pattern=SYSTEM_NAME.pattern)]
WordingVersion = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)
]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- the catalogue -------------------------------------------------------------------------


class Option(_Answer):
    """One choice a customer can make, with the words they see."""

    key: str
    label: str


class TopicView(_Answer):
    """A topic, the basis its messages rest on, and what it allows before anyone opts in."""

    key: str
    label: str
    importance: str
    legal_basis: str
    is_marketing: bool
    default: dict[str, bool] = Field(description="Per channel: allowed before any word.")


class SettingOptions(_Answer):
    frequencies: list[Option]
    days: list[Option]
    life_stages: list[Option]
    interests: list[Option]
    languages: list[str]
    note_max_length: int


class Catalogue(_Answer):
    """What a brand lets its customers choose: topics, channels and settings."""

    brand: str
    wording_version: str
    double_opt_in: bool
    topics: list[TopicView]
    channels: list[Option]
    settings: SettingOptions

    @classmethod
    def of(cls, brand: BrandConfig) -> Catalogue:
        options = brand.preferences
        return cls(
            brand=brand.name,
            wording_version=options.wording_version,
            double_opt_in=options.double_opt_in,
            topics=[
                TopicView(
                    key=topic.key,
                    label=topic.label,
                    importance=topic.importance,
                    legal_basis=topic.basis,
                    is_marketing=topic.is_marketing,
                    default={
                        channel: catalogue.default_allows(topic, channel)
                        for channel in brand.channels
                    },
                )
                for topic in brand.topics
            ],
            channels=[
                Option(key=channel, label=catalogue.CHANNEL_LABELS.get(channel, channel))
                for channel in brand.channels
            ],
            settings=SettingOptions(
                frequencies=[
                    Option(key=key, label=catalogue.FREQUENCY_LABELS[key])
                    for key in catalogue.FREQUENCIES
                ],
                days=[Option(key=key, label=catalogue.DAY_LABELS[key]) for key in catalogue.DAYS],
                life_stages=[Option(key=c.key, label=c.label) for c in options.life_stages],
                interests=[Option(key=c.key, label=c.label) for c in options.interests],
                languages=list(options.languages),
                note_max_length=options.note_max_length,
            ),
        )


# --- one customer's preferences ------------------------------------------------------------


class ConsentCell(_Answer):
    """May this topic use this channel, on what basis, and since when."""

    state: str = Field(description="opted-in, opted-out, pending, or default (no word yet)")
    allowed: bool
    legal_basis: str
    source: str | None
    since: datetime | None


class DeviceView(_Answer):
    """A device registered for push messages (its token is never shown)."""

    model_config = ConfigDict(from_attributes=True)

    handle: str
    name: str
    platform: str
    registered_at: datetime | None = None


class PreferencesView(_Answer):
    """What a customer allows and prefers: per topic, per channel; settings; devices; note."""

    customer_id: int
    as_of: datetime | None = Field(
        default=None, description="Set when the answer is a replay of a past moment."
    )
    consents: dict[str, dict[str, ConsentCell]]
    settings: dict[str, dict[str, Any]]
    devices: list[DeviceView]
    note: str | None
    head_seq: int

    @classmethod
    def of(
        cls,
        preferences: Preferences,
        devices: list[PushDevice],
        *,
        as_of: datetime | None = None,
    ) -> PreferencesView:
        grid: dict[str, dict[str, ConsentCell]] = {}
        for (topic, channel), cell in preferences.consents.items():
            grid.setdefault(topic, {})[channel] = ConsentCell(
                state=cell.state,
                allowed=cell.allowed,
                legal_basis=cell.legal_basis,
                source=cell.source,
                since=cell.occurred_at,
            )
        return cls(
            customer_id=preferences.customer_id,
            as_of=as_of,
            consents=grid,
            settings=preferences.settings,
            devices=[DeviceView.model_validate(device) for device in devices],
            note=preferences.note,
            head_seq=preferences.head_seq,
        )


class ConsentChangeIn(_Request):
    topic: Key
    channel: Key
    state: Key = Field(description="opted-in or opted-out")


class SettingChangeIn(_Request):
    setting: Key
    scope: Annotated[str, StringConstraints(strip_whitespace=True, max_length=80)] = ""
    value: Any = Field(description="The new value; null clears the setting.")


class PreferencesPatch(_Request):
    """A change to one customer's preferences: every part is applied, or none."""

    consents: list[ConsentChangeIn] = Field(default_factory=list, max_length=500)
    settings: list[SettingChangeIn] | dict[str, Any] = Field(
        default_factory=list,
        description="A list of {setting, scope, value}, or a mapping of setting to value.",
    )
    actor: Name | None = Field(
        default=None, description="Who made the change; by default 'api:<key name>'."
    )
    wording_version: WordingVersion | None = Field(
        default=None, description="The wording the customer saw; by default the brand's."
    )

    def setting_changes(self) -> list[SettingChangeIn]:
        if isinstance(self.settings, dict):
            return [SettingChangeIn(setting=name, value=v) for name, v in self.settings.items()]
        return list(self.settings)


class PreferencesUpdated(PreferencesView):
    """The state after a change, and what the change appended to the ledger."""

    recorded: list[dict[str, Any]]
    pending: list[dict[str, str]] = Field(
        description="Email opt-ins that wait for the customer's confirmation."
    )


# --- the proof -----------------------------------------------------------------------------


class Verification(_Answer):
    """What a check of the customer's chains (theirs and merged profiles') found."""

    ok: bool
    entries: int
    chains: int
    problems: list[str]
    anchor: str

    @classmethod
    def of(cls, report: VerifyReport) -> Verification:
        return cls(
            ok=report.ok,
            entries=report.entries,
            chains=report.customers,
            problems=report.problems,
            anchor=report.anchor,
        )


class ConsentProof(_Answer):
    """Every change ever recorded about a customer, oldest first, and whether the chain holds."""

    customer_id: int
    merged_profiles: list[int]
    history: list[dict[str, Any]]
    verification: Verification


# --- devices -------------------------------------------------------------------------------


class DeviceIn(_Request):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
    platform: Annotated[str, StringConstraints(pattern=r"^(ios|android|web)$")]
    token: Annotated[str, StringConstraints(min_length=1, max_length=4096)]


# --- imports -------------------------------------------------------------------------------


class ImportedCustomer(_Request):
    """Who a record is about: one email, one phone, or an id in another system."""

    email: Annotated[str, StringConstraints(max_length=320)] | None = None
    phone: Annotated[str, StringConstraints(max_length=64)] | None = None
    external_id: Annotated[str, StringConstraints(max_length=256)] | None = None
    namespace: Annotated[str, StringConstraints(max_length=64)] | None = None

    @model_validator(mode="after")
    def _one_identity(self) -> ImportedCustomer:
        given = [
            kind
            for kind in ("email", "phone", "external_id")
            if getattr(self, kind) not in (None, "")
        ]
        if len(given) != 1:
            raise PydanticCustomError(
                "one_identity", "give exactly one of email, phone or external_id (with namespace)"
            )
        if given == ["external_id"] and not self.namespace:
            raise PydanticCustomError("namespace", "an external_id needs its namespace")
        return self


class ImportedConsent(_Request):
    """One consent as another system recorded it."""

    customer: ImportedCustomer
    topic: Key
    channel: Key
    state: Key
    occurred_at: AwareDatetime
    source_detail: Annotated[str, StringConstraints(max_length=200)] | None = None
    wording_version: WordingVersion | None = None

    @field_validator("state")
    @classmethod
    def _state(cls, value: str) -> str:
        if value not in ("opted-in", "opted-out"):
            raise PydanticCustomError("state", "must be opted-in or opted-out")
        return value


class ConsentImport(_Request):
    """Consents from another system; each record is checked on its own."""

    system: System = Field(description="The system the consents come from, e.g. 'crm'.")
    # Records are read one by one, so that a bad one is reported by its index and skipped.
    records: list[Any] = Field(max_length=MAX_IMPORT_RECORDS)


class Rejection(_Answer):
    index: int
    problems: list[str]


class ConsentImportResult(_Answer):
    """What an import did: ``recorded`` changed the ledger, ``unchanged`` it already said."""

    system: str
    received: int
    accepted: int
    recorded: int
    unchanged: int
    rejected: int
    rejections: list[Rejection]
