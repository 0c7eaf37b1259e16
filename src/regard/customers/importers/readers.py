"""Streaming readers: a file becomes batches of records, each with its line number.

Nothing is loaded whole. A record that cannot even be read (a malformed CSV line, bytes that are
not UTF-8, a JSON line that is not an object) becomes a rejected record with its reason, and
reading goes on.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from regard.errors import InvalidInput

Record = dict[str, Any]

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


@dataclass
class Rejected:
    line: int
    reason: str
    raw: str


@dataclass
class RecordBatch:
    """Readable records with their line numbers, and those that could not be read.

    CSV batches come as a frame of text columns; JSON Lines and Parquet batches come as one
    dict per record.
    """

    lines: list[int] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    frame: pl.DataFrame | None = None

    def __len__(self) -> int:
        return len(self.lines) + len(self.rejected)

    def as_records(self) -> list[Record]:
        if self.frame is None:
            return self.records
        return [
            {k: (v if v != "" else None) for k, v in row.items()} for row in self.frame.to_dicts()
        ]


def file_format(path: Path) -> str:
    suffixes = "".join(path.suffixes[-2:]).lower()
    for fmt, endings in (
        ("csv", (".csv", ".tsv")),
        ("jsonl", (".jsonl", ".ndjson", ".json")),
        ("parquet", (".parquet", ".pq")),
    ):
        if any(suffixes.endswith(e) for e in endings):
            return fmt
    raise InvalidInput(f"{path.name}: unknown file type; use .csv, .jsonl or .parquet")


def read_batches(path: Path, *, batch_size: int) -> Iterator[RecordBatch]:
    """Batches of at most ``batch_size`` records (good and rejected together)."""
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    fmt = file_format(path)
    if fmt == "csv":
        return _csv_batches(path, batch_size, delimiter="\t" if path.suffix == ".tsv" else ",")
    if fmt == "jsonl":
        return _jsonl_batches(path, batch_size)
    return _parquet_batches(path, batch_size)


def _has_undecodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _csv_batches(path: Path, batch_size: int, *, delimiter: str) -> Iterator[RecordBatch]:
    """CSV in batches of ``batch_size`` lines, cut only where no quoted field is open.

    A batch is parsed by Polars when it is plainly well formed: valid UTF-8, no quotes, and
    exactly one delimiter fewer than columns on every line, which proves every line is one
    record with the right number of fields. Any other batch is read by Python's csv module,
    line by line, so that each bad line is found and reported with its number.
    """
    with path.open("rb") as handle:
        header_line = handle.readline()
        if not header_line.strip():
            return
        header = _csv_header(path, header_line, delimiter)
        sep = delimiter.encode()
        buffer = b""
        first_line = 2
        exhausted = False
        while True:
            cut = _batch_end(buffer, batch_size)
            while cut is None and not exhausted:
                block = handle.read(_BLOCK_BYTES)
                exhausted = not block
                buffer += block
                cut = _batch_end(buffer, batch_size)
            if cut is None:
                if not buffer:
                    return
                cut = len(buffer)
            chunk, buffer = buffer[:cut], buffer[cut:]
            lines = chunk.count(b"\n") + (0 if chunk.endswith(b"\n") else 1)
            batch = _fast_csv(chunk, header, sep, lines, first_line) or _exact_csv(
                chunk, header, delimiter, first_line
            )
            first_line += lines
            yield batch


_BLOCK_BYTES = 4 << 20


def _batch_end(buffer: bytes, batch_size: int) -> int | None:
    """Where the next batch ends: after ``batch_size`` lines, outside any quoted field."""
    if buffer.count(b"\n") < batch_size:
        return None
    position = 0
    for _ in range(batch_size):
        found = buffer.find(b"\n", position)
        if found < 0:
            return None
        position = found + 1
    # An odd number of quotes means a quoted field runs on: take whole lines until it closes.
    while buffer.count(b'"', 0, position) % 2:
        found = buffer.find(b"\n", position)
        if found < 0:
            return None
        position = found + 1
    return position


def _csv_header(path: Path, line: bytes, delimiter: str) -> list[str]:
    try:
        text = line.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path.name}: the header line is not UTF-8") from exc
    try:
        header = next(csv.reader([text.rstrip("\r\n")], delimiter=delimiter))
    except csv.Error as exc:
        raise InvalidInput(f"{path.name}: the header line is not valid CSV: {exc}") from exc
    header = [name.strip() for name in header]
    if len(set(header)) != len(header) or "" in header:
        raise InvalidInput(f"{path.name}: the header has empty or repeated column names")
    return header


def _fast_csv(
    chunk: bytes, header: list[str], sep: bytes, lines: int, first_line: int
) -> RecordBatch | None:
    if b'"' in chunk or b"\r" in chunk or chunk.count(sep) != (len(header) - 1) * lines:
        return None
    try:
        frame = pl.read_csv(
            io.BytesIO(chunk),
            has_header=False,
            new_columns=header,
            schema=dict.fromkeys(header, pl.String),
            separator=sep.decode(),
            quote_char=None,
        )
    except pl.exceptions.PolarsError:
        return None  # e.g. bytes that are not UTF-8: the exact reader says which line
    if frame.height != lines:
        return None
    return RecordBatch(lines=list(range(first_line, first_line + lines)), frame=frame)


def _exact_csv(chunk: bytes, header: list[str], delimiter: str, first_line: int) -> RecordBatch:
    batch = RecordBatch()
    rows: list[list[str]] = []
    text = chunk.decode("utf-8", errors="surrogateescape")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    offset = first_line - 1
    previous_end = 0
    width = len(header)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            batch.rejected.append(
                Rejected(offset + reader.line_num, f"malformed CSV line: {exc}", "")
            )
            previous_end = reader.line_num
            continue
        start = offset + previous_end + 1
        previous_end = reader.line_num
        if not row:
            continue  # a blank line
        if len(row) != width:
            batch.rejected.append(
                Rejected(
                    start,
                    f"malformed CSV line: expected {width} fields, found {len(row)}",
                    delimiter.join(row),
                )
            )
        elif _has_undecodable("".join(row)):
            raw = delimiter.join(row).encode("utf-8", "surrogateescape")
            reason = "undecodable bytes: the line is not UTF-8"
            batch.rejected.append(Rejected(start, reason, raw.decode("utf-8", "replace")))
        else:
            batch.lines.append(start)
            rows.append(row)
    columns: list[tuple[str, ...]] = list(zip(*rows, strict=True)) if rows else [() for _ in header]
    batch.frame = pl.DataFrame(
        dict(zip(header, columns, strict=True)), schema=dict.fromkeys(header, pl.String)
    ).with_columns(pl.all().replace("", None))  # an empty field is a missing value
    return batch


def _jsonl_batches(path: Path, batch_size: int) -> Iterator[RecordBatch]:
    batch = RecordBatch()
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                batch.rejected.append(
                    Rejected(
                        number,
                        "undecodable bytes: the line is not UTF-8",
                        raw.decode("utf-8", "replace").rstrip("\r\n"),
                    )
                )
            else:
                try:
                    record = orjson.loads(text)
                except orjson.JSONDecodeError as exc:
                    batch.rejected.append(
                        Rejected(number, f"malformed JSON: {exc}", text.rstrip("\r\n"))
                    )
                else:
                    if isinstance(record, dict):
                        batch.lines.append(number)
                        batch.records.append(record)
                    else:
                        batch.rejected.append(
                            Rejected(
                                number,
                                "malformed JSON: a line must hold one object",
                                text.rstrip("\r\n"),
                            )
                        )
            if len(batch) >= batch_size:
                yield batch
                batch = RecordBatch()
    if len(batch):
        yield batch


def _parquet_batches(path: Path, batch_size: int) -> Iterator[RecordBatch]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput(f"{path.name}: not a readable Parquet file: {exc}") from exc
    number = 0
    for arrow_batch in parquet.iter_batches(batch_size=batch_size):
        batch = RecordBatch()
        for record in arrow_batch.to_pylist():
            number += 1
            batch.lines.append(number)
            batch.records.append(record)
        yield batch
