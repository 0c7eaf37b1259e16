"""Segments worked out by hand: GSM-7 160/153, UCS-2 70/67, extension characters count two."""

from __future__ import annotations

from regard.config import BrandConfig
from regard.messages.options import MessageOptions
from regard.messages.sms import measure, over_limit, with_brand_and_stop


def test_gsm7_fits_160_in_one_and_161_needs_two() -> None:
    assert measure("a" * 160).segments == 1
    at_161 = measure("a" * 161)
    assert (at_161.encoding, at_161.units, at_161.segments) == ("GSM-7", 161, 2)
    assert measure("a" * 306).segments == 2  # 2 x 153
    assert measure("a" * 307).segments == 3


def test_an_emoji_switches_the_whole_text_to_ucs2() -> None:
    text = "a" * 69 + "🏕"  # the emoji is two UTF-16 units: 71 units
    length = measure(text)
    assert (length.encoding, length.units, length.segments) == ("UCS-2", 71, 2)
    assert measure("a" * 70).encoding == "GSM-7"
    assert measure("é" * 70).segments == 1  # é is in the GSM alphabet
    assert measure("ł" * 70).segments == 1  # ł is not: UCS-2, 70 fit one
    assert measure("ł" * 71).segments == 2
    assert measure("ł" * 134).segments == 2  # 2 x 67
    assert measure("ł" * 135).segments == 3


def test_euro_and_braces_count_two() -> None:
    assert measure("€" * 80).units == 160
    assert measure("€" * 80).segments == 1
    assert measure("a" * 159 + "{").segments == 2
    # A two-septet character is never split: 152 + "€" does not fit 153, so it moves on.
    length = measure("a" * 152 + "€" + "a" * 10)
    assert (length.units, length.segments) == (164, 2)
    assert measure("a" * 152 + "€" + "a" * 152).segments == 3


def test_warning_past_the_limit_and_marketing_wording() -> None:
    brand = BrandConfig(name="Northwind", messages=MessageOptions(sms_segment_limit=1))
    assert over_limit(measure("a" * 160), brand) is None
    warning = over_limit(measure("a" * 161), brand)
    assert warning is not None
    assert "limit of 1" in warning
    assert with_brand_and_stop("Tents on offer.", "Northwind") == (
        "Northwind: Tents on offer. Reply STOP to opt out."
    )
    kept = "Northwind: tents. Reply STOP to end."
    assert with_brand_and_stop(kept, "Northwind") == kept
