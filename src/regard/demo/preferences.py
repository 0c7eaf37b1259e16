"""The demo brand's customers speaking for themselves: devices, preference-center visits,
one-click unsubscribes and SMS replies, recorded through the same services the pages and
webhooks use. Each step is safe to repeat: what is already recorded is not recorded again.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from regard.customers.models import Customer
from regard.preferences import service
from regard.preferences.service import ConsentChange, Origin, SettingChange
from regard.store.database import Store, unit_of_work

_DEVICE_NAMES = ("iPhone", "Pixel 8", "iPad", "Galaxy S24", "work phone")
_ZONES = ("Europe/Amsterdam", "Europe/Berlin", "Europe/Brussels", "Europe/Paris", "Europe/London")


@dataclass
class CustomerVoices:
    """How many customers did what in the demo's simulated month."""

    devices: int = 0
    center_visits: int = 0
    confirmations: int = 0
    one_click: int = 0
    entries: int = 0
    samples: dict[str, int] = field(default_factory=dict)


def simulate(store: Store, *, seed: int, share: float = 0.05) -> CustomerVoices:
    """Devices for app users; a share of customers visiting the preference center; a few
    one-click unsubscribes from the newsletter."""
    rng = random.Random(seed + 404)
    voices = CustomerVoices()
    with unit_of_work(store) as session:
        ids = list(session.scalars(select(Customer.id).order_by(Customer.id)))
    if not ids:
        return voices
    brand = store.brand
    stages = [c.key for c in brand.preferences.life_stages]
    interests = [c.key for c in brand.preferences.interests]
    app_users = rng.sample(ids, k=max(1, len(ids) // 6))
    visitors = rng.sample(ids, k=max(1, int(len(ids) * share)))
    leavers = rng.sample(ids, k=max(1, len(ids) // 100))
    now = datetime.now(UTC)
    with unit_of_work(store) as session:
        for customer_id in app_users:
            for n in range(1 + (rng.random() < 0.25)):
                name = _DEVICE_NAMES[(customer_id + n) % len(_DEVICE_NAMES)]
                service.register_device(
                    session,
                    customer_id,
                    name=name,
                    platform="android" if "Pixel" in name or "Galaxy" in name else "ios",
                    token=f"demo-push-{customer_id}-{n}",
                )
                voices.devices += 1
    center = Origin(
        source="center", actor="customer", wording_version=brand.preferences.wording_version
    )
    for start in range(0, len(visitors), 500):
        with unit_of_work(store) as session:
            for customer_id in visitors[start : start + 500]:
                # Each customer's choices from their own generator: the same on every run,
                # whatever the ledger already holds.
                rng = random.Random(f"{seed}-{customer_id}")
                confirms = rng.random() < 0.8
                consents = [
                    ConsentChange(topic.key, "email", "opted-in")
                    for topic in brand.topics
                    if topic.is_marketing and rng.random() < 0.35
                ]
                if rng.random() < 0.2 and "push" in brand.channels:
                    consents.append(ConsentChange("product-news", "push", "opted-in"))
                settings = [
                    SettingChange(
                        "frequency", rng.choice(["daily", "weekly", "weekly", "monthly"])
                    ),
                    SettingChange("quiet_hours", {"start": "21:00", "end": "08:00"}),
                    SettingChange("time_zone", rng.choice(_ZONES)),
                ]
                if stages:
                    settings.append(SettingChange("life_stage", rng.choice(stages)))
                if interests:
                    settings.append(
                        SettingChange("interests", rng.sample(interests, k=rng.randint(1, 3)))
                    )
                if rng.random() < 0.1:
                    settings.append(
                        SettingChange("paused_until", (now + timedelta(days=30)).date().isoformat())
                    )
                recorded = service.record(
                    session,
                    customer_id,
                    brand=brand,
                    origin=center,
                    consents=consents,
                    settings=settings,
                )
                voices.center_visits += 1
                voices.entries += len(recorded.entries)
                # Double opt-in: most click the confirmation link in their inbox.
                confirmed = [
                    ConsentChange(topic, channel, "opted-in")
                    for topic, channel in recorded.pending
                    if confirms
                ]
                voices.confirmations += len(confirmed)
                if confirmed:
                    voices.entries += len(
                        service.record(
                            session,
                            customer_id,
                            brand=brand,
                            origin=Origin(source="confirmation", actor="customer"),
                            consents=confirmed,
                        ).entries
                    )
    one_click = Origin(source="one-click", actor="customer")
    with unit_of_work(store) as session:
        for customer_id in leavers:
            recorded = service.record(
                session,
                customer_id,
                brand=brand,
                origin=one_click,
                consents=[ConsentChange("product-news", "email", "opted-out")],
            )
            voices.one_click += 1
            voices.entries += len(recorded.entries)
    voices.samples = {"visitor": visitors[0], "leaver": leavers[0]}
    return voices
