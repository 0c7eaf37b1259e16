"""How long a text is: GSM-7 or UCS-2, and in how many segments it travels.

A text that fits the GSM 03.38 alphabet travels in 7-bit characters: 160 in one segment, 153 in
each segment of a longer one (the rest carries the header that joins them). The extension table
(``€ [ ] { } \\ ^ ~ |`` and form feed) costs two characters each. One character outside it, an
emoji or a curly quote, turns the whole text into UCS-2: 70 UTF-16 code units in one segment,
67 in each of several (an emoji is two units). A character is never split across segments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from regard.config import BrandConfig

GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("\f^{}\\[~]|€")

Encoding = Literal["GSM-7", "UCS-2"]
SINGLE = {"GSM-7": 160, "UCS-2": 70}
MULTI = {"GSM-7": 153, "UCS-2": 67}
STOP_WORDING = "Reply STOP to opt out."


@dataclass(frozen=True, slots=True)
class SmsLength:
    """A text's encoding, its length in that encoding's units, and its segments."""

    encoding: Encoding
    units: int
    segments: int

    @property
    def per_segment(self) -> int:
        return SINGLE[self.encoding] if self.segments <= 1 else MULTI[self.encoding]

    def describe(self) -> str:
        plural = "s" if self.segments != 1 else ""
        return f"{self.segments} segment{plural} ({self.encoding}, {self.units} characters)"


def _units(char: str, encoding: Encoding) -> int:
    if encoding == "GSM-7":
        return 2 if char in GSM_EXTENSION else 1
    return 2 if ord(char) > 0xFFFF else 1


def measure(text: str) -> SmsLength:
    """The encoding a phone would use for ``text`` and how many segments it takes."""
    gsm = all(char in GSM_BASIC or char in GSM_EXTENSION for char in text)
    encoding: Encoding = "GSM-7" if gsm else "UCS-2"
    sizes = [_units(char, encoding) for char in text]
    units = sum(sizes)
    if units <= SINGLE[encoding]:
        return SmsLength(encoding, units, 1 if text else 0)
    # Packed greedily: a two-unit character that does not fit starts the next segment.
    segments, used, room = 1, 0, MULTI[encoding]
    for size in sizes:
        if used + size > room:
            segments, used = segments + 1, 0
        used += size
    return SmsLength(encoding, units, segments)


def over_limit(length: SmsLength, brand: BrandConfig) -> str | None:
    """A warning when the text is longer than the brand allows, else ``None``."""
    limit = brand.messages.sms_segment_limit
    if length.segments <= limit:
        return None
    return f"{length.describe()}: longer than the limit of {limit}"


def with_brand_and_stop(body: str, brand_name: str) -> str:
    """A marketing text that names the brand and says how to stop, whatever its template said."""
    text = body.strip()
    if brand_name.casefold() not in text.casefold():
        text = f"{brand_name}: {text}"
    if "STOP" not in text:
        text = f"{text} {STOP_WORDING}"
    return text
