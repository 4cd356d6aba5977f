"""Streaming readers for plain text, JSONL and Parquet documents.

Records that cannot be used are yielded as `Skipped` with their file, line and reason,
so callers count and report them instead of losing them silently. A file that cannot be
opened or decompressed at all raises InputError (a ValueError) naming it.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from lm_core.jsonl import iter_jsonl
from lm_tok.config import InputError, input_kind

log = logging.getLogger(__name__)

TEXT_CHUNK_CHARS = 1 << 20
"""Plain text is streamed to the trainer in pieces of about this many characters."""


@dataclass(frozen=True)
class Record:
    """One document: its text and where it came from (line is 1-based; row index for Parquet)."""

    text: str
    path: str
    line: int


@dataclass(frozen=True)
class Skipped:
    """A record that was not used, and why."""

    path: str
    line: int
    reason: str

    def as_dict(self) -> dict:
        return {"path": self.path, "line": self.line, "reason": self.reason}


def _open_binary(path: Path) -> BinaryIO:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")


def _check_text(text: object, field: str) -> str | None:
    """Why `text` cannot be encoded, or None."""
    if not isinstance(text, str):
        return f"field {field!r} is {type(text).__name__}, not a string"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:  # JSON may escape lone surrogates: not encodable text
            return f"invalid Unicode in {field!r}: {e.reason} at char {e.start}"
    return None


def _record(obj: object, name: str, n: int, field: str) -> Record | Skipped:
    """The document of a parsed JSON line, or why there is none."""
    if not isinstance(obj, dict) or field not in obj:
        return Skipped(name, n, f"no {field!r} field")
    why = _check_text(obj[field], field)
    return Skipped(name, n, why) if why else Record(obj[field], name, n)


def _jsonl_lines(lines: Iterable[bytes], name: str, field: str) -> Iterator[Record | Skipped]:
    """The records of the raw lines of a piece (a part of a file, in memory)."""
    for n, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            yield Skipped(name, n, f"invalid JSON: {e}")
            continue
        yield _record(obj, name, n, field)


def _jsonl(path: Path, field: str) -> Iterator[Record | Skipped]:
    """A whole JSONL(.gz) file through lm-core's reader; bad lines are skips, in file order."""
    name, bad = str(path), []
    for n, obj in iter_jsonl(path, on_error=lambda n, _raw, why: bad.append(Skipped(name, n, why))):
        yield from bad
        bad.clear()
        yield _record(obj, name, n, field)
    yield from bad


def _text(path: Path, whole: bool) -> Iterator[Record | Skipped]:
    name = str(path)
    with _open_binary(path) as raw:
        f = io.TextIOWrapper(raw, encoding="utf-8", newline="")  # keep \r\n as written
        try:
            if whole:
                yield Record(f.read(), name, 1)
                return
            line, buf, size = 1, [], 0
            for text in f:
                buf.append(text)
                size += len(text)
                if size >= TEXT_CHUNK_CHARS:
                    chunk = "".join(buf)
                    yield Record(chunk, name, line)
                    line += chunk.count("\n")
                    buf, size = [], 0
            if buf:
                yield Record("".join(buf), name, line)
        except UnicodeDecodeError as e:
            raise InputError(
                f"{path}: not UTF-8 text ({e.reason} at byte {e.start} of a block)"
            ) from e


def _parquet_file(path: Path, field: str):
    try:
        import pyarrow.parquet as pq
    except ImportError as e:
        raise ImportError(
            "reading Parquet needs the 'parquet' extra: pip install 'lm-tok[parquet]'"
        ) from e
    pf = pq.ParquetFile(path)
    if field not in pf.schema_arrow.names:
        raise InputError(f"{path}: no column {field!r} (columns: {pf.schema_arrow.names})")
    return pf


def _parquet_rows(
    texts: Iterable[object], name: str, field: str, first: int = 0
) -> Iterator[Record | Skipped]:
    for row, text in enumerate(texts, start=first):
        why = "null text" if text is None else _check_text(text, field)
        yield Skipped(name, row, why) if why else Record(text, name, row)


def _parquet(path: Path, field: str) -> Iterator[Record | Skipped]:
    pf, row = _parquet_file(path, field), 0
    for batch in pf.iter_batches(columns=[field], batch_size=1024):
        texts = batch.column(0).to_pylist()
        yield from _parquet_rows(texts, str(path), field, row)
        row += len(texts)


@contextmanager
def _errors_name(path: Path) -> Iterator[None]:
    """Turn a read error into InputError naming the file."""
    try:
        yield
    except (OSError, EOFError) as e:
        raise InputError(f"{path}: cannot read: {e}") from e
    except ValueError as e:  # pyarrow's ArrowInvalid is a ValueError that may not name the file
        if str(path) in str(e):
            raise
        raise InputError(f"{path}: cannot read: {e}") from e


def read_records(
    path: Path, field: str = "text", *, whole_text_files: bool = True
) -> Iterator[Record | Skipped]:
    """Documents of one file, streamed. A text file is one document unless `whole_text_files`
    is False (training), where it comes in pieces of about TEXT_CHUNK_CHARS characters."""
    path = Path(path)
    kind = input_kind(path)
    if not path.is_file():
        raise FileNotFoundError(f"input file not found: {path}")
    with _errors_name(path):
        if kind == "jsonl":
            yield from _jsonl(path, field)
        elif kind == "parquet":
            yield from _parquet(path, field)
        else:
            yield from _text(path, whole_text_files)


# --- pieces: parts of a file that a worker process reads and encodes on its own ----------


@dataclass(frozen=True)
class Piece:
    """A part of one input file, in file order, small enough to send to a worker.

    Workers read their piece themselves, so the main process never parses JSON or
    ships text: an uncompressed JSONL file is cut into byte ranges at line ends, a Parquet
    file into its row groups, a text file is one piece. A gzip stream cannot be entered
    mid-way, so for `.jsonl.gz` the main process decompresses and `data` carries the raw
    lines (bytes pickle as a copy; str and JSON objects cost far more).
    """

    path: str
    kind: str
    start: int = 0
    """JSONL: first byte; Parquet: row group."""
    stop: int = 0
    """JSONL: end byte (exclusive)."""
    data: bytes | None = None
    """The lines of a compressed JSONL piece."""


def _byte_ranges(path: Path, target: int) -> Iterator[tuple[int, int]]:
    size = path.stat().st_size
    with path.open("rb") as f:
        start = 0
        while start < size:
            if start + target >= size:
                stop = size
            else:
                f.seek(start + target - 1)
                f.readline()  # to the end of the line holding byte start + target - 1
                stop = f.tell()
            yield start, stop
            start = stop


def _gzip_chunks(path: Path, target: int) -> Iterator[bytes]:
    with gzip.open(path, "rb") as f:
        while chunk := f.read(target):
            yield chunk + (f.readline() if not chunk.endswith(b"\n") else b"")


def plan_pieces(path: Path, field: str, target_bytes: int) -> Iterator[Piece]:
    """The pieces of `path` in order, each about `target_bytes` of input (whole lines or rows)."""
    path, name = Path(path), str(path)
    kind = input_kind(path)
    if not path.is_file():
        raise FileNotFoundError(f"input file not found: {path}")
    with _errors_name(path):
        if kind == "text":
            yield Piece(name, kind)
        elif kind == "parquet":
            for i in range(_parquet_file(path, field).metadata.num_row_groups):
                yield Piece(name, kind, start=i)
        elif path.name.lower().endswith(".gz"):
            for chunk in _gzip_chunks(path, target_bytes):
                yield Piece(name, kind, data=chunk)
        else:
            for start, stop in _byte_ranges(path, target_bytes):
                yield Piece(name, kind, start=start, stop=stop)


def read_piece(piece: Piece, field: str) -> tuple[int, Iterator[Record | Skipped]]:
    """(lines or rows in the piece, its records). Lines count from 1 and rows from 0 within
    the piece: the caller adds the lines of the file's earlier pieces."""
    path = Path(piece.path)
    with _errors_name(path):
        if piece.kind == "text":
            return 1, iter(list(_text(path, True)))  # read here, where errors name the file
        if piece.kind == "parquet":
            texts = (
                _parquet_file(path, field)
                .read_row_group(piece.start, columns=[field])
                .column(0)
                .to_pylist()
            )
            return len(texts), _parquet_rows(texts, piece.path, field)
        data = piece.data
        if data is None:
            with path.open("rb") as f:
                f.seek(piece.start)
                data = f.read(piece.stop - piece.start)
        lines = data.split(b"\n")
        if lines and not lines[-1]:
            lines.pop()  # the empty tail after the last newline is no line
        return len(lines), _jsonl_lines(lines, piece.path, field)


class SkipLog:
    """Counts skipped records and keeps every one with its reason."""

    def __init__(self) -> None:
        self.records: list[Skipped] = []

    def add(self, s: Skipped) -> None:
        if not self.records:
            log.warning("skipping %s line %d: %s", s.path, s.line, s.reason)
        self.records.append(s)

    def __len__(self) -> int:
        return len(self.records)

    def summary(self) -> str:
        head = "; ".join(f"{s.path}:{s.line}: {s.reason}" for s in self.records[:5])
        more = f" (and {len(self) - 5} more)" if len(self) > 5 else ""
        return f"skipped {len(self)} records: {head}{more}"


def iter_texts(
    paths: tuple[Path, ...], field: str, skipped: SkipLog, *, whole_text_files: bool
) -> Iterator[str]:
    """The texts of all files in order; unusable records go to `skipped`."""
    for p in paths:
        for r in read_records(p, field, whole_text_files=whole_text_files):
            if isinstance(r, Skipped):
                skipped.add(r)
            else:
                yield r.text
