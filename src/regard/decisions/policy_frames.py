"""Reading the contact policy's frames into small NumPy codes, and the constants every part shares.

Strings (channels, topics, importances, touchpoints) become small integer codes once, through a
categorical's physical codes, so the rules work on int8/int16/int32 arrays. Lookups by customer
or by (customer, topic) use a dense table where the key space is small, else a binary search
over run heads (the candidates come sorted by customer).
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from regard.decisions.parallel import cores
from regard.decisions.policy_options import CHANNEL_ORDER, FREQUENCY_PERIODS
from regard.decisions.reasons import HELD_REASONS, Reason
from regard.errors import InvalidInput

Array = npt.NDArray[Any]

H = len(CHANNEL_ORDER)
EMAIL, SMS, PUSH, VOICE, POSTAL = range(H)
CRITICAL, TRANSACTIONAL, SERVICE, RELATIONSHIP, PROMOTIONAL = range(5)
BASES = ("legal-obligation", "contract", "legitimate-interest", "consent")
LEGITIMATE_INTEREST, CONSENT = 2, 3
# Consent states as packed per channel: 3 bits each (state, plus 4 when the basis is implied).
NONE_STATE, OPTED_IN, OPTED_OUT, PENDING = 0, 1, 2, 3
FREQUENCIES = ("as-it-happens", "daily", "weekly", "monthly")

US = 1_000_000
MINUTE = 60 * US
DAY_MINUTES = 1_440
DAY = DAY_MINUTES * MINUTE
NEVER = np.iinfo(np.int64).max
LONG_AGO = np.iinfo(np.int64).min

CODES: tuple[Reason, ...] = tuple(Reason)
CODE = {reason: i + 1 for i, reason in enumerate(CODES)}  # 0: passes
NOT_OFFERED = 255
HELD_CODES = np.array([False] + [r in HELD_REASONS for r in CODES] + [False] * (255 - len(CODES)))
NOTHING: Array = np.zeros((), dtype=bool)  # a rule that stops no row

PERIOD_US = np.array(
    [0, *(int(FREQUENCY_PERIODS[f].total_seconds()) * US for f in FREQUENCIES[1:])],
    dtype=np.int64,
)
# A dense lookup table is used while it has at most this many slots per looked-up row.
DENSE_FACTOR = 4
DENSE_FLOOR = 1 << 24


@contextmanager
def small_pages() -> Iterator[None]:
    """Big NumPy arrays in ordinary 4 KB pages for a while, freed memory kept for reuse, then
    NumPy's and the C allocator's settings back.

    NumPy asks the kernel for transparent huge pages for big arrays (madvise). On this VM the
    kernel zeroes and compacts those on first touch at a cost above the small-page faults they
    save: apply_policy at 40M options took 3.9 s of system time with them and 1.2 s without
    (user time the same). Process-wide, the same is NUMPY_MADVISE_HUGEPAGE=0.

    glibc's malloc maps arrays over 32 MB afresh and unmaps them when freed, and hands freed
    memory at the top of its heap back to the kernel past 64 MB, so the next array of that size
    faults its pages in again (about 1 s per GB on these VMs); the decision core frees and
    allocates such arrays by the hundred, on a thread per core. While inside, every array comes
    from the one heap (no mmap, one arena for all threads) and freed memory is kept there; on
    leaving, glibc's usual settings come back and what is free at the heap's top is handed back
    at the next free. Without glibc (or NumPy's switch) each part is a no-op."""
    global _DEPTH, _HUGE_PAGES_BEFORE
    core = getattr(np, "_core", None)
    setter = getattr(getattr(core, "multiarray", None), "_set_madvise_hugepage", None)
    with _LOCK:  # the first to enter sets, the last to leave restores (shards run on threads)
        if _DEPTH == 0:
            _HUGE_PAGES_BEFORE = setter(False) if setter is not None else None
            _malloc_options(keep=True)
        _DEPTH += 1
    try:
        yield
    finally:
        with _LOCK:
            _DEPTH -= 1
            if _DEPTH == 0:
                _malloc_options(keep=False)
                if setter is not None:
                    setter(_HUGE_PAGES_BEFORE)


_LOCK = threading.Lock()
_DEPTH = 0  # small_pages() contexts open, on any thread
_HUGE_PAGES_BEFORE: bool | None = None  # NumPy's setting when the first context opened
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -3, -4, -8  # glibc's mallopt


def _malloc_options(*, keep: bool) -> None:
    """While ``keep``: every array from the one heap (no ``mmap``, one arena for all threads),
    and freed memory kept there (trim threshold 2 GB). Otherwise glibc's usual ways: ``mmap``
    above 32 MB, the heap's free top handed back past 64 MB, an arena per thread up to 8 per
    core."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    mallopt(M_MMAP_THRESHOLD, 32 << 20)
    mallopt(M_TRIM_THRESHOLD, (1 << 31) - 1 if keep else 64 << 20)
    mallopt(M_MMAP_MAX, 0 if keep else 65536)
    mallopt(M_ARENA_MAX, 1 if keep else 8 * cores())


def require(name: str, frame: pl.DataFrame, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidInput(f"{name} lack the columns {', '.join(missing)}")


def instants(series: pl.Series, *, null: int) -> Array:
    """Microseconds since the epoch, UTC; nulls as ``null``."""
    if series.dtype == pl.Null:
        return np.full(series.len(), null, dtype=np.int64)
    if not isinstance(series.dtype, pl.Datetime):
        raise InvalidInput(f"{series.name} must be a datetime")
    if series.dtype.time_zone is None:
        series = series.dt.replace_time_zone("UTC")
    values = series.dt.convert_time_zone("UTC").dt.cast_time_unit("us").to_physical()
    return filled(values, null).astype(np.int64, copy=False)


def filled(values: pl.Series, null: int) -> Array:
    """An integer series as a NumPy array, nulls as ``null``. The values are read in place
    (through Arrow's buffers when there are nulls) and the nulls filled by NumPy, so no
    series-sized buffer is allocated on the Polars side."""
    if values.null_count() == 0:
        plain: Array = values.to_numpy()
        return plain
    array = values.rechunk().to_arrow()
    validity, data = array.buffers()[:2]
    size, offset = len(array), array.offset
    dtype = np.dtype(array.type.to_pandas_dtype())
    raw = np.frombuffer(data, dtype=dtype, count=offset + size)[offset:]
    bits = np.frombuffer(validity, dtype=np.uint8)
    valid = np.unpackbits(bits, count=offset + size, bitorder="little")[offset:].view(bool)
    wide = dtype  # a type that holds ``null`` as well
    if not np.iinfo(dtype).min <= null <= np.iinfo(dtype).max:
        small = dtype.itemsize < 4 and -(1 << 31) <= null < 1 << 31
        wide = np.dtype(np.int32 if small else np.int64)
    result: Array = np.where(valid, raw.astype(wide, copy=False), np.array(null, dtype=wide))
    return result


def dictionary(series: pl.Series) -> tuple[Array, tuple[str, ...]]:
    """Each value's position among the distinct values present (int32; null: -1), and those
    values. Strings are hashed once, as a categorical; its physical codes do the rest."""
    if series.dtype == pl.Null or series.len() == 0:
        return np.full(series.len(), -1, dtype=np.int32), ()
    categorical = categories_present(series)
    if categorical is not None:
        physical, present, names = categorical
        lookup = np.full(int(present.max(initial=0)) + 2, -1, dtype=np.int32)
        lookup[present] = np.arange(present.size, dtype=np.int32)
        positions: Array = lookup[physical]  # -1 (null) reads the last slot
        return positions, names
    series = series.cast(pl.String).cast(pl.Categorical)
    distinct = series.unique().drop_nulls()
    codes = distinct.to_physical().cast(pl.Int64).to_numpy()
    names = tuple(distinct.cast(pl.String).to_list())
    lookup = np.full(int(codes.max(initial=0)) + 2, -1, dtype=np.int32)
    lookup[codes] = np.arange(codes.size, dtype=np.int32)
    values = series.to_physical().cast(pl.Int64).fill_null(lookup.size - 1).to_numpy()
    return lookup[values], names


def categories_present(series: pl.Series) -> tuple[Array, Array, tuple[str, ...]] | None:
    """For a Categorical or Enum series (else None): its physical codes in place (null: -1),
    the codes present, and their texts. Only one row of each distinct value is read as text,
    so such inputs cost no string work at all."""
    if not isinstance(series.dtype, pl.Categorical | pl.Enum):
        return None
    codes = series.to_physical()
    physical = filled(codes, -1)
    first = codes.arg_unique().to_numpy()  # the first row of each code (and of null)
    first = first[physical[first] >= 0]
    present = physical[first].astype(np.int64)
    texts = series.gather(first).cast(pl.String).to_list()
    return physical, present, tuple(texts)


def known_codes(series: pl.Series, names: tuple[str, ...]) -> Array | None:
    """Positions in ``names`` (int32; null: -1) when every value is among them, else None.
    One cast to an Enum of ``names``, whose physical codes are the positions; for a
    Categorical or Enum input, a gather from its codes instead."""
    if not names or series.dtype == pl.Null or len(set(names)) != len(names):
        return None
    categorical = categories_present(series)
    if categorical is not None:
        physical, present, texts = categorical
        place = {name: i for i, name in enumerate(names)}
        if any(text not in place for text in texts):
            return None
        lookup = np.full(int(present.max(initial=0)) + 2, -1, dtype=np.int32)
        lookup[present] = [place[text] for text in texts]
        positions: Array = lookup[physical]  # -1 (null) reads the last slot
        return positions
    try:
        enum_codes = series.cast(pl.Enum(names)).to_physical()
    except pl.exceptions.InvalidOperationError:
        return None
    values: Array = filled(enum_codes, -1).astype(np.int32)
    return values


def codes(series: pl.Series, names: tuple[str, ...], what: str, *, strict: bool = True) -> Array:
    """Positions in ``names`` (int32); unknown values are an error, or -1 when not ``strict``."""
    fast = known_codes(series, names)
    if fast is not None and not (strict and bool((fast < 0).any())):
        return fast
    index, present = dictionary(series)
    mapping = {name: i for i, name in enumerate(names)}
    lookup = np.array([mapping.get(name, -1) for name in present] + [-1], dtype=np.int32)
    values: Array = lookup[index]  # -1 (null) reads the last slot
    if strict and (values < 0).any():
        bad = series.filter(pl.Series(values < 0)).head(1).to_list()
        raise InvalidInput(f"unknown {what} {bad[0]!r}")
    return values


def index(ids: Array, values: Array) -> tuple[Array, Array]:
    """Each value's position among sorted, distinct ``ids``, and whether it is there (the
    position of a missing value means nothing)."""
    if ids.size == 0:
        return np.zeros(values.size, dtype=np.int64), np.zeros(values.size, dtype=bool)
    first = int(ids[0])
    if int(ids[-1]) - first == ids.size - 1:  # ids are consecutive: no search at all
        position = values - first
        found = (position >= 0) & (position < ids.size)
        return np.where(found, position, 0), found
    if values.size > 1 and bool((values[1:] >= values[:-1]).all()):
        # Sorted values: search only the head of each run of equal values.
        heads = np.flatnonzero(np.append(True, values[1:] != values[:-1]))
        at = np.searchsorted(ids, values[heads]).clip(0, ids.size - 1)
        position = np.repeat(at, np.diff(np.append(heads, values.size)))
    else:
        position = np.searchsorted(ids, values).clip(0, ids.size - 1)
    return position, ids[position] == values


def lookup(keys: Array, values: Array, wanted: Array, *, missing: Any) -> tuple[Array, Array]:
    """``values`` at ``wanted`` keys (``missing`` where absent), and whether each was found.
    ``keys`` are distinct non-negative ints; a negative wanted key is never found."""
    if keys.size == 0:
        return np.full(wanted.size, missing, dtype=values.dtype), np.zeros(wanted.size, bool)
    size = int(keys.max()) + 1
    if size <= max(DENSE_FACTOR * wanted.size, DENSE_FLOOR):
        # A table over the key space, its last slot for keys out of range.
        table = np.full(size + 1, missing, dtype=values.dtype)
        table[keys] = values
        present = np.zeros(size + 1, dtype=bool)
        present[keys] = True
        slot = np.minimum(wanted, size)
        if slot.size and slot.min() < 0:
            slot = np.where(slot < 0, size, slot)
        return table[slot], present[slot]
    order = np.argsort(keys, kind="stable")
    position = np.searchsorted(keys[order], wanted).clip(0, keys.size - 1)
    at = np.where(keys[order][position] == wanted, order[position], -1)
    found = at >= 0
    return np.where(found, values[at.clip(0)], missing), found


def groups(columns: list[Array]) -> tuple[Array, Array]:
    """Rows with equal values in every column: the first row of each group, and each row's
    group. Columns are packed into one int64 key (compacted when it would overflow)."""
    rows = columns[0].size if columns else 0
    if rows == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    key = np.zeros(rows, dtype=np.int64)
    span = 1
    for column in columns:
        value = column.astype(np.int64, copy=False)
        low = int(value.min())
        width = int(value.max()) - low + 1
        if span * width >= 1 << 62:
            _first, compact = dense_groups(key - int(key.min()), span)
            key = compact.astype(np.int64)
            span = int(key.max()) + 1
        key = key * width + (value - low)
        span *= width
    return dense_groups(key, span)


def dense_groups(key: Array, span: int) -> tuple[Array, Array]:
    """Groups of equal non-negative keys below ``span``: the first row of each, and each row's
    group, in key order."""
    if span <= max(DENSE_FACTOR * key.size, DENSE_FLOOR):
        present = np.zeros(span, dtype=bool)
        present[key] = True
        number = np.cumsum(present, dtype=np.int32 if span < 1 << 31 else np.int64)
        del present
        np.subtract(number, 1, out=number)
        group = number[key]
        first = np.empty(int(number[-1]) + 1 if span else 0, dtype=np.int64)
        del number
        first[group[::-1]] = np.arange(key.size - 1, -1, -1)
        return first, group
    # A stable sort (np.unique hashes, slowly for millions of distinct keys).
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    heads = np.empty(key.size, dtype=bool)
    heads[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=heads[1:])
    del ordered
    group = np.empty(key.size, dtype=np.int64)
    group[order] = np.cumsum(heads) - 1
    return order[heads], group


def with_nulls(values: Array, valid: Array, dtype: pl.DataType) -> pl.Series:
    """``values`` as a series of ``dtype`` (of the same physical width), null where not
    ``valid``: NumPy's buffers are handed over through Arrow, so Polars copies nothing."""
    import pyarrow as pa

    values = np.ascontiguousarray(values)
    bits = np.packbits(valid, bitorder="little")
    arrow = pa.Array.from_buffers(
        pa.from_numpy_dtype(values.dtype),
        values.size,
        [pa.py_buffer(bits), pa.py_buffer(values)],
    )
    series = pl.Series(arrow)
    return series if series.dtype == dtype else series.cast(dtype)


INDEX = np.uint32 if pl.get_index_type() == pl.UInt32 else np.uint64


def take(source: pl.Series, index: Array) -> pl.Series:
    """``source`` at each of ``index`` (non-negative ints). The index is handed over in
    Polars' own index type and ``source`` as one chunk: a gather of millions of rows is then
    a plain copy of values (or of 16-byte string views)."""
    return source.rechunk().gather(pl.Series(index.astype(INDEX, copy=False)))


def bits(mask: Array) -> Array:
    small = mask.astype(np.uint8)
    return np.stack([(small & np.uint8(1 << h)) != 0 for h in range(H)])


def span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def us(delta: timedelta) -> int:
    return int(delta.total_seconds() * US)


def exact_us(now: datetime) -> int:
    delta = now.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * US + delta.microseconds


def sorted_by(frame: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
    if frame.height < 2:
        return frame
    keys = [frame[c].cast(pl.Int64).to_numpy() for c in columns]
    if all(bool((key[1:] >= key[:-1]).all()) for key in keys):
        return frame  # every column ascends on its own: so do they together
    ok = np.ones(frame.height - 1, dtype=bool)
    tied = np.ones(frame.height - 1, dtype=bool)
    for key in keys:
        ok &= ~tied | (key[1:] >= key[:-1])
        tied &= key[1:] == key[:-1]
    return frame if ok.all() else frame.sort(list(columns))


def put(column: Array, where: Array, value: Any) -> None:
    """``column[where] = value`` for a column of bytes (uint8 or int8; ``value`` a number or an
    array like ``column``), as ``column - (column - value) * where``, which wraps exactly in
    8 bits: NumPy's putmask and masked assignment go a byte at a time, this pass is
    vectorised (about 1.5 ms instead of 27 ms over 10M rows here)."""
    if column.dtype.itemsize != 1:
        raise TypeError("put writes byte columns only")
    step = np.subtract(column, np.asarray(value, dtype=column.dtype), dtype=column.dtype)
    step *= where.astype(bool, copy=False).view(np.uint8)
    np.subtract(column, step, out=column)


def overwrite(column: Array, where: Array, why: Reason) -> None:
    """Record ``why`` where a row is stopped, over any reason it had (stops written from the
    last to the first leave each row its first)."""
    if where.ndim == 0:
        if where:
            column[:] = CODE[why]
        return
    put(column, where, CODE[why])


def first(column: Array, where: Array, why: Reason) -> None:
    """Record ``why`` where a row is stopped and has no earlier reason."""
    if where.ndim == 0:
        if not where:
            return
        where = np.ones(column.size, dtype=bool)
    put(column, where & (column == 0), CODE[why])
