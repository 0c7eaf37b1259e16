"""Encryption of personal data at rest, and the blind index that finds it again.

Every sealed value is ``version | key id length | key id | nonce | AES-GCM ciphertext``. The key id
travels with the value so that keys can be rotated: new values use the active key, old values
still open with the key they were sealed with. The purpose (for example ``identity.email``) is
authenticated data, so a value copied into another column does not open there.

The blind index is an HMAC-SHA256 of a normalised value under its own key: equal values give
equal indexes, so "find the customer with this email" is one indexed look-up, while the index
alone reveals nothing without the key.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from regard.errors import ConfigurationError

_VERSION = 1
_NONCE_BYTES = 12


class SealedValueError(Exception):
    """A sealed value could not be opened: wrong key, wrong purpose or tampered bytes."""


@dataclass(frozen=True)
class Vault:
    """The keys of one brand: encryption keys by id (the first is active) and the index key."""

    keys: dict[str, bytes]
    active_key_id: str
    index_key: bytes

    def __post_init__(self) -> None:
        if self.active_key_id not in self.keys:
            raise ConfigurationError(f"active key {self.active_key_id!r} is not among the keys")
        for key_id, key in self.keys.items():
            if len(key) != 32:
                raise ConfigurationError(f"key {key_id!r} must be 32 bytes")
        if len(self.index_key) < 32:
            raise ConfigurationError("the blind index key must be at least 32 bytes")

    def seal(self, plaintext: str, *, purpose: str) -> bytes:
        key_id = self.active_key_id.encode()
        nonce = os.urandom(_NONCE_BYTES)
        ciphertext = AESGCM(self.keys[self.active_key_id]).encrypt(
            nonce, plaintext.encode("utf-8"), purpose.encode()
        )
        return bytes((_VERSION, len(key_id))) + key_id + nonce + ciphertext

    def open(self, sealed: bytes, *, purpose: str) -> str:
        if len(sealed) < 2 or sealed[0] != _VERSION:
            raise SealedValueError("not a sealed value")
        id_end = 2 + sealed[1]
        key_id = sealed[2:id_end].decode()
        key = self.keys.get(key_id)
        if key is None:
            raise SealedValueError(f"sealed with unknown key {key_id!r}")
        nonce = sealed[id_end : id_end + _NONCE_BYTES]
        try:
            plaintext = AESGCM(key).decrypt(
                nonce, sealed[id_end + _NONCE_BYTES :], purpose.encode()
            )
        except Exception as exc:  # cryptography raises InvalidTag without a message
            raise SealedValueError("sealed value failed authentication") from exc
        return plaintext.decode("utf-8")

    def key_id_of(self, sealed: bytes) -> str:
        return sealed[2 : 2 + sealed[1]].decode()

    def derive(self, purpose: str) -> bytes:
        """A 32-byte key of its own for ``purpose`` (signing links, chaining the ledger)."""
        return HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=f"regard:{purpose}".encode()
        ).derive(self.index_key)

    def blind_index(self, kind: str, normalized: str) -> bytes:
        message = f"{kind}\x1f{normalized}".encode()
        return hmac.digest(self.index_key, message, "sha256")


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def vault_from_settings(encryption_keys: str, blind_index_key: str) -> Vault:
    """Keys given in settings: ``{"id": "base64", ...}`` (first is active) and a base64 key."""
    try:
        parsed = json.loads(encryption_keys)
        keys = {str(k): base64.b64decode(v, validate=True) for k, v in parsed.items()}
        index_key = base64.b64decode(blind_index_key, validate=True)
    except (ValueError, AttributeError, TypeError) as exc:
        raise ConfigurationError(
            "REGARD_ENCRYPTION_KEYS must be a JSON object of base64 keys and "
            "REGARD_BLIND_INDEX_KEY a base64 key"
        ) from exc
    if not keys:
        raise ConfigurationError("REGARD_ENCRYPTION_KEYS names no key")
    return Vault(keys=keys, active_key_id=next(iter(keys)), index_key=index_key)


def load_or_create_key_file(path: Path) -> Vault:
    """The embedded default: a key file beside the database, created 0600 on first run."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        content = {
            "active": "k1",
            "keys": {"k1": _b64(secrets.token_bytes(32))},
            "blind_index": _b64(secrets.token_bytes(32)),
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(content, handle, indent=2)
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
        keys = {str(k): base64.b64decode(v) for k, v in content["keys"].items()}
        return Vault(
            keys=keys,
            active_key_id=str(content["active"]),
            index_key=base64.b64decode(content["blind_index"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError(f"key file {path} is not readable: {exc}") from exc


def add_key_to_file(path: Path) -> str:
    """Rotate: add a new key to the key file and make it the active one. Returns its id."""
    content = json.loads(path.read_text(encoding="utf-8"))
    key_id = f"k{len(content['keys']) + 1}"
    while key_id in content["keys"]:
        key_id += "x"
    content["keys"] = {key_id: _b64(secrets.token_bytes(32)), **content["keys"]}
    content["active"] = key_id
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(content, handle, indent=2)
    tmp.replace(path)
    return key_id


_installed: Vault | None = None


def install_vault(vault: Vault) -> None:
    """Make ``vault`` the one the encrypted column types use in this process."""
    global _installed
    _installed = vault


def current_vault() -> Vault:
    if _installed is None:
        raise ConfigurationError("no encryption keys are loaded")
    return _installed
