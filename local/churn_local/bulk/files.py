"""Read a CSV or JSON Lines file in chunks of rows from a byte offset, and write scored rows in the same format.

Both readers work on the file's bytes, so that each chunk ends at a known offset: a resumed run seeks there instead of
reading the file again. A CSV file must start with a header naming its columns (the data set's own, as in
data/churn.txt, CRLF or LF, final newline or not); extra columns are carried through to the output.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

from pydantic_core import to_json

from churn_api.bulk import CSV_RESULT_COLUMNS, Unreadable, csv_result_values, json_lines_record
from churn_api.gateway import parse_json
from churn_api.models import Customer

Format = Literal["csv", "jsonl"]
SUFFIXES: dict[str, Format] = {".csv": "csv", ".txt": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


class FileError(ValueError):
    """The file cannot be read as the format it claims: the message is the one line the user sees."""


def format_of(path: Path, declared: str | None = None) -> Format:
    """Return the file's format: the declared one, else the one its suffix names."""
    if declared in ("csv", "jsonl"):
        return declared  # type: ignore[return-value]
    try:
        return SUFFIXES[path.suffix.lower()]
    except KeyError:
        raise FileError(f"{path.name}: cannot tell CSV from JSON Lines by its suffix; pass --format") from None


@dataclass
class Chunk:
    """Consecutive rows of the input: what each row was in the file, what is scored, and where the chunk ends."""

    first: int
    rows: list[Any] = field(default_factory=list)
    records: list[Any] = field(default_factory=list)
    end_offset: int = 0

    @property
    def indexes(self) -> range:
        """Return each row's place in the file."""
        return range(self.first, self.first + len(self.rows))


class _CountedLines:
    """Iterate a binary file's lines as text, counting the bytes consumed (csv.reader pulls only what a row needs)."""

    def __init__(self, raw: BinaryIO, offset: int) -> None:
        self.raw = raw
        self.offset = offset

    def __iter__(self) -> Iterator[str]:
        for line in self.raw:
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise FileError(f"the bytes after offset {self.offset} are not UTF-8 text") from exc
            self.offset += len(line)
            yield text


class CsvReader:
    """Rows of a CSV file with a header, as records keyed by the header's names."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with path.open("rb") as raw:
            lines = _CountedLines(raw, 0)
            try:
                header = next(csv.reader(lines))
            except StopIteration:
                raise FileError(f"{path.name} is empty: a CSV file needs a header naming its columns") from None
        self.header = [name.removeprefix("\ufeff") if i == 0 else name for i, name in enumerate(header)]
        self.data_offset = lines.offset
        self._check_header()

    def _check_header(self) -> None:
        if duplicates := sorted({n for n in self.header if self.header.count(n) > 1}):
            raise FileError(f"the header names {', '.join(duplicates)} more than once")
        if taken := [c for c in CSV_RESULT_COLUMNS if c in self.header]:
            raise FileError(f"the header already has {', '.join(taken)}: the output adds columns of those names")
        required = [name for name in sorted(Customer.feature_names()) if name not in self.header]
        if len(required) == len(Customer.feature_names()):
            raise FileError("the first line must be a header naming the columns (State, Account Length, ...)")
        if required:
            raise FileError(f"the header has no column {', '.join(required)}")

    def chunks(self, offset: int, first: int, size: int) -> Iterator[Chunk]:
        """Yield chunks of `size` rows from `offset` (a row's start), numbering rows from `first`; skip blank lines."""
        width = len(self.header)
        with self.path.open("rb") as raw:
            raw.seek(max(offset, self.data_offset))
            lines = _CountedLines(raw, raw.tell())
            chunk = Chunk(first, end_offset=lines.offset)
            try:
                for values in csv.reader(lines):
                    if not values:
                        continue
                    chunk.rows.append(values)
                    if len(values) > width:
                        problem = f"has {len(values)} values, the header names {width} columns"
                        chunk.records.append(Unreadable("row", problem))
                    else:
                        # A short row lacks its last columns: the API's rules name each required one missing.
                        chunk.records.append(dict(zip(self.header, values, strict=False)))
                    if len(chunk.rows) == size:
                        chunk.end_offset = lines.offset
                        yield chunk
                        chunk = Chunk(chunk.first + size, end_offset=lines.offset)
            except csv.Error as exc:
                raise FileError(f"the CSV is malformed after offset {chunk.end_offset}: {exc}") from exc
            chunk.end_offset = lines.offset
            if chunk.rows:
                yield chunk


class JsonLinesReader:
    """Rows of a JSON Lines file: each line one JSON value (a customer object), blank lines skipped."""

    header: Sequence[str] = ()
    data_offset = 0

    def __init__(self, path: Path) -> None:
        self.path = path

    def chunks(self, offset: int, first: int, size: int) -> Iterator[Chunk]:
        """Yield chunks of `size` rows from `offset` (a line's start), numbering rows from `first`."""
        with self.path.open("rb") as raw:
            raw.seek(offset)
            position = offset
            chunk = Chunk(first, end_offset=position)
            for line in raw:
                position += len(line)
                if not line.strip():
                    continue
                row, record = _json_line(line)
                chunk.rows.append(row)
                chunk.records.append(record)
                if len(chunk.rows) == size:
                    chunk.end_offset = position
                    yield chunk
                    chunk = Chunk(chunk.first + size, end_offset=position)
            chunk.end_offset = position
            if chunk.rows:
                yield chunk


def _json_line(line: bytes) -> tuple[Any, Any]:
    """Return (the row as written back, the record scored) for one line."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("utf-8", "replace").rstrip("\r\n"), Unreadable("line", "is not UTF-8 text")
    try:
        value = parse_json(text)
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError, as is an integer too long to read
        return text.rstrip("\r\n"), Unreadable("line", "is not valid JSON")
    return value, value


def reader_for(path: Path, fmt: Format) -> CsvReader | JsonLinesReader:
    """Return the reader of the format."""
    return CsvReader(path) if fmt == "csv" else JsonLinesReader(path)


def csv_header_bytes(header: Sequence[str]) -> bytes:
    """Return the output's header line: the input's columns, then the results'."""
    return _csv_text([[*header, *CSV_RESULT_COLUMNS]]).encode("utf-8")


def output_bytes(fmt: Format, header: Sequence[str], chunk: Chunk, items: Sequence[dict[str, Any]]) -> bytes:
    """Return a scored chunk as the output's bytes: every row whole, each ending with its newline."""
    if fmt == "jsonl":
        return b"".join(
            to_json(json_lines_record(row, item)) + b"\n" for row, item in zip(chunk.rows, items, strict=True)
        )
    # Each row as wide as the header, so that the results stay in their columns: a short row is padded, a long one
    # (answered with its own error) keeps the values the header names.
    width = len(header)
    rows = ([*values, *[""] * (width - len(values))][:width] for values in chunk.rows)
    return _csv_text([[*values, *csv_result_values(item)] for values, item in zip(rows, items, strict=True)]).encode()


def _csv_text(rows: Sequence[Sequence[str]]) -> str:
    text = io.StringIO()
    # RFC 4180's CRLF, as data/churn.txt ends its lines.
    csv.writer(text, lineterminator="\r\n").writerows(rows)
    return text.getvalue()
