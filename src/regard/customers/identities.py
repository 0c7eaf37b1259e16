"""What counts as the same email, phone or id: normalisation before the blind index."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from regard.errors import InvalidInput
from regard.store.crypto import Vault

IdentityKind = Literal["email", "phone", "external", "anonymous"]
IDENTITY_KINDS: tuple[IdentityKind, ...] = ("email", "phone", "external", "anonymous")


@dataclass(frozen=True, slots=True)
class IdentityClaim:
    """A normalised identity as a record states it. ``namespace`` names an external system."""

    kind: IdentityKind
    value: str
    namespace: str = ""

    @property
    def label(self) -> str:
        """The kind without the value: safe to show in logs and merge records."""
        return f"external:{self.namespace}" if self.kind == "external" else self.kind

    def lookup(self, vault: Vault) -> bytes:
        return vault.blind_index(f"{self.kind}:{self.namespace}", self.value)


def normalize_email(raw: str) -> str:
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidInput(f"invalid email address: {exc}") from exc
    return result.normalized.lower()


def normalize_phone(raw: str, *, region: str) -> str:
    """A phone number in E.164; numbers without a country code use the brand's region."""
    try:
        number = phonenumbers.parse(raw.strip(), region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput(f"invalid phone number: {exc}") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput(f"invalid phone number: not a valid number for region {region}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def external_claim(raw: str, *, default_namespace: str) -> IdentityClaim:
    """``pos:1234`` names its system; a bare ``1234`` belongs to the record's own source."""
    text = raw.strip()
    namespace, sep, value = text.partition(":")
    if not sep:
        namespace, value = default_namespace, text
    namespace, value = namespace.strip().lower(), value.strip()
    if not namespace or not value:
        raise InvalidInput("invalid external id: expected 'system:id'")
    if len(value) > 256:
        raise InvalidInput("invalid external id: longer than 256 characters")
    return IdentityClaim(kind="external", value=value, namespace=namespace)


def claim(kind: str, raw: str, *, region: str, source: str) -> IdentityClaim:
    """Normalise one raw identity of the given kind."""
    if kind == "email":
        return IdentityClaim(kind="email", value=normalize_email(raw))
    if kind == "phone":
        return IdentityClaim(kind="phone", value=normalize_phone(raw, region=region))
    if kind == "external":
        return external_claim(raw, default_namespace=source)
    if kind == "anonymous":
        value = raw.strip()
        if not value or len(value) > 256:
            raise InvalidInput("invalid anonymous id: empty or longer than 256 characters")
        return IdentityClaim(kind="anonymous", value=value)
    raise InvalidInput(f"unknown identity kind {kind!r}")
