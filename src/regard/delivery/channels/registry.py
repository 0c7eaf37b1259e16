"""Which channel implementation carries each of the brand's channels."""

from __future__ import annotations

from pathlib import Path

from regard.config import BrandConfig, Settings
from regard.delivery.channels.base import Channel
from regard.delivery.channels.file import FileChannel
from regard.delivery.channels.smtp import SmtpChannel, tls_context
from regard.delivery.channels.webhook import WebhookChannel
from regard.delivery.options import ProviderOptions
from regard.errors import ConfigurationError


def channels_for(*, settings: Settings, brand: BrandConfig) -> dict[str, Channel]:
    """One channel per channel the brand uses, keyed by its name (``email``, ``sms``...).

    Email goes through SMTP when ``REGARD_SMTP_HOST`` is set; texts, push and calls through the
    provider ``[delivery] providers`` names for them. Any channel without either is written to
    files under ``[delivery] file_dir``, one folder per channel. Raises
    :class:`ConfigurationError` for a provider listed twice, or, in production, for a provider
    without its signing key in ``REGARD_PROVIDER_SECRETS``.
    """
    providers: dict[str, ProviderOptions] = {}
    for listed in brand.delivery.providers:
        if listed.channel in providers:
            raise ConfigurationError(f"[delivery] lists two providers for {listed.channel}")
        providers[listed.channel] = listed
    file_dir = Path(brand.delivery.file_dir)
    channels: dict[str, Channel] = {}
    for name in brand.channels:
        provider = providers.get(name)
        if name == "email" and settings.smtp_host:
            channels[name] = SmtpChannel(
                settings.smtp_host,
                settings.smtp_port,
                username=settings.smtp_username,
                password=settings.smtp_password.get_secret_value(),
                starttls=settings.smtp_starttls,
                tls_context=tls_context(settings.smtp_ca_file),
                helo_name=settings.smtp_helo_name,
                timeout=settings.smtp_timeout,
            )
        elif provider is not None:
            secret = settings.provider_secret(name)
            if not secret and settings.environment == "production":
                raise ConfigurationError(
                    f"the {name} provider has no signing key: set it in REGARD_PROVIDER_SECRETS"
                )
            channels[name] = WebhookChannel(
                name, provider.url, secret=secret, timeout=provider.timeout.total_seconds()
            )
        else:
            channels[name] = FileChannel(name, file_dir / name)
    return channels
