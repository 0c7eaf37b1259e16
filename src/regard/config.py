"""Settings from the environment (prefix ``REGARD_``) and the brand's ``regard.toml``."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from regard.errors import ConfigurationError

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
    mail_from: str = "preferences@regard.invalid"
    mail_dir: Path = Path("mail-outbox")
    # Shared secret of the SMS provider's inbound webhook (HMAC-SHA256 of the body).
    sms_webhook_secret: SecretStr = SecretStr("")

    @field_validator("encryption_keys", "blind_index_key", "smtp_password", "sms_webhook_secret")
    @classmethod
    def _no_placeholder(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value().strip().lower() in {"changeme", "change-me", "secret", "todo"}:
            raise ValueError("is a placeholder; set a real key")
        return value

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

    @field_validator("topics")
    @classmethod
    def _unique_topics(cls, value: tuple[Topic, ...]) -> tuple[Topic, ...]:
        keys = [t.key for t in value]
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        if repeated:
            raise ValueError(f"topics listed twice: {', '.join(repeated)}")
        return value

    def topic(self, key: str) -> Topic | None:
        return next((t for t in self.topics if t.key == key), None)

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


def load_brand_config(path: Path) -> BrandConfig:
    """Read and validate ``regard.toml``; every problem names its place in the file."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigurationError(f"brand configuration {path} not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path}: {exc}") from exc
    try:
        return BrandConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigurationError(f"{path}: {problems}") from exc


DEFAULT_TOPICS = (
    Topic(key="account", label="Your account and security", importance="critical"),
    Topic(key="orders", label="Your orders", importance="transactional"),
    Topic(key="service", label="Service and support", importance="service"),
    Topic(key="product-news", label="News about our products", importance="promotional"),
    Topic(key="offers", label="Offers", importance="promotional"),
)


def default_brand_config() -> BrandConfig:
    return BrandConfig(name="Regard", topics=DEFAULT_TOPICS)
