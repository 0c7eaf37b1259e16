"""Building the demo's columns fast: random streams, local timestamps, ids and picked words.

Polars turns integers into text at about a million a second and formats one time zone per call;
the demo needs ten million timestamps, each in its own zone, and as many ids. So text is
assembled here as fixed-width byte matrices from small lookup tables (every date of the period,
every second of a day, every 4-digit group) and handed to Polars through Arrow without a copy.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

DAY = 86_400
HOUR = 3_600


def stream(seed: int, name: str) -> np.random.Generator:
    """The random stream ``name`` of ``seed``.

    One stream per table: changing how one table is drawn leaves every other table as it was.
    """
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def probabilities(weights: Sequence[float]) -> Floats:
    array = np.asarray(weights, dtype=np.float64)
    result: Floats = array / array.sum()
    return result


def positions_within(counts: Ints) -> Ints:
    """For groups of the given sizes laid end to end: each item's position in its group."""
    starts = np.cumsum(counts) - counts
    result: Ints = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(starts, counts)
    return result


def between(rng: np.random.Generator, start: Ints, end: int) -> Ints:
    """A uniform instant in ``[start, end)`` for each start."""
    span = np.maximum(end - start, 1)
    result: Ints = start + (rng.random(len(start)) * span).astype(np.int64)
    return result


def take_rows(table: npt.NDArray[Any], order: Ints) -> npt.NDArray[Any]:
    """Rows of a structured array in ``order``.

    Moved as opaque records: one random read per row instead of one per row and column.
    """
    records = table.view(np.dtype((np.void, table.dtype.itemsize)))
    return np.take(records, order).view(table.dtype)


# ---- text ----------------------------------------------------------------------------------


def fixed_text(values: npt.NDArray[Any], valid: Bools | None = None) -> pl.Series:
    """Fixed-width ASCII values (``S`` strings or byte records) as text; not ``valid``: missing.

    The bytes go to Arrow as a fixed-size binary array without a copy and are cast once.
    """
    rows, width = len(values), values.dtype.itemsize
    matrix = np.ascontiguousarray(values).view(np.uint8)
    bitmap = None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little"))
    array = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(width), rows, [bitmap, pa.py_buffer(matrix)]
    )
    return cast(pl.Series, pl.from_arrow(array)).cast(pl.String)


def _fixed(strings: Sequence[str]) -> npt.NDArray[np.bytes_]:
    """Equal-width ASCII strings as a numpy bytes array, to be picked from by index."""
    width = len(strings[0])
    return np.array([t.encode("ascii") for t in strings], dtype=f"S{width}")


# Decimal groups of one to four digits, "0".."9999" zero-padded: numbers are built from them.
_GROUPS = {size: _fixed([f"{i:0{size}d}" for i in range(10**size)]) for size in (1, 2, 3, 4)}


def width_of(values: Ints) -> int:
    """Digits of the largest value: give it to ``numbers`` when a column is made in parts."""
    return len(str(int(values.max()))) if len(values) and values.max() > 0 else 1


def numbers(values: Ints, *, prefix: str = "", width: int | None = None) -> pl.Series:
    """Identifiers as text, zero-padded to ``width`` (the widest by default); negative: missing."""
    valid = values >= 0
    width = width or width_of(values)
    sizes = [width % 4 or 4] + [4] * ((width - 1) // 4)  # most significant group first
    fields = [("prefix", f"S{len(prefix)}")] if prefix else []
    fields += [(f"g{i}", f"S{size}") for i, size in enumerate(sizes)]
    record = np.empty(len(values), dtype=fields)
    if prefix:
        record["prefix"] = prefix.encode("ascii")
    rest = np.where(valid, values, 0)
    for i in range(len(sizes) - 1, 0, -1):
        record[f"g{i}"] = np.take(_GROUPS[4], rest % 10_000)
        rest //= 10_000
    record["g0"] = np.take(_GROUPS[sizes[0]], rest)
    return fixed_text(record, None if valid.all() else valid)


def pick(vocabulary: Sequence[str], codes: Ints) -> pl.Series:
    """Words by their index into a small vocabulary; a negative code is a missing value."""
    words = pl.Series([*vocabulary, None], dtype=pl.String)
    return words.gather(np.where(codes < 0, len(vocabulary), codes))


def uuids(rng: np.random.Generator, count: int) -> npt.NDArray[np.bytes_]:
    """Random version-4 UUIDs, 36 characters each, as a numpy bytes array."""
    nibbles = rng.integers(0, 16, size=(count, 32), dtype=np.uint8)
    nibbles[:, 12] = 4
    nibbles[:, 16] = 8 + (nibbles[:, 16] & 3)
    hex_digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)[nibbles]
    matrix = np.full((count, 36), ord("-"), dtype=np.uint8)
    columns = [*range(8), *range(9, 13), *range(14, 18), *range(19, 23), *range(24, 36)]
    matrix[:, columns] = hex_digits
    return matrix.view("S36").ravel()


def scatter(column: pl.Series, where: Bools, values: Sequence[str | None]) -> pl.Series:
    """``column`` with the rows flagged in ``where`` replaced by ``values``, in order."""
    positions = np.flatnonzero(where)
    if len(positions) == 0:
        return column
    return column.clone().scatter(positions, pl.Series(list(values), dtype=pl.String))


def cycle(values: Sequence[str], count: int) -> list[str]:
    """``count`` values taking turns: for the few rows broken on purpose."""
    return [values[i % len(values)] for i in range(count)]


# ---- time ----------------------------------------------------------------------------------


def _offset_suffix(seconds: int) -> str:
    sign = "+" if seconds >= 0 else "-"
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


_ZONE_SHIFT = 36  # instants (seconds) stay below 2**36; the zone's index sits above them
_SECONDS_OF_DAY = _fixed(
    [f"{h:02d}:{m:02d}:{sec:02d}" for h in range(24) for m in range(60) for sec in range(60)]
)
_STAMP = np.dtype([("date", "S10"), ("t", "S1"), ("time", "S8"), ("offset", "S6")])


class Clock:
    """UTC instants as local wall-clock text with its offset, a different zone for every row.

    Over the demo's two years each zone changes its offset only a few times, so the changes
    are found once, here, and each row's offset is then one ``searchsorted`` away.
    """

    def __init__(self, zones: Sequence[str], *, start: int, end: int) -> None:
        keys: list[int] = []
        offsets: list[int] = []
        for index, name in enumerate(zones):
            zone = ZoneInfo(name)

            def offset_at(moment: int, zone: ZoneInfo = zone) -> int:
                delta = datetime.fromtimestamp(moment, zone).utcoffset()
                assert delta is not None
                return int(delta.total_seconds())

            current = offset_at(start)
            keys.append(index << _ZONE_SHIFT)
            offsets.append(current)
            for day in range(start, end, DAY):
                following = offset_at(day + DAY)
                if following == current:
                    continue
                low, high = day, day + DAY  # the change lies in (low, high]
                while high - low > 1:
                    middle = (low + high) // 2
                    if offset_at(middle) == current:
                        low = middle
                    else:
                        high = middle
                keys.append((index << _ZONE_SHIFT) + high)
                offsets.append(following)
                current = following
        self._keys = np.array(keys, dtype=np.int64)
        self._offsets = np.array(offsets, dtype=np.int64)
        self._suffixes = _fixed([_offset_suffix(o) for o in offsets])

    def _slots(self, utc: Ints, zone: Ints) -> Ints:
        keys = (zone.astype(np.int64) << _ZONE_SHIFT) + utc
        slots: Ints = np.searchsorted(self._keys, keys, side="right") - 1
        return slots

    def offsets(self, utc: Ints, zone: Ints) -> Ints:
        """Seconds east of UTC in each row's zone at each row's instant."""
        result: Ints = self._offsets[self._slots(utc, zone)]
        return result

    def iso(self, utc: Ints, zone: Ints) -> pl.Series:
        """ISO 8601 local time with its offset, e.g. ``2026-03-14T18:05:09+01:00``."""
        if len(utc) == 0:
            return pl.Series([], dtype=pl.String)
        slots = self._slots(utc, zone)
        local = utc + self._offsets[slots]
        day = local // DAY
        first, last = int(day.min()), int(day.max())
        epoch = date(1970, 1, 1)
        dates = _fixed([(epoch + timedelta(days=d)).isoformat() for d in range(first, last + 1)])
        stamps = np.empty(len(utc), dtype=_STAMP)
        stamps["date"] = np.take(dates, day - first)
        stamps["t"] = b"T"
        stamps["time"] = np.take(_SECONDS_OF_DAY, local - day * DAY)
        stamps["offset"] = np.take(self._suffixes, slots)
        return fixed_text(stamps)

    def at_local_hours(
        self,
        rng: np.random.Generator,
        moments: Ints,
        zone: Ints,
        hours: Sequence[float],
        *,
        before: int,
    ) -> Ints:
        """Each instant moved within its local day to an hour drawn from ``hours`` weights.

        One that would land at or after ``before`` moves a day back.
        """
        offset = self.offsets(moments, zone)
        local_day = (moments + offset) // DAY
        hour = rng.choice(24, size=len(moments), p=probabilities(hours))
        second = hour * HOUR + rng.integers(0, HOUR, size=len(moments))
        result: Ints = local_day * DAY + second - offset
        result -= DAY * (result >= before)
        return result


def epoch_seconds(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
