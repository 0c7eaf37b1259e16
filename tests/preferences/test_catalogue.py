"""What each setting accepts, and how the customer's own words are cleaned."""

from __future__ import annotations

import pytest

from regard.preferences import catalogue
from regard.preferences.catalogue import SettingProblem
from tests.conftest import brand_for_tests

BRAND = brand_for_tests()


@pytest.mark.parametrize(
    ("setting", "scope", "value", "expected"),
    [
        ("frequency", "", "weekly", "weekly"),
        ("frequency", "offers:camping", "monthly", "monthly"),
        ("paused_until", "", "2026-12-31", "2026-12-31"),
        ("time_zone", "", "America/New_York", "America/New_York"),
        ("quiet_hours", "", {"start": "21:00", "end": "08:00"}, {"start": "21:00", "end": "08:00"}),
        ("preferred_days", "", ["sat", "mon"], ["mon", "sat"]),
        ("language", "", "nl", "nl"),
        ("life_stage", "", "planning-trip", "planning-trip"),
        ("interests", "", ["climbing", "camping"], ["camping", "climbing"]),
        ("push_device", "d_1", False, False),
    ],
)
def test_good_values_are_kept_in_a_canonical_form(
    setting: str, scope: str, value: object, expected: object
) -> None:
    assert catalogue.check_setting(BRAND, setting, scope, value) == expected


@pytest.mark.parametrize(
    ("setting", "scope", "value", "says"),
    [
        ("frequency", "", "hourly", "must be one of"),
        ("frequency", "offers:kayaks", "weekly", "no topic"),
        ("paused_until", "", "next week", "must be a date"),
        ("time_zone", "", "Mars/Olympus", "not a time zone"),
        ("quiet_hours", "", {"start": "25:99", "end": "08:00"}, "start must be a time"),
        ("quiet_hours", "", {"start": "08:00", "end": "08:00"}, "must differ"),
        ("preferred_days", "", [], "at least one day"),
        ("language", "", "fr", "must be one of en, nl"),
        ("life_stage", "", "retired", "must be one of"),
        ("interests", "", ["knitting"], "unknown interests"),
        ("push_device", "", True, "must name a device"),
        ("shoe_size", "", 42, "no setting"),
    ],
)
def test_bad_values_are_refused_in_plain_words(
    setting: str, scope: str, value: object, says: str
) -> None:
    with pytest.raises(SettingProblem, match=says):
        catalogue.check_setting(BRAND, setting, scope, value)


def test_the_customers_words_lose_markup_and_control_characters() -> None:
    cleaned = catalogue.check_setting(
        BRAND, "note", "", "  Tents <script>alert(1)</script>& <b>stoves</b>\x00\x07 \n"
    )
    assert cleaned == "Tents & stoves"


def test_words_over_the_length_limit_are_refused() -> None:
    limit = BRAND.preferences.note_max_length
    with pytest.raises(SettingProblem, match=f"at most {limit}"):
        catalogue.check_setting(BRAND, "note", "", "x" * (limit + 1))


def test_defaults_follow_the_legal_basis() -> None:
    orders = BRAND.topic("orders")
    offers = BRAND.topic("offers:camping")
    assert orders is not None
    assert offers is not None
    assert catalogue.default_allows(orders, "email")
    assert not catalogue.default_allows(orders, "voice")
    assert not catalogue.default_allows(offers, "email")
