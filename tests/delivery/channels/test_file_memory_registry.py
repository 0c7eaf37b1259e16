"""The file channel, the fake, the registry that picks channels, and the signature scheme."""

from __future__ import annotations

import json
import stat
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from regard.config import BrandConfig, Settings
from regard.delivery.channels.base import SendResult
from regard.delivery.channels.file import FileChannel
from regard.delivery.channels.memory import MemoryChannel
from regard.delivery.channels.registry import channels_for
from regard.delivery.channels.signing import sign, verify
from regard.delivery.channels.smtp import SmtpChannel
from regard.delivery.channels.webhook import WebhookChannel
from regard.delivery.options import DeliveryOptions, ProviderOptions
from regard.errors import ConfigurationError
from regard.messages.content import EmailContent, ProviderContent

EMAIL = EmailContent(
    sender="news@outfitters.example",
    to="ana@example.com",
    subject="Ready",
    text="Collect it",
    html="<p>Collect it</p>",
    message_id="<k3y/1@outfitters.example>",
)
PUSH = ProviderContent(
    channel="push", to="device-token", body="Ready", title="Order", message_id="msg-7"
)


def test_files_are_named_by_message_id_and_a_repeat_replaces(tmp_path: Path) -> None:
    email_channel = FileChannel("email", tmp_path / "email")
    push_channel = FileChannel("push", tmp_path / "push")

    assert email_channel.send_batch([EMAIL, EMAIL])[0].outcome == "sent"
    push_channel.send_batch([PUSH])
    push_channel.send_batch([PUSH])

    (eml,) = (tmp_path / "email").iterdir()
    assert eml.name == "k3y_1@outfitters.example.eml"
    assert stat.S_IMODE(eml.stat().st_mode) == 0o600
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert message["Message-ID"] == "<k3y/1@outfitters.example>"
    (pushed,) = (tmp_path / "push").iterdir()
    assert pushed.name == "msg-7.json"
    assert json.loads(pushed.read_text())["title"] == "Order"


def test_the_fake_records_and_answers_as_scripted() -> None:
    channel = MemoryChannel(
        "push",
        outcomes=["retry", SendResult("failed", detail="http 400")],
        by_message_id={"msg-9": "ambiguous"},
    )
    other = ProviderContent(channel="push", to="t", body="b", message_id="msg-9")

    results = channel.send_batch([PUSH, other, PUSH, PUSH])

    assert [r.outcome for r in results] == ["retry", "ambiguous", "failed", "sent"]
    assert results[3].provider_id == "memory-4"
    assert channel.sent == [PUSH, other, PUSH, PUSH]
    assert len(channel.batches) == 1


def _brand(tmp_path: Path, *providers: ProviderOptions) -> BrandConfig:
    return BrandConfig(
        name="Northwind",
        channels=("email", "sms", "push", "voice"),
        delivery=DeliveryOptions(file_dir=str(tmp_path / "out"), providers=providers),
    )


def test_without_servers_every_channel_writes_files(tmp_path: Path) -> None:
    channels = channels_for(settings=Settings(), brand=_brand(tmp_path))

    assert set(channels) == {"email", "sms", "push", "voice"}
    assert all(isinstance(channel, FileChannel) for channel in channels.values())
    email = channels["email"]
    assert isinstance(email, FileChannel)
    assert email.directory == tmp_path / "out" / "email"


def test_smtp_and_providers_when_configured(tmp_path: Path) -> None:
    settings = Settings(
        smtp_host="mail.example.com",
        provider_secrets=SecretStr('{"sms": "key-one"}'),
    )
    brand = _brand(tmp_path, ProviderOptions(channel="sms", url="https://sms.example/v1"))

    channels = channels_for(settings=settings, brand=brand)

    assert isinstance(channels["email"], SmtpChannel)
    sms = channels["sms"]
    assert isinstance(sms, WebhookChannel)
    assert sms.secret == "key-one"
    assert isinstance(channels["push"], FileChannel)
    sms.close()


def test_production_refuses_a_provider_without_a_key(tmp_path: Path) -> None:
    brand = _brand(tmp_path, ProviderOptions(channel="voice", url="https://calls.example/v1"))

    with pytest.raises(ConfigurationError, match="REGARD_PROVIDER_SECRETS"):
        channels_for(settings=Settings(environment="production"), brand=brand)


@pytest.mark.parametrize(
    "raw", ['["sms"]', '{"fax": "k"}', '{"sms": "changeme"}', '{"sms": ""}', "not json"]
)
def test_provider_secrets_must_be_a_map_of_real_keys(raw: str) -> None:
    with pytest.raises(ValidationError):
        Settings(provider_secrets=SecretStr(raw))


def test_signatures_bind_the_body_and_expire() -> None:
    body = b'{"message_id":"m"}'
    header = sign("key", 1_767_225_600, body)

    assert verify("key", header, body, 1_767_225_600 + 10)
    assert not verify("key", header, body + b" ", 1_767_225_600)
    assert not verify("other", header, body, 1_767_225_600)
    assert not verify("key", header, body, 1_767_225_600 + 301)
    assert not verify("", sign("", 1_767_225_600, body), body, 1_767_225_600)
    assert not verify("key", "v1=abc", body, 1_767_225_600)
