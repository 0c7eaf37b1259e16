"""Settings from the environment (prefix ``REGARD_``) and the brand's ``regard.toml``."""

from __future__ import annotations

import difflib
import json
import tomllib
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from regard.decisions.options import EngineOptions
from regard.decisions.policy_options import ContactPolicy
from regard.delivery.options import DeliveryOptions
from regard.errors import ConfigurationError
from regard.measurement.options import MeasurementOptions
from regard.messages.options import MessageOptions
from regard.segments.options import SegmentOptions
from regard.touchpoints.options import TouchpointDefinition

ChannelName = Literal["email", "sms", "push", "voice", "postal"]
Importance = Literal["critical", "transactional", "service", "relationship", "promotional"]
LegalBasis = Literal["legal-obligation", "contract", "legitimate-interest", "consent"]

# Without a basis of its own, a topic's basis follows its importance: what the customer needs to
# know about their account and orders is owed under the contract; marketing needs consent.
BASIS_BY_IMPORTANCE: dict[str, LegalBasis] = {
    "critical": "legal-obligation",
    "transactional": "contract",
    "service": "contract",
    "relationship": "consent",
    "promotional": "consent",
}
Environment = Literal["development", "test", "production"]


class Settings(BaseSettings):
    """Process settings. The only place Regard reads its environment."""

    model_config = SettingsConfigDict(env_prefix="REGARD_", env_file=None, extra="ignore")

    environment: Environment = "development"
    database_url: str = "sqlite:///regard.db"
    brand_config: Path = Path("regard.toml")
    # JSON object {"key id": "base64 of 32 bytes", ...}; the first listed is used to encrypt.
    # Empty in development: a key file is created beside the SQLite database on first run.
    encryption_keys: SecretStr = SecretStr("")
    # base64 of 32 bytes: the key of the blind index used to look personal data up.
    blind_index_key: SecretStr = SecretStr("")
    key_file: Path | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # Requests a web worker process runs at once (the rest wait their turn in its event loop);
    # unset: 1 on SQLite, whose writes take turns anyway, 8 on PostgreSQL.
    web_threads: int | None = Field(default=None, ge=1, le=200)
    import_batch_size: int = Field(default=50_000, ge=1, le=1_000_000)
    # The address customers reach Regard at: links in messages start with it.
    public_url: str = "http://127.0.0.1:8000"
    # Email Regard sends itself (preference links, opt-in confirmations): through this SMTP
    # server when a host is set, else written as .eml files to mail_dir for development.
    smtp_host: str = ""
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = False
    # A CA bundle to trust for the SMTP server's certificate (a server with a private CA).
    smtp_ca_file: Path | None = None
    # The name Regard gives in EHLO; empty: this machine's host name (no DNS look-up).
    smtp_helo_name: str = ""
    # Seconds to wait for the SMTP server at each step before the send counts as failed for now.
    smtp_timeout: float = Field(default=30.0, gt=0, le=600)
    mail_from: str = "preferences@regard.invalid"
    mail_dir: Path = Path("mail-outbox")
    # Shared secret of the SMS provider's inbound webhook (HMAC-SHA256 of the body).
    sms_webhook_secret: SecretStr = SecretStr("")
    # JSON object {"sms": "key", "push": "key", "voice": "key"}: the HMAC key that signs what
    # Regard posts to each channel's provider, and checks what the provider posts back.
    provider_secrets: SecretStr = SecretStr("")

    _PLACEHOLDERS: ClassVar[frozenset[str]] = frozenset({"changeme", "change-me", "secret", "todo"})

    @field_validator("encryption_keys", "blind_index_key", "smtp_password", "sms_webhook_secret")
    @classmethod
    def _no_placeholder(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value().strip().lower() in cls._PLACEHOLDERS:
            raise ValueError("is a placeholder; set a real key")
        return value

    @field_validator("provider_secrets")
    @classmethod
    def _provider_secrets_shape(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value().strip()
        if not raw:
            return value
        try:
            keys = json.loads(raw)
        except ValueError as exc:
            raise ValueError('must be a JSON object, e.g. {"sms": "..."}') from exc
        if not isinstance(keys, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in keys.items()
        ):
            raise ValueError('must be a JSON object of channel to key, e.g. {"sms": "..."}')
        for channel, key in keys.items():
            if channel not in ("sms", "push", "voice"):
                raise ValueError(f"names {channel!r}; providers serve sms, push and voice")
            if not key.strip() or key.strip().lower() in cls._PLACEHOLDERS:
                raise ValueError(f"the {channel} key is empty or a placeholder; set a real key")
        return value

    def provider_secret(self, channel: str) -> str:
        """The signing key of ``channel``'s provider; empty when none is set."""
        raw = self.provider_secrets.get_secret_value().strip()
        keys: dict[str, str] = json.loads(raw) if raw else {}
        return keys.get(channel, "")

    def require_production_keys(self) -> None:
        """Production reads keys from settings, never from a file it made itself."""
        if self.environment == "production" and not (
            self.encryption_keys.get_secret_value() and self.blind_index_key.get_secret_value()
        ):
            raise ConfigurationError(
                "REGARD_ENCRYPTION_KEYS and REGARD_BLIND_INDEX_KEY must be set in production"
            )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


class Topic(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(pattern=r"^[a-z][a-z0-9-]*(:[a-z0-9-]+)?$")
    label: str
    importance: Importance
    legal_basis: LegalBasis | None = None

    @property
    def basis(self) -> LegalBasis:
        return self.legal_basis or BASIS_BY_IMPORTANCE[self.importance]

    @property
    def is_marketing(self) -> bool:
        return self.importance in ("relationship", "promotional")


class Choice(BaseModel):
    """One entry of a list the brand offers its customers (a life stage, an interest)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    label: str = Field(min_length=1)


class PreferenceOptions(BaseModel):
    """What the preference center offers, and how consent is collected."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Email marketing opt-ins stay pending until the customer uses the confirmation link.
    double_opt_in: bool = False
    # The version of the wording customers see when they give consent, kept in every entry.
    wording_version: str = Field(default="1", min_length=1, max_length=40)
    life_stages: tuple[Choice, ...] = ()
    interests: tuple[Choice, ...] = ()
    languages: tuple[str, ...] = ("en",)
    note_max_length: int = Field(default=500, ge=1, le=5000)
    # How often the brand texts, named in the confirmation of an SMS opt-in.
    sms_frequency: str = "up to 4 messages a month"
    # The answer to an SMS HELP; by default it names the brand and how to stop.
    sms_help: str = ""
    # How long links stay valid: to the preference center, and in one-click unsubscribe.
    link_days: int = Field(default=30, ge=1, le=400)
    unsubscribe_link_days: int = Field(default=90, ge=1, le=800)
    # "Send me a link": at most this many per address and per client in an hour.
    link_requests_per_hour: int = Field(default=5, ge=1, le=1000)


class IdentityRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # When two sources disagree on a trait, the one listed first wins; among equals, the newer.
    source_priority: tuple[str, ...] = ()
    # Traits that are personal data: kept encrypted, never in the plain traits column.
    personal_traits: tuple[str, ...] = (
        "name",
        "first_name",
        "last_name",
        "address",
        "street",
        "birthday",
        "notes",
    )
    # Event properties that are personal data: encrypted apart from the other properties.
    # ("name" is not among them: on an event it names a page or a product, not a person.)
    personal_properties: tuple[str, ...] = (
        "first_name",
        "last_name",
        "full_name",
        "address",
        "street",
        "birthday",
        "notes",
    )


# The survey behind commitment (docs/commitment.md). Each key is a role in the scoring: a brand
# may reword an item or change its scale, never drop one.
CommitmentItemKey = Literal[
    "satisfaction",
    "emotional_fit",
    "involvement",
    "best_alternative",
    "considering_switching",
    "rating_brand",
    "rating_current",
]
USER_ITEMS: tuple[CommitmentItemKey, ...] = (
    "satisfaction",
    "emotional_fit",
    "involvement",
    "best_alternative",
    "considering_switching",
)
NON_USER_ITEMS: tuple[CommitmentItemKey, ...] = ("rating_brand", "rating_current")


class SurveyItem(BaseModel):
    """One question of the commitment survey and the scale its answers are on."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    key: CommitmentItemKey
    wording: str = Field(min_length=1)
    scale_min: float
    scale_max: float

    @property
    def asked_of(self) -> Literal["users", "non-users"]:
        return "users" if self.key in USER_ITEMS else "non-users"

    @model_validator(mode="after")
    def _scale_rises(self) -> SurveyItem:
        if self.scale_max <= self.scale_min:
            raise ValueError(
                f"{self.key}: scale_max ({self.scale_max:g}) must be above "
                f"scale_min ({self.scale_min:g})"
            )
        return self


DEFAULT_SURVEY_ITEMS = (
    SurveyItem(
        key="satisfaction",
        wording="How well do we meet your needs?",
        scale_min=0,
        scale_max=10,
    ),
    SurveyItem(
        key="emotional_fit",
        wording="How well do we fit your goals and values?",
        scale_min=0,
        scale_max=10,
    ),
    SurveyItem(
        key="involvement",
        wording="How much does it matter to you which brand you choose?",
        scale_min=1,
        scale_max=5,
    ),
    SurveyItem(
        key="best_alternative",
        wording="How would you rate the best alternative to us?",
        scale_min=0,
        scale_max=10,
    ),
    SurveyItem(
        key="considering_switching",
        wording="How likely are you to consider switching in the next 12 months?",
        scale_min=1,
        scale_max=5,
    ),
    SurveyItem(
        key="rating_brand",
        wording="How would you rate us?",
        scale_min=0,
        scale_max=10,
    ),
    SurveyItem(
        key="rating_current",
        wording="How would you rate the brand you use now?",
        scale_min=0,
        scale_max=10,
    ),
)


class OpenQuestion(BaseModel):
    """A Voice-of-the-Customer question answered in the customer's own words."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Names the answers in responses, imports and themes: lower-case letters, digits and "_".
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    wording: str = Field(min_length=1, max_length=300)


DEFAULT_OPEN_QUESTIONS = (
    OpenQuestion(key="what_matters", wording="What matters most to you when you choose a brand?"),
    OpenQuestion(key="more_useful", wording="What would make our messages more useful to you?"),
)


class LogisticWeights(BaseModel):
    """score = 1 / (1 + exp(-z)), z = intercept + margin * m + involvement * i + ambivalence * a.

    m is the margin in points of a ten-point scale; i and a are rescaled to 0-1.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    intercept: float = 0.5
    # Must be positive: commitment rises with the margin, or the score is not commitment.
    margin: float = Field(default=0.6, gt=0)
    involvement: float = 1.0
    ambivalence: float = -2.0


class CommitmentOptions(BaseModel):
    """How commitment is scored and cut into groups (docs/commitment.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    # List only the items you change; each is merged over its default by key.
    items: tuple[SurveyItem, ...] = DEFAULT_SURVEY_ITEMS
    # Open questions after the items, each optional for the respondent; [] asks none.
    questions: tuple[OpenQuestion, ...] = DEFAULT_OPEN_QUESTIONS
    weights: LogisticWeights = LogisticWeights()
    # Scores from which a user is Shallow, Average, Entrenched; below the first, Convertible.
    # None: the quartiles of the scored base.
    cut_points: tuple[float, float, float] | None = None
    # A user whose margin is at or below low_margin (points of a ten-point scale) and whose
    # involvement is at or above high_involvement (on the involvement item's own scale) is
    # Convertible whatever the score: that is where sudden defection happens.
    low_margin: float = 0.0
    high_involvement: float = 4.0
    # Non-users: our rating minus their current brand's (points of a ten-point scale) from
    # which they are Weakly unavailable, Ambivalent, Available; below the first, Strongly
    # unavailable.
    weakly_unavailable_from: float = -4.0
    ambivalent_from: float = -1.0
    available_from: float = 1.0

    @field_validator("items", mode="before")
    @classmethod
    def _merge_items(cls, value: Any) -> Any:
        if not isinstance(value, list | tuple):
            return value
        merged: dict[str, Any] = {item.key: item.model_dump() for item in DEFAULT_SURVEY_ITEMS}
        seen: set[str] = set()
        for given in value:
            given_fields = given.model_dump() if isinstance(given, SurveyItem) else given
            if not isinstance(given_fields, dict) or given_fields.get("key") not in merged:
                return value  # let the field's own validation name the problem
            key = given_fields["key"]
            if key in seen:
                raise ValueError(f"survey item {key} listed twice")
            seen.add(key)
            merged[key] = {**merged[key], **given_fields}
        return tuple(merged.values())

    @field_validator("questions")
    @classmethod
    def _questions_once(cls, value: tuple[OpenQuestion, ...]) -> tuple[OpenQuestion, ...]:
        keys = [question.key for question in value]
        twice = sorted({key for key in keys if keys.count(key) > 1})
        if twice:
            raise ValueError(f"open question {twice[0]} listed twice")
        return value

    @field_validator("cut_points")
    @classmethod
    def _cut_points_rise(
        cls, value: tuple[float, float, float] | None
    ) -> tuple[float, float, float] | None:
        if value is None:
            return value
        if not all(0 <= c <= 1 for c in value):
            raise ValueError("cut_points are scores, each between 0 and 1")
        if not value[0] < value[1] < value[2]:
            raise ValueError(
                "cut_points must increase (Shallow from, Average from, Entrenched from), "
                f"got {', '.join(f'{c:g}' for c in value)}"
            )
        return value

    @model_validator(mode="after")
    def _thresholds_fit(self) -> CommitmentOptions:
        if not self.weakly_unavailable_from < self.ambivalent_from < self.available_from:
            raise ValueError(
                "weakly_unavailable_from < ambivalent_from < available_from must hold, got "
                f"{self.weakly_unavailable_from:g}, {self.ambivalent_from:g}, "
                f"{self.available_from:g}"
            )
        involvement = self.item("involvement")
        if not involvement.scale_min <= self.high_involvement <= involvement.scale_max:
            raise ValueError(
                f"high_involvement ({self.high_involvement:g}) must lie on the involvement "
                f"scale, {involvement.scale_min:g} to {involvement.scale_max:g}"
            )
        return self

    def item(self, key: CommitmentItemKey) -> SurveyItem:
        return next(item for item in self.items if item.key == key)

    def question(self, key: str) -> OpenQuestion | None:
        return next((q for q in self.questions if q.key == key), None)


class BrandConfig(BaseModel):
    """The brand's own configuration, read from ``regard.toml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    time_zone: str = "UTC"
    region: str = Field(default="US", min_length=2, max_length=2)
    locale: str = "en"
    channels: tuple[ChannelName, ...] = ("email", "sms", "push")
    topics: tuple[Topic, ...] = ()
    identity: IdentityRules = IdentityRules()
    preferences: PreferenceOptions = PreferenceOptions()
    commitment: CommitmentOptions = CommitmentOptions()
    segments: SegmentOptions = SegmentOptions()
    touchpoints: tuple[TouchpointDefinition, ...] = ()
    policy: ContactPolicy = ContactPolicy()
    engine: EngineOptions = EngineOptions()
    delivery: DeliveryOptions = DeliveryOptions()
    measurement: MeasurementOptions = MeasurementOptions()
    messages: MessageOptions = MessageOptions()

    @field_validator("topics")
    @classmethod
    def _unique_topics(cls, value: tuple[Topic, ...]) -> tuple[Topic, ...]:
        keys = [t.key for t in value]
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        if repeated:
            raise ValueError(f"topics listed twice: {', '.join(repeated)}")
        return value

    @field_validator("segments")
    @classmethod
    def _segment_rules_check(cls, value: SegmentOptions, info: ValidationInfo) -> SegmentOptions:
        # Each rule parsed on its own; type-checking it needs the topics, interests and channels
        # above (subscribed() names a topic, interest() an interest).
        topics: tuple[Topic, ...] = info.data.get("topics", ())
        preferences: PreferenceOptions | None = info.data.get("preferences")
        interests = [c.key for c in preferences.interests] if preferences else []
        channels: tuple[str, ...] = info.data.get("channels", ())
        value.check_rules(topics=[t.key for t in topics], channels=channels, interests=interests)
        return value

    @model_validator(mode="after")
    def _touchpoints_fit(self) -> BrandConfig:
        """Every touchpoint names a topic, channels and segments the brand has."""
        # Imported here: the schema reads the commitment groups, whose module reads this one.
        from regard.segments.schema import COMMITMENT_GROUPS, LIFECYCLE_STAGES, RFM_GROUPS

        segments = {
            *(f"rfm:{group}" for group in RFM_GROUPS),
            *(f"lifecycle:{stage}" for stage in LIFECYCLE_STAGES),
            *(f"commitment:{group}" for group in COMMITMENT_GROUPS),
            *(definition.name for definition in self.segments.custom),
        }
        names = [touchpoint.name for touchpoint in self.touchpoints]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"touchpoints listed twice: {', '.join(twice)}")
        for channel in self.engine.limits:
            if channel not in self.channels:
                raise ValueError(f"engine.limits: the brand has no channel {channel!r}")
        for touchpoint in self.touchpoints:
            where = f"touchpoint {touchpoint.name!r}"
            if self.topic(touchpoint.topic) is None:
                known = [topic.key for topic in self.topics]
                raise ValueError(
                    f"{where}: unknown topic {touchpoint.topic!r}{_hint(touchpoint.topic, known)}"
                )
            for content in touchpoint.channels:
                if content.channel not in self.channels:
                    raise ValueError(
                        f"{where}: the brand has no channel {content.channel!r} "
                        f"(its channels: {', '.join(self.channels)})"
                    )
            for name in (*touchpoint.segments, *(k for k in touchpoint.value if k != "default")):
                if name not in segments:
                    raise ValueError(f"{where}: unknown segment {name!r}{_hint(name, segments)}")
        return self

    def topic(self, key: str) -> Topic | None:
        return next((t for t in self.topics if t.key == key), None)

    def touchpoint(self, name: str) -> TouchpointDefinition | None:
        return next((t for t in self.touchpoints if t.name == name), None)

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        value = value.upper()
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown region {value!r}")
        return value

    def source_rank(self, source: str) -> int:
        """Lower is stronger; sources not listed rank after every listed one."""
        priority = self.identity.source_priority
        return priority.index(source) if source in priority else len(priority)


def _hint(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def load_brand_config(path: Path) -> BrandConfig:
    """Read and validate ``regard.toml``; every problem names its place in the file."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigurationError(f"brand configuration {path} not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path}: {exc}") from exc
    try:
        config = BrandConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigurationError(f"{path}: {problems}") from exc
    return _paths_beside(config, path)


def _paths_beside(config: BrandConfig, path: Path) -> BrandConfig:
    """Folders the file names relatively are read beside the file, wherever Regard starts."""
    file_dir = Path(config.delivery.file_dir)
    if file_dir.is_absolute():
        return config
    delivery = config.delivery.model_copy(
        update={"file_dir": str((path.parent / file_dir).resolve())}
    )
    return config.model_copy(update={"delivery": delivery})


DEFAULT_TOPICS = (
    Topic(key="account", label="Your account and security", importance="critical"),
    Topic(key="orders", label="Your orders", importance="transactional"),
    Topic(key="service", label="Service and support", importance="service"),
    Topic(key="product-news", label="News about our products", importance="promotional"),
    Topic(key="offers", label="Offers", importance="promotional"),
)


def default_brand_config() -> BrandConfig:
    return BrandConfig(name="Regard", topics=DEFAULT_TOPICS)
